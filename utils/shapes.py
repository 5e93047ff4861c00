"""The Shapes world: captioned images of coloured shapes, deterministic from a seed.

Every image is drawn at 4x its size and shrunk, so edges are anti-aliased. Colours, sizes,
positions, rotations and backgrounds (black to mid-grey, with noise) vary, so a model trained
here has to learn "red" and "star" rather than one exact pixel pattern.

Some colour x shape compositions (HELDOUT) never appear in the training split: zero-shot
accuracy on them tests whether CLIP composes attributes it learned separately.
"""
import colorsys
import math

import numpy as np
import torch
from PIL import Image, ImageDraw

# Canonical colours as (hue in [0, 1], saturation, value); images jitter around them.
COLOURS = {
    "red": (0.0, 0.85, 0.90),
    "orange": (0.075, 0.90, 0.98),
    "yellow": (0.155, 0.85, 0.95),
    "green": (0.33, 0.75, 0.75),
    "blue": (0.61, 0.80, 0.92),
    "purple": (0.78, 0.70, 0.80),
}
SHAPES = ("circle", "square", "triangle", "star")
COLOUR_NAMES = tuple(COLOURS)

# One composition per shape and at most one per colour, so every colour and every shape is
# still seen in training, just never in these pairings.
HELDOUT = (("red", "triangle"), ("green", "star"), ("blue", "circle"), ("yellow", "square"))

CLASSES = tuple((c, s) for c in COLOUR_NAMES for s in SHAPES)  # 24 classes, colour-major

# The training world is wider than the 24 classes: three more colours and three more shapes
# appear in training images and captions, in every pairing (never in a class prompt or a test).
# Why: with 6 colours x 4 shapes, blue is only ever a square, triangle or star, so a model can
# learn "blue square" as one pattern and has no reason to recognise a circle that is blue. Many
# more pairings make colour and shape separate features (measured in lessons/02). None of the
# extras is a held-out composition, and the four held-out pairs still never appear.
EXTRA_COLOURS = {
    "pink": (0.92, 0.65, 0.95),
    "teal": (0.49, 0.80, 0.70),
    "lime": (0.21, 0.80, 0.85),
}
EXTRA_SHAPES = ("cross", "hexagon", "crescent")
WORLD_COLOURS = COLOUR_NAMES + tuple(EXTRA_COLOURS)
WORLD_HSV = {**COLOURS, **EXTRA_COLOURS}
WORLD_SHAPES = SHAPES + EXTRA_SHAPES
# Every pairing of the training world, the 24 classes first (so a class keeps its index).
WORLD_CLASSES = CLASSES + tuple((c, s) for c in WORLD_COLOURS for s in WORLD_SHAPES
                                if (c, s) not in CLASSES)
PROMPT = "a photo of a {colour} {shape}"

SIZE_WORDS = ("small", "medium", "large")
SIZE_RANGES = {"small": (0.20, 0.34), "medium": (0.34, 0.50), "large": (0.50, 0.67)}

TEMPLATES = (
    "a photo of a {colour} {shape}",
    "a {colour} {shape}",
    "a {size} {colour} {shape}",
    "a {colour} {shape} {position}",
    "a {size} {colour} {shape} {position}",
    "a drawing of a {colour} {shape}",
    "a {shape} that is {colour}",
    "there is a {colour} {shape} {position}",
    "a {colour} {shape} on a {background} background",
)


def check_colour(colour, allowed=COLOUR_NAMES):
    """colour itself if it is one of `allowed` (the class colours unless told otherwise)."""
    if colour not in allowed:
        raise ValueError(f"Unknown colour {colour!r}; choose one of {', '.join(allowed)}.")
    return colour


def check_shape(shape, allowed=SHAPES):
    """shape itself if it is one of `allowed` (the class shapes unless told otherwise)."""
    if shape not in allowed:
        raise ValueError(f"Unknown shape {shape!r}; choose one of {', '.join(allowed)}.")
    return shape


def class_index(colour, shape):
    return CLASSES.index((check_colour(colour), check_shape(shape)))


def prompts(template=PROMPT):
    """The prompt of every class, in class order: 'a photo of a red circle', ..."""
    return [template.format(colour=c, shape=s) for c, s in CLASSES]


def compositions(split="all"):
    """Colour x shape pairs of a split: 'train' (seen classes), 'heldout' (never trained on),
    'all' (the 24 classes) or 'world' (what training images show: seen classes + the extras)."""
    if split == "all":
        return list(CLASSES)
    if split == "train":
        return [cs for cs in CLASSES if cs not in HELDOUT]
    if split == "heldout":
        return list(HELDOUT)
    if split == "world":
        return [cs for cs in WORLD_CLASSES if cs not in HELDOUT]
    raise ValueError(f"Unknown split {split!r}; choose 'train', 'heldout', 'all' or 'world'.")


# ---------------------------------------------------------------- drawing


# How far a rendered colour may stray from the canonical one: (hue range, saturation range,
# value range). Wide enough to cover the usual RGB values people use for each name, e.g. pure
# (0, 0, 255) blue, (128, 0, 128) purple, (255, 165, 0) orange, (0, 128, 0) green, so a model
# trained here also names shapes drawn by someone else's renderer; narrow enough that the hue
# ranges of neighbouring names never overlap.
COLOUR_JITTER = {
    "red": ((-0.025, 0.025), (0.6, 1.0), (0.5, 1.0)),
    "orange": ((0.06, 0.115), (0.7, 1.0), (0.8, 1.0)),
    "yellow": ((0.135, 0.175), (0.6, 1.0), (0.8, 1.0)),
    "green": ((0.25, 0.42), (0.55, 1.0), (0.45, 1.0)),
    "blue": ((0.57, 0.69), (0.55, 1.0), (0.6, 1.0)),
    "purple": ((0.75, 0.86), (0.5, 1.0), (0.45, 0.95)),
    # The training-only colours sit in the gaps between the class colours' hue ranges, with a
    # margin, so none of them could pass for a class colour.
    "pink": ((0.885, 0.955), (0.45, 0.9), (0.7, 1.0)),
    "teal": ((0.44, 0.54), (0.55, 1.0), (0.45, 1.0)),
    "lime": ((0.19, 0.235), (0.6, 1.0), (0.6, 1.0)),
}


def colour_rgb(colour, rng=None):
    """An RGB triple (0-255) for a colour name; with an rng, hue/saturation/value are jittered."""
    h, s, v = WORLD_HSV[check_colour(colour, WORLD_COLOURS)]
    if rng is not None:
        (h0, h1), (s0, s1), (v0, v1) = COLOUR_JITTER[colour]
        h = rng.uniform(h0, h1) % 1.0
        s = rng.uniform(s0, s1)
        v = rng.uniform(v0, v1)
    return tuple(int(round(255 * x)) for x in colorsys.hsv_to_rgb(h, s, v))


def shape_polygon(shape, cx, cy, radius, angle=0.0, inner=0.45):
    """Vertices of a shape centred at (cx, cy); `radius` is half its extent (circle: None).

    inner: a star's inner radius as a fraction of its outer one.
    """
    if check_shape(shape, WORLD_SHAPES) == "circle":
        return None
    if shape == "square":
        pts = [(-radius, -radius), (radius, -radius), (radius, radius), (-radius, radius)]
    elif shape == "triangle":
        # Point up, vertical extent equal to its width; the centroid sits a little low.
        pts = [(0.0, -radius), (radius, radius * 0.8), (-radius, radius * 0.8)]
    elif shape == "star":  # five points
        pts = []
        for k in range(10):
            r = radius if k % 2 == 0 else radius * inner
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((r * math.cos(a), r * math.sin(a)))
    else:
        pts = [(x * radius, y * radius) for x, y in EXTRA_OUTLINES[shape]]
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts]


def _crescent(steps=20):
    """A crescent of radius 1: the unit disc minus a unit disc shifted right by 0.5."""
    a0, a1 = math.radians(75.5), math.radians(284.5)  # where the two circles cross (x = 0.25)
    b0, b1 = math.radians(255.5), math.radians(104.5)  # the same two points seen from (0.5, 0)
    outer = [a0 + (a1 - a0) * k / steps for k in range(steps + 1)]
    inner = [b0 + (b1 - b0) * k / steps for k in range(steps + 1)]
    return [(math.cos(a), math.sin(a)) for a in outer] + [(0.5 + math.cos(b), math.sin(b)) for b in inner]


_ARM = 0.33  # half the width of a cross's arms
# Outlines of the training-only shapes, radius 1, centred on the origin.
EXTRA_OUTLINES = {
    "cross": [(-_ARM, -1), (_ARM, -1), (_ARM, -_ARM), (1, -_ARM), (1, _ARM), (_ARM, _ARM), (_ARM, 1),
              (-_ARM, 1), (-_ARM, _ARM), (-1, _ARM), (-1, -_ARM), (-_ARM, -_ARM)],
    "hexagon": [(math.cos(k * math.pi / 3), math.sin(k * math.pi / 3)) for k in range(6)],
    "crescent": _crescent(),
}


def draw_shape(draw, shape, colour_rgb_, cx, cy, radius, angle=0.0, inner=0.45):
    if shape == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour_rgb_)
    else:
        draw.polygon(shape_polygon(shape, cx, cy, radius, angle, inner), fill=colour_rgb_)


def background(size, rng, level=None, noise=None):
    """A grey background from black to mid-grey, with a soft gradient and pixel noise (float 0-255)."""
    level = rng.uniform(0, 128) if level is None else level
    noise = rng.uniform(0, 18) if noise is None else noise
    ramp = np.linspace(-1, 1, size)
    gx, gy = rng.uniform(-12, 12, size=2)
    img = level + gx * ramp[None, :] + gy * ramp[:, None]
    img = np.repeat(img[:, :, None], 3, axis=2) + rng.normal(0, 1, (size, size, 3)) * noise
    tint = rng.uniform(-6, 6, size=3)  # backgrounds are grey, but not always perfectly neutral
    return img + tint


def render(objects, size=64, rng=None, bg_level=None, noise=None, supersample=4):
    """Draw objects on a noisy grey background and return a PIL RGB image.

    objects: list of dicts with keys colour, shape, cx, cy (0-1 of the image), extent (0-1,
    the shape's width as a fraction of the image) and optionally angle (radians), rgb and
    inner (a star's inner radius ratio).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    big = size * supersample
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    for ob in objects:
        rgb = ob.get("rgb") or colour_rgb(ob["colour"])
        draw_shape(draw, ob["shape"], tuple(rgb) + (255,), ob["cx"] * big, ob["cy"] * big,
                   ob["extent"] * big / 2, ob.get("angle", 0.0), ob.get("inner", 0.45))
    # Shrinking the 4x canvas averages edge pixels: anti-aliasing without extra dependencies.
    fg = np.asarray(canvas.resize((size, size), Image.BOX), dtype=np.float32)
    alpha = fg[..., 3:4] / 255.0
    bg = background(size, rng, bg_level, noise)
    shade = rng.uniform(0.9, 1.05)  # a little lighting variation on the shapes
    out = alpha * np.clip(fg[..., :3] * shade, 0, 255) + (1 - alpha) * bg
    return Image.fromarray(np.clip(out, 0, 255).round().astype(np.uint8))


def position_word(cx, cy):
    """Where an object is, in the words the captions use."""
    dx, dy = cx - 0.5, cy - 0.5
    if max(abs(dx), abs(dy)) < 0.12:
        return "in the centre"
    if abs(dx) >= abs(dy):
        return "on the left" if dx < 0 else "on the right"
    return "at the top" if dy < 0 else "at the bottom"


MAX_TILT = 20.0


def sample_object(rng, colour, shape, size_word=None, extent=None):
    """Random size, position and rotation for one shape that stays (nearly) inside the image."""
    size_word = size_word or SIZE_WORDS[rng.integers(len(SIZE_WORDS))]
    if extent is None:
        extent = rng.uniform(*SIZE_RANGES[size_word])
    half = extent / 2
    cx, cy = rng.uniform(half, 1 - half, size=2) if half < 0.5 else (0.5, 0.5)
    # A tilt of up to MAX_TILT degrees: people draw shapes roughly upright, and a square turned
    # 45 degrees reads as a diamond, a triangle turned 60 degrees as one pointing down.
    angle = math.radians(rng.uniform(-MAX_TILT, MAX_TILT)) if shape != "circle" else 0.0
    # Stars are drawn fat or spiky by different people; vary the inner radius a little.
    inner = float(rng.uniform(0.38, 0.5))
    return {"colour": colour, "shape": shape, "cx": float(cx), "cy": float(cy),
            "extent": float(extent), "angle": angle, "size_word": size_word,
            "rgb": colour_rgb(colour, rng), "inner": inner}


def caption(ob, rng, bg_level, template=None):
    """A caption for one object, from a random template (or the one given)."""
    template = template or TEMPLATES[rng.integers(len(TEMPLATES))]
    bg_word = "black" if bg_level < 40 else ("dark grey" if bg_level < 90 else "grey")
    return template.format(colour=ob["colour"], shape=ob["shape"], size=ob["size_word"],
                           position=position_word(ob["cx"], ob["cy"]), background=bg_word)


def sample(seed, index=0, split="train", size=64, template=None):
    """One (PIL image, caption, class index) example, fixed by (seed, index, split)."""
    if split == "world":
        raise ValueError("split 'world' has colours and shapes outside the 24 classes, so it has no "
                         "class index; use train_clip.render_training_set for it, or 'train', "
                         "'heldout' or 'all' here.")
    pairs = compositions(split)
    rng = np.random.default_rng([seed, index, ("all", "train", "heldout").index(split)])
    colour, shape = pairs[rng.integers(len(pairs))]
    ob = sample_object(rng, colour, shape)
    bg_level = rng.uniform(0, 128)
    image = render([ob], size=size, rng=rng, bg_level=bg_level)
    return image, caption(ob, rng, bg_level, template), class_index(colour, shape)


def make_image(colour, shape, seed=0, size=64, size_word=None):
    """One image of a given colour and shape (random placement fixed by the seed)."""
    rng = np.random.default_rng([seed, class_index(colour, shape)])
    ob = sample_object(rng, colour, shape, size_word)
    return render([ob], size=size, rng=rng)


def make_scene(objects, seed=0, size=64):
    """A scene with several objects: [(colour, shape, cx, cy), ...] with cx, cy in 0-1.

    Used to probe CLIP's weak spots (two objects, counting, left/right).
    """
    rng = np.random.default_rng(seed)
    obs = []
    for colour, shape, cx, cy in objects:
        ob = sample_object(rng, check_colour(colour), check_shape(shape), extent=0.3)
        ob.update(cx=cx, cy=cy)
        obs.append(ob)
    return render(obs, size=size, rng=rng, bg_level=40)


class ShapesDataset(torch.utils.data.Dataset):
    """n captioned Shapes images. Item i is (image, caption, class index), the same on every run.

    transform: applied to the PIL image (e.g. CLIP's preprocess); template: a fixed caption
    template instead of a random one (e.g. shapes.PROMPT).
    """

    def __init__(self, n, split="train", seed=0, size=64, transform=None, template=None):
        compositions(split)  # validates the split name
        if n < 1:
            raise ValueError(f"n={n} images asked for; ask for at least 1.")
        self.n, self.split, self.seed, self.size = n, split, seed, size
        self.transform, self.template = transform, template

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        image, text, label = sample(self.seed, i, self.split, self.size, self.template)
        if self.transform is not None:
            image = self.transform(image)
        return image, text, label


def to_tensor(images):
    """PIL images -> float tensor (N, 3, H, W) in [0, 1]."""
    arr = np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def show_grid(images, captions=None, ncols=6, scale=1.8, fontsize=8, title=None):
    """Draw a grid of PIL images (or (3,H,W) tensors in [0,1]) with optional captions and a title."""
    import matplotlib.pyplot as plt

    n = len(images)
    nrows = max(1, math.ceil(n / ncols))
    # constrained layout leaves room for the title above the captions (tight_layout ignores suptitle)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * scale, nrows * (scale + 0.3) + (0.4 if title else 0)),
                             squeeze=False, layout="constrained" if title else None)
    for ax in axes.flat:
        ax.axis("off")
    for i, im in enumerate(images):
        ax = axes.flat[i]
        if isinstance(im, torch.Tensor):
            im = im.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy()
        ax.imshow(im)
        if captions is not None:
            ax.set_title(captions[i], fontsize=fontsize, wrap=True)
    if title:
        fig.suptitle(title, fontsize=fontsize + 2)
    else:
        fig.tight_layout()
    return fig
