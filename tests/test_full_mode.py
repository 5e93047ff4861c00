"""Full mode, executed: the notebooks that change with COURSE_MODE run top to bottom in full mode on
random-weight stand-ins of ViT-B/32 and the f16-16384 VQGAN (utils/standins.py: the published
architectures and file formats, no download). One optimisation step per generation; the notebooks
skip their accuracy assertions on stand-ins and say so. What this catches: shapes, 224 px
preprocessing, 256 px generation, devices, files and settings of the full-mode path. Notebooks 01,
02 and 07 do not read COURSE_MODE (their models are the course's own in both modes)."""
import json
from pathlib import Path

import pytest

from utils.settings import cache_dir
from utils.standins import execute_notebook, standin_settings

ROOT = Path(__file__).resolve().parent.parent
FULL_MODE_NOTEBOOKS = ["03_zero_shot_classification", "04_text_image_retrieval",
                       "05_vector_quantization_vqgan", "06_vqgan_clip_generation"]


@pytest.fixture(scope="module")
def standins():
    return standin_settings(cache_dir("standins"))  # ~660 MB, written once (a few seconds) and kept


def test_only_these_notebooks_read_the_mode():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        reads = "get_mode" in path.read_text() or "is_full" in path.read_text()
        assert reads == (path.stem in FULL_MODE_NOTEBOOKS), f"{path.name}: update FULL_MODE_NOTEBOOKS"


@pytest.mark.parametrize("name", FULL_MODE_NOTEBOOKS)
def test_notebook_runs_in_full_mode_on_standins(name, standins):
    run = execute_notebook(ROOT / "notebooks" / f"{name}.ipynb", standins)
    outputs = json.dumps([c.get("outputs", []) for c in run["notebook"].cells])
    assert "mode: full" in outputs, f"{name} should print its mode in its first cells"
    print(f"{name}: {run['seconds']:.0f} s, peak RAM {run['peak_ram_mb']:.0f} MB on stand-ins")
