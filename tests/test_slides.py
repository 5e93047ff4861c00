"""Every notebook can be presented as slides (jupyterlab-rise) with a handful of slides."""
from pathlib import Path

import pytest

from utils import slides, student

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("student/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_slide_marks_are_current_and_few(path):
    nb = student.read(path)
    assert student.dumps(slides.with_slides(nb)) == student.dumps(nb), \
        f"{path.name}: slide marks out of date; run `make slides`"
    n = slides.count_slides(nb)
    assert 3 <= n <= slides.MAX_SLIDES, f"{path.name} has {n} slides; a projector session wants 3 to {slides.MAX_SLIDES}"
    cells = nb["cells"]
    assert cells[0]["metadata"]["slideshow"]["slide_type"] == "slide", "the title cell opens the slideshow"
    colab = next(c for c in cells if c["cell_type"] == "code")
    assert colab["metadata"]["slideshow"]["slide_type"] == "skip", "the Colab set-up cell is not shown"
    assert nb["metadata"]["rise"]["scroll"] is True


def test_rise_is_installed_for_make_lab():
    from importlib.metadata import version

    assert version("jupyterlab_rise")
