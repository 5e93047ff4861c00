"""The checks of lesson 06 accept the reference (and other right ways to write it) and reject every
wrong answer, naming the known ones."""
import re

import pytest
import torch
import torch.nn.functional as F

from utils import generation
from utils.checks import check_latent_step, check_make_cutouts, check_parse_prompts, check_spherical_distance
from utils.checks import lesson06

CHECKS = [check_spherical_distance, check_make_cutouts, check_parse_prompts, check_latent_step]


def test_references_are_accepted(capsys):
    for check, reference in zip(CHECKS, [generation.spherical_distance, generation.make_cutouts,
                                         generation.parse_prompts, generation.latent_step]):
        check(reference)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("✔") for line in lines)


@pytest.mark.parametrize("check, mistakes", [
    (check_spherical_distance, lesson06.DISTANCE_MISTAKES),
    (check_make_cutouts, lesson06.CUTOUT_MISTAKES),
    (check_parse_prompts, lesson06.PROMPT_MISTAKES),
    (check_latent_step, lesson06.STEP_MISTAKES),
], ids=["distance", "cutouts", "prompts", "step"])
def test_named_mistakes_are_rejected_by_name(check, mistakes):
    assert len(mistakes) >= 2
    for mistake in mistakes:
        with pytest.raises(AssertionError, match=re.escape(f"looks like '{mistake.name}'")):
            check(mistake.fn)


def test_not_written_yet_passes_through():
    def stub(*args):
        raise NotImplementedError("Your turn")
    for check in CHECKS:
        with pytest.raises(NotImplementedError):
            check(stub)


def test_a_non_function_gets_a_clear_error():
    with pytest.raises(TypeError, match="pass your function itself"):
        check_parse_prompts("a red star")


# --- spherical distance -----------------------------------------------------------------------

def _unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def _angle_by_chord(a, b):
    theta = 2 * torch.arcsin(((_unit(a) - _unit(b)).norm(dim=-1) / 2).clamp(max=1))
    return theta ** 2 / 2


def _angle_by_atan2(a, b):
    a, b = _unit(a), _unit(b)
    return torch.atan2((a - b).norm(dim=-1) * (a + b).norm(dim=-1) / 2, (a * b).sum(-1)) ** 2 / 2


@pytest.mark.parametrize("fn", [_angle_by_chord, _angle_by_atan2], ids=["chord", "atan2"])
def test_other_right_distances_are_accepted(fn, capsys):
    check_spherical_distance(fn)
    assert capsys.readouterr().out.startswith("✔")


def _inplace_distance(a, b):
    a /= a.norm(dim=-1, keepdim=True)
    return generation.spherical_distance(a, b)


WRONG_DISTANCES = {
    "returns a Python float": lambda a, b: generation.spherical_distance(a, b).sum().item(),
    "detached": lambda a, b: generation.spherical_distance(a, b).detach(),
    "float32 for float64 input": lambda a, b: generation.spherical_distance(a.float(), b.float()),
    "changes its input in place": _inplace_distance,
    "keeps the last axis": lambda a, b: generation.spherical_distance(a, b)[..., None],
    "mean over the pairs": lambda a, b: generation.spherical_distance(a, b).mean(),
    "squared chord": lambda a, b: (F.normalize(a, dim=-1) - F.normalize(b, dim=-1)).norm(dim=-1) ** 2,
    "off by a little": lambda a, b: generation.spherical_distance(a, b) + 1e-3,
    "wrong gradient (a detached)": lambda a, b: generation.spherical_distance(a.detach(), b),
}


@pytest.mark.parametrize("name", WRONG_DISTANCES)
def test_wrong_distances_are_rejected(name):
    with pytest.raises(AssertionError):
        check_spherical_distance(WRONG_DISTANCES[name])


# --- cutouts ----------------------------------------------------------------------------------

def _cutouts_other_order(images, n, out_size, cut_min, generator):
    """Right, with its own order of draws: all sizes first, then corners, flips and noise per cutout."""
    _, _, h, w = images.shape
    s = min(h, w)
    lowest = max(1, int(s * cut_min))
    sides = torch.randint(lowest, s + 1, (n,), generator=generator)
    cuts = []
    for side in sides.tolist():
        flip = bool(torch.rand((), generator=generator) < 0.5)
        x = int(torch.randint(0, w - side + 1, (), generator=generator))
        y = int(torch.randint(0, h - side + 1, (), generator=generator))
        crop = F.interpolate(images[:, :, y:y + side, x:x + side], size=out_size, mode="bilinear")
        crop = crop.flip(3) if flip else crop
        noise = torch.randn(crop.shape, generator=generator, dtype=crop.dtype)
        cuts.append((crop + 0.03 * noise).clamp(0, 1))
    return torch.cat(cuts)


def test_other_right_cutouts_are_accepted(capsys):
    check_make_cutouts(_cutouts_other_order)
    assert capsys.readouterr().out.startswith("✔")


def _inplace_cutouts(images, n, out_size, cut_min, generator):
    images.clamp_(0.2, 0.8)
    return generation.make_cutouts(images, n, out_size, cut_min, generator)


def _nearest(images, n, out_size, cut_min, generator):
    with torch.no_grad():
        big = generation.make_cutouts(images, n, 2 * out_size, cut_min, generator)
    return F.interpolate(big, size=out_size, mode="nearest")


def _swapped_axes(images, n, out_size, cut_min, generator):
    """Draws y from the width and x from the height: wrong for images that are not square."""
    _, _, h, w = images.shape
    cuts = []
    for _ in range(n):
        side = max(1, int(min(h, w) * (cut_min + (1 - cut_min) * torch.rand((), generator=generator).item())))
        y = torch.randint(0, w - side + 1, (), generator=generator).item()
        x = torch.randint(0, h - side + 1, (), generator=generator).item()
        crop = F.interpolate(images[:, :, y:y + side, x:x + side], size=(out_size, out_size), mode="bilinear")
        cuts.append(crop.flip(-1) if torch.rand((), generator=generator) < 0.5 else crop)
    cuts = torch.cat(cuts)
    return (cuts + 0.03 * torch.randn(cuts.shape, generator=generator)).clamp(0, 1)


WRONG_CUTOUTS = {
    "returns a list": lambda i, n, o, c, g: list(generation.make_cutouts(i, n, o, c, g)),
    "float32 for float64 input": lambda i, n, o, c, g: generation.make_cutouts(i.float(), n, o, c, g),
    "changes its input in place": _inplace_cutouts,
    "one cutout too few": lambda i, n, o, c, g: generation.make_cutouts(i, n, o, c, g)[: -len(i)],
    "image by image, not cutout by cutout": lambda i, n, o, c, g: generation.make_cutouts(i, n, o, c, g)
        .view(n, len(i), *i.shape[1:2], o, o).transpose(0, 1).reshape(n * len(i), i.shape[1], o, o),
    "nearest-neighbour resizing": _nearest,
    "noise of std 0.1": lambda i, n, o, c, g: (generation.make_cutouts(i, n, o, c, g)
                                               + 0.1 * torch.randn(n * len(i), i.shape[1], o, o, generator=g)).clamp(0, 1),
    "y and x swapped": _swapped_axes,
    "every cutout mirrored": lambda i, n, o, c, g: lesson06._cutouts_with(flip=None)(i, n, o, c, g).flip(-1),
    "brightness changed": lambda i, n, o, c, g: (generation.make_cutouts(i, n, o, c, g) * 0.8),
}


@pytest.mark.parametrize("name", WRONG_CUTOUTS)
def test_wrong_cutouts_are_rejected(name):
    with pytest.raises(AssertionError):
        check_make_cutouts(WRONG_CUTOUTS[name])


def test_the_crop_matcher_tells_crops_apart():
    """The check finds which crop a cutout is by its nearest resized crop; on every case image, two
    different crops (mirrors included) of an allowed size differ by more than a cutout may differ
    from its own crop, so the noise (std 0.03) cannot make a crop look like another."""
    for case in lesson06._cutout_cases():
        images, _, out, cut_min = case.args[:4]
        cands, where = lesson06._candidates(images, out)
        views = torch.cat([cands, cands.flip(-1), cands.flip(-2)]).flatten(1)
        allowed = torch.tensor([side >= max(2, int(min(images.shape[-2:]) * cut_min)) for side, _, _ in where] * 3)
        d = torch.cdist(views[allowed], views) / views.shape[1] ** 0.5
        d[torch.arange(len(d)), allowed.nonzero()[:, 0]] = float("inf")   # a crop is not its own rival
        assert d.min() > lesson06.CROP_RMS, case.label


def test_the_crop_matcher_resizes_like_interpolate():
    images = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    cands, where = lesson06._candidates(images, 6)
    for i in [0, 5, len(where) - 1]:
        side, y, x = where[i]
        want = F.interpolate(images[:, :, y:y + side, x:x + side].double(), size=6, mode="bilinear", align_corners=False)
        torch.testing.assert_close(cands[i], want)


# --- prompts ----------------------------------------------------------------------------------

def _parse_by_regex(prompt):
    out = []
    for part in prompt.split("|"):
        m = re.fullmatch(r"\s*(.*?)\s*:\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*", part)
        out.append((m.group(1), float(m.group(2))) if m else (part.strip(), 1.0))
    return out


def test_other_right_parsers_are_accepted(capsys):
    check_parse_prompts(_parse_by_regex)
    assert capsys.readouterr().out.startswith("✔")


def _only_weighted(prompt):
    return [(t, w) for t, w in generation.parse_prompts(prompt) if ":" in prompt]


WRONG_PARSERS = {
    "returns a dict": lambda p: dict(generation.parse_prompts(p)),
    "weights' signs dropped": lambda p: [(t, abs(w)) for t, w in generation.parse_prompts(p)],
    "default weight 0": lambda p: [(t, w if f"{t}:" in p.replace(" :", ":") else 0.0) for t, w in generation.parse_prompts(p)],
    "weights rounded to integers": lambda p: [(t, float(round(w))) for t, w in generation.parse_prompts(p)],
    "not split at '|'": lambda p: [(p.strip(), 1.0)],
    "texts only": lambda p: [t for t, _ in generation.parse_prompts(p)],
    "parts without a weight dropped": _only_weighted,
    "':' removed from the text": lambda p: [(t.replace(":", ""), w) for t, w in generation.parse_prompts(p)],
}


@pytest.mark.parametrize("name", WRONG_PARSERS)
def test_wrong_parsers_are_rejected(name):
    with pytest.raises(AssertionError):
        check_parse_prompts(WRONG_PARSERS[name])


# --- one step on the latent -------------------------------------------------------------------

def _step_clamp_(loss, z, optimiser, z_min, z_max):
    z.grad = None
    loss.backward()
    optimiser.step()
    with torch.no_grad():
        z.clamp_(z_min, z_max)


def test_other_right_steps_are_accepted(capsys):
    check_latent_step(_step_clamp_)
    assert capsys.readouterr().out.startswith("✔")


def _step_then(extra):
    def fn(loss, z, optimiser, z_min, z_max):
        generation.latent_step(loss, z, optimiser, z_min, z_max)
        extra(z, optimiser, z_min, z_max)
    return fn


def _clamp_first(loss, z, optimiser, z_min, z_max):
    with torch.no_grad():
        z.copy_(torch.maximum(torch.minimum(z, z_max), z_min))
    generation.latent_step(loss, z, optimiser, z_min, z_max)   # autograd refuses: z changed after the loss


def _no_step(loss, z, optimiser, z_min, z_max):
    optimiser.zero_grad()
    loss.backward()
    with torch.no_grad():
        z.copy_(torch.maximum(torch.minimum(z, z_max), z_min))


def _step_on_a_copy(loss, z, optimiser, z_min, z_max):
    optimiser.zero_grad()
    loss.backward()
    with torch.no_grad():
        z.copy_((z - 0.1 * z.grad).clamp(z_min.min().item(), z_max.max().item()))


def _changes_bounds(loss, z, optimiser, z_min, z_max):
    z_min.sub_(1)
    generation.latent_step(loss, z, optimiser, z_min, z_max)


def _clamp_to_global_range(loss, z, optimiser, z_min, z_max):
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    with torch.no_grad():
        z.clamp_(z_min.min().item(), z_max.max().item())


WRONG_STEPS = {
    "clamped before the step": _clamp_first,
    "two steps": _step_then(lambda z, o, lo, hi: o.step()),
    "no optimiser step": _no_step,
    "plain gradient descent, not the optimiser": _step_on_a_copy,
    "changes z_min in place": _changes_bounds,
    "one range for all dimensions": _clamp_to_global_range,
    "z moved a little after the clamp": _step_then(lambda z, o, lo, hi: z.data.add_(1e-3)),
}


@pytest.mark.parametrize("name", WRONG_STEPS)
def test_wrong_steps_are_rejected(name):
    with pytest.raises(AssertionError):
        check_latent_step(WRONG_STEPS[name])
