"""The course in a real browser: JupyterLab started by the README's `make lab`, driven by Playwright.

Playwright drives the system's Chromium (Debian's `chromium` package; `.ci/run` installs it). Where no
Chromium exists these tests are skipped, saying why. They run after the notebooks (see the Makefile's
test command), so the tiny models are cached by then. Screenshots land in build/browser/ for a person
to look at.

The notebooks are opened as copies under build/browser/, so that JupyterLab's autosave never writes
outputs into the tracked ones.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "browser"
TOKEN = "course-browser-test"
# JupyterLab settings for the test server: every cell stays in the page (no virtual scrolling, so the
# page holds every output) and no news pop-up covers the notebook.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                       "checkForUpdates": False},
}


def chromium_path():
    for candidate in (os.environ.get("COURSE_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="no Chromium on this machine (install Debian's `chromium` package, as .ci/run does, or set "
           "COURSE_CHROMIUM to a Chromium binary); the browser tests need one")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server started with `make lab`; yields its base URL."""
    settings = tmp_path_factory.mktemp("lab-settings")
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = free_port()
    OUT.mkdir(parents=True, exist_ok=True)
    args = (f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token={TOKEN} "
            "--LabApp.expose_app_in_browser=True")
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "COURSE_MODE": "tiny"}
    log = open(OUT / "lab.log", "w")
    server = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 180
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, f"`make lab` exited early; see {OUT / 'lab.log'}"
                assert time.time() < deadline, f"JupyterLab did not open port {port} in 3 minutes; see {OUT / 'lab.log'}"
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield b
        b.close()


# The notebook is found by its path, not as "the current widget": JupyterLab may restore other tabs.
NOTEBOOK = "(p) => Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.context && w.context.path === p)"
KERNEL_READY = f"""(p) => {{ const w = window.jupyterapp && ({NOTEBOOK})(p);
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!k && k.status === 'idle'; }}"""
ALL_RAN = f"""(p) => {{ const w = ({NOTEBOOK})(p);
    const code = w.content.widgets.filter(c => c.model.type === 'code');
    return w.sessionContext.session.kernel.status === 'idle' && code.every(c => c.model.executionCount !== null); }}"""
# Every output of every code cell, from the notebook's model: its type, stream name and first text.
OUTPUTS = f"""(p) => ({NOTEBOOK})(p).content.widgets
    .filter(c => c.model.type === 'code')
    .flatMap((c, i) => {{ const out = c.model.outputs; const list = [];
        for (let j = 0; j < out.length; j++) {{ const o = out.get(j).toJSON();
            list.push({{cell: i, type: o.output_type, name: o.name || '',
                       text: String(o.text || o.evalue || '').slice(0, 300)}}); }}
        return list; }})"""
IMAGES = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output img'))
    .map(i => ({complete: i.complete, width: i.naturalWidth}))"""


def open_and_run_all(browser, lab, name, timeout_minutes):
    """Open a copy of notebooks/<name> in JupyterLab, run all cells, wait until the kernel is idle."""
    copy = OUT / name
    shutil.copy(ROOT / "notebooks" / name, copy)
    path = copy.relative_to(ROOT).as_posix()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # A workspace of its own, reset: only this notebook's tab, whatever an earlier test left open.
    page.goto(f"{lab}/lab/workspaces/{copy.stem}/tree/{path}?token={TOKEN}&reset")
    page.wait_for_function(KERNEL_READY, arg=path, timeout=180_000, polling=500)
    start = time.time()
    page.evaluate(f"(p) => {{ window.jupyterapp.shell.activateById(({NOTEBOOK})(p).id); "
                  "return window.jupyterapp.commands.execute('notebook:run-all-cells'); }", path)
    page.wait_for_function(ALL_RAN, arg=path, timeout=timeout_minutes * 60_000, polling=1000)
    return page, path, time.time() - start


def assert_clean_run(page, path, name):
    outputs = page.evaluate(OUTPUTS, path)
    errors = [o for o in outputs if o["type"] == "error"]
    assert not errors, f"{name}: a cell raised: {errors[0]}"
    stderr = [o for o in outputs if o["type"] == "stream" and o["name"] == "stderr"]
    assert not stderr, f"{name}: cell {stderr[0]['cell']} shows a stderr box (a learner sees it): {stderr[0]['text']!r}"
    images = page.evaluate(IMAGES)
    assert images, f"{name}: no plot was rendered"
    broken = [i for i in images if not i["complete"] or i["width"] == 0]
    assert not broken, f"{name}: {len(broken)} of {len(images)} plots did not render"
    status = page.evaluate(f"(p) => ({NOTEBOOK})(p).sessionContext.session.kernel.status", path)
    assert status == "idle", f"{name}: the kernel ended {status!r}, not idle"
    return images


def test_notebook_01_runs_clean_in_jupyterlab(browser, lab):
    page, path, seconds = open_and_run_all(browser, lab, "01_contrastive_loss.ipynb", timeout_minutes=10)
    images = assert_clean_run(page, path, "01_contrastive_loss")
    page.screenshot(path=str(OUT / "01_contrastive_loss.png"), full_page=True)
    print(f"notebook 01 in JupyterLab: {seconds:.0f} s, {len(images)} plots")
    page.close()


def test_notebook_04_search_box_answers_a_typed_query(browser, lab):
    page, path, seconds = open_and_run_all(browser, lab, "04_text_image_retrieval.ipynb", timeout_minutes=20)
    assert_clean_run(page, path, "04_text_image_retrieval")
    box = page.locator(".widget-text input[type='text']")
    assert box.count() == 1, "the search box widget did not render"
    output = page.locator(".jupyter-widgets.widget-output")
    assert output.locator("img").count() == 0, "the search box's output area should start empty"
    box.fill("a photo of a blue square")
    box.press("Enter")
    output.locator("img").first.wait_for(timeout=60_000)
    box.scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / "04_search_box.png"))
    first = output.locator("img").first.get_attribute("src")
    box.fill("a photo of a yellow circle")
    box.press("Enter")
    page.wait_for_function("""(old) => { const i = document.querySelector('.jupyter-widgets.widget-output img');
        return i && i.src !== old && i.complete && i.naturalWidth > 0; }""", arg=first, timeout=60_000)
    outputs = page.evaluate(OUTPUTS, path)
    assert not [o for o in outputs if o["type"] == "stream" and o["name"] == "stderr"], \
        "typing in the search box printed to stderr"
    inside = output.locator("[data-mime-type='application/vnd.jupyter.stderr'], "
                            "[data-mime-type='application/vnd.jupyter.error']")
    assert inside.count() == 0, f"the search box's output shows an error: {inside.first.inner_text()[:300]}"
    print(f"notebook 04 in JupyterLab: {seconds:.0f} s; the search box answered two typed queries")
    page.close()


def test_the_book_builds_from_this_run_and_its_pages_show_their_figures(browser):
    """`make book`'s build, from the outputs this test run wrote to build/executed/ (no re-execution)."""
    from utils import book

    missing = [p.name for p in book.notebooks() if not (book.EXECUTED / p.name).is_file()]
    assert not missing, f"the notebook tests did not write {missing} to build/executed/ (did they fail?)"
    start = time.time()
    index = book.build()
    seconds = time.time() - start
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    checked = 0
    for name in ["index", "lessons/02_train_tiny_clip", "notebooks/06_vqgan_clip_generation"]:
        page.goto((index.parent / f"{name}.html").as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("Array.from(document.images).map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0}))")
        broken = [i["src"] for i in images if not i["ok"]]
        assert not broken, f"book page {name}: broken images {broken[:3]}"
        assert name == "index" or images, f"book page {name} shows no figure"
        checked += len(images)
        page.screenshot(path=str(OUT / f"book-{name.replace('/', '-')}.png"))
    nav = page.locator("nav.bd-docs-nav a").all_inner_texts()
    assert nav[:2] == ["Lesson", "Notebook, as run"] and len(nav) == 2 * len(book.notebooks()), nav
    print(f"make book: {seconds:.0f} s; three pages, {checked} images, none broken")
    page.close()
