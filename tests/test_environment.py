"""The environment: requirements.txt and environment.yml pin the same packages at the same versions,
and the test-time settings of conftest.py reach the libraries that read them."""
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)")


def pins(path):
    found = {}
    for line in path.read_text().splitlines():
        m = PIN.match(line)
        if m:
            found[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)  # pip's name rule: Foo_bar == foo-bar
    return found


def test_requirements_and_environment_agree():
    req = pins(ROOT / "requirements.txt")
    env = pins(ROOT / "environment.yml")
    assert len(req) >= 20
    assert req == env


def test_requirements_are_all_pinned():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert PIN.match(line), f"requirements.txt: {line!r} is not pinned with =="


def test_constraints_cover_requirements():
    cons = pins(ROOT / "constraints.txt")
    for name, version in pins(ROOT / "requirements.txt").items():
        assert cons.get(name) == version, f"constraints.txt disagrees on {name}"


def test_setuptools_pinned_below_81():
    major = int(pins(ROOT / "requirements.txt")["setuptools"].split(".")[0])
    assert major < 81, "clip imports pkg_resources, which setuptools 81 removed"


def test_colab_requirements_use_the_same_pins():
    req = pins(ROOT / "requirements.txt")
    colab = pins(ROOT / "requirements-colab.txt")
    assert colab and all(req[name] == version for name, version in colab.items())


def test_progress_bars_follow_the_test_redraw_interval():
    # conftest.py sets TQDM_MININTERVAL so long cells under nbval do not overflow the kernel's
    # message queue; this fails if tqdm stops reading its TQDM_* environment variables.
    from tqdm.auto import tqdm

    with tqdm(total=1, disable=False) as bar:
        assert bar.mininterval == float(os.environ["TQDM_MININTERVAL"])
