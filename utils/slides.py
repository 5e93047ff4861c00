"""Slides for the projector: every notebook can be presented with RISE (jupyterlab-rise).

The slides follow the notebook's outline, so they stay right when a lesson changes: the title cell
and every section heading ("## ...") start a slide, the cells below a heading stay on its slide (RISE
scrolls a long slide), and the set-up cells (Colab, imports) are skipped. In JupyterLab: open the
notebook, then View > Render as slideshow (or Alt+R); Space / Shift+Space move between slides.

Run `make slides` (python -m utils.slides) after adding or removing a section; a test checks that
every notebook's slide marks are current and that none has more than MAX_SLIDES slides.
"""
import sys
from pathlib import Path

from . import student

ROOT = Path(__file__).resolve().parent.parent
MAX_SLIDES = 20
RISE = {"scroll": True}  # long slides scroll instead of being cut off


def slide_type(cell, index_among_code, is_first_markdown):
    """'slide', 'skip' or None (continues the slide above) for one cell."""
    text = "".join(cell["source"]).lstrip()
    if cell["cell_type"] == "markdown":
        if is_first_markdown or text.startswith("## "):
            return "slide"
        return None
    return "skip" if index_among_code < 2 else None  # the Colab cell and the imports cell


def with_slides(nb):
    """A copy of the notebook with its slide marks set from its outline (other metadata kept)."""
    import copy

    nb = copy.deepcopy(nb)
    code_seen, markdown_seen = 0, False
    for cell in nb["cells"]:
        kind = slide_type(cell, code_seen, cell["cell_type"] == "markdown" and not markdown_seen)
        markdown_seen |= cell["cell_type"] == "markdown"
        code_seen += cell["cell_type"] == "code"
        cell["metadata"].pop("slideshow", None)
        if kind:
            cell["metadata"]["slideshow"] = {"slide_type": kind}
    nb["metadata"]["rise"] = dict(RISE)
    return nb


def count_slides(nb):
    return sum(c["metadata"].get("slideshow", {}).get("slide_type") == "slide" for c in nb["cells"])


def write_all():
    """Set the slide marks of every notebook; the student copies follow (utils.student)."""
    written = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        if student.rewrite(path, with_slides):
            written.append(path)
    return written + student.write_all()


if __name__ == "__main__":
    for p in write_all():
        print("wrote", Path(p).relative_to(ROOT))
    sys.exit(0)
