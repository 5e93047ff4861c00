"""Checks for lesson 06 (VQGAN+CLIP): the spherical distance, cutouts, weighted prompts and one
update of the latent.

The cutouts are random, and a learner may draw their random numbers in any order, so that check
does not compare pictures with the library's: it measures properties every right answer has
(shape, range, repeatable from the generator, every cutout a resized square crop or its mirror
image, sizes within cut_min, far edges reachable, about half mirrored, noise of std 0.03).
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .. import generation
from ._core import Case, Mistake, check, difference

__all__ = ["check_spherical_distance", "check_make_cutouts", "check_parse_prompts", "check_latent_step"]


# ---------------------------------------------------------------------------------------------
# Exercise 1: spherical_distance(a, b) -> (...)

def _opposite_pairs(g, dim, count):
    """Pairs (v, -k v) whose unit vectors are, after rounding, a hair more than 2 apart, so arcsin
    without a clamp gives NaN for them: count pairs for F.normalize and count for x / |x|, the two
    usual ways to normalise. Searched, not hard-coded, so the case keeps that property on any
    machine's arithmetic."""
    ways = [lambda x: F.normalize(x, dim=-1), lambda x: x / x.norm(dim=-1, keepdim=True)]
    found = {0: [], 1: []}
    while min(len(f) for f in found.values()) < count:
        v = torch.randn(dim, generator=g) * (0.5 + 3 * torch.rand((), generator=g))
        w = -(0.2 + 2 * torch.rand((), generator=g)) * v
        for i, unit in enumerate(ways):
            if len(found[i]) < count and (unit(v) - unit(w)).norm() / 2 > 1:
                found[i].append((v, w))
    pairs = found[0] + found[1]
    return torch.stack([v for v, _ in pairs]), torch.stack([w for _, w in pairs])


def _distance_cases():
    g = torch.Generator().manual_seed(6)
    def vecs(*shape, dtype=torch.float32, scale=1.0):
        # Rows of different lengths, so forgetting to normalise changes the answer.
        x = torch.randn(*shape, generator=g, dtype=dtype)
        return x * (scale * (0.5 + 3 * torch.rand(*shape[:-1], 1, generator=g, dtype=dtype)))
    opposite_a, opposite_b = _opposite_pairs(g, 8, 2)
    same = vecs(2, 8)
    degenerate_a = torch.cat([same, opposite_a, vecs(1, 8)])
    degenerate_b = torch.cat([2.5 * same, opposite_b, vecs(1, 8)])
    return [
        Case("5 pairs, E=16", (vecs(5, 16), vecs(5, 16))),
        Case("batch of 1, E=2", (vecs(1, 2), vecs(1, 2))),
        Case("3 pairs, E=8, float64", (vecs(3, 8, dtype=torch.float64), vecs(3, 8, dtype=torch.float64))),
        Case("4 cutouts x 3 prompts, broadcast (4, 1, E) with (1, 3, E)", (vecs(4, 1, 6), vecs(1, 3, 6))),
        Case("lengths near 1e-3 and 1e3", (vecs(4, 5, scale=1e-3), vecs(4, 5, scale=1e3))),
        Case("equal and opposite directions", (degenerate_a, degenerate_b)),
    ]


def _distance_and_grads(fn, a, b):
    """The distances, and (away from equal or opposite pairs, where the slope is singular) the
    gradients of their sum with respect to both inputs."""
    a_, b_ = a.clone().requires_grad_(), b.clone().requires_grad_()
    out = fn(a_, b_)
    if not isinstance(out, torch.Tensor):
        return (out, None, None)
    cos = (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(-1)
    if not out.requires_grad or (cos.abs() > 1 - 1e-4).any():
        return (out.detach(), None, None)
    grads = torch.autograd.grad(out.sum(), (a_, b_), allow_unused=True)
    return (out.detach(), *[torch.zeros_like(x) if gr is None else gr for gr, x in zip(grads, (a, b))])


def _compare_distances(got, expected):
    value, want = got[0], expected[0]
    if isinstance(value, torch.Tensor) and isinstance(want, torch.Tensor) and value.shape == want.shape:
        if torch.isnan(value).any() and not torch.isnan(want).any():
            return ("NaN in your answer: for (nearly) opposite vectors |a - b| / 2 can round to a hair above 1, "
                    "where arcsin is undefined; clamp it to at most 1 first")
        value, want = torch.nan_to_num(value, nan=-1.0), torch.nan_to_num(want, nan=-1.0)
    problem = difference(value, want)
    if problem:
        return problem
    if expected[1] is not None and got[1] is None:
        return ("the distance has no gradient: keep it a tensor built from a and b (no .item(), .detach() "
                "or torch.no_grad()), since the generator climbs its gradient")
    if expected[1] is not None:
        problem = difference(got[1:], expected[1:])
        return f"the gradient differs ({problem})" if problem else None
    return None


def _half(a, b):
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    return ((a - b).norm(dim=-1) / 2).clamp(max=1).arcsin()


DISTANCE_MISTAKES = [
    Mistake("not normalised", "divide a and b by their lengths first (F.normalize(x, dim=-1)): the distance "
            "is between directions, whatever the lengths of the embeddings.",
            lambda a, b: 2 * ((a - b).norm(dim=-1) / 2).clamp(max=1).arcsin().pow(2)),
    Mistake("normalised along the wrong axis", "each vector lies along the last axis: normalise with "
            "dim=-1, not dim=0.",
            lambda a, b: generation.spherical_distance(F.normalize(a, dim=0), F.normalize(b, dim=0))),
    Mistake("1 - cos θ instead of θ²/2", "that is the cosine distance; the exercise asks for half the "
            "squared angle, θ = 2·arcsin(|a − b| / 2), loss θ²/2.",
            lambda a, b: 1 - (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(-1)),
    Mistake("the angle θ, not θ²/2", "square the angle and halve it.", lambda a, b: 2 * _half(a, b)),
    Mistake("θ² without the half", "divide θ² by 2.", lambda a, b: (2 * _half(a, b)) ** 2),
    Mistake("the half angle", "arcsin(|a − b| / 2) is half the angle between the vectors: θ = 2·arcsin(|a − b| / 2).",
            lambda a, b: _half(a, b) ** 2 / 2),
    Mistake("no clamp before arcsin", "for opposite vectors |a − b| / 2 can round to a hair above 1 and "
            "arcsin gives NaN: use (...).clamp(max=1) before .arcsin().",
            lambda a, b: 2 * ((F.normalize(a, dim=-1) - F.normalize(b, dim=-1)).norm(dim=-1) / 2).arcsin().pow(2)),
]


def check_spherical_distance(fn):
    """Check fn(a, b) -> (...): θ²/2 between the directions of a and b, θ = 2·arcsin(|â − b̂| / 2).

    a, b: (..., E), broadcastable, any lengths. Compared with utils.generation.spherical_distance,
    values and gradients.
    """
    check("spherical_distance", fn, generation.spherical_distance, _distance_cases(), DISTANCE_MISTAKES,
          probe=_distance_and_grads, compare=_compare_distances,
          hint="try a = (1, 0), b = (0, 1): the angle is π/2, so the answer is π²/8 ≈ 1.2337.")


# ---------------------------------------------------------------------------------------------
# Exercise 2: make_cutouts(images, n, out_size, cut_min, generator) -> (n*B, C, out_size, out_size)

NOISE_STD = 0.03   # generation.make_cutouts' noise
CROP_RMS = 0.05    # a cutout is "a resized crop" when it is this close (root mean square) to one


def _resize_matrix(side, out, dtype):
    """(out, side): bilinear resizing (align_corners=False) along one axis, as a matrix."""
    eye = torch.eye(side, dtype=dtype)[None]                                   # (1, side, side)
    return F.interpolate(eye, size=out, mode="linear", align_corners=False)[0].T


_CANDIDATES = {}


def _candidates(images, out):
    key = (tuple(images.shape), images.dtype, out, images.double().sum().item(), images.double().pow(2).sum().item())
    if key not in _CANDIDATES:
        _CANDIDATES[key] = _all_crops(images, out)
    return _CANDIDATES[key]


def _all_crops(images, out):
    """Every square crop of images (B, C, H, W), resized to out x out, as rows, and its (side, y, x).

    Bilinear resizing is separable, so all crops of one side are resized at once: R @ crop @ R.T.
    """
    images = images.double()
    _, _, h, w = images.shape
    rows, where = [], []
    for side in range(1, min(h, w) + 1):
        r = _resize_matrix(side, out, images.dtype)                            # (out, side)
        patches = images.unfold(2, side, 1).unfold(3, side, 1)                 # (B, C, ny, nx, side, side)
        resized = torch.einsum("oi,bcyxij,pj->yxbcop", r, patches, r)          # (ny, nx, B, C, out, out)
        rows.append(resized.reshape(-1, *resized.shape[2:]))
        where += [(side, y, x) for y in range(h - side + 1) for x in range(w - side + 1)]
    return torch.cat(rows), where                                              # (M, B, C, out, out)


@dataclass
class _Properties:
    """What the cutouts check measured: flags (compared) and details (for the message only)."""
    flags: tuple
    details: dict = field(default_factory=dict)

    def __eq__(self, other):
        return isinstance(other, _Properties) and self.flags == other.flags


def _run_cutouts(fn, images, n, out, cut_min, seed, global_seed):
    state = torch.get_rng_state()   # the learner's notebook keeps its own random state
    torch.default_generator.manual_seed(global_seed)
    try:
        return fn(images, n, out, cut_min, torch.Generator().manual_seed(seed))
    finally:
        torch.set_rng_state(state)


def _cutout_properties(fn, images, n, out, cut_min, seed, stats):
    """stats: which further properties this case tests: "seeds" (repeatable with a seeded generator,
    different with another seed: two more calls), and those it is big enough to measure: "sizes"
    (vary), "edges" (reached), "flips" (about half), "noise" (std)."""
    b, c, h, w = images.shape
    flags, details = [], {}
    first = _run_cutouts(fn, images, n, out, cut_min, seed, 1)
    if not isinstance(first, torch.Tensor):
        return _Properties((("tensor", type(first).__name__),))
    if first.shape != (n * b, c, out, out):
        return _Properties((("shape", tuple(first.shape)),), {"want": (n * b, c, out, out)})
    flags.append(("dtype", first.dtype))
    first = first.detach()
    flags.append(("range", bool(first.min() >= 0 and first.max() <= 1)))
    if "seeds" in stats:
        again = _run_cutouts(fn, images, n, out, cut_min, seed, 2).detach()
        flags.append(("repeatable", torch.equal(first, again)))
        other = _run_cutouts(fn, images, n, out, cut_min, seed + 1, 1).detach()
        flags.append(("seeded", not torch.equal(first, other)))

    # Which crop (side, y, x) and which mirror (none, left-right, upside down) each cutout is.
    cands, where = _candidates(images, out)                                    # (M, B, C, out, out)
    views = torch.cat([cands, cands.flip(-1), cands.flip(-2)]).flatten(1)      # (3M, B*C*out*out)
    cuts = first.double().view(n, b * c * out * out)
    dist = torch.cdist(cuts, views) / cuts.shape[1] ** 0.5                     # (n, 3M): RMS difference
    rms, best = dist.min(1)
    kind, index = best // len(where), best % len(where)
    sides, ys, xs = torch.tensor([where[i] for i in index.tolist()]).reshape(-1, 3).unbind(1)
    cropped = rms < CROP_RMS
    flags.append(("crops", bool(cropped.all())))
    if not cropped.all():
        details["not_crop"] = int((~cropped).nonzero()[0])
        details["not_crop_rms"] = rms[details["not_crop"]].item()
    flags.append(("no upside down", not bool((cropped & (kind == 2)).any())))
    s = min(h, w)
    smallest = int(s * cut_min)
    flags.append(("sizes in range", bool(((sides >= smallest) | ~cropped).all())))
    details["sizes"] = sorted(set(sides[cropped].tolist()))
    details["smallest"] = smallest
    if "sizes" in stats:
        flags.append(("sizes vary", len(details["sizes"]) > 1))
    if "edges" in stats:
        inner = cropped & (sides < s)
        flags.append(("right edge", bool((inner & (xs == w - sides)).any())))
        flags.append(("bottom edge", bool((inner & (ys == h - sides)).any())))
    if "flips" in stats:
        mirrored = int((cropped & (kind == 1)).sum())
        details["mirrored"] = mirrored
        flags.append(("about half mirrored", 0.15 * n <= mirrored <= 0.85 * n))
    if "noise" in stats and cropped.all():
        residual = cuts - views[best]
        std = residual.pow(2).mean().sqrt().item()
        details["noise"] = std
        flags.append(("noise", "none" if std < 0.2 * NOISE_STD else "right" if
                      0.67 * NOISE_STD <= std <= 1.33 * NOISE_STD else "wrong"))
    return _Properties(tuple(flags), details)


def _cutout_message(got, expected):
    """Why got's properties are not expected's, in words."""
    if got == expected:
        return None
    want = dict(expected.flags)
    for name, value in got.flags:
        if name in want and value == want[name]:
            continue
        d = got.details
        if name == "tensor":
            return f"expected a tensor, got {value}: torch.cat the cutouts"
        if name == "shape":
            return (f"expected shape {d['want']}, got {value}: n cutouts of every image, stacked cutout by "
                    "cutout, (n*B, C, out_size, out_size)")
        if name == "dtype":
            return f"expected dtype {want['dtype']}, got {value} (keep the images' dtype)"
        if name == "range":
            return "some values are outside [0, 1]: clamp after adding the noise"
        if name == "repeatable":
            return ("two calls with generators seeded alike gave different cutouts: draw every random number "
                    "from `generator` (generator=generator in torch.rand, torch.randint and torch.randn), "
                    "not from the global random state")
        if name == "seeded":
            return "the cutouts do not change with the generator's seed: draw the sizes, positions and flips from it"
        if name == "crops":
            return (f"cutout {d['not_crop']} is not a bilinear resize of a square crop of the images (nor its "
                    f"left-right mirror): the nearest crop differs from it by {d['not_crop_rms']:.3f} (root mean "
                    "square), where the noise of std 0.03 alone gives about 0.03. Crop images[:, :, y:y + side, "
                    "x:x + side], the same square for every image of the batch, resize with F.interpolate(..., "
                    "mode='bilinear', align_corners=False), and stack cutout by cutout")
        if name == "no upside down":
            return "some cutouts are upside down: mirror left-right, .flip(-1), not .flip(-2)"
        if name == "sizes in range":
            return (f"crops of side {d['sizes'][0]} px, but cut_min allows no less than {d['smallest']} px: "
                    "side = int(min(H, W) * frac) with frac uniform in [cut_min, 1)")
        if name == "sizes vary":
            return (f"every crop has side {d['sizes']}: draw a new size fraction, uniform in [cut_min, 1), "
                    "for every cutout")
        if name in ("right edge", "bottom edge"):
            return (f"no crop smaller than the image touches its {name}: the top-left corner runs from 0 to "
                    "W - side (and H - side) inclusive; torch.randint's upper bound is exclusive")
        if name == "about half mirrored":
            return (f"{d['mirrored']} of the cutouts were mirrored; mirror each one with probability 1/2 "
                    "(torch.rand((), generator=generator) < 0.5)")
        if name == "noise":
            if value == "none":
                return "no noise was added: add 0.03 * torch.randn(..., generator=generator), then clamp"
            return f"the noise has std {d['noise']:.3f}; it should be Gaussian with std 0.03"
        return f"{name}: expected {want.get(name)}, got {value}"
    return "the cutouts differ from what the exercise asks"


def _cutout_cases():
    g = torch.Generator().manual_seed(6)
    def img(b, h, w, dtype=torch.float32):
        return (0.1 + 0.8 * torch.rand(b, 3, h, w, generator=g)).to(dtype)   # every pixel different
    black_and_white = (torch.rand(1, 3, 7, 7, generator=g) < 0.5).float()
    return [
        Case("1 image 6x6, 64 cutouts to 8 px, cut_min 0.5",
             (img(1, 6, 6), 64, 8, 0.5, 0, ("sizes", "edges", "flips", "noise"))),
        Case("batch of 2 images 6x9, 16 cutouts to 6 px, cut_min 0.3",
             (img(2, 6, 9), 16, 6, 0.3, 1, ("seeds", "sizes", "noise"))),
        Case("float64 image 12x12, 8 cutouts to 12 px, cut_min 0.7",
             (img(1, 12, 12, torch.float64), 8, 12, 0.7, 2, ("seeds", "noise"))),
        Case("cut_min 1 (the whole image), 5x5 to 4 px", (img(1, 5, 5), 6, 4, 1.0, 3, ("seeds", "noise"))),
        Case("black-and-white image 7x7 (the clamp matters), 16 cutouts to 7 px, cut_min 0.6",
             (black_and_white, 16, 7, 0.6, 4, ("seeds",))),
        Case("a single cutout of a 4x4 image to 8 px, cut_min 0.5",
             (img(1, 4, 4), 1, 8, 0.5, 5, ("seeds", "noise"))),
    ]


def _cutouts_with(side=None, flip=-1, noise=NOISE_STD, clamp=True, use_generator=True, last=1):
    """Wrong versions of the cutouts for the named mistakes: side(s, cut_min, g) -> crop side."""
    def fn(images, n, out_size, cut_min, generator):
        g = generator if use_generator else None
        _, _, h, w = images.shape
        s = min(h, w)
        cuts = []
        for _ in range(n):
            if side is None:
                size = max(1, int(s * (cut_min + (1 - cut_min) * torch.rand((), generator=g).item())))
            else:
                size = side(s, cut_min, g)
            y = torch.randint(0, max(h - size + last, 1), (), generator=g).item()
            x = torch.randint(0, max(w - size + last, 1), (), generator=g).item()
            crop = F.interpolate(images[:, :, y:y + size, x:x + size], size=(out_size, out_size),
                                 mode="bilinear", align_corners=False)
            if flip is not None and torch.rand((), generator=g).item() < 0.5:
                crop = crop.flip(flip)
            cuts.append(crop)
        cuts = torch.cat(cuts)
        cuts = cuts + noise * torch.randn(cuts.shape, generator=g).to(cuts.dtype)
        return cuts.clamp(0, 1) if clamp else cuts
    return fn


CUTOUT_MISTAKES = [
    Mistake("no noise", "add Gaussian noise of std 0.03 to the stacked cutouts, "
            "0.03 * torch.randn(cuts.shape, generator=generator), then clamp.", _cutouts_with(noise=0.0)),
    Mistake("no clamp", "after the noise, clamp to [0, 1] (.clamp(0, 1)): CLIP expects a picture's values.",
            _cutouts_with(clamp=False)),
    Mistake("mirrored always or never", "mirror each cutout left-right (.flip(-1)) with probability 1/2.",
            _cutouts_with(flip=None)),
    Mistake("mirrored upside down", "mirror left-right, .flip(-1); .flip(-2) turns the picture upside down, "
            "which the world's pictures never are.", _cutouts_with(flip=-2)),
    Mistake("the global random state", "pass generator=generator to every torch.rand, torch.randint and "
            "torch.randn, so the same seed gives the same cutouts.", _cutouts_with(use_generator=False)),
    Mistake("cut_min ignored", "the side is a fraction of min(H, W) drawn uniformly from [cut_min, 1), "
            "not from [0, 1).",
            _cutouts_with(side=lambda s, m, g: max(1, int(s * torch.rand((), generator=g).item())))),
    Mistake("one size for every cutout", "draw a new size fraction, uniform in [cut_min, 1), for every cutout.",
            _cutouts_with(side=lambda s, m, g: max(1, int(s * m)))),
    Mistake("the last position never drawn", "torch.randint's upper bound is exclusive: the corner is "
            "torch.randint(0, W - side + 1, ...), so a crop can touch the right and bottom edges.",
            _cutouts_with(last=0)),
]


def check_make_cutouts(fn):
    """Check fn(images, n, out_size, cut_min, generator) -> (n*B, C, out_size, out_size).

    The draws are the learner's, so the check measures properties rather than comparing pixels.
    """
    check("make_cutouts", fn, generation.make_cutouts, _cutout_cases(), CUTOUT_MISTAKES,
          probe=_cutout_properties, compare=_cutout_message,
          hint="the check measures properties; run your function on a small image and look at the cutouts.")


# ---------------------------------------------------------------------------------------------
# Exercise 3: parse_prompts(prompt) -> [(text, weight), ...]

PROMPT_CASES = [
    Case("one prompt, no weight", ("a photo of a red star",)),
    Case("'a red circle:1 | blue:-0.5'", ("a red circle:1 | blue:-0.5",)),
    Case("spaces around texts and weights", ("  a star : 2 |a yellow star:-0.25  ",)),
    Case("three parts, one weight written 1e-1", ("a star|a red star:0.5|a blue star:-1e-1",)),
    Case("a ':' inside the text", ("a photo: a red star",)),
    Case("a ':' inside the text, and a weight", ("note: a red star:3",)),
]


def _parse_with(cut=str.rpartition, strip=True, convert=float):
    """A parser like the library's, with one step done differently (for the named mistakes)."""
    def parse(prompt):
        parsed = []
        for part in prompt.split("|"):
            text, weight = (part.strip() if strip else part), 1.0
            head, sep, tail = cut(text, ":")
            if sep:
                try:
                    float(tail)
                    text, weight = (head.strip() if strip else head), convert(tail.strip())
                except ValueError:
                    pass
            parsed.append((text, weight))
        return parsed
    return parse


PROMPT_MISTAKES = [
    Mistake("spaces not stripped", "strip the spaces around each text (.strip()): ' a star ' and 'a star' "
            "are different prompts for CLIP's tokenizer.", _parse_with(strip=False)),
    Mistake("weight kept as a string", "convert the weight to a number with float(...).",
            _parse_with(convert=str)),
    Mistake("split at the first ':'", "a ':' can be part of the text ('note: a red star:3'): the weight is "
            "what follows the LAST ':' (str.rpartition), and only if float() accepts it.",
            _parse_with(cut=str.partition)),
]


def _compare_prompts(got, expected):
    if not isinstance(got, (list, tuple)):
        return f"expected a list of (text, weight) pairs, got {type(got).__name__}"
    if not all(isinstance(item, (list, tuple)) and len(item) == 2 for item in got):
        return f"expected a list of (text, weight) pairs, got {got!r}"
    got = [tuple(item) for item in got]
    both = f" (expected {expected!r}, got {got!r})"
    if len(got) != len(expected):
        return f"expected {len(expected)} parts, got {len(got)}" + both
    for i, ((text, weight), (want_text, want_weight)) in enumerate(zip(got, expected)):
        if text != want_text:
            return f"part {i + 1}: expected the text {want_text!r}, got {text!r}" + both
        if isinstance(weight, str) and not isinstance(want_weight, str):
            return f"part {i + 1}: the weight is the string {weight!r}; convert it with float(...)" + both
        if weight != want_weight:
            return f"part {i + 1} ({want_text!r}): expected the weight {want_weight!r}, got {weight!r}" + both
    return None


def check_parse_prompts(fn):
    """Check fn(prompt) -> [(text, weight), ...] against utils.generation.parse_prompts."""
    check("parse_prompts", fn, generation.parse_prompts, PROMPT_CASES, PROMPT_MISTAKES, compare=_compare_prompts,
          hint="split at '|', then take the weight after the last ':' only when float() accepts it.")


# ---------------------------------------------------------------------------------------------
# Exercise 4: latent_step(loss, z, optimiser, z_min, z_max) -> None, z updated in place

STEPS = 3   # steps per case: enough for gradients left over from one step to spoil the next


def _step_cases():
    g = torch.Generator().manual_seed(6)
    def case(shape, opt, dtype=torch.float32, stale=False, spread=1.0):
        d = shape[1]
        z0 = torch.randn(*shape, generator=g, dtype=dtype) * 0.3
        target = torch.randn(*shape, generator=g, dtype=dtype) * 2 * spread  # partly outside the range
        low = -0.5 - torch.rand(1, d, 1, 1, generator=g, dtype=dtype)
        high = 0.5 + torch.rand(1, d, 1, 1, generator=g, dtype=dtype)
        old = torch.randn(*shape, generator=g, dtype=dtype) if stale else None
        return (target, z0, opt, low, high, old)
    return [
        Case("Adam, z (1, 3, 2, 2), no gradient yet", case((1, 3, 2, 2), ("adam", 0.3))),
        Case("SGD with momentum, a gradient left over from an earlier step",
             case((1, 4, 2, 3), ("sgd", 0.2), stale=True)),
        Case("Adam, float64, a gradient left over", case((1, 2, 3, 3), ("adam", 0.5), torch.float64, stale=True)),
        Case("the smallest latent (1, 1, 1, 1), SGD", case((1, 1, 1, 1), ("sgd", 0.6))),
        Case("Adam, a target far outside the codebook's range", case((1, 3, 2, 2), ("adam", 1.0), spread=5.0)),
    ]


def _toy_loss(z, target):
    # A smooth loss with a minimum at target (partly outside [z_min, z_max], so the clamp matters).
    return 0.5 * ((z - target) ** 2).sum() + 0.1 * z.sin().sum()


def _latent_after_steps(fn, target, z0, opt, z_min, z_max, old_grad):
    """Run STEPS updates with fn on a fresh latent; the latent after each, and fn's return values."""
    z = z0.clone().requires_grad_()
    name, lr = opt
    optimiser = (torch.optim.Adam([z], lr=lr) if name == "adam"
                 else torch.optim.SGD([z], lr=lr, momentum=0.9))
    if old_grad is not None:
        z.grad = old_grad.clone()
    latents, returned = [], []
    for _ in range(STEPS):
        returned.append(fn(_toy_loss(z, target), z, optimiser, z_min, z_max))
        latents.append(z.detach().clone())
    return latents, z_min, z_max, z0


def _compare_steps(got, expected):
    latents, z_min, z_max, z0 = got
    for i, (g, e) in enumerate(zip(latents, expected[0])):
        problem = difference(g, e)
        if not problem:
            continue
        if i == 0 and torch.equal(g, torch.maximum(torch.minimum(z0, z_max), z_min)):
            return ("z did not move (apart from the clamp): call loss.backward() then optimiser.step(); "
                    "zero the gradients before backward, not between backward and step")
        if (g < z_min).any() or (g > z_max).any():
            return (f"after step {i + 1} z lies outside [z_min, z_max]: clamp z itself, after the step, "
                    "inside torch.no_grad()")
        return f"after step {i + 1}, z: {problem}"
    return None


def _step_with(clear="first", clamp=True):
    """A step like the library's with the gradients cleared elsewhere ("first", "between" backward
    and step, "last", or None) or without the clamp (for the named mistakes)."""
    def fn(loss, z, optimiser, z_min, z_max):
        if clear == "first":
            optimiser.zero_grad()
        loss.backward()
        if clear == "between":
            optimiser.zero_grad()
        optimiser.step()
        if clamp:
            with torch.no_grad():
                z.copy_(torch.maximum(torch.minimum(z, z_max), z_min))
        if clear == "last":
            optimiser.zero_grad()
    return fn


STEP_MISTAKES = [
    Mistake("gradients not cleared", "call optimiser.zero_grad() before loss.backward(): otherwise each "
            "backward adds its gradient to those of the earlier steps.", _step_with(clear=None)),
    Mistake("z never moves", "call optimiser.step() after loss.backward(), and clear the gradients before "
            "backward(): cleared between backward and step, the step finds no gradient.", _step_with(clear="between")),
    Mistake("gradients cleared after the step", "clear them first, before backward(): z.grad may already "
            "hold a gradient from earlier work (a previous loss), which backward() would add to.",
            _step_with(clear="last")),
    Mistake("z not clamped (or a copy clamped)", "clamp z itself, in place, inside torch.no_grad(): "
            "z.copy_(torch.maximum(torch.minimum(z, z_max), z_min)). z = z.clamp(...) only renames a copy.",
            _step_with(clamp=False)),
]


def check_latent_step(fn):
    """Check fn(loss, z, optimiser, z_min, z_max): zero_grad, backward, step, clamp z in place.

    Three steps on a toy loss, with Adam and SGD, with and without gradients left over from before;
    the latent after each step is compared with utils.generation.latent_step's.
    """
    check("latent_step", fn, generation.latent_step, _step_cases(), STEP_MISTAKES,
          probe=_latent_after_steps, compare=_compare_steps,
          hint="the order is: optimiser.zero_grad(), loss.backward(), optimiser.step(), then the clamp.")
