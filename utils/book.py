"""The course as a static HTML book: every lesson and its executed notebook, in course order.

    make book        # = python -m utils.book; opens build/book/html/index.html in any browser

Built with Sphinx, MyST-NB (notebooks with their stored outputs, no re-execution) and the Sphinx Book
Theme: all three are pip packages that carry their theme files, so the build works offline (Jupyter
Book 2's mystmd fetches its page template from the web on first build, which CI cannot reach).

The notebooks' outputs come from build/executed/, which `make test` writes as it runs each notebook
(conftest.py), so the book shows the tested run and building it executes nothing. A notebook missing
there, or executed from an older version of its file, is executed now (tiny mode) first.
"""
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import colab
from .translations import LANGUAGES_BLOCK

ROOT = Path(__file__).resolve().parent.parent
EXECUTED = ROOT / "build" / "executed"
BOOK = ROOT / "build" / "book"
TITLE = "Multimodal networks, from the loss up"

CONF = f'''# Written by utils/book.py for each build.
project = {TITLE!r}
extensions = ["myst_nb"]
html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {{"show_navbar_depth": 1, "show_toc_level": 2}}
nb_execution_mode = "off"           # outputs come from the test run (build/executed/)
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing", "myst.header", "misc.highlighting_failure"]
exclude_patterns = ["_build"]
'''


def sha1(path):
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def notebooks():
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def from_the_test_run(path):
    """build/executed/<name> if the test run wrote it from this version of notebooks/<name>, else None."""
    out = EXECUTED / path.name
    if out.is_file():
        meta = json.loads(out.read_text(encoding="utf-8"))["metadata"].get("course_executed", {})
        if meta.get("source_sha1") == sha1(path):
            return out
    return None


def executed(path, timeout=1800):
    """The executed copy of notebooks/<path>: from the test run if it is of this version, else run now."""
    out = from_the_test_run(path)
    if out is not None:
        return out
    out = EXECUTED / path.name
    import nbformat
    from nbclient import NotebookClient

    print(f"executing {path.name} (not in build/executed/ from a test run of this version)", flush=True)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata["course_executed"] = {"source_sha1": sha1(path)}
    EXECUTED.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out


def for_the_book(nb_text, path):
    """The notebook's JSON with the Colab badge image replaced by a text link (a book read offline shows
    no image from the web), and the course's bookkeeping metadata dropped."""
    nb = json.loads(nb_text)
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            link = colab.lesson_link(f"notebooks/{path.name}")
            cell["source"] = colab.BADGE.sub(lambda _: link + "\n\n", text, count=1)
            break
    nb["metadata"].pop("course_executed", None)
    return json.dumps(nb, indent=1, ensure_ascii=False)


def index_page(stems):
    lines = [f"# {TITLE}", "",
             "A hands-on course in seven notebooks: CLIP's contrastive loss from scratch, your own CLIP, "
             "zero-shot classification and text-image search, a VQGAN, VQGAN+CLIP, and a small DALL·E. "
             "Each lesson is a text and a notebook; the notebooks here are shown as the course's tests ran "
             "them (tiny mode, on a CPU). To run them yourself, open one in Colab from its page, or clone the "
             "course and follow its README.", ""]
    for stem in stems:
        lesson = (ROOT / "lessons" / f"{stem}.md").read_text(encoding="utf-8").split("\n", 1)[0].lstrip("# ")
        lines += ["```{toctree}", f":caption: {lesson}", ":maxdepth: 1", "",
                  f"Lesson <lessons/{stem}>", f"Notebook, as run <notebooks/{stem}>", "```", ""]
    return "\n".join(lines)


def build(out=BOOK, only=None):
    """Assemble the sources under out/src and build the HTML into out/html; returns the index page's path.
    only: notebook stems to include (default: all), e.g. for a quick look at one lesson."""
    start = time.perf_counter()
    src, html = out / "src", out / "html"
    shutil.rmtree(src, ignore_errors=True)
    (src / "notebooks").mkdir(parents=True)
    shutil.copytree(ROOT / "lessons", src / "lessons", ignore=lambda d, names: [
        n for n in names if only is not None and n.endswith(".md") and Path(n).stem not in only])
    for lesson in (src / "lessons").glob("*.md"):  # their language line links to translations/, not in the book
        lesson.write_text(LANGUAGES_BLOCK.sub("", lesson.read_text(encoding="utf-8")), encoding="utf-8")
    stems = []
    for path in notebooks():
        if only is not None and path.stem not in only:
            continue
        text = executed(path).read_text(encoding="utf-8")
        (src / "notebooks" / path.name).write_text(for_the_book(text, path), encoding="utf-8")
        stems.append(path.stem)
    (src / "index.md").write_text(index_page(stems), encoding="utf-8")
    (src / "conf.py").write_text(CONF, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "1", str(src), str(html)], check=True)
    print(f"built {html / 'index.html'} in {time.perf_counter() - start:.0f} s")
    return html / "index.html"


if __name__ == "__main__":
    build()
