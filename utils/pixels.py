"""Judge a generated image from its pixels, without CLIP: which colour dominates its foreground?

Lessons 06 and 07 score generators with this, so the score cannot be fooled the way a CLIP score
can (an image can please CLIP and still look like noise).
"""
import colorsys

import numpy as np
import torch

from .shapes import COLOURS


def to_array(image):
    """PIL image, (H, W, 3) uint8/float array, or (3, H, W) tensor in [0, 1] -> float (H, W, 3) in [0, 1]."""
    if hasattr(image, "detach"):  # torch tensor, channels first
        image = image.detach().cpu().float().clamp(0, 1).permute(1, 2, 0).numpy()
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"Expected an RGB image of shape (H, W, 3), got {arr.shape}; convert it with .convert('RGB').")
    return arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)


def hsv(arr):
    """Vectorised RGB -> HSV for a float (H, W, 3) array in [0, 1]."""
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    mx, mn = arr.max(-1), arr.min(-1)
    delta = mx - mn
    safe = np.where(delta > 0, delta, 1)
    h = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6
    s = np.where(mx > 0, delta / np.where(mx > 0, mx, 1), 0)
    return np.where(delta > 0, h, 0), s, mx


CANONICAL_HUES = {name: h for name, (h, _, _) in COLOURS.items()}


def hue_name(h):
    """The course colour whose canonical hue is nearest on the colour circle."""
    names = list(CANONICAL_HUES)
    hues = np.array([CANONICAL_HUES[n] for n in names])
    d = np.abs(np.asarray(h)[..., None] - hues)
    d = np.minimum(d, 1 - d)  # hue is circular: 0.98 is close to 0.0 (red)
    return np.array(names)[d.argmin(-1)]


def smooth(arr):
    """3x3 box blur: pixel noise on a dark grey background can look saturated pixel by pixel."""
    padded = np.pad(arr, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = arr.shape[:2]
    return sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9


def foreground_mask(arr, min_chroma=0.2, min_saturation=0.35):
    """Pixels that are clearly coloured: the course's backgrounds are grey, its shapes saturated.

    Chroma (max - min channel) is absolute, so a dark pixel with a little noise does not count.
    """
    arr = smooth(arr)
    _, s, _ = hsv(arr)
    return (arr.max(-1) - arr.min(-1) >= min_chroma) & (s >= min_saturation)


def colour_histogram(image):
    """Fraction of foreground pixels per colour name (empty dict if nothing is coloured)."""
    arr = to_array(image)
    h, _, _ = hsv(smooth(arr))
    mask = foreground_mask(arr)
    if not mask.any():
        return {}
    names, counts = np.unique(hue_name(h[mask]), return_counts=True)
    return {str(n): float(c) / mask.sum() for n, c in zip(names, counts)}


def dominant_colour(image, min_fraction=0.01):
    """Name of the colour covering most of the foreground, or None if under min_fraction of the
    image is coloured at all (a grey or empty picture has no dominant colour)."""
    arr = to_array(image)
    if foreground_mask(arr).mean() < min_fraction:
        return None
    hist = colour_histogram(arr)
    return max(hist, key=hist.get)


def foreground_fraction(image):
    """Share of the image covered by saturated (shape-like) pixels."""
    return float(foreground_mask(to_array(image)).mean())


def mean_pairwise_distance(images):
    """How different n pictures of one prompt are: the mean over all pairs of the root-mean-square pixel
    difference (pictures (n, 3, H, W) in [0, 1]; 0 when all are the same picture)."""
    x = torch.as_tensor(images).flatten(1).float()
    if len(x) < 2:
        raise ValueError(f"Diversity needs at least 2 pictures, got {len(x)}.")
    d = torch.cdist(x, x) / x.shape[1] ** 0.5                  # (n, n) RMS differences
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


def colour_match_rate(images, colours):
    """Fraction of images whose dominant colour is the expected one."""
    if len(images) != len(colours):
        raise ValueError(f"{len(images)} images but {len(colours)} colours; pass one colour per image.")
    return float(np.mean([dominant_colour(im) == c for im, c in zip(images, colours)]))


def rgb_name(rgb):
    """Colour name of one RGB triple (0-255), e.g. rgb_name((255, 165, 0)) == 'orange'."""
    h, _, _ = colorsys.rgb_to_hsv(*(x / 255 for x in rgb))
    return str(hue_name(h))
