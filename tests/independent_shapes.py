"""An independent Shapes renderer, written apart from utils/shapes.py, to check that the tiny
CLIP learned "red" and "star" rather than the quirks of the course's own drawing code.

Differences on purpose: a fixed palette of common RGB values per colour name (pure red, web
orange, (0, 128, 0) green, ...), PIL's regular_polygon for squares and triangles, a classic
golden-ratio star, anti-aliasing by LANCZOS downscaling from a large canvas, output sizes other
than the model's (preprocess resizes), uniform-noise backgrounds, and no rotation of circles
nor jittered hues.
"""
import math

import numpy as np
from PIL import Image, ImageDraw

PALETTE = {
    "red": [(255, 0, 0), (220, 20, 60), (200, 0, 0)],
    "orange": [(255, 165, 0), (255, 140, 0), (255, 128, 0)],
    "yellow": [(255, 255, 0), (255, 215, 0), (240, 230, 40)],
    "green": [(0, 128, 0), (0, 255, 0), (34, 139, 34), (50, 205, 50)],
    "blue": [(0, 0, 255), (30, 144, 255), (65, 105, 225), (0, 0, 205)],
    "purple": [(128, 0, 128), (148, 0, 211), (160, 32, 240), (186, 85, 211)],
}


def draw(colour, shape, rng, out_size=None):
    """One PIL image of a colour x shape, drawn without any code from utils.shapes."""
    big = 256
    grey = int(rng.integers(0, 129))
    noise = rng.uniform(0, 20)
    bg = np.clip(grey + rng.uniform(-noise, noise, (big, big, 1)), 0, 255).repeat(3, axis=2)
    img = Image.fromarray(bg.astype(np.uint8))
    d = ImageDraw.Draw(img)
    rgb = PALETTE[colour][rng.integers(len(PALETTE[colour]))]
    extent = rng.uniform(0.2, 0.67) * big       # width of the shape in pixels
    r = extent / 2
    cx, cy = rng.uniform(r, big - r, size=2)
    if shape == "circle":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rgb)
    elif shape == "square":
        # regular_polygon takes the circumradius: a square of width w has radius w / sqrt(2).
        d.regular_polygon((cx, cy, r * math.sqrt(2) * 0.95), 4, rotation=rng.uniform(-15, 15), fill=rgb)
    elif shape == "triangle":
        d.regular_polygon((cx, cy, r), 3, rotation=rng.uniform(-15, 15), fill=rgb)
    else:  # star with the classic inner/outer ratio 0.382
        a0 = math.radians(rng.uniform(-15, 15)) - math.pi / 2
        pts = [(cx + (r if k % 2 == 0 else 0.382 * r) * math.cos(a0 + k * math.pi / 5),
                cy + (r if k % 2 == 0 else 0.382 * r) * math.sin(a0 + k * math.pi / 5)) for k in range(10)]
        d.polygon(pts, fill=rgb)
    out_size = out_size or int(rng.choice([32, 48, 64, 96, 128]))
    return img.resize((out_size, out_size), Image.LANCZOS)


def dataset(n, seed=2024, compositions=None):
    """n (PIL image, class index) pairs over the given (colour, shape) list, class order of utils.shapes."""
    from utils.shapes import CLASSES
    compositions = list(compositions or CLASSES)
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        colour, shape = compositions[i % len(compositions)]
        images.append(draw(colour, shape, rng))
        labels.append(CLASSES.index((colour, shape)))
    return images, labels
