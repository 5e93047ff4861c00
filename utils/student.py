"""Student copies of the notebooks: every solution replaced by a "your turn" stub.

In the course's (instructor) notebooks each exercise's solution sits between nbgrader's markers::

    def clip_loss_loop(image_features, text_features, logit_scale):
        \"\"\"...\"\"\"
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

``student_copy`` replaces each marked block, markers included, by a stub at the same indentation:
``raise NotImplementedError("Your turn: ...")`` in code cells, "_Your answer here._" in markdown
cells; everything else stays as it is. In markdown cells the markers may be written as HTML comments
(``<!-- ### BEGIN SOLUTION -->``), so that the instructor notebook does not render them as headings. ``restore`` puts the solutions back, which gives the
instructor notebook exactly (tested). nbgrader's own ClearSolutions does the same replacement,
but nbgrader would add a database, a server extension and about 40 packages to the course's
pins for this one text substitution.

Run ``python -m utils.student`` (or ``make student``) to write student/NN_slug.ipynb for every
notebook, or ``python -m utils.student notebooks/NN_slug.ipynb`` for one.
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = "# YOUR CODE HERE"
MARKDOWN_STUB = "_Your answer here._"
DEF = re.compile(r"^\s*def (\w+)\(")


def read(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def dumps(nb):
    """The notebook's JSON as the repository stores it (nbformat's layout)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def rewrite(path, transform):
    """Write transform(notebook) back to path if it changes the stored text; True if it did."""
    new = dumps(transform(read(path)))
    if new == Path(path).read_text(encoding="utf-8"):
        return False
    Path(path).write_text(new, encoding="utf-8")
    return True


def _lines(cell):
    return "".join(cell["source"]).split("\n")


def _set_lines(cell, lines):
    text = "\n".join(lines)
    cell["source"] = [line + "\n" for line in text.split("\n")[:-1]] + [text.split("\n")[-1]]
    if cell["source"][-1] == "":
        cell["source"].pop()


def _marker(line):
    """BEGIN or END for a marker line (plain, or inside an HTML comment), else None."""
    text = line.strip()
    if text.startswith("<!--") and text.endswith("-->"):
        text = text[4:-3].strip()
    return text if text in (BEGIN, END) else None


def _blocks(lines):
    """(start, end) line index pairs of each marked solution, markers included."""
    blocks, start = [], None
    for i, line in enumerate(lines):
        if _marker(line) == BEGIN:
            if start is not None:
                raise ValueError(f"line {i + 1}: {BEGIN} inside another solution; close the first with {END}")
            start = i
        elif _marker(line) == END:
            if start is None:
                raise ValueError(f"line {i + 1}: {END} without {BEGIN}")
            blocks.append((start, i))
            start = None
    if start is not None:
        raise ValueError(f"line {start + 1}: {BEGIN} is never closed with {END}")
    return blocks


def _stub(cell, lines, start, checked):
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    if cell["cell_type"] == "markdown":
        return [indent + MARKDOWN_STUB]
    name = next((m.group(1) for line in reversed(lines[:start]) if (m := DEF.match(line))), None)
    what = f"write the body of {name} (its docstring says what to return)" if name else "write this part"
    then = ", then run the check below" if checked else ""
    return [indent + CODE_STUB, indent + f'raise NotImplementedError("Your turn: {what}{then}.")']


def solutions(nb):
    """Every marked solution block of the notebook, in order, as lists of lines."""
    found = []
    for cell in nb["cells"]:
        lines = _lines(cell)
        found += [lines[a:b + 1] for a, b in _blocks(lines)]
    return found


# The "Open in Colab" badge (utils/colab.py) of a student copy opens the student copy.
COLAB_INSTRUCTOR, COLAB_STUDENT = "/blob/main/notebooks/", "/blob/main/student/"


def _retarget_badge(nb, old, new):
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and "colab.research.google.com/github/" in "".join(cell["source"]):
            cell["source"] = [line.replace(old, new) if "Open In Colab" in line else line for line in cell["source"]]


def student_copy(nb):
    """A copy of the notebook with every solution replaced by a stub (and its Colab badge opening the copy)."""
    nb = json.loads(json.dumps(nb))
    _retarget_badge(nb, COLAB_INSTRUCTOR, COLAB_STUDENT)
    for k, cell in enumerate(nb["cells"]):
        lines = _lines(cell)
        blocks = _blocks(lines)
        # A check follows when the rest of this cell or the next code cell calls one.
        following = next((c for c in nb["cells"][k + 1:] if c["cell_type"] == "code"), {"source": []})
        after = "\n".join(lines[blocks[-1][1]:]) + "".join(following["source"]) if blocks else ""
        for a, b in reversed(blocks):
            lines[a:b + 1] = _stub(cell, lines, a, checked="check_" in after)
        _set_lines(cell, lines)
    return nb


def stub_cells(nb):
    """Indices of the cells that hold a stub (in a student copy)."""
    return [i for i, c in enumerate(nb["cells"])
            if any(line.strip() in (CODE_STUB, MARKDOWN_STUB) for line in _lines(c))]


def restore(student, blocks):
    """Put solution blocks back into a student copy, in order (inverse of student_copy)."""
    nb = json.loads(json.dumps(student))
    _retarget_badge(nb, COLAB_STUDENT, COLAB_INSTRUCTOR)
    blocks = list(blocks)
    for cell in nb["cells"]:
        lines, out, i = _lines(cell), [], 0
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped == MARKDOWN_STUB or stripped == CODE_STUB:
                if not blocks:
                    raise ValueError("the student copy has more stubs than there are solutions")
                out += blocks.pop(0)
                i += 1 if stripped == MARKDOWN_STUB else 2   # a code stub is two lines
            else:
                out.append(lines[i])
                i += 1
        _set_lines(cell, out)
    if blocks:
        raise ValueError(f"{len(blocks)} solutions were left over: the student copy has fewer stubs")
    return nb


def student_path(notebook):
    return ROOT / "student" / Path(notebook).name


def write_all(notebooks=None):
    """Write student/NN_slug.ipynb for the given notebooks (default: all); returns the paths written."""
    (ROOT / "student").mkdir(exist_ok=True)
    written = []
    for path in notebooks or sorted((ROOT / "notebooks").glob("*.ipynb")):
        target = student_path(path)
        target.write_text(dumps(student_copy(read(path))), encoding="utf-8")
        written.append(target)
    return written


if __name__ == "__main__":
    for p in write_all([Path(a).resolve() for a in sys.argv[1:]]):
        print("wrote", p.relative_to(ROOT))
    sys.exit(0)
