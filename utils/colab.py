"""Open in Colab: the badge on every notebook (a link on every lesson), and the notebooks' first code cell.

The repository's address is written once, in pyproject.toml ([project.urls] Repository). A notebook
opened on Colab is a lone file: before the course is cloned nothing of it can be imported, so the
first cell must carry the address itself. `python -m utils.colab` (or `make colab`) writes the badge
and that cell into every notebook, student copy and lesson from the one address; a test fails when
one of them differs from what this module would write.

The cell clones the course and pip-installs requirements-colab.txt only when it runs on Colab (the
kernel has imported `google.colab`), then puts the clone at the front of sys.path. `import utils`
works in the same runtime at once: no editable install, so no restart (an editable install is read
only when Python starts).
"""
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BRANCH = "main"
COLAB_DIR = "/content/multimodal-course"  # where the cell clones the course on Colab
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\n*")
LESSON_LINK = re.compile(r"\*\*\[▶ Open In Colab\]\([^)]*\)\*\*\n*")


def repository_url():
    """The course's git address, from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["urls"]["Repository"].rstrip("/")


def colab_url(path):
    """The address that opens the notebook at `path` (relative to the repository) in Colab."""
    github = repository_url().removeprefix("https://github.com/").removesuffix(".git")
    return f"https://colab.research.google.com/github/{github}/blob/{BRANCH}/{path}"


def badge(path):
    """Markdown of an "Open in Colab" badge (Colab's image) for the notebook at `path`."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(path)})"


def lesson_link(path):
    """The lessons' badge: a text link, because lessons show no image from the web (they are read offline)."""
    return f"**[▶ Open In Colab]({colab_url(path)})**"


def setup_cell():
    """Source of every notebook's first code cell."""
    return f'''# On Colab, this cell fetches the course and its packages (2-3 minutes). Anywhere else it does nothing.
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    COURSE_URL = "{repository_url()}"  # set in pyproject.toml; `make colab` writes it here
    COURSE_DIR = "{COLAB_DIR}"
    if not os.path.isdir(COURSE_DIR):
        subprocess.run(["git", "clone", "--depth", "1", COURSE_URL, COURSE_DIR], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", f"{{COURSE_DIR}}/requirements-colab.txt"],
                   check=True)
    sys.path.insert(0, COURSE_DIR)  # `import utils` finds the course now: no restart needed
    os.chdir(f"{{COURSE_DIR}}/notebooks")
    print("The course is ready in", COURSE_DIR)
else:
    print("Not on Colab: nothing to install here (the README's `make lab` sets the course up).")'''


def _source_lines(text):
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def with_badge(markdown, path):
    """markdown with the badge of `path` as its first line (an old badge replaced)."""
    return badge(path) + "\n\n" + BADGE.sub("", markdown, count=1).lstrip("\n")


def notebook_with_colab(nb, path):
    """A copy of the notebook with the badge atop its first markdown cell and the setup cell first among
    its code cells (replacing an older setup cell)."""
    import copy

    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    title = next(c for c in cells if c["cell_type"] == "markdown")
    title["source"] = _source_lines(with_badge("".join(title["source"]), path))
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    if "google.colab" in "".join(cells[first_code]["source"]):
        cells[first_code]["source"] = _source_lines(setup_cell())
    else:
        cells.insert(first_code, {"cell_type": "code", "execution_count": None, "id": "colab-setup",
                                  "metadata": {}, "outputs": [], "source": _source_lines(setup_cell())})
    return nb


def lesson_with_badge(text, notebook_path):
    """A lesson's markdown with the Colab link of its notebook under the title line (an older one replaced)."""
    title, _, rest = text.partition("\n")
    rest = LESSON_LINK.sub("", BADGE.sub("", rest.lstrip("\n"), count=1), count=1)
    return f"{title}\n\n{lesson_link(notebook_path)}\n\n{rest.lstrip(chr(10))}"


def write_all():
    """Badge and setup cell into notebooks/ and lessons/; student/ follows via utils.student."""
    from . import student

    written = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        if student.rewrite(path, lambda nb: notebook_with_colab(nb, f"notebooks/{path.name}")):
            written.append(path)
        lesson = ROOT / "lessons" / f"{path.stem}.md"
        text = lesson.read_text(encoding="utf-8")
        new = lesson_with_badge(text, f"notebooks/{path.name}")
        if new != text:
            lesson.write_text(new, encoding="utf-8")
            written.append(lesson)
    return written + student.write_all()


if __name__ == "__main__":
    for p in write_all():
        print("wrote", Path(p).relative_to(ROOT))
    sys.exit(0)
