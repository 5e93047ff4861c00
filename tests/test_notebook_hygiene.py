"""Notebooks are stored clean, follow NN_slug naming, and each has its lesson (and vice versa)."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LESSONS = sorted((ROOT / "lessons").glob("*.md"))
NAME = re.compile(r"^\d\d_[a-z0-9]+(_[a-z0-9]+)*$")


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs; clear them"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_name_and_lesson(path):
    assert NAME.match(path.stem), f"{path.name} does not follow NN_slug.ipynb"
    assert (ROOT / "lessons" / f"{path.stem}.md").exists(), f"lessons/{path.stem}.md is missing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_utils_first(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "google.colab" in "".join(code[0]["source"]), "the first code cell must be the Colab setup cell"
    assert "import utils" in "".join(code[1]["source"]), "the code cell after it must import utils"


def test_every_lesson_has_a_notebook():
    stems = {p.stem for p in NOTEBOOKS}
    for lesson in LESSONS:
        assert lesson.stem in stems, f"{lesson.name} has no notebook"


def test_numbers_run_in_order():
    numbers = [int(p.stem[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1))


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in readme, f"README lesson table misses {path.name}"
        assert f"lessons/{path.stem}.md" in readme
