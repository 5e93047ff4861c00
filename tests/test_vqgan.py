"""utils/vqgan.py: building, saving and loading taming VQModels (random weights: no training, no download)."""
import copy
import time

import pytest
import torch

import utils  # noqa: F401  (shims before taming)
from utils import vqgan


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """An empty course cache, so no test sees (or writes) the real one."""
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    return tmp_path


def tiny_random(seed=0):
    torch.manual_seed(seed)
    return vqgan.build_vqgan(vqgan.TINY_CONFIG).eval()


def test_tiny_model_shapes():
    model = tiny_random()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        rec, codes = vqgan.reconstruct(model, x)
        again = vqgan.decode_codes(model, codes)
    assert rec.shape == x.shape
    assert codes.shape == (2, 8, 8)  # factor 4 -> 64 tokens per image
    assert codes.max() < vqgan.TINY_CONFIG["n_embed"]
    torch.testing.assert_close(again, rec)


def test_round_trip_through_ckpt_path(tmp_path):
    """Saved as {"state_dict": ...}, reloaded by taming's VQModel(..., ckpt_path=...): same outputs."""
    from taming.models.vqgan import VQModel

    model = tiny_random()
    path = vqgan.save_vqgan(model, tmp_path / "m.pt")
    reloaded = VQModel(vqgan.TINY_CONFIG["ddconfig"], vqgan.DUMMY_LOSS, vqgan.TINY_CONFIG["n_embed"],
                       vqgan.TINY_CONFIG["embed_dim"], ckpt_path=str(path)).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x)[0], model(x)[0], rtol=0, atol=0)
    vqgan.check_keys(reloaded, torch.load(path)["state_dict"], path)


def test_load_vqgan_file_with_and_without_config(tmp_path):
    model = tiny_random()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with_config = vqgan.save_vqgan(model, tmp_path / "a.pt")
    bare = tmp_path / "b.pt"
    torch.save({"state_dict": model.state_dict()}, bare)  # no config: the tiny config is assumed
    with torch.no_grad():
        for path in (with_config, bare):
            loaded = vqgan.load_vqgan(str(path), device="cpu")
            assert not loaded.training
            torch.testing.assert_close(loaded(x)[0], model(x)[0], rtol=0, atol=0)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="tiny, imagenet-f16-16384, imagenet-f16-1024"):
        vqgan.load_vqgan("imagenet-f8")


def test_missing_file_path():
    with pytest.raises(FileNotFoundError, match="No VQGAN checkpoint file"):
        vqgan.load_vqgan("/nonexistent/model.pt")


def test_corrupt_checkpoint_names_file_and_says_delete(tmp_path):
    model = tiny_random()
    path = vqgan.save_vqgan(model, tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated, as after an interrupted save or download
    with pytest.raises(RuntimeError, match=r"m\.pt.*delete it"):
        vqgan.load_vqgan(str(path))


def test_wrong_keys_are_an_error(tmp_path):
    """taming loads with strict=False; the course loader must still refuse a checkpoint that does not fit."""
    sd = tiny_random().state_dict()
    sd["decoder.extra.weight"] = torch.zeros(1)
    del sd["encoder.conv_in.bias"]
    path = tmp_path / "wrong.pt"
    torch.save({"state_dict": sd}, path)
    with pytest.raises(RuntimeError, match="1 missing keys.*1 unexpected keys"):
        vqgan.load_vqgan(str(path))


def test_published_missing_fails_fast_with_one_sentence(cache):
    t0 = time.time()
    with pytest.raises(FileNotFoundError) as err:
        vqgan.load_vqgan("imagenet-f16-16384")
    assert time.time() - t0 < 5
    msg = str(err.value)
    assert "vqgan_imagenet_f16_16384.ckpt" in msg and "heibox.uni-heidelberg.de" in msg
    assert "COURSE_MODE=tiny" in msg and "load_vqgan('tiny')" in msg
    assert msg.count(". ") == 0  # one sentence


def test_imagenet_f16_architecture_random_weights():
    """The published f16 config builds and runs (random weights, small input): the full-mode path."""
    torch.manual_seed(0)
    config = vqgan.PUBLISHED["imagenet-f16-1024"]["config"]
    model = vqgan.build_vqgan(config).eval()
    assert model.quantize.n_e == 1024 and model.quantize.e_dim == 256
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        rec, codes = vqgan.reconstruct(model, x)
    assert rec.shape == x.shape and codes.shape == (1, 2, 2)  # factor 16
    sd16k = vqgan.PUBLISHED["imagenet-f16-16384"]["config"]
    assert sd16k["n_embed"] == 16384 and sd16k["ddconfig"] == config["ddconfig"]


def test_published_loader_with_a_lightning_style_checkpoint(cache, monkeypatch):
    """A published-style last.ckpt (extra loss.* weights, pickled non-tensor objects) loads via the slim copy.

    The real architecture is covered above; here a tiny config stands in so the file stays small.
    """
    entry = copy.deepcopy(vqgan.PUBLISHED["imagenet-f16-1024"])
    entry["config"] = vqgan.TINY_CONFIG
    monkeypatch.setitem(vqgan.PUBLISHED, "imagenet-f16-1024", entry)
    model = tiny_random()
    sd = dict(model.state_dict())
    sd["loss.discriminator.main.0.weight"] = torch.zeros(2)  # training-only weights are ignored
    torch.save({"state_dict": sd, "callbacks": {"some": pytest.approx(1)}, "epoch": 3},
               vqgan.published_path("imagenet-f16-1024"))
    loaded = vqgan.load_vqgan("imagenet-f16-1024", device="cpu")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model(x)[0], rtol=0, atol=0)


def test_image_conversions():
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(vqgan.from_vqgan(vqgan.to_vqgan(x)), x)
    pil = vqgan.to_pil(vqgan.to_vqgan(x))
    assert len(pil) == 2 and pil[0].size == (8, 8)
    torch.testing.assert_close(vqgan.from_vqgan(vqgan.to_vqgan(pil)), x, atol=1 / 255, rtol=0)


def test_psnr_of_known_error():
    x = torch.zeros(1, 3, 4, 4)
    y = x + 0.2  # 0.1 in [0, 1] units -> MSE 0.01 -> 20 dB
    assert vqgan.psnr(x, y) == pytest.approx(20.0, abs=1e-4)


def test_published_checkpoint_is_downloaded_when_online(cache, monkeypatch):
    """Online, a missing published checkpoint is streamed into the cache, then loaded."""
    import io
    import urllib.request

    entry = copy.deepcopy(vqgan.PUBLISHED["imagenet-f16-1024"])
    entry["config"] = vqgan.TINY_CONFIG
    monkeypatch.setitem(vqgan.PUBLISHED, "imagenet-f16-1024", entry)
    model = tiny_random()
    buf = io.BytesIO()
    torch.save({"state_dict": model.state_dict()}, buf)

    class Response(io.BytesIO):
        headers = {"Content-Length": str(len(buf.getvalue()))}

    monkeypatch.setattr(vqgan, "online", lambda url: True)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Response(buf.getvalue()))
    loaded = vqgan.load_vqgan("imagenet-f16-1024", device="cpu")
    assert vqgan.published_path("imagenet-f16-1024").exists()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model(x)[0], rtol=0, atol=0)


def test_config_is_read_off_the_weights():
    """A checkpoint without a config (a learner's taming run, a bare state dict) gets the config its
    weights' shapes say, not the tiny one; the published f16 layout included."""
    inferred = vqgan.infer_config(tiny_random().state_dict())
    tiny = dict(vqgan.TINY_CONFIG["ddconfig"])
    assert {k: v for k, v in inferred["ddconfig"].items() if k != "resolution"} == \
        {k: v for k, v in tiny.items() if k != "resolution"}
    assert (inferred["n_embed"], inferred["embed_dim"]) == (256, 32)


@pytest.mark.slow
def test_published_f16_config_is_read_off_its_weights(tmp_path):
    config = vqgan.PUBLISHED["imagenet-f16-1024"]["config"]
    torch.manual_seed(0)
    model = vqgan.build_vqgan(config)
    assert vqgan.infer_config(model.state_dict()) == config
    bare = tmp_path / "last.ckpt"
    torch.save({"state_dict": model.state_dict()}, bare)  # no config key, as taming's training writes it
    assert vqgan.load_vqgan(str(bare), device="cpu").quantize.n_e == 1024


def test_model_yaml_beside_the_checkpoint_is_used(tmp_path):
    """taming's training writes configs/model.yaml next to checkpoints/last.ckpt: read it."""
    from omegaconf import OmegaConf

    model = tiny_random()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "configs").mkdir()
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    torch.save({"state_dict": model.state_dict()}, ckpt)
    params = copy.deepcopy(vqgan.TINY_CONFIG)
    OmegaConf.save({"model": {"target": "taming.models.vqgan.VQModel", "params": params}},
                   tmp_path / "configs" / "model.yaml")
    assert vqgan.checkpoint_config(torch.load(ckpt), ckpt) == vqgan.TINY_CONFIG
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(vqgan.load_vqgan(str(ckpt), device="cpu")(x)[0], model(x)[0])


def test_a_state_dict_that_is_not_a_vqgan_says_what_to_give(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(RuntimeError, match="holds no config and is not a taming VQModel.*model.yaml"):
        vqgan.load_vqgan(str(path))


def test_one_copy_per_file_and_device(tmp_path):
    path = vqgan.save_vqgan(tiny_random(), tmp_path / "m.pt")
    first = vqgan.load_vqgan(str(path), device="cpu")
    assert vqgan.load_vqgan(str(path), device="cpu") is first
    assert vqgan.load_vqgan(str(path), device="cpu", fresh=True) is not first
    time.sleep(0.01)
    vqgan.save_vqgan(tiny_random(seed=1), path)  # rewritten: the next load reads the new weights
    assert vqgan.load_vqgan(str(path), device="cpu") is not first


def test_lightning_style_checkpoint_needs_trusted(tmp_path):
    """taming's own last.ckpt pickles Lightning objects: safe loading refuses with what to do; trusted=True loads."""
    import argparse

    model = tiny_random()
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": argparse.Namespace(lr=1e-4)}, path)
    with pytest.raises(RuntimeError, match=r"pickled Python objects.*trusted=True"):
        vqgan.load_vqgan(str(path), device="cpu")
    loaded = vqgan.load_vqgan(str(path), device="cpu", trusted=True)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model(x)[0], rtol=0, atol=0)
