"""utils.models.load_clip: every name kind and every bad input, with a very small random CLIP."""
import socket
import time

import clip
import pytest
import torch
from PIL import Image

from utils import models, settings
from utils.train_clip import build_tiny_clip

# Smallest CLIP that clip.load can rebuild (widths are multiples of 64: heads = width // 64).
MICRO = dict(embed_dim=32, vision_layers=1, vision_width=64, vision_patch_size=8, transformer_width=64,
             transformer_layers=1, context_length=8)


@pytest.fixture
def micro_path(tmp_path):
    model = build_tiny_clip(seed=0, **MICRO).eval()
    return models.save_clip(model, tmp_path / "micro.pt"), model


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def no_network(monkeypatch):
    """Every TCP connection fails at once, as on a plane."""
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (blocked by the test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_file_path_loads_the_same_model(micro_path):
    path, original = micro_path
    model, preprocess = models.load_clip(str(path), device="cpu")
    assert isinstance(model, clip.model.CLIP) and not model.training
    assert next(model.parameters()).dtype == torch.float32
    image = preprocess(Image.new("RGB", (50, 70), (255, 0, 0))).unsqueeze(0)
    assert image.shape == (1, 3, 32, 32)  # preprocess resizes to the model's input resolution
    text = models.tokenize(["a red circle", "a blue star"], model)
    with torch.no_grad():
        got = model(image, text)[0]
        want = original(image, text)[0]
    torch.testing.assert_close(got, want)


def test_tokenize_uses_the_model_context_length(micro_path):
    model, _ = models.load_clip(str(micro_path[0]), device="cpu")
    tokens = models.tokenize(["a very long caption " * 10, "a red star"], model)
    assert tokens.shape == (2, 8) == (2, model.context_length)
    assert tokens[0, -1].item() == 49407  # truncated, and still ends with the end-of-text token


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError) as info:
        models.load_clip("ViT-Z/99", device="cpu")
    message = str(info.value)
    for name in ("tiny", "ViT-B/32", "RN50"):
        assert name in message


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_tiny_checkpoint_names_the_file_and_says_delete(micro_path, empty_cache, damage):
    path = models.tiny_path(0)
    data = micro_path[0].read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint" * 100,
                      "empty": b""}[damage])
    with pytest.raises(RuntimeError) as info:
        models.load_clip("tiny", device="cpu")
    message = str(info.value)
    assert str(path) in message and "delete" in message and "retrained" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_corrupt_file_path_names_the_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(RuntimeError, match="delete"):
        models.load_clip(str(bad), device="cpu")


def test_tiny_loads_from_the_cache_without_training(micro_path, empty_cache):
    models.tiny_path(3).write_bytes(micro_path[0].read_bytes())
    a, _ = models.load_clip("tiny", device="cpu", seed=3)
    b, _ = models.load_clip("tiny-seed3", device="cpu")
    torch.testing.assert_close(a.state_dict(), b.state_dict())
    assert a.context_length == 8


def test_published_name_offline_fails_fast_with_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "CLIP_DOWNLOAD_ROOT", str(tmp_path / "clip-downloads"))
    no_network(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(RuntimeError) as info:
        models.load_clip("ViT-B/32", device="cpu")
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "ViT-B-32.pt" in message and "internet" in message and "COURSE_MODE=tiny" in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no urllib trace


def test_download_error_midway_is_one_sentence(tmp_path, monkeypatch):
    # The host answers the probe but the download itself fails (e.g. a proxy drops it).
    monkeypatch.setattr(models, "CLIP_DOWNLOAD_ROOT", str(tmp_path / "clip-downloads"))
    monkeypatch.setattr(models, "online", lambda: True)

    def fail(*args, **kwargs):
        raise OSError("connection reset")

    import urllib.request
    monkeypatch.setattr(urllib.request, "urlopen", fail)
    with pytest.raises(RuntimeError, match="COURSE_MODE=tiny"):
        models.load_clip("RN50", device="cpu")


def test_default_name_follows_the_mode(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "CLIP_DOWNLOAD_ROOT", str(tmp_path / "clip-downloads"))
    no_network(monkeypatch)
    monkeypatch.setenv("COURSE_MODE", "full")
    with pytest.raises(RuntimeError, match="ViT-B/32"):
        models.load_clip(device="cpu")
    monkeypatch.setenv("COURSE_MODE", "tiny")
    assert settings.get_mode() == "tiny"


def test_one_copy_per_checkpoint_and_device(micro_path):
    path = str(micro_path[0])
    first, _ = models.load_clip(path, device="cpu")
    assert models.load_clip(path, device="cpu")[0] is first
    assert models.load_clip(path, device="cpu", fresh=True)[0] is not first


def test_loading_shows_no_jit_deprecation_warning(micro_path):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        models.load_clip(str(micro_path[0]), device="cpu", fresh=True)
    assert not [w for w in caught if "jit" in str(w.message).lower()], [str(w.message) for w in caught]


def test_published_file_is_hashed_once(tmp_path, monkeypatch):
    """The SHA-256 of a published file is checked on its first load and remembered beside it."""
    import hashlib

    target = tmp_path / "model.pt"
    target.write_bytes(b"weights")
    sha = hashlib.sha256(b"weights").hexdigest()
    assert models.verified(str(target), sha)
    assert (tmp_path / "model.pt.sha256-ok").is_file()

    def no_hashing(*args):
        raise AssertionError("hashed a second time")

    monkeypatch.setattr(models, "sha256_ok", no_hashing)
    assert models.verified(str(target), sha)  # remembered: no second hash
    monkeypatch.undo()
    target.write_bytes(b"changed!")  # a new file (size and time differ): hashed again, and refused
    assert not models.verified(str(target), sha)
    assert not models.verified(str(tmp_path / "absent.pt"), sha)
