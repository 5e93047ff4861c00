"""Outputs a learner's JupyterLab saves into a notebook never reach git (the nbstripout filter of `make setup`)."""
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("student/*.ipynb"))


def clean_command():
    out = subprocess.run(["git", "config", "--get", "filter.nbstripout.clean"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip(), \
        "the nbstripout git filter is not configured in this clone: run `make setup` (the README's first step)"
    return out.stdout.strip()


def as_saved_by_jupyterlab(text):
    """The notebook as JupyterLab writes it after Run All: outputs, counts, kernel details, view state."""
    nb = json.loads(text)
    for n, cell in enumerate(nb["cells"], 1):
        cell["metadata"]["jp-MarkdownHeadingCollapsed"] = True
        if cell["cell_type"] == "code":
            cell["execution_count"] = n
            cell["metadata"].update({"scrolled": True, "execution": {"iopub.status.busy": "2026-11-26T10:00:00Z"}})
            cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": ["hello\n"]},
                               {"data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure>"]}, "metadata": {},
                                "output_type": "display_data"}]
    nb["metadata"]["language_info"] = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                                       "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                                       "pygments_lexer": "ipython3", "version": "3.11.7"}
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def test_gitattributes_routes_notebooks_through_the_filter():
    out = subprocess.run(["git", "check-attr", "filter", "--", "notebooks/01_contrastive_loss.ipynb"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("filter: nbstripout"), out.stdout


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_saved_session_leaves_git_clean(path):
    committed = path.read_text(encoding="utf-8")
    saved = as_saved_by_jupyterlab(committed)
    assert saved != committed
    cleaned = subprocess.run(clean_command(), shell=True, input=saved, capture_output=True, text=True, check=True,
                             cwd=ROOT).stdout
    assert cleaned == committed, f"git would see changes in {path.name} after a JupyterLab session"
