"""One list of exercises per lesson: the lesson's "## Exercises" section and the notebook's
"### Exercise N: Title" cells are the same list, every exercise has a solution, and every
notebook has 3-5 "your turn" exercises, each followed by a check from utils.checks."""
import json
import re
from pathlib import Path

import pytest

import utils.checks
from utils.student import BEGIN

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NB_HEADING = re.compile(r"^### Exercise (\d+): (.+?)\s*$")
LESSON_ITEM = re.compile(r"^(\d+)\. \*\*(.+?)\.?\*\*")
CHECK_CALL = re.compile(r"\b(check_\w+)\((\w+)")


def lesson_exercises(stem):
    text = (ROOT / "lessons" / f"{stem}.md").read_text(encoding="utf-8")
    section = re.search(r"^## Exercises\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, f"lessons/{stem}.md has no '## Exercises' section"
    return [(int(m.group(1)), m.group(2).rstrip(".")) for line in section.group(1).splitlines()
            if (m := LESSON_ITEM.match(line))]


def cells(path):
    return [(c["cell_type"], "".join(c["source"])) for c in json.loads(path.read_text())["cells"]]


def notebook_exercises(path):
    """[(number, title, cells)] in notebook order; an exercise's cells run up to the next heading."""
    found, current = [], None
    for kind, src in cells(path):
        m = NB_HEADING.match(src.split("\n", 1)[0]) if kind == "markdown" else None
        if m:
            current = (int(m.group(1)), m.group(2).rstrip("."), [])
            found.append(current)
        elif kind == "markdown" and src.startswith("#"):
            current = None   # any other heading ends the exercise
        elif current is not None:
            current[2].append((kind, src))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_and_notebook_list_the_same_exercises(path):
    in_notebook = [(n, title) for n, title, _ in notebook_exercises(path)]
    in_lesson = lesson_exercises(path.stem)
    assert in_notebook, f"{path.name} has no '### Exercise N: Title' cell"
    assert [n for n, _ in in_notebook] == list(range(1, len(in_notebook) + 1)), "notebook exercises are not numbered 1..N"
    assert in_lesson == in_notebook, f"lessons/{path.stem}.md and {path.name} list different exercises"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_solution(path):
    for n, title, body in notebook_exercises(path):
        assert any(BEGIN in src for _, src in body), \
            f"{path.name}: exercise {n} ({title}) has no solution between the nbgrader markers"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_three_to_five_checked_exercises(path):
    checked = []
    for n, title, body in notebook_exercises(path):
        solved = "".join(src for kind, src in body if kind == "code" and BEGIN in src)
        defined = set(re.findall(r"^def (\w+)\(", solved, re.M))
        for kind, src in body:
            for check, arg in CHECK_CALL.findall(src) if kind == "code" else []:
                assert hasattr(utils.checks, check), f"{path.name}: {check} is not in utils.checks"
                assert arg in defined, f"{path.name}: exercise {n} checks {arg}, which its solution does not define"
                checked.append(n)
    assert 3 <= len(set(checked)) <= 5, f"{path.name} has {len(set(checked))} checked exercises; the course wants 3-5"


def test_the_checks_instructors_rely_on_exist():
    for name in ("check_clip_loss", "check_quantise", "check_causal_mask"):
        assert callable(getattr(utils.checks, name, None)), f"utils.checks.{name} is missing"
