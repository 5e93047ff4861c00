"""Checks for lesson 05 (vector quantisation): the nearest-code lookup, the straight-through
estimator, the codebook + commitment loss, and codebook usage / perplexity.

Every reference is the course's library code in utils/vq.py, wrapped to the exercise's signature.
"""
import math

import torch

from .. import vq
from ._core import Case, Mistake, check, difference

__all__ = ["check_quantise", "check_straight_through", "check_vq_loss", "check_codebook_usage"]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _codebook(g, k, d, dtype=torch.float32, scale=1.0):
    """(K, D) codes pointing in random directions with lengths from 0.1 to 5 (times scale), so the
    code with the largest dot product or cosine is often not the nearest one."""
    directions = torch.nn.functional.normalize(torch.randn(k, d, generator=g, dtype=dtype), dim=1)
    lengths = 0.1 + 4.9 * torch.rand(k, 1, generator=g, dtype=dtype)
    return scale * directions * lengths


def _points(g, n, codebook, noise=0.6):
    """(N, D) points scattered around randomly chosen codes."""
    pick = torch.randint(len(codebook), (n,), generator=g)
    scale = codebook.norm(dim=1).mean()
    return codebook[pick] + noise * scale * torch.randn(n, codebook.shape[1], generator=g, dtype=codebook.dtype)


# ---------------------------------------------------------------- exercise 1: nearest code


def _quantise_reference(z, codebook):
    indices = vq.nearest_code(z, codebook)
    return codebook[indices], indices


def _quantise_cases():
    g = _gen(5)
    # Short codes near the points and long codes in similar directions: the longest code has the
    # largest dot product, the best-aligned one the largest cosine, and neither is the nearest.
    plane = torch.tensor([[0.5, 0.0], [4.0, 1.0], [0.0, 0.6], [-3.0, 3.0], [0.3, -0.5]])
    plane_z = torch.tensor([[0.6, 0.2], [0.1, 0.8], [1.0, -0.6], [-0.8, 1.0], [2.5, 0.5], [0.2, 0.0]])
    cb64 = _codebook(g, 12, 5, torch.float64)
    cb_big = _codebook(g, 32, 8)
    cb_scaled = _codebook(g, 6, 3, scale=0.01)
    cb_one = _codebook(g, 7, 4)
    repeated = torch.cat([_codebook(g, 3, 2), _codebook(g, 1, 2).repeat(2, 1)])  # codes 3 and 4 are equal
    return [
        Case("N=6 points in the plane, 5 codes of different lengths", (plane_z, plane)),
        Case("batch of 1, K=7, D=4", (_points(g, 1, cb_one), cb_one)),
        Case("N=20, K=12, D=5, float64", (_points(g, 20, cb64), cb64)),
        Case("N=100, K=32, D=8", (_points(g, 100, cb_big), cb_big)),
        Case("N=3 < K=6, D=3, codes of length about 0.01", (_points(g, 3, cb_scaled), cb_scaled)),
        Case("K=5 with a repeated code (a tie: the lower index wins, as argmin does)",
             (torch.cat([repeated[3:4] + 0.01, _points(g, 9, repeated)]), repeated)),
    ]


def _largest_dot_product(z, codebook):
    indices = (z @ codebook.T).argmax(dim=1)
    return codebook[indices], indices


def _argmax_distance(z, codebook):
    indices = torch.cdist(z, codebook).argmax(dim=1)
    return codebook[indices], indices


def _cosine(z, codebook):
    z_n = torch.nn.functional.normalize(z, dim=1)
    c_n = torch.nn.functional.normalize(codebook, dim=1)
    indices = (z_n @ c_n.T).argmax(dim=1)
    return codebook[indices], indices


def _plus_sign(z, codebook):
    d = z.pow(2).sum(1, keepdim=True) + codebook.pow(2).sum(1) + 2 * z @ codebook.T
    indices = d.argmin(dim=1)
    return codebook[indices], indices


def _l1(z, codebook):
    indices = torch.cdist(z, codebook, p=1).argmin(dim=1)
    return codebook[indices], indices


def _swapped(z, codebook):
    z_q, indices = _quantise_reference(z, codebook)
    return indices, z_q


def _returned_z(z, codebook):
    return z, _quantise_reference(z, codebook)[1]


QUANTISE_MISTAKES = [
    Mistake("largest dot product instead of smallest distance",
            "the nearest code minimises |z - e|^2 = |z|^2 + |e|^2 - 2 z.e; the |e|^2 term matters "
            "because the codes have different lengths. Keep it (or use torch.cdist) and take argmin.",
            _largest_dot_product),
    Mistake("argmax instead of argmin",
            "you picked the farthest code: take argmin of the distances (dim=1).", _argmax_distance),
    Mistake("cosine similarity instead of Euclidean distance",
            "normalising throws the codes' lengths away; the nearest code is the one with the "
            "smallest Euclidean distance |z - e|, not the smallest angle.", _cosine),
    Mistake("sign error in the expansion (+ 2 z.e)",
            "|z - e|^2 = |z|^2 + |e|^2 - 2 z.e: subtract the dot product term.", _plus_sign),
    Mistake("L1 distance instead of Euclidean",
            "use the squared Euclidean distance ((z - e)**2 summed over D), or torch.cdist with p=2.", _l1),
    Mistake("(indices, z_q) returned in the wrong order",
            "return z_q first, then indices: return codebook[indices], indices.", _swapped),
    Mistake("returned z instead of the chosen codes",
            "z_q is the codebook row each point is replaced by: codebook[indices].", _returned_z),
]


def check_quantise(fn):
    """Check fn(z, codebook) -> (z_q, indices).

    z: (N, D); codebook: (K, D). indices: (N,) long, the nearest code of each row of z by Euclidean
    distance (ties: the lowest index); z_q: (N, D), codebook[indices].
    """
    check("quantise", fn, _quantise_reference, _quantise_cases(), QUANTISE_MISTAKES,
          hint="compute the (N, K) matrix of squared distances and take argmin over the codes (dim=1).")


# ---------------------------------------------------------------- exercise 2: straight-through


def _ste_weights(out):
    """Fixed 'gradient from the decoder' for the backward pass: different for every entry."""
    return torch.randn(out.shape, generator=_gen(99), dtype=out.dtype)


def _value_and_grads_ste(fn, z, z_q):
    # detach() shares memory with the (already copied) inputs, so a change in place is still seen.
    z = z.detach().requires_grad_()
    z_q = z_q.detach().requires_grad_()
    out = fn(z, z_q)
    if not isinstance(out, torch.Tensor):
        return (out, None, None)
    if not out.requires_grad or out.shape != z.shape:
        return (out.detach(), torch.zeros_like(z), torch.zeros_like(z_q))
    grads = torch.autograd.grad((out * _ste_weights(out)).sum(), (z, z_q), allow_unused=True)
    return (out.detach(), *[torch.zeros_like(x) if gr is None else gr for gr, x in zip(grads, (z, z_q))])


def _compare_ste(got, expected):
    problem = difference(got[0], expected[0])
    if problem:
        return f"the forward value should be z_q: {problem}"
    if difference(got[1], expected[1]):
        return ("the gradient reaching z is not the incoming gradient unchanged: "
                + difference(got[1], expected[1]))
    if difference(got[2], expected[2]):
        return "some gradient reaches z_q; none should (the codes learn from the codebook loss)"
    return None


def _ste_cases():
    g = _gen(2)
    return [
        Case("N=6, D=2", (torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g))),
        Case("batch of 1, D=3", (torch.randn(1, 3, generator=g), torch.randn(1, 3, generator=g))),
        Case("N=10, D=8, float64", (torch.randn(10, 8, generator=g, dtype=torch.float64),
                                     torch.randn(10, 8, generator=g, dtype=torch.float64))),
        Case("a (B, D, H, W) = (2, 4, 3, 3) feature map, scale 100",
             (100 * torch.randn(2, 4, 3, 3, generator=g), 100 * torch.randn(2, 4, 3, 3, generator=g))),
    ]


def _no_straight_through(z, z_q):
    return z + (z_q - z)   # = z_q: the gradient goes to z_q; z's two terms cancel


def _detached_wrong_term(z, z_q):
    return z.detach() + (z_q - z)


def _codes_get_gradient(z, z_q):
    return z + (z_q - z.detach())


def _all_detached(z, z_q):
    return z_q.detach()


def _value_is_z(z, z_q):
    return z_q + (z - z_q).detach()


STE_MISTAKES = [
    Mistake("no straight-through: the gradient goes to z_q, not to z",
            "returning z_q (or z + (z_q - z) without .detach()) sends the gradient to the codes and none "
            "to z. Detach the difference: z + (z_q - z).detach().", _no_straight_through),
    Mistake(".detach() on the wrong term",
            "z.detach() + (z_q - z) gives z the gradient with the wrong sign. Keep z attached and "
            "detach the whole difference: z + (z_q - z).detach().", _detached_wrong_term),
    Mistake("the gradient also reaches the codes",
            "z + (z_q - z.detach()) passes the gradient to z_q as well; detach the whole difference "
            "(z_q - z).detach(), so the codes learn only from the codebook loss.", _codes_get_gradient),
    Mistake("everything detached: no gradient at all",
            "z_q.detach() has the right value but stops the gradient; add it to z as z + (z_q - z).detach().",
            _all_detached),
    Mistake("roles swapped: forward value z, gradient to z_q",
            "the forward value must be the code z_q and the gradient must go to z: z + (z_q - z).detach().",
            _value_is_z),
]


def check_straight_through(fn):
    """Check fn(z, z_q) -> tensor shaped like z: forward value z_q, gradient to z unchanged, none to z_q."""
    check("straight_through", fn, vq.straight_through, _ste_cases(), STE_MISTAKES,
          probe=_value_and_grads_ste, compare=_compare_ste,
          hint="forward: z + (z_q - z) = z_q; backward: only the first z is seen by autograd.")


# ---------------------------------------------------------------- exercise 3: codebook + commitment loss


def _vq_loss_reference(z, codebook, beta):
    return vq.quantize(z, codebook, beta=beta, legacy=False)[1]


def _value_and_grads_loss(fn, z, codebook, beta):
    z = z.detach().requires_grad_()
    codebook = codebook.detach().requires_grad_()
    loss = fn(z, codebook, beta)
    if not isinstance(loss, torch.Tensor):
        return (loss, None, None)
    if not loss.requires_grad or loss.ndim != 0:
        return (loss.detach(), torch.zeros_like(z), torch.zeros_like(codebook))
    grads = torch.autograd.grad(loss, (z, codebook), allow_unused=True)
    return (loss.detach(), *[torch.zeros_like(x) if gr is None else gr for gr, x in zip(grads, (z, codebook))])


def _compare_loss(got, expected):
    if not isinstance(got[0], torch.Tensor):
        return difference(got[0], expected[0])
    if got[0].ndim != 0:
        return f"expected a scalar (0-d tensor), got shape {tuple(got[0].shape)}: average over all entries"
    problem = difference(got[0], expected[0])
    if problem:
        return f"loss value: {problem}"
    if difference(got[1], expected[1]):
        return ("the gradient with respect to z (the encoder outputs) is wrong: it should come from "
                "beta * commitment loss only")
    if difference(got[2], expected[2]):
        return "the gradient with respect to the codebook is wrong: it should come from the codebook loss only"
    return None


def _loss_cases():
    g = _gen(3)
    def case(n, k, d, dtype=torch.float32, scale=1.0):
        cb = _codebook(g, k, d, dtype, scale)
        return _points(g, n, cb), cb
    return [
        Case("N=20, K=6, D=2, beta=0.25", (*case(20, 6, 2), 0.25)),
        Case("batch of 1, K=4, D=3, beta=0.25", (*case(1, 4, 3), 0.25)),
        Case("N=12, K=5, D=3, float64, beta=0.5", (*case(12, 5, 3, torch.float64), 0.5)),
        Case("N=64, K=16, D=8, beta=2", (*case(64, 16, 8), 2.0)),
        Case("N=10, K=8, D=4, codes about 10 long, beta=0.1", (*case(10, 8, 4, scale=10.0), 0.1)),
    ]


def _chosen(z, codebook):
    return codebook[vq.nearest_code(z.detach(), codebook.detach())]


def _legacy(z, codebook, beta):
    return vq.quantize(z, codebook, beta=beta, legacy=True)[1]


def _no_stop_gradients(z, codebook, beta):
    return (1 + beta) * ((_chosen(z, codebook) - z) ** 2).mean()


def _all_detached_loss(z, codebook, beta):
    return _vq_loss_reference(z, codebook, beta).detach()


def _beta_left_out(z, codebook, beta):
    return _vq_loss_reference(z, codebook, 1.0)


def _commitment_missing(z, codebook, beta):
    return ((_chosen(z, codebook) - z.detach()) ** 2).mean()


def _summed_over_d(z, codebook, beta):
    return z.shape[1] * _vq_loss_reference(z, codebook, beta)


def _summed_everything(z, codebook, beta):
    return z.numel() * _vq_loss_reference(z, codebook, beta)


LOSS_MISTAKES = [
    Mistake("beta on the codebook term (taming's legacy placement)",
            "this exercise asks for the paper's placement: codebook_loss + beta * commitment_loss, where the "
            "commitment loss is the one with the codes detached, mean((sg[e] - z)^2). (Swapping which side "
            "is detached in the two terms gives the same wrong answer.)", _legacy),
    Mistake("no stop-gradients",
            "the two terms have the same value, but each needs one .detach(): the codebook loss "
            "mean((e - z.detach())**2) moves only the codes, the commitment loss mean((e.detach() - z)**2) "
            "moves only z.", _no_stop_gradients),
    Mistake("everything detached: no gradient at all",
            "detach z in the codebook loss and the codes in the commitment loss, not the whole loss "
            "(no torch.no_grad(), no .item()).", _all_detached_loss),
    Mistake("beta left out",
            "multiply the commitment loss by beta (the third argument).", _beta_left_out),
    Mistake("commitment loss missing",
            "add beta * mean((e.detach() - z)**2), which pulls the encoder outputs towards their codes.",
            _commitment_missing),
    Mistake("squared distances summed over D instead of averaged over all entries",
            "take the mean over all N*D entries (torch.mean or F.mse_loss), as taming does.", _summed_over_d),
    Mistake("summed instead of averaged",
            "take the mean over all N*D entries (torch.mean or F.mse_loss), not the sum.", _summed_everything),
]


def check_vq_loss(fn):
    """Check fn(z, codebook, beta) -> scalar: mean((e - sg[z])^2) + beta * mean((sg[e] - z)^2), with e
    the nearest code of each row of z; its value and its gradients with respect to z and the codebook."""
    check("vq_loss", fn, _vq_loss_reference, _loss_cases(), LOSS_MISTAKES,
          probe=_value_and_grads_loss, compare=_compare_loss,
          hint="both terms have the value mean((e - z)**2); they differ only in which side is detached.")


# ---------------------------------------------------------------- exercise 4: usage and perplexity


def _as_number(x):
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        return x.item()
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    return None


def _compare_usage(got, expected):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "expected two numbers, (usage, perplexity)"
    for name, g, e in zip(("usage", "perplexity"), got, expected):
        value = _as_number(g)
        if value is None:
            return f"{name} should be one number (a float or a 0-d tensor), got {type(g).__name__}" + (
                f" of shape {tuple(g.shape)}" if isinstance(g, torch.Tensor) else "")
        if math.isnan(value):
            return (f"{name} is nan: a code with count 0 gives 0 * log 0 = nan; leave unused codes out of the "
                    "entropy (p[p > 0])")
        if not math.isclose(value, e, rel_tol=1e-5, abs_tol=1e-6):
            return f"{name}: expected {e:.6g}, got {value:.6g}"
    return None


def _usage_cases():
    g = _gen(4)
    skewed = torch.multinomial(torch.linspace(0.01, 1, 16) ** 3, 32, replacement=True, generator=g)
    many = torch.multinomial(torch.rand(256, generator=g) ** 4, 1000, replacement=True, generator=g)
    return [
        Case("every code used equally, K=4", (torch.tensor([0, 1, 2, 3, 3, 2, 1, 0]), 4)),
        Case("collapse: one code for all 6 positions, K=8", (torch.full((6,), 5), 8)),
        Case("a single index (batch of 1), K=5", (torch.tensor([2]), 5)),
        Case("the highest codes never used: indices 0-3 of K=10",
             (torch.tensor([0, 1, 1, 2, 2, 2, 3, 3, 3, 3]), 10)),
        Case("a (2, 4, 4) grid of codes, K=16", (skewed.reshape(2, 4, 4), 16)),
        Case("N=1000 indices, K=256", (many, 256)),
    ]


def _usage_reference(indices, n_codes):
    return vq.codebook_usage(indices, n_codes)


def _entropy_not_exp(indices, n_codes):
    usage, perplexity = vq.codebook_usage(indices, n_codes)
    return usage, math.log(perplexity)


def _log2_then_exp(indices, n_codes):
    usage, perplexity = vq.codebook_usage(indices, n_codes)
    return usage, math.exp(math.log(perplexity) / math.log(2))


def _usage_as_count(indices, n_codes):
    usage, perplexity = vq.codebook_usage(indices, n_codes)
    return usage * n_codes, perplexity


def _no_minlength(indices, n_codes):
    counts = torch.bincount(indices.reshape(-1))
    return vq.usage_from_counts(counts)


USAGE_MISTAKES = [
    Mistake("returned the entropy, not the perplexity",
            "perplexity = exp(entropy): apply exp to -(p * log p).sum().", _entropy_not_exp),
    Mistake("log2 with exp",
            "the entropy in bits (log2) goes with 2 ** entropy; with exp use the natural log.", _log2_then_exp),
    Mistake("usage as a count instead of a fraction",
            "usage is the fraction of the n_codes codes chosen at least once: divide by n_codes.",
            _usage_as_count),
    Mistake("histogram without minlength",
            "torch.bincount(indices) stops at the largest index that occurs; pass minlength=n_codes so the "
            "codes never chosen count too.", _no_minlength),
]


def check_codebook_usage(fn):
    """Check fn(indices, n_codes) -> (usage, perplexity): the fraction of the n_codes codes chosen at
    least once, and exp of the entropy (natural log) of the code histogram. indices: long, any shape."""
    check("codebook_usage", fn, _usage_reference, _usage_cases(), USAGE_MISTAKES, compare=_compare_usage,
          hint="histogram with torch.bincount(indices.flatten(), minlength=n_codes), p = counts / counts.sum().")
