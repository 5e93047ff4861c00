"""pytest settings for the whole repository (unit tests and notebooks under nbval).

Set here, before nbval starts any notebook kernel, so the kernels inherit them.
"""
import os

# Tests run the course in tiny mode unless told otherwise: no downloads, the same numbers everywhere.
os.environ.setdefault("COURSE_MODE", "tiny")

# nbval reads a cell's messages only after the cell has finished. A progress bar that redraws
# ten times a second for minutes (tqdm's default) overflows the kernel's message queue (ZeroMQ
# drops messages past its high-water mark), the cell's final message is lost, and nbval fails
# the cell with "Timeout of 5 seconds exceeded waiting for output". One redraw every 2 s keeps
# a 10-minute cell well under the limit. tqdm reads TQDM_* variables as its defaults.
os.environ.setdefault("TQDM_MININTERVAL", "2")


# ---------------------------------------------------------------- executed notebooks, for `make book`
# nbval runs every notebook but keeps its outputs only in memory. We write each notebook, with the outputs
# of this run, to build/executed/ as soon as its last cell has passed, so that `make book` renders the
# tested run instead of executing the course a second time. A notebook with a failed cell is not written.
import json  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent
EXECUTED = ROOT / "build" / "executed"
_failed_notebooks = set()


def pytest_runtest_logreport(report):
    if report.failed and ".ipynb::" in report.nodeid:
        _failed_notebooks.add(report.nodeid.split("::")[0])


def pytest_runtest_teardown(item, nextitem):
    cell = getattr(item, "cell", None)
    if cell is None or getattr(item, "test_outputs", None) is None:
        return
    cell.outputs = list(item.test_outputs)
    if nextitem is not None and getattr(nextitem, "parent", None) is item.parent:
        return  # more cells of this notebook to come
    path = Path(str(item.parent.fspath))
    if item.nodeid.split("::")[0] in _failed_notebooks:
        return
    import nbformat

    nb = item.parent.nb
    nb.metadata["course_executed"] = {"source_sha1": _sha1(path)}
    # A translated notebook (translations/<lang>/notebooks/NN_slug.ipynb) has the English one's name: it goes
    # to build/executed/translations/<lang>/, so it never replaces the English run that `make book` shows.
    parts = path.relative_to(ROOT).parts if path.is_relative_to(ROOT) else ()
    target = EXECUTED.joinpath(*parts[:2]) if parts[:1] == ("translations",) else EXECUTED
    target.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target / path.name))


def _sha1(path):
    import hashlib

    return hashlib.sha1(Path(path).read_bytes()).hexdigest()
