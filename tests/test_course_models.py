"""make models / pack / unpack and the notebooks' training notice, on small stand-in files.

The real models take half an hour to train; these tests give the registry stand-in entries whose
"training" writes a few random bytes, and check the behaviour around them.
"""
import json
import tarfile

import pytest

from utils import course_models
from utils.course_models import TinyModel


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_registry(cache, calls):
    """Three entries whose training writes random bytes into the cache and notes the call."""
    def entry(key, sub):
        path = cache / sub / f"{key}.pt"

        def train(progress):
            calls.append(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(range(256)) * (400 + len(calls)))  # ~100 kB: bigger than tar's blocks
        return TinyModel(key, f"the {key}", 1.0, lambda: path, train)
    return [entry("alpha", "clip"), entry("beta", "vqgan"), entry("gamma", "judge")]


def test_train_all_trains_only_what_is_missing(cache, capsys):
    calls = []
    registry = fake_registry(cache, calls)
    registry[1].train(False)  # beta is already cached
    seconds = course_models.train_all(progress=False, registry=registry)
    assert calls == ["beta", "alpha", "gamma"] and seconds["beta"] == 0.0
    assert "total" in capsys.readouterr().out
    course_models.train_all(progress=False, registry=registry)
    assert calls == ["beta", "alpha", "gamma"], "a second run must not train again"


def test_pack_then_unpack_restores_every_file(cache, tmp_path, monkeypatch):
    registry = fake_registry(cache, [])
    with pytest.raises(RuntimeError, match="make models"):
        course_models.pack(tmp_path / "m.tar", registry=registry)
    course_models.train_all(progress=False, registry=registry)
    originals = {m.key: m.file().read_bytes() for m in registry}
    course_models.pack(tmp_path / "m.tar", registry=registry)

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "laptop"))  # another laptop's empty cache
    installed = course_models.unpack(tmp_path / "m.tar")
    assert installed == ["clip/alpha.pt", "judge/gamma.pt", "vqgan/beta.pt"]
    for m in registry:
        got = (tmp_path / "laptop" / m.file().relative_to(cache)).read_bytes()
        assert got == originals[m.key]
    assert not list((tmp_path / "laptop").glob("unpack-*")), "the temporary folder must be gone"


def packed(cache, tmp_path):
    registry = fake_registry(cache, [])
    course_models.train_all(progress=False, registry=registry)
    course_models.pack(tmp_path / "m.tar", registry=registry)
    return tmp_path / "m.tar"


def test_unpack_refuses_a_truncated_archive(cache, tmp_path, monkeypatch):
    archive = packed(cache, tmp_path)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])  # cuts the second model in two
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "laptop"))
    with pytest.raises(RuntimeError, match="truncated or corrupt"):
        course_models.unpack(archive)
    assert not list((tmp_path / "laptop").rglob("*.pt")), "nothing may be installed from a broken archive"


def rewrite(archive, change):
    """Rewrite the archive with change(name, bytes) -> bytes applied to every member."""
    with tarfile.open(archive) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(archive, "w") as tar:
        for name, data in members:
            data = change(name, data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, __import__("io").BytesIO(data))


def test_unpack_refuses_a_damaged_file(cache, tmp_path, monkeypatch):
    archive = packed(cache, tmp_path)
    rewrite(archive, lambda name, data: data if name == course_models.MANIFEST or "beta" not in name
            else data[:-1] + bytes([data[-1] ^ 1]))
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "laptop"))
    with pytest.raises(RuntimeError, match="vqgan/beta.pt .* does not match its checksum"):
        course_models.unpack(archive)
    assert not list((tmp_path / "laptop").rglob("*.pt")), "no file may be installed when one is damaged"


def test_unpack_refuses_another_recipe_version(cache, tmp_path, monkeypatch):
    archive = packed(cache, tmp_path)

    def older(name, data):
        if name != course_models.MANIFEST:
            return data
        manifest = json.loads(data)
        manifest["recipes"]["clip"] = "v3"
        return json.dumps(manifest).encode()
    rewrite(archive, older)
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "laptop"))
    with pytest.raises(RuntimeError, match="other training recipes"):
        course_models.unpack(archive)


def test_unpack_refuses_a_missing_file_or_a_foreign_tar(cache, tmp_path):
    with pytest.raises(FileNotFoundError, match="FILE="):
        course_models.unpack(tmp_path / "nowhere.tar")
    foreign = tmp_path / "foreign.tar"
    (tmp_path / "x.txt").write_text("hello")
    with tarfile.open(foreign, "w") as tar:
        tar.add(tmp_path / "x.txt", arcname="x.txt")
    with pytest.raises(RuntimeError, match="not written by `make pack`"):
        course_models.unpack(foreign)


def test_cli_reports_errors_in_one_line(cache, tmp_path, capsys):
    assert course_models.main(["unpack", str(tmp_path / "nowhere.tar")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: No archive at") and "\n" not in err


def test_notice_names_what_will_be_trained(cache, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_MODE", "tiny")
    calls = []
    registry = fake_registry(cache, calls)
    monkeypatch.setattr(course_models, "BY_KEY", {m.key: m for m in registry})
    registry[0].train(False)
    course_models.notice(tiny=["alpha", "beta", "gamma"])
    line = capsys.readouterr().out
    assert "trains the beta, the gamma (about 2 min" in line and "alpha" not in line and line.count("\n") == 1
    course_models.notice(tiny=["alpha"])
    assert "cached" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_MODE", "full")
    course_models.notice(tiny=["alpha"])
    assert "trains none" in capsys.readouterr().out
    with pytest.raises(ValueError, match="Unknown tiny model 'delta'"):
        course_models.notice(tiny=["delta"])


def test_registry_covers_every_tiny_model_the_notebooks_load():
    """Every model file name the course caches belongs to one entry, and each entry has its recipe."""
    assert [m.key for m in course_models.MODELS] == ["clip", "clip-seed1", "vqgan", "dalle", "unclip", "judge"]
    assert set(course_models.recipes()) == {"clip", "vqgan", "dalle", "unclip", "judge"}


def test_every_notebook_that_loads_a_tiny_model_announces_it_at_the_top():
    """The notice sits in the imports cell, so its line shows before any cell starts training."""
    from pathlib import Path

    loaders = {"load_clip(": "clip", "load_vqgan(": "vqgan", "load_dalle(": "dalle", "load_unclip(": "unclip",
               "load_judge(": "judge"}
    for path in sorted(Path(__file__).parents[1].glob("notebooks/*.ipynb")):
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        code = "".join("".join(c["source"]) for c in cells)
        used = {key for call, key in loaders.items() if call in code}
        imports = "".join(cells[1]["source"])
        if not used:
            assert "course_models.notice" not in code, f"{path.name} trains no model: no notice needed"
            continue
        assert "course_models.notice(" in imports, f"{path.name} loads {sorted(used)} but its imports cell has no notice"
        named = imports[imports.index("course_models.notice("):]
        for key in used:
            assert f'"{key}' in named, f"{path.name} loads the {key} but its notice does not name it"
