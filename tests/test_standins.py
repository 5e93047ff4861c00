"""utils/standins.py: the random-weight stand-ins have the published architectures and load through the
course's own loaders, as full mode loads the real files."""
import pytest
import torch

import utils  # noqa: F401
from utils import models, standins, vqgan
from utils.settings import cache_dir


@pytest.mark.slow
def test_rn50_standin_is_a_modified_resnet_clip(tmp_path):
    path = standins.clip_standin("RN50", tmp_path / "rn50.pt")
    model, preprocess = models.load_clip(str(path), device="cpu")
    assert type(model.visual).__name__ == "ModifiedResNet" and model.visual.input_resolution == 224
    assert model.context_length == 77 and model.text_projection.shape == (512, 1024)
    with torch.no_grad():
        assert model.encode_image(torch.zeros(1, 3, 224, 224)).shape == (1, 1024)


@pytest.mark.slow
def test_standin_settings_point_full_mode_at_the_files(tmp_path, monkeypatch):
    env = standins.standin_settings(cache_dir("standins"))   # shared with tests/test_full_mode.py
    assert env["COURSE_MODE"] == "full" and env["COURSE_STANDINS"] == "1"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    clip_model, _ = models.load_clip(device="cpu")
    assert type(clip_model.visual).__name__ == "VisionTransformer" and clip_model.visual.input_resolution == 224
    assert clip_model.visual.conv1.kernel_size == (32, 32)   # ViT-B/32's patches
    vq = vqgan.load_vqgan(vqgan.vqgan_name_for_mode(), device="cpu")
    assert vq.quantize.n_e == 16384 and 2 ** (vq.encoder.num_resolutions - 1) == 16
    from utils.settings import cap_steps
    assert cap_steps(300) == 1


def test_unknown_standin_name():
    with pytest.raises(ValueError, match="ViT-B/32, RN50"):
        standins.clip_standin("ViT-L/14", "unused.pt")
