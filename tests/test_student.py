"""Student copies (student/NN_slug.ipynb): generated from the instructor notebooks by
`make student`, up to date, reversible, and runnable up to the first exercise."""
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from utils import student

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_notebook_has_a_student_copy_and_nothing_else():
    copies = sorted(p.name for p in (ROOT / "student").glob("*.ipynb"))
    assert copies == [p.name for p in NOTEBOOKS], "run `make student` to regenerate student/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_copy_is_up_to_date(path):
    copy = student.student_path(path)
    assert copy.exists(), f"{copy.name} is missing: run `make student`"
    expected = student.dumps(student.student_copy(student.read(path)))
    assert copy.read_text(encoding="utf-8") == expected, f"student/{copy.name} is stale: run `make student`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_restoring_the_solutions_gives_the_instructor_notebook(path):
    instructor = student.read(path)
    blocks = student.solutions(instructor)
    assert blocks, f"{path.name} has no marked solution"
    copy = student.read(student.student_path(path))
    assert student.restore(copy, blocks) == instructor
    # and no solution text survives in the copy
    text = json.dumps(copy)
    assert student.BEGIN not in text and student.END not in text


def test_stub_and_restore_on_a_small_notebook():
    nb = {"cells": [
        {"cell_type": "code", "metadata": {}, "source": [
            "def f(x):\n", "    \"\"\"Return x + 1.\"\"\"\n", "    ### BEGIN SOLUTION\n", "    y = x + 1\n",
            "    return y\n", "    ### END SOLUTION\n", "\n", "check_f(f)"]},
        {"cell_type": "markdown", "metadata": {}, "source": ["Why?\n", "### BEGIN SOLUTION\n", "Because.\n",
                                                           "### END SOLUTION"]}]}
    copy = student.student_copy(nb)
    assert "".join(copy["cells"][0]["source"]) == (
        'def f(x):\n    """Return x + 1."""\n    # YOUR CODE HERE\n'
        '    raise NotImplementedError("Your turn: write the body of f (its docstring says what to return), '
        'then run the check below.")\n\ncheck_f(f)')
    assert "".join(copy["cells"][1]["source"]) == "Why?\n_Your answer here._"
    assert student.restore(copy, student.solutions(nb)) == nb
    assert student.stub_cells(copy) == [0, 1]
    nb["cells"][0]["source"][-1] = "f(1)"   # no check follows: the stub does not promise one
    assert "then run the check" not in "".join(student.student_copy(nb)["cells"][0]["source"])


def test_unbalanced_markers_are_refused():
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": ["### BEGIN SOLUTION\n", "x = 1"]}]}
    with pytest.raises(ValueError, match="never closed"):
        student.student_copy(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_copy_runs_up_to_its_first_exercise(path):
    """Executed top to bottom, a student copy runs without error until the check of its first
    exercise, which stops it with the "Your turn" NotImplementedError."""
    copy = student.student_path(path)
    nb = nbformat.read(copy, as_version=4)
    first_stub = student.stub_cells(nb)[0]
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(copy.parent)}})
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    assert info.value.ename == "NotImplementedError", f"{copy.name} failed with {info.value.ename}: {info.value.evalue}"
    assert info.value.evalue.startswith("Your turn")
    failed = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
              and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1
    later_stubs = [i for i in student.stub_cells(nb) if i > first_stub]
    assert first_stub <= failed[0] < (later_stubs[0] if later_stubs else len(nb.cells)), \
        f"{copy.name} stopped at cell {failed[0]}, not at the check of its first exercise (cell {first_stub})"
