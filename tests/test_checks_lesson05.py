"""The checks of lesson 05 accept the reference (and other right answers) and reject every wrong
answer, naming the known ones."""
import math
import re
import time

import pytest
import torch
import torch.nn.functional as F

from utils import vq
from utils.checks import check_codebook_usage, check_quantise, check_straight_through, check_vq_loss
from utils.checks import lesson05

CHECKS = {
    "quantise": (check_quantise, lesson05.QUANTISE_MISTAKES),
    "straight_through": (check_straight_through, lesson05.STE_MISTAKES),
    "vq_loss": (check_vq_loss, lesson05.LOSS_MISTAKES),
    "codebook_usage": (check_codebook_usage, lesson05.USAGE_MISTAKES),
}


# ---------------------------------------------------------------- right answers


def good_quantise(z, codebook):
    indices = vq.nearest_code(z, codebook)
    return codebook[indices], indices


def quantise_cdist(z, codebook):
    indices = torch.cdist(z, codebook).argmin(dim=1)
    return codebook[indices], indices


def quantise_broadcast(z, codebook):
    indices = ((z[:, None, :] - codebook[None, :, :]) ** 2).sum(-1).argmin(dim=1)  # (N, K, D) -> (N,)
    return torch.index_select(codebook, 0, indices), indices


def quantise_loop(z, codebook):
    indices = []
    for row in z:
        best, best_d = 0, None
        for k, code in enumerate(codebook):
            d = ((row - code) ** 2).sum()
            if best_d is None or d < best_d:
                best, best_d = k, d
        indices.append(best)
    indices = torch.tensor(indices, dtype=torch.long)
    return codebook[indices], indices


def good_ste(z, z_q):
    return z + (z_q - z).detach()


def good_loss(z, codebook, beta):
    e = codebook[vq.nearest_code(z.detach(), codebook.detach())]
    return F.mse_loss(e, z.detach()) + beta * F.mse_loss(z, e.detach())


def good_usage(indices, n_codes):
    counts = torch.bincount(indices.flatten(), minlength=n_codes).double()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return (counts > 0).double().mean().item(), entropy.exp().item()


def usage_as_tensors(indices, n_codes):
    counts = torch.bincount(indices.reshape(-1), minlength=n_codes)
    p = counts[counts > 0] / counts.sum()
    return (counts > 0).float().mean(), torch.exp(-(p * p.log()).sum())


RIGHT = [
    (check_quantise, good_quantise), (check_quantise, quantise_cdist), (check_quantise, quantise_broadcast),
    (check_quantise, quantise_loop),
    (check_straight_through, good_ste), (check_straight_through, vq.straight_through),
    (check_straight_through, lambda z, z_q: z_q.detach() + z - z.detach()),
    (check_vq_loss, good_loss),
    (check_vq_loss, lambda z, cb, beta: vq.quantize(z, cb, beta=beta, legacy=False)[1]),
    (check_codebook_usage, good_usage), (check_codebook_usage, usage_as_tensors),
    (check_codebook_usage, vq.codebook_usage),
]


@pytest.mark.parametrize("check, fn", RIGHT, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(RIGHT)])
def test_right_answers_are_accepted(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("✔")


def test_checks_are_fast():
    for check, fn in [(check_quantise, good_quantise), (check_straight_through, good_ste),
                      (check_vq_loss, good_loss), (check_codebook_usage, good_usage)]:
        start = time.perf_counter()
        check(fn)
        assert time.perf_counter() - start < 1.0, f"{check.__name__} takes over a second"


def test_quantise_cases_separate_distance_from_dot_product_and_cosine():
    """The codebooks have codes of different lengths, so the nearest code by dot product or by
    cosine differs from the nearest by distance somewhere; every case has a clear nearest code."""
    cases = lesson05._quantise_cases()
    assert any(len(z) == 1 for z, _ in (c.args for c in cases)), "no batch of 1"
    assert any(z.dtype == torch.float64 for z, _ in (c.args for c in cases)), "no float64 case"
    dot = cosine = 0
    for case in cases:
        z, codebook = case.args
        _, right = good_quantise(z, codebook)
        dot += (lesson05._largest_dot_product(z, codebook)[1] != right).sum().item()
        cosine += (lesson05._cosine(z, codebook)[1] != right).sum().item()
        distinct = torch.unique(codebook.double(), dim=0)
        gaps = torch.cdist(z.double(), distinct).sort(dim=1).values
        assert (gaps[:, 1] - gaps[:, 0]).min() > 1e-4, f"case '{case.label}' has a near tie"
    assert dot > 0 and cosine > 0


# ---------------------------------------------------------------- named mistakes


@pytest.mark.parametrize("name", CHECKS)
def test_named_mistakes_are_rejected_by_name(name):
    check, mistakes = CHECKS[name]
    assert len(mistakes) >= 2
    for mistake in mistakes:
        with pytest.raises(AssertionError, match=re.escape(f"looks like '{mistake.name}'")):
            check(mistake.fn)


@pytest.mark.parametrize("name", CHECKS)
def test_not_implemented_passes_through(name):
    def not_yet(*args):
        raise NotImplementedError("Your turn")
    with pytest.raises(NotImplementedError):
        CHECKS[name][0](not_yet)


def test_required_mistake_names_for_quantise():
    names = {m.name for m in lesson05.QUANTISE_MISTAKES}
    for required in ("largest dot product instead of smallest distance", "argmax instead of argmin"):
        assert required in names
    assert any("cosine" in n for n in names)


# ---------------------------------------------------------------- other wrong answers


def _quantise_changes_input(z, codebook):
    z -= z.mean(0)          # in place: the caller's z changes
    return good_quantise(z + z.mean(0), codebook)


def _quantise_skips_last_code(z, codebook):
    indices = torch.cdist(z, codebook[:-1]).argmin(dim=1)   # off by one: range(K - 1)
    return codebook[indices], indices


def _quantise_ties_to_last(z, codebook):
    d = torch.cdist(z, codebook).flip(1)
    indices = codebook.shape[0] - 1 - d.argmin(dim=1)
    return codebook[indices], indices


WRONG_QUANTISE = {
    "argmin over the wrong dim": lambda z, cb: (cb[torch.cdist(z, cb).argmin(0)], torch.cdist(z, cb).argmin(0)),
    "float32 for float64 input": lambda z, cb: good_quantise(z.float(), cb.float()),
    "indices as floats": lambda z, cb: (good_quantise(z, cb)[0], good_quantise(z, cb)[1].float()),
    "indices as a Python list": lambda z, cb: (good_quantise(z, cb)[0], good_quantise(z, cb)[1].tolist()),
    "changes its input in place": _quantise_changes_input,
    "skips the last code": _quantise_skips_last_code,
    "ties go to the last code": _quantise_ties_to_last,
    "only the indices": lambda z, cb: good_quantise(z, cb)[1],
    "z_q of shape (N, 1, D)": lambda z, cb: (good_quantise(z, cb)[0][:, None], good_quantise(z, cb)[1]),
}


def _ste_inplace(z, z_q):
    z_q.sub_(z)                      # a leaf that requires grad: autograd refuses
    return z + z_q.detach()


WRONG_STE = {
    "float32 for float64 input": lambda z, z_q: good_ste(z.float(), z_q.float()),
    "a Python list": lambda z, z_q: good_ste(z, z_q).tolist(),
    "flattened": lambda z, z_q: good_ste(z, z_q).reshape(-1),
    "changes an input in place": _ste_inplace,
    "half the gradient": lambda z, z_q: 0.5 * z + (z_q - 0.5 * z).detach(),
    "a new leaf": lambda z, z_q: z_q.detach().clone().requires_grad_(),
    "returns z": lambda z, z_q: z,
}


def _loss_inplace(z, codebook, beta):
    codebook.data.mul_(1.0001)       # quietly moves the caller's codes
    return good_loss(z, codebook, beta)


WRONG_LOSS = {
    "float32 for float64 input": lambda z, cb, beta: good_loss(z.float(), cb.float(), beta),
    "a Python number": lambda z, cb, beta: good_loss(z, cb, beta).item(),
    "per-vector losses, not their mean": lambda z, cb, beta: good_loss(z, cb, beta) * torch.ones(len(z)),
    "changes an input in place": _loss_inplace,
    "nearest by dot product inside the loss": lambda z, cb, beta: (
        F.mse_loss(cb[(z @ cb.T).argmax(1)], z.detach()) + beta * F.mse_loss(z, cb[(z @ cb.T).argmax(1)].detach())),
    "absolute instead of squared": lambda z, cb, beta: (
        (cb[vq.nearest_code(z, cb)] - z.detach()).abs().mean()
        + beta * (cb[vq.nearest_code(z, cb)].detach() - z).abs().mean()),
    "beta plus one": lambda z, cb, beta: good_loss(z, cb, beta + 1),
    "mean over N only": lambda z, cb, beta: good_loss(z, cb, beta) * z.shape[1] / 2,
}


def _usage_nan(indices, n_codes):
    counts = torch.bincount(indices.flatten(), minlength=n_codes).float()
    p = counts / counts.sum()
    return (counts > 0).float().mean().item(), torch.exp(-(p * p.log()).sum()).item()   # 0 * log 0 = nan


WRONG_USAGE = {
    "0 log 0 = nan": _usage_nan,
    "perplexity divided by K": lambda idx, k: (vq.codebook_usage(idx, k)[0], vq.codebook_usage(idx, k)[1] / k),
    "usage over positions": lambda idx, k: (len(idx.unique()) / idx.numel(), vq.codebook_usage(idx, k)[1]),
    "only the perplexity": lambda idx, k: vq.codebook_usage(idx, k)[1],
    "as one tensor of 2": lambda idx, k: torch.tensor(vq.codebook_usage(idx, k)),
    "counts instead of numbers": lambda idx, k: (torch.bincount(idx.flatten(), minlength=k), 1.0),
    "(perplexity, usage)": lambda idx, k: tuple(reversed(vq.codebook_usage(idx, k))),
    "entropy of the counts, not the probabilities": lambda idx, k: (
        vq.codebook_usage(idx, k)[0],
        math.exp(-sum(c * math.log(c) for c in torch.bincount(idx.flatten()).tolist() if c))),
}

WRONG = [(check_quantise, n, f) for n, f in WRONG_QUANTISE.items()] + \
        [(check_straight_through, n, f) for n, f in WRONG_STE.items()] + \
        [(check_vq_loss, n, f) for n, f in WRONG_LOSS.items()] + \
        [(check_codebook_usage, n, f) for n, f in WRONG_USAGE.items()]


@pytest.mark.parametrize("check, name, fn", WRONG, ids=[f"{c.__name__}-{n}" for c, n, _ in WRONG])
def test_wrong_answers_are_rejected(check, name, fn):
    with pytest.raises(AssertionError):
        check(fn)


def test_nan_perplexity_is_explained():
    with pytest.raises(AssertionError, match="0 \\* log 0"):
        check_codebook_usage(_usage_nan)


@pytest.mark.parametrize("check, fn", [(check_quantise, _quantise_changes_input), (check_vq_loss, _loss_inplace)],
                         ids=["quantise", "vq_loss"])
def test_in_place_change_is_named(check, fn):
    with pytest.raises(AssertionError, match="changed in place"):
        check(fn)


def test_passing_a_result_instead_of_a_function_is_refused():
    with pytest.raises(TypeError):
        check_quantise(good_quantise(torch.zeros(2, 2), torch.eye(2)))
