import pytest
import torch

from utils import settings


def test_mode_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "full")
    assert settings.get_mode() == "full"
    monkeypatch.setenv("COURSE_MODE", " Tiny ")
    assert settings.get_mode() == "tiny"


def test_mode_default_without_gpu(monkeypatch):
    monkeypatch.delenv("COURSE_MODE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert settings.get_mode() == "tiny"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert settings.get_mode() == "full"


def test_bad_mode_names_the_choices(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "huge")
    with pytest.raises(ValueError, match="tiny, full"):
        settings.get_mode()


def test_device_order(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert settings.get_device().type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert settings.get_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert settings.get_device().type == "cuda"
    assert settings.get_device("cpu").type == "cpu"


def test_set_seed_repeats():
    settings.set_seed(3)
    a = torch.rand(4)
    settings.set_seed(3)
    assert torch.equal(a, torch.rand(4))


def test_seeded_generator_repeats():
    a = torch.randperm(10, generator=settings.seeded_generator(5))
    b = torch.randperm(10, generator=settings.seeded_generator(5))
    assert torch.equal(a, b)


def test_cache_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    path = settings.cache_dir("clip")
    assert path == tmp_path / "clip" and path.is_dir()


def test_cache_is_git_ignored():
    ignored = (settings.REPO_ROOT / ".gitignore").read_text().split()
    assert ".cache/" in ignored
