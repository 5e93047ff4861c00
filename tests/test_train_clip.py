"""utils.train_clip building blocks (fast), and the trained tiny CLIP against the bars (slow).

The last tests use the cached tiny CLIP (load_clip("tiny")); if the cache is empty they train
it first, which takes about 2-3 minutes on 2 CPU cores — once per checkout.
"""
import sys
from pathlib import Path

import clip
import pytest
import torch

from utils import models, shapes, train_clip

sys.path.insert(0, str(Path(__file__).resolve().parent))
import independent_shapes  # noqa: E402

MICRO = dict(embed_dim=32, vision_layers=(1, 1, 1, 1), vision_width=8, transformer_width=64,
             transformer_layers=1, context_length=8)  # a micro ResNet tower, like the tiny CLIP's


def test_tiny_architecture_survives_clip_load(tmp_path):
    model = train_clip.build_tiny_clip(seed=0).eval()
    assert isinstance(model, clip.model.CLIP) and isinstance(model.visual, clip.model.ModifiedResNet)
    assert model.visual.input_resolution == 32 and model.context_length == 16
    path = models.save_clip(model, tmp_path / "tiny.pt")
    rebuilt = clip.model.build_model(torch.load(path)).float().eval()
    # build_model infers everything from shapes, heads included (text: width // 64)
    assert rebuilt.transformer.resblocks[0].attn.num_heads == model.transformer.resblocks[0].attn.num_heads == 2
    assert rebuilt.visual.attnpool.num_heads == model.visual.attnpool.num_heads
    assert rebuilt.visual.input_resolution == 32
    assert train_clip.count_parameters(rebuilt) == train_clip.count_parameters(model)
    rebuilt.load_state_dict(torch.load(path))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.encode_image(x), model.encode_image(x))


def test_vit_config_builds_a_vit():
    model = train_clip.build_tiny_clip(seed=0, **train_clip.VIT_CONFIG)
    assert isinstance(model.visual, clip.model.VisionTransformer)
    assert model.visual.conv1.kernel_size == (8, 8)


def test_width_must_be_a_multiple_of_64():
    with pytest.raises(ValueError, match="multiples of 64"):
        train_clip.build_tiny_clip(transformer_width=96)
    with pytest.raises(ValueError, match="multiples of 64"):
        train_clip.build_tiny_clip(**dict(train_clip.VIT_CONFIG, vision_width=96))


def test_render_training_set_is_deterministic_and_never_heldout():
    a_img, a_cap, a_lab = train_clip.render_training_set(200, seed=3, progress=False)
    b_img, b_cap, b_lab = train_clip.render_training_set(200, seed=3, progress=False)
    assert a_img.shape == (200, 3, 32, 32) and a_img.dtype == torch.uint8
    assert torch.equal(a_img, b_img) and a_cap == b_cap and torch.equal(a_lab, b_lab)
    shown = {shapes.WORLD_CLASSES[i] for i in a_lab.tolist()}
    assert not shown & set(shapes.HELDOUT)
    assert shown & set(shapes.CLASSES) and shown - set(shapes.CLASSES)  # classes and extras both
    for caps, label in zip(a_cap, a_lab.tolist()):
        colour, shape = shapes.WORLD_CLASSES[label]
        assert all(colour in c and shape in c for c in caps)
    tokens = train_clip.tokenize_captions(a_cap, context_length=16)
    assert tokens.shape == (200, 3, 16)
    assert (tokens[..., -1] == 0).all()  # no caption is cut off at 16 tokens


def test_augment_keeps_shape_and_normalises():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    out = train_clip.augment(images, torch.Generator().manual_seed(0))
    assert out.shape == (8, 3, 32, 32) and out.dtype == torch.float32
    again = train_clip.augment(images, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, again)


def test_colourless_images_are_grey_and_captioned_by_shape_alone():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    grey = torch.tensor([True, False, True, False])
    out = train_clip.augment(images, torch.Generator().manual_seed(0), grey)
    pixels = out * train_clip.STD + train_clip.MEAN  # undo the normalisation: back to [0, 1]
    channel_spread = (pixels.max(dim=1).values - pixels.min(dim=1).values).flatten(1).max(dim=1).values
    assert (channel_spread[grey] < 1e-5).all() and (channel_spread[~grey] > 0.1).all()
    labels = torch.tensor([shapes.class_index("red", "star"), shapes.class_index("blue", "square"),
                           shapes.WORLD_CLASSES.index(("teal", "cross"))])
    tokens = train_clip.shape_only_tokens(labels, 16)
    assert tokens.shape == (3, 16)
    expected = ["a photo of a star", "a photo of a square", "a photo of a cross"]
    assert torch.equal(tokens, clip.tokenize(expected, context_length=16))


def test_colourless_training_needs_labels():
    images, captions, _ = train_clip.render_training_set(8, seed=0, progress=False)
    model = train_clip.build_tiny_clip(seed=0, **MICRO)
    with pytest.raises(ValueError, match="labels"):
        train_clip.train(model, images, train_clip.tokenize_captions(captions, 8), colourless=0.3,
                         epochs=1, batch_size=4, progress=False)


def test_a_few_steps_lower_the_loss_and_are_deterministic():
    images, captions, labels = train_clip.render_training_set(64, seed=0, progress=False)
    tokens = train_clip.tokenize_captions(captions, 8)
    runs = []
    for _ in range(2):
        model = train_clip.build_tiny_clip(seed=0, **MICRO)
        # Fixed threads: "auto" follows the machine's load, and another thread count may round differently.
        history = train_clip.train(model, images, tokens, labels, epochs=4, batch_size=32, lr=3e-3,
                                   colourless=0.3, progress=False, threads=2)
        runs.append((model, history))
    (a, ha), (b, hb) = runs
    assert ha["loss"] == hb["loss"]
    torch.testing.assert_close(a.state_dict(), b.state_dict())
    assert sum(ha["loss"][-2:]) < sum(ha["loss"][:2])
    assert not a.training  # handed back in eval mode


def test_zero_shot_accuracy_counts_correctly():
    model = train_clip.build_tiny_clip(seed=0, **MICRO).eval()
    text = train_clip.class_text_features(model)
    assert text.shape == (24, 32)
    preprocess = clip.clip._transform(32)
    images = [shapes.make_image("red", "circle", seed=i) for i in range(5)]
    with torch.no_grad():
        feats = model.encode_image(torch.stack([preprocess(im) for im in images]))
        pred = (feats / feats.norm(dim=-1, keepdim=True) @ text.t()).argmax(1)
    expected = (pred == 0).float().mean().item()
    assert train_clip.zero_shot_accuracy(model, preprocess, images=images, labels=[0] * 5) == expected


# ---------------------------------------------------------------- slow: the trained tiny CLIP
# Uses the cached tiny CLIP; trains it first (about 2-3 min) when the cache is empty.


@pytest.fixture(scope="module")
def tiny():
    return models.load_clip("tiny", device="cpu")


def test_tiny_clip_zero_shot_bars(tiny):
    model, preprocess = tiny
    # Measured with recipe v4 (benchmarks/train_tiny_clip.py, n=2000/1000): 97.5 % seen, 91.9 % held-out,
    # against the targets of 95 % / 80 %. The bars leave room for the spread of smaller samples.
    assert train_clip.zero_shot_accuracy(model, preprocess, "train", n=600, seed=777) >= 0.93
    assert train_clip.zero_shot_accuracy(model, preprocess, "heldout", n=400, seed=777) >= 0.85


def test_tiny_clip_recognises_an_independent_renderer(tiny):
    model, preprocess = tiny
    for compositions, bar in [(shapes.compositions("train"), 0.92), (shapes.HELDOUT, 0.85)]:  # measured 97 %, 95 %
        images, labels = independent_shapes.dataset(480, seed=31, compositions=compositions)
        assert train_clip.zero_shot_accuracy(model, preprocess, images=images, labels=labels) >= bar
