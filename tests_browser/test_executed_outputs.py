"""What a learner sees after Run All: the notebooks' outputs from this test run hold no warning.

nbval checks that every cell runs; it does not look at what a cell printed to stderr. A library's
DeprecationWarning or a UserWarning from our own code shows up in JupyterLab (and in the book) as a red
box under the cell, and a learner rightly wonders what went wrong. The notebook tests write each notebook,
with this run's outputs, to build/executed/ (conftest.py); `make test` runs this folder after them.
Progress bars (tqdm writes them to stderr) are the only stderr text allowed.
"""
import json
import re

import pytest

from utils import book

# One redraw of a tqdm bar: "desc: 45%|████▌     | 9/20 [00:01<00:02, 4.5it/s, loss=0.1]" (or with s/it).
PROGRESS = re.compile(r"^.*\d+%\|.*\|.*\[.*\]\s*$|^.*\|\s*\d+/\d+\s*\[.*\]\s*$")


def not_progress(text):
    """The lines of a stderr stream that are not a progress bar's redraws."""
    return [line for line in re.split(r"[\r\n]+", text) if line.strip() and not PROGRESS.match(line)]


def test_not_progress_finds_a_warning_among_progress_bars():
    bars = "train:  45%|████▌     | 9/20 [00:01<00:02, 4.51it/s, loss=0.12]\rtrain: 100%|██████████| 20/20 [00:03<00:00, 5.1it/s]\n"
    assert not_progress(bars) == []
    assert not_progress(bars + "/x/y.py:3: UserWarning: careful\n  warn('careful')\n") == [
        "/x/y.py:3: UserWarning: careful", "  warn('careful')"]


@pytest.mark.parametrize("notebook", book.notebooks(), ids=lambda p: p.name)
def test_the_notebook_as_run_printed_no_warning(notebook):
    path = book.from_the_test_run(notebook)
    if path is None:
        pytest.skip(f"build/executed/{notebook.name} from this version of the notebook is missing: run the "
                    f"notebooks first (`make test` runs them before this file; a notebook with a failed cell "
                    f"is not written)")
    found = []
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                lines = not_progress("".join(out["text"]))
                if lines:
                    found.append(f"cell {i}: {lines[0][:200]}")
            elif out.get("output_type") == "error":
                found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue', '')[:200]}")
    assert not found, f"{notebook.name} printed to stderr (a learner sees it in red): " + "; ".join(found[:5])
