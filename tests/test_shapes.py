import numpy as np
import pytest
import torch

from utils import shapes


def test_vocabulary():
    for c in ["red", "green", "blue", "yellow", "purple", "orange"]:
        assert c in shapes.COLOURS
    for s in ["circle", "square", "triangle", "star"]:
        assert s in shapes.SHAPES
    assert len(shapes.CLASSES) == len(shapes.COLOURS) * len(shapes.SHAPES)


def test_heldout_split():
    train, held = shapes.compositions("train"), shapes.compositions("heldout")
    assert held and not set(train) & set(held)
    assert set(train) | set(held) == set(shapes.CLASSES)
    # every colour and every shape is still seen in training
    assert {c for c, _ in train} == set(shapes.COLOURS)
    assert {s for _, s in train} == set(shapes.SHAPES)


def test_train_split_never_draws_heldout():
    labels = {shapes.sample(0, i, "train")[2] for i in range(300)}
    held = {shapes.class_index(c, s) for c, s in shapes.HELDOUT}
    assert not labels & held
    assert len(labels) == len(shapes.compositions("train"))


def test_world_split_adds_extras_but_never_a_heldout_pair():
    world = shapes.compositions("world")
    assert shapes.WORLD_CLASSES[:len(shapes.CLASSES)] == shapes.CLASSES  # classes keep their index
    assert not set(world) & set(shapes.HELDOUT)
    assert set(shapes.compositions("train")) <= set(world)
    assert len(world) == len(shapes.WORLD_COLOURS) * len(shapes.WORLD_SHAPES) - len(shapes.HELDOUT)
    assert not set(shapes.EXTRA_COLOURS) & set(shapes.COLOURS)
    assert not set(shapes.EXTRA_SHAPES) & set(shapes.SHAPES)
    with pytest.raises(ValueError, match="render_training_set"):
        shapes.sample(0, 0, split="world")


def test_extra_colours_never_pass_for_a_class_colour():
    def hues(name):  # the hue interval, unwrapped (red crosses 0)
        lo, hi = shapes.COLOUR_JITTER[name][0]
        return lo % 1.0, (lo % 1.0) + (hi - lo)
    for extra in shapes.EXTRA_COLOURS:
        a0, a1 = hues(extra)
        for colour in shapes.COLOURS:
            b0, b1 = hues(colour)
            for shift in (-1, 0, 1):
                assert a1 < b0 + shift or b1 + shift < a0, (extra, colour)


def test_extra_shapes_are_drawn():
    masks = {}
    for shape in shapes.WORLD_SHAPES:
        ob = {"colour": "pink", "shape": shape, "cx": 0.5, "cy": 0.5, "extent": 0.6, "rgb": (255, 255, 255)}
        img = np.asarray(shapes.render([ob], size=32, rng=np.random.default_rng(0), bg_level=0, noise=0))
        masks[shape] = img[..., 0] > 128
        assert 0.05 < masks[shape].mean() < 0.5, shape
    for a in shapes.WORLD_SHAPES:  # every outline differs from every other
        for b in shapes.WORLD_SHAPES:
            if a < b:
                assert (masks[a] != masks[b]).mean() > 0.02, (a, b)
    with pytest.raises(ValueError, match="Unknown shape"):
        shapes.shape_polygon("heart", 0, 0, 1)


def test_deterministic_from_seed():
    a, cap_a, la = shapes.sample(7, 3)
    b, cap_b, lb = shapes.sample(7, 3)
    assert np.array_equal(np.asarray(a), np.asarray(b)) and cap_a == cap_b and la == lb
    c, _, _ = shapes.sample(8, 3)
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_caption_names_the_class():
    for i in range(50):
        _, cap, label = shapes.sample(1, i)
        colour, shape = shapes.CLASSES[label]
        assert colour in cap and shape in cap


def test_prompts():
    p = shapes.prompts()
    assert p[0] == "a photo of a red circle" and len(p) == 24
    assert shapes.PROMPT == "a photo of a {colour} {shape}"


def test_image_size_and_colour():
    assert np.asarray(shapes.make_image("red", "square", seed=0, size=48)).shape == (48, 48, 3)
    ob = {"colour": "red", "shape": "square", "cx": 0.5, "cy": 0.5, "extent": 0.6}
    r, g, b = np.asarray(shapes.render([ob], size=48)).astype(int)[24, 24]
    assert r > 150 and g < 90 and b < 90


def test_background_ranges_dark_to_mid_grey():
    levels = [np.median(np.asarray(shapes.sample(0, i)[0])[:3, :3]) for i in range(200)]
    assert min(levels) < 30 and 100 < max(levels) < 160


def test_anti_aliased_edges():
    img = np.asarray(shapes.make_image("yellow", "circle", seed=1, size=64, size_word="large"))
    # a hard-edged disc would have only two grey levels along a row; anti-aliasing adds ramps
    row = img[32, :, 0].astype(int)
    steps = np.abs(np.diff(row))
    assert steps.max() > 50 and ((steps > 15) & (steps < steps.max() - 15)).any()


def test_unknown_colour_or_shape():
    with pytest.raises(ValueError, match="Unknown colour 'pink'.*red"):
        shapes.make_image("pink", "circle")
    with pytest.raises(ValueError, match="Unknown shape 'hexagon'.*circle"):
        shapes.make_image("red", "hexagon")
    with pytest.raises(ValueError, match="split"):
        shapes.ShapesDataset(10, split="test")


def test_dataset_and_loader():
    ds = shapes.ShapesDataset(8, size=32, transform=lambda im: shapes.to_tensor([im])[0])
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    images, captions, labels = next(iter(loader))
    assert images.shape == (4, 3, 32, 32) and len(captions) == 4 and labels.shape == (4,)
    assert 0.0 <= images.min() and images.max() <= 1.0
    with pytest.raises(IndexError):
        ds[8]


def test_scene_with_two_objects():
    img = np.asarray(shapes.make_scene([("red", "circle", 0.25, 0.5), ("blue", "square", 0.75, 0.5)],
                                       size=64)).astype(int)
    left, right = img[32, 16], img[32, 48]
    assert left[0] > left[2] and right[2] > right[0]


def test_show_grid_draws_every_image():
    import matplotlib

    matplotlib.use("Agg")
    images = [shapes.sample(0, i)[0] for i in range(5)]
    fig = shapes.show_grid(images, ["x"] * 5, ncols=3)
    assert sum(1 for ax in fig.axes if ax.images) == 5
