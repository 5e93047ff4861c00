"""Open in Colab: every notebook, student copy and lesson has its badge, every notebook starts with the
setup cell, and that cell, run in a real kernel that looks like Colab's, leaves `import utils` working
without a restart (the clone comes from this repository instead of GitHub)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from utils import colab, student

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COPIES = sorted((ROOT / "student").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS + COPIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_badge_and_setup_cell_are_current(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    where = f"{path.parent.name}/{path.name}"
    assert colab.notebook_with_colab(nb, where) == nb, f"{where}: badge or first cell is stale; run `make colab`"
    title = "".join(next(c for c in nb["cells"] if c["cell_type"] == "markdown")["source"])
    assert title.startswith(colab.badge(where)), f"{where}: the badge must open this very file"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "".join(code[0]["source"]) == colab.setup_cell()
    assert "import utils" in "".join(code[1]["source"]), f"{where}: the cell after the setup cell must import utils"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_has_its_notebooks_badge(path):
    lesson = (ROOT / "lessons" / f"{path.stem}.md").read_text(encoding="utf-8")
    assert lesson.split("\n")[2] == colab.lesson_link(f"notebooks/{path.name}"), "run `make colab`"


def test_the_address_is_written_in_one_place():
    url = colab.repository_url()
    assert url.startswith("https://github.com/")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    generated = {f"{p.parent.name}/{p.name}" for p in NOTEBOOKS + COPIES} | {f"lessons/{p.stem}.md" for p in NOTEBOOKS}
    # translated lessons and notebooks: their Colab links are written by `make translations` (utils/translations.py)
    generated |= {f for f in tracked if re.match(r"translations/[a-z]+/(lessons/.+\.md|notebooks/.+\.ipynb)$", f)}
    holders = {f for f in tracked if (ROOT / f).is_file() and url.removeprefix("https://") in
               (ROOT / f).read_text(encoding="utf-8", errors="ignore")}
    assert holders - generated == {"pyproject.toml"}, f"the course's address is also written in {holders - generated - {'pyproject.toml'}}"


def test_student_badge_round_trip():
    nb = student.read(NOTEBOOKS[0])
    copy = student.student_copy(nb)
    assert "/blob/main/student/" in "".join(copy["cells"][0]["source"])
    assert student.restore(copy, student.solutions(nb)) == nb


def test_cell_does_nothing_off_colab(capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    path_before, cwd_before = list(sys.path), os.getcwd()
    exec(colab.setup_cell(), {})
    assert "Not on Colab" in capsys.readouterr().out
    assert sys.path == path_before and os.getcwd() == cwd_before


def test_cell_on_simulated_colab_makes_utils_importable_in_the_running_kernel(tmp_path):
    """The setup cell in a live kernel: a stand-in `google.colab` module marks the runtime as Colab, and the
    course is cloned from this repository's committed HEAD into a temporary folder instead of GitHub. The
    pip step runs for real (every pin in requirements-colab.txt is already installed here, so it only checks)."""
    target = tmp_path / "course"
    cell = (colab.setup_cell().replace(colab.repository_url(), f"file://{ROOT}")
            .replace(colab.COLAB_DIR, str(target)))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')"),
        nbformat.v4.new_code_cell(cell),
        nbformat.v4.new_code_cell("import utils\nfrom utils.models import load_clip\nfrom utils.vqgan import load_vqgan\n"
                                  "import os\nprint(utils.__file__)\nprint(os.getcwd())"),
    ]
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    module_file, cwd = out.split()
    assert Path(module_file).resolve() == (target / "utils" / "__init__.py").resolve(), \
        f"`import utils` found {module_file}, not the fresh clone"
    assert Path(cwd).resolve() == (target / "notebooks").resolve()
    assert "The course is ready" in "".join(o.get("text", "") for o in nb.cells[1].outputs)
