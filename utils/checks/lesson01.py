"""Checks for lesson 01 (the contrastive loss)."""
import torch
import torch.nn.functional as F

from ..losses import clip_loss
from ._core import Case, Mistake, check, scalar_and_grads_difference, value_and_grads

__all__ = ["check_similarity_matrix", "check_clip_loss", "check_logits_gradient"]


def _features(g, n, d, dtype=torch.float32, spread=1.0):
    """(n, d) random features whose rows have different lengths, so that forgetting to normalise
    changes the answer."""
    x = torch.randn(n, d, generator=g, dtype=dtype)
    return x * (spread * (0.5 + 3 * torch.rand(n, 1, generator=g, dtype=dtype)))


# ---------------------------------------------------------------- exercise: the similarity matrix

def _similarity_reference(image_features, text_features):
    return F.normalize(image_features, dim=-1) @ F.normalize(text_features, dim=-1).T


def _similarity_cases():
    g = torch.Generator().manual_seed(1)
    return [
        Case("4 images, 4 captions, D=8", (_features(g, 4, 8), _features(g, 4, 8))),
        Case("batch of 1", (_features(g, 1, 5), _features(g, 1, 5))),
        Case("3 images, 5 captions, D=6", (_features(g, 3, 6), _features(g, 5, 6))),
        Case("float64, 6 x 2, D=16", (_features(g, 6, 16, torch.float64), _features(g, 2, 16, torch.float64))),
        Case("large lengths, 5 x 5, D=3", (_features(g, 5, 3, spread=100.0), _features(g, 5, 3))),
    ]


SIMILARITY_MISTAKES = [
    Mistake("features not normalised", "divide every row by its length first (F.normalize(x, dim=-1)): "
            "a cosine ignores lengths.", lambda i, t: i @ t.T),
    Mistake("only one side normalised", "normalise both the image and the text features.",
            lambda i, t: F.normalize(i, dim=-1) @ t.T),
    Mistake("normalised along the wrong axis", "each row is one vector: normalise with dim=-1, not dim=0.",
            lambda i, t: F.normalize(i, dim=0) @ F.normalize(t, dim=0).T),
    Mistake("rows and columns swapped", "rows are images and columns are captions: "
            "image_features @ text_features.T, not the other way round.",
            lambda i, t: _similarity_reference(t, i)),
]


def check_similarity_matrix(fn):
    """Check fn(image_features, text_features) -> (N, M) cosine similarities, rows = images."""
    check("similarity_matrix", fn, _similarity_reference, _similarity_cases(), SIMILARITY_MISTAKES)


# ---------------------------------------------------------------- exercise: the loss

def _reference(image_features, text_features, logit_scale):
    return clip_loss(F.normalize(image_features, dim=-1), F.normalize(text_features, dim=-1), logit_scale)


def _loss_cases():
    g = torch.Generator().manual_seed(0)
    def feats(n, d, dtype=torch.float32, spread=1.0):
        return _features(g, n, d, dtype, spread)
    shared = feats(5, 8)
    return [
        Case("N=5, D=8, scale 14.3", (shared, shared + 0.5 * feats(5, 8), 14.3)),
        Case("batch of 1", (feats(1, 4), feats(1, 4), 10.0)),
        Case("N=8, D=3, scale 1", (feats(8, 3), feats(8, 3), 1.0)),
        Case("N=3, D=16, float64, scale 100", (feats(3, 16, torch.float64), feats(3, 16, torch.float64), 100.0)),
        Case("N=6, D=5, scale as a 0-d tensor", (feats(6, 5, spread=10.0), feats(6, 5), torch.tensor(2.5))),
    ]


def _compare(got, expected):
    return scalar_and_grads_difference(
        got, expected, not_scalar="average the cross-entropies",
        no_grad="the loss has no gradient: keep it a tensor built from the inputs (no .item(), .detach() or torch.no_grad())")


def _image_to_text_only(i, t, s):
    i, t = F.normalize(i, dim=-1), F.normalize(t, dim=-1)
    return F.cross_entropy(s * i @ t.T, torch.arange(len(i)))


def _text_to_image_only(i, t, s):
    return _image_to_text_only(t, i, s)


def _not_normalised(i, t, s):
    return clip_loss(i, t, s)


def _scale_not_applied(i, t, s):
    return _reference(i, t, 1.0)


def _divided_by_scale(i, t, s):
    return _reference(i, t, 1.0 / s)


def _summed_not_averaged(i, t, s):
    return 2 * _reference(i, t, s)


def _wrong_targets(i, t, s):
    i, t = F.normalize(i, dim=-1), F.normalize(t, dim=-1)
    logits = s * i @ t.T
    targets = torch.zeros(len(i), dtype=torch.long)   # class 0 for every row
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def _softmax_over_the_batch(i, t, s):
    i, t = F.normalize(i, dim=-1), F.normalize(t, dim=-1)
    logits = s * i @ t.T
    # One softmax over all N*N entries instead of one per row/column.
    return -(logits.diagonal() - logits.flatten().logsumexp(0)).mean()


def _normalised_wrong_axis(i, t, s):
    return clip_loss(F.normalize(i, dim=0), F.normalize(t, dim=0), s)


MISTAKES = [
    Mistake("one direction only (image->text)", "add the text->image term, the cross-entropy over the "
            "columns (logits.T), and average the two.", _image_to_text_only),
    Mistake("one direction only (text->image)", "add the image->text term, the cross-entropy over the "
            "rows (logits), and average the two.", _text_to_image_only),
    Mistake("features not normalised", "divide every row by its length first "
            "(F.normalize(x, dim=-1)), so the similarities are cosines.", _not_normalised),
    Mistake("normalised along the wrong axis", "normalise each row (one feature vector per row): "
            "dim=-1, not dim=0.", _normalised_wrong_axis),
    Mistake("scale not applied", "multiply the cosine similarities by logit_scale before the softmax.",
            _scale_not_applied),
    Mistake("divided by the scale", "logit_scale is already the multiplier (exp of CLIP's parameter): "
            "multiply by it, do not divide.", _divided_by_scale),
    Mistake("wrong targets", "the match of image i is caption i, so the targets are "
            "torch.arange(N), the diagonal.", _wrong_targets),
    Mistake("summed instead of averaged", "the two directions are averaged: divide their sum by 2.",
            _summed_not_averaged),
    Mistake("one softmax over the whole matrix", "each row (and each column) is its own N-way "
            "classification: use F.cross_entropy(logits, targets) row-wise.", _softmax_over_the_batch),
]


def check_clip_loss(fn):
    """Check fn(image_features, text_features, logit_scale) -> scalar loss.

    image_features, text_features: (N, D), not normalised; logit_scale: the multiplier itself.
    """
    check("clip_loss", fn, _reference, _loss_cases(), MISTAKES, probe=value_and_grads, compare=_compare,
          hint="compare your value with a hand computation for N=1 (the loss is 0 there) and N=2.")


# ---------------------------------------------------------------- exercise: the gradient by hand

def _gradient_reference(logits):
    """The gradient of the CLIP loss with respect to the logits, by autograd."""
    logits = logits.detach().clone().requires_grad_()
    targets = torch.arange(len(logits))
    loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
    return torch.autograd.grad(loss, logits)[0]


def _gradient_cases():
    g = torch.Generator().manual_seed(2)
    return [
        Case("N=4", (3 * torch.randn(4, 4, generator=g),)),
        Case("batch of 1", (torch.randn(1, 1, generator=g),)),
        Case("N=2, float64", (torch.randn(2, 2, generator=g, dtype=torch.float64),)),
        Case("N=7, large logits", (30 * torch.randn(7, 7, generator=g),)),
        Case("N=5, float64", (5 * torch.randn(5, 5, generator=g, dtype=torch.float64),)),
    ]


def _p_q_y(logits):
    return logits.softmax(dim=1), logits.softmax(dim=0), torch.eye(len(logits), dtype=logits.dtype)


def _gradient_from(combine):
    def wrong(logits):
        p, q, y = _p_q_y(logits)
        return combine(p, q, y, len(logits))
    return wrong


GRADIENT_MISTAKES = [
    Mistake("missing the 1/(2N) factor", "the loss averages N rows and N columns and then the two "
            "directions: divide by 2N.", _gradient_from(lambda p, q, y, n: (p - y) + (q - y))),
    Mistake("divided by N instead of 2N", "the two directions are averaged too: divide by 2N.",
            _gradient_from(lambda p, q, y, n: ((p - y) + (q - y)) / n)),
    Mistake("one direction only", "add the column term (Q - Y), with Q the softmax over each column "
            "(dim=0).", _gradient_from(lambda p, q, y, n: (p - y) / (2 * n))),
    Mistake("column softmax taken over the rows", "Q is the softmax of each column: softmax(dim=0).",
            _gradient_from(lambda p, q, y, n: 2 * (p - y) / (2 * n))),
    Mistake("column softmax left transposed", "softmax(logits.T, dim=1) gives Q transposed: "
            "transpose it back, or use softmax(logits, dim=0).",
            _gradient_from(lambda p, q, y, n: ((p - y) + (q.T - y)) / (2 * n))),
    Mistake("sign flipped", "gradient descent subtracts the gradient; the gradient itself is "
            "(P - Y) + (Q - Y), probability minus target.", _gradient_from(lambda p, q, y, n: ((y - p) + (y - q)) / (2 * n))),
]


def check_logits_gradient(fn):
    """Check fn(logits) -> (N, N) gradient of the CLIP loss with respect to the logits."""
    check("logits_gradient", fn, _gradient_reference, _gradient_cases(), GRADIENT_MISTAKES)
