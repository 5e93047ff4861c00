"""Lesson figures (lessons/figures/, drawn by scripts/make_figures.py, `make figures`).

Every picture a lesson shows exists and has alt text, every lesson shows at least two, every figure
the script draws is committed and shown by some lesson, and the diagrams redraw byte for byte. The
result figures are not redrawn here: they need the trained models (about a minute with them cached).
"""
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.md"))
FIGURES_DIR = ROOT / "lessons" / "figures"
SCRIPT = ROOT / "scripts" / "make_figures.py"
MIN_FIGURES = 2                # per lesson: the idea as a diagram, and a result or a second diagram
MAX_BYTES = 150 * 1024         # a figure is read in a browser or a notebook, not printed
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)  # fenced code is not shown as a picture
# ![alt](path), ![alt](<path>) or ![alt](path "title")
IMAGE = re.compile(r'!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
REDRAW = "run `make figures` (or python scripts/make_figures.py) and commit lessons/figures/"


def load_script():
    spec = importlib.util.spec_from_file_location("make_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load_script()


def images(lesson):
    """(alt text, target) of every markdown image in a lesson, outside fenced code."""
    return IMAGE.findall(FENCE.sub("", lesson.read_text(encoding="utf-8")))


def shown_files():
    """Every file some lesson shows, resolved."""
    return {(lesson.parent / target).resolve() for lesson in LESSONS for _, target in images(lesson)}


def test_there_are_lessons():
    assert LESSONS, "no lessons/NN_slug.md found"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name)
def test_every_picture_exists(lesson):
    for alt, target in images(lesson):
        assert not re.match(r"[a-z]+://", target), \
            f"{lesson.name} shows {target} from the web; learners read offline: put it in lessons/figures/"
        assert (lesson.parent / target).is_file(), f"{lesson.name} shows {target}, which does not exist"
        assert alt.strip(), f"{lesson.name} shows {target} without alt text"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name)
def test_every_lesson_shows_figures(lesson):
    found = images(lesson)
    assert len(found) >= MIN_FIGURES, f"{lesson.name} shows {len(found)} figures; every lesson shows at least " \
                                      f"{MIN_FIGURES} (scripts/make_figures.py --list names them)"


@pytest.mark.parametrize("name", sorted(script.FIGURES))
def test_every_figure_is_committed_and_shown(name):
    path = FIGURES_DIR / f"{name}.png"
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing: {REDRAW}"
    assert path.stat().st_size < MAX_BYTES, f"{path.name} has {path.stat().st_size // 1024} KB; keep it under " \
                                            f"{MAX_BYTES // 1024} KB (smaller size or fewer pictures)"
    lesson = script.FIGURES[name]["lesson"]
    assert path.resolve() in shown_files(), f"no lesson shows {path.name}; add ![alt text](figures/{path.name}) " \
                                            f"to lessons/{lesson}_*.md or remove the figure from the script"


def test_no_stray_files():
    stray = sorted(p.name for p in FIGURES_DIR.glob("*") if p.stem not in script.FIGURES or p.suffix != ".png")
    assert not stray, f"lessons/figures/ holds files scripts/make_figures.py does not draw: {stray}"


def test_diagrams_redraw_identically(tmp_path):
    names = script.select(kind="diagram")
    assert names, "scripts/make_figures.py registers no diagrams"
    script.make(names, tmp_path, verbose=False)
    changed = [n for n in names
               if not (FIGURES_DIR / f"{n}.png").is_file()
               or (tmp_path / f"{n}.png").read_bytes() != (FIGURES_DIR / f"{n}.png").read_bytes()]
    assert not changed, f"these diagrams differ from the committed ones: {changed}; {REDRAW}"
    # The same bytes twice in a row: nothing in them depends on the time or on earlier drawings.
    again = tmp_path / "again"
    script.make(names[:2], again, verbose=False)
    for n in names[:2]:
        assert (again / f"{n}.png").read_bytes() == (tmp_path / f"{n}.png").read_bytes()
