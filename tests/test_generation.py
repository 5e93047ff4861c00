"""VQGAN+CLIP mechanics on small random models, and the full-size architectures at a small input."""
import clip
import numpy as np
import pytest
import torch
from PIL import Image

from utils import generation

from small_models import small_clip, small_vqgan  # noqa: E402  (tests/ is on sys.path)


def test_parse_prompts():
    assert generation.parse_prompts("a red star") == [("a red star", 1.0)]
    assert generation.parse_prompts("a red star:2 | a blue star:-0.5") == [("a red star", 2.0), ("a blue star", -0.5)]
    assert generation.parse_prompts("time: now") == [("time: now", 1.0)]
    for bad in ["", "  ", "a:1|", "a blue star:-1"]:
        with pytest.raises(ValueError):
            generation.parse_prompts(bad)


def test_spherical_distance():
    a = torch.tensor([[1.0, 0.0]])
    assert generation.spherical_distance(a, a).item() == pytest.approx(0, abs=1e-6)
    b = torch.tensor([[0.0, 1.0]])  # 90 degrees: (pi/2)^2 / 2
    assert generation.spherical_distance(a, b).item() == pytest.approx((torch.pi / 2) ** 2 / 2, rel=1e-5)


def test_cutouts_shape_and_range():
    img = torch.rand(1, 3, 32, 32)
    cuts = generation.make_cutouts(img, 5, 24, 0.5, torch.Generator().manual_seed(0))
    assert cuts.shape == (5, 3, 24, 24) and cuts.min() >= 0 and cuts.max() <= 1


def test_straight_through_snaps_forward_and_passes_gradient():
    vq = small_vqgan()
    z = torch.randn(1, 8, 4, 4, requires_grad=True)
    zq = generation.quantise_straight_through(vq, z)
    cb = generation.codebook(vq)
    flat = zq.detach().permute(0, 2, 3, 1).reshape(-1, 8)
    assert torch.cdist(flat, cb).min(1).values.max() < 1e-4  # every vector is a code (to float error)
    zq.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))


def test_random_latent_uses_codes_and_checks_size():
    vq = small_vqgan()
    z = generation.random_latent(vq, 32, torch.Generator().manual_seed(0))
    assert z.shape == (1, 8, 8, 8)
    with pytest.raises(ValueError, match="multiple of"):
        generation.random_latent(vq, 30)


def test_generate_runs_and_improves_the_score():
    vq, cm = small_vqgan(), small_clip()
    image, hist = generation.generate("a red star", steps=25, seed=0, size=32, cutouts=4, lr=0.2,
                                      clip_model=cm, vqgan=vq, progress=False, device="cpu")
    assert isinstance(image, Image.Image) and image.size == (32, 32)
    assert len(hist["score"]) == 25 and hist["frames"][-1].size == (32, 32)
    assert max(hist["score"][-5:]) > hist["score"][0]
    # latents stay inside the codebook's range
    cb = generation.codebook(vq)
    assert (hist["latent"] <= cb.max(0).values.view(1, -1, 1, 1) + 1e-6).all()


def test_generate_is_deterministic():
    vq, cm = small_vqgan(), small_clip()
    a, _ = generation.generate("a blue circle", steps=3, seed=5, size=32, cutouts=2, clip_model=cm,
                               vqgan=vq, progress=False, device="cpu")
    b, _ = generation.generate("a blue circle", steps=3, seed=5, size=32, cutouts=2, clip_model=cm,
                               vqgan=vq, progress=False, device="cpu")
    assert a.tobytes() == b.tobytes()


def test_pixel_optimisation_raises_the_score():
    cm = small_clip()
    _, scores = generation.optimise_pixels("a red star", cm, steps=20, size=32, lr=0.1, progress=False)
    assert scores[-1] > scores[0]


def test_clip_views_zero_is_the_whole_picture_unchanged():
    img = torch.rand(1, 3, 32, 32)
    assert torch.equal(generation.clip_views(img, 0, 32), img)
    assert generation.clip_views(img, 0, 24).shape == (1, 3, 24, 24)
    assert generation.clip_views(img, 3, 24, 0.5, torch.Generator().manual_seed(0)).shape == (3, 3, 24, 24)


def test_pixel_art_is_made_of_flat_cells():
    cm = small_clip()
    image, scores = generation.optimise_pixels("a red star", cm, steps=3, size=32, progress=False, pixel_size=4,
                                               cutouts=2)
    cells = torch.from_numpy(np.array(image)).float().reshape(8, 4, 8, 4, 3)   # (row, y, col, x, RGB)
    assert (cells.amax(dim=(1, 3)) - cells.amin(dim=(1, 3))).max() == 0   # every 4 x 4 block one colour
    assert len(scores) == 3
    with pytest.raises(ValueError, match="multiple of pixel_size"):
        generation.optimise_pixels("a red star", cm, steps=1, size=30, pixel_size=4, progress=False)


def test_the_three_drawers_and_zero_cutouts():
    vq, cm = small_vqgan(), small_clip()
    for drawer in generation.DRAWERS:
        image = generation.draw_with(drawer, "a blue circle", cm, vq, cutouts=0, seed=1, size=32)
        assert image.size == (32, 32)
    with pytest.raises(ValueError, match="Unknown drawer"):
        generation.draw_with("crayons", "a blue circle", cm, vq)
    with pytest.raises(ValueError, match="needs a VQGAN"):
        generation.draw_with("VQGAN", "a blue circle", cm, None)
    with pytest.raises(ValueError, match="cutouts at least 0"):
        generation.generate("a blue circle", steps=1, cutouts=-1, clip_model=cm, vqgan=vq, progress=False,
                            device="cpu")


def test_gif(tmp_path):
    frames = [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(4)]
    path = generation.save_gif(frames, tmp_path / "x.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 4 and gif.size == (32, 32)


@pytest.mark.slow
def test_full_size_architectures_with_random_weights():
    """Full mode's path: ViT-B/32 CLIP and taming's ImageNet f16 VQGAN, random weights, 64 px."""
    from utils.vqgan import PUBLISHED, build_vqgan

    vq = build_vqgan(PUBLISHED["imagenet-f16-1024"]["config"]).eval()
    assert generation.downsampling(vq) == 16
    torch.manual_seed(0)
    cm = clip.model.CLIP(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                         vision_patch_size=32, context_length=77, vocab_size=49408, transformer_width=512,
                         transformer_heads=8, transformer_layers=12).float().eval()
    image, hist = generation.generate("a photo of a cat", steps=2, seed=0, size=64, cutouts=2,
                                      clip_model=cm, vqgan=vq, progress=False, device="cpu")
    assert image.size == (64, 64) and len(hist["score"]) == 2
