"""The independent judge of lessons 06 and 07: accurate on pictures it was not trained on.

It is trained on utils.shapes pictures; here it is measured on the independent renderer in
tests/independent_shapes.py (another palette, other polygons, other anti-aliasing, other sizes),
on bare backgrounds, and on the tiny VQGAN's reconstructions (the kind of picture it judges in
lessons 06 and 07). The judge is trained once per cache (about half a minute on a CPU).
"""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from utils import judge as judge_module
from utils import shapes

sys.path.insert(0, str(Path(__file__).resolve().parent))
import independent_shapes  # noqa: E402


@pytest.fixture(scope="module")
def judge():
    return judge_module.load_judge(progress=False)


def independent_set(n_per_class=10, seed=5):
    rng = np.random.default_rng(seed)
    images, classes = [], []
    for _ in range(n_per_class):
        for colour, shape in shapes.CLASSES:
            images.append(independent_shapes.draw(colour, shape, rng))
            classes.append((colour, shape))
    return images, classes


def test_judge_reads_the_independent_renderer(judge):
    images, classes = independent_set()
    acc = judge_module.judge_accuracy(judge, images, classes)
    print(f"judge on {len(images)} independently drawn pictures: {acc}")
    assert acc["colour"] >= 0.97, acc
    assert acc["shape"] >= 0.90, acc


def test_judge_says_none_for_an_empty_picture(judge):
    backgrounds = [shapes.render([], size=32, rng=np.random.default_rng(k)) for k in range(40)]
    said = judge.predict(backgrounds)
    assert np.mean([s == ("none", "none") for s in said]) >= 0.95, said


def test_judge_says_other_for_shapes_outside_the_24_classes(judge):
    rng = np.random.default_rng(3)
    # Crosses and crescents: a hexagon is not in this test, at 32 px it is hard to tell from a circle.
    images = [shapes.render([shapes.sample_object(rng, c, s)], size=32, rng=rng)
              for c in shapes.COLOUR_NAMES for s in ("cross", "crescent") for _ in range(3)]
    said = judge.predict(images)
    assert np.mean([s == "other" for _, s in said]) >= 0.8, said


def test_judge_reads_tiny_vqgan_reconstructions(judge):
    from utils import vqgan as vq

    tiny_vqgan = vq.load_vqgan("tiny", device="cpu")   # cached (trained on first use, as in test_vqgan.py)
    data = [shapes.sample(77, i, "all", size=32) for i in range(96)]
    x = shapes.to_tensor([d[0] for d in data])
    recon, _ = vq.reconstruct(tiny_vqgan, vq.to_vqgan(x))
    recon = vq.from_vqgan(recon)
    acc = judge_module.judge_accuracy(judge, recon, [shapes.CLASSES[d[2]] for d in data])
    print(f"judge on 96 tiny-VQGAN reconstructions: {acc}")
    # The decoder rounds small stars' points off, so shape is harder to read after it than before
    # (about 0.8 here against 0.97 on the originals): that is the ceiling for decoded pictures,
    # which lessons 06 and 07 state. The bar only catches a judge that cannot read them at all.
    assert acc["colour"] >= 0.95 and acc["shape"] >= 0.7, acc


def test_judge_input_errors(judge):
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        judge.predict(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="one \\(colour, shape\\) per image"):
        judge_module.judge_accuracy(judge, [shapes.make_image("red", "star")], [])
