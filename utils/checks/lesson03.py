"""Checks for lesson 03 (zero-shot classification): class probabilities from sentences, the
prompt ensemble, the confusion matrix and the linear probe's objective."""
import torch
import torch.nn.functional as F

from .. import zeroshot
from ._core import Case, Mistake, check, scalar_and_grads_difference, value_and_grads

__all__ = ["check_zero_shot_probs", "check_ensemble_prompts", "check_confusion_matrix", "check_probe_loss"]


def _rows(g, n, d, dtype=torch.float32, spread=1.0):
    """n random rows of different lengths (0.5 to 3.5 times spread), so a missing or misplaced
    normalisation changes the answer."""
    x = torch.randn(n, d, generator=g, dtype=dtype)
    return x * (spread * (0.5 + 3 * torch.rand(n, 1, generator=g, dtype=dtype)))


# ---------------------------------------------------------------- exercise 1: zero-shot probabilities


def _probs_reference(image_features, text_features, scale):
    head = zeroshot.zero_shot_head(F.normalize(text_features, dim=-1), scale)
    return zeroshot.predict_proba(head, image_features)


def _probs_cases():
    g = torch.Generator().manual_seed(3)
    return [
        Case("N=4 images, C=3 classes, D=8, scale 5", (_rows(g, 4, 8), _rows(g, 3, 8), 5.0)),
        Case("batch of 1, C=2, D=4, scale 10", (_rows(g, 1, 4), _rows(g, 2, 4), 10.0)),
        Case("N=5, C=7, D=3, float64, scale 2.5", (_rows(g, 5, 3, torch.float64), _rows(g, 7, 3, torch.float64), 2.5)),
        Case("N=6, C=4, D=16, scale 1", (_rows(g, 6, 16, spread=20.0), _rows(g, 4, 16, spread=0.05), 1.0)),
        Case("N=3, C=3, D=5, scale 14.3", (_rows(g, 3, 5), _rows(g, 3, 5), 14.3)),
    ]


def _logits_only(i, t, s):
    return s * F.normalize(i, dim=-1) @ F.normalize(t, dim=-1).T


def _softmax_over_images(i, t, s):
    return _logits_only(i, t, s).softmax(dim=0)


def _log_probs(i, t, s):
    return _logits_only(i, t, s).log_softmax(dim=-1)


def _image_not_normalised(i, t, s):
    return (s * i @ F.normalize(t, dim=-1).T).softmax(dim=-1)


def _text_not_normalised(i, t, s):
    return (s * F.normalize(i, dim=-1) @ t.T).softmax(dim=-1)


def _nothing_normalised(i, t, s):
    return (s * i @ t.T).softmax(dim=-1)


def _probs_normalised_wrong_axis(i, t, s):
    return (s * F.normalize(i, dim=0) @ F.normalize(t, dim=0).T).softmax(dim=-1)


def _probs_scale_not_applied(i, t, s):
    return _probs_reference(i, t, 1.0)


def _probs_divided_by_scale(i, t, s):
    return _probs_reference(i, t, 1.0 / s)


PROBS_MISTAKES = [
    Mistake("logits, not probabilities", "finish with a softmax over the classes: "
            "logits.softmax(dim=-1).", _logits_only),
    Mistake("log-probabilities", "return the probabilities themselves (softmax), not log_softmax.", _log_probs),
    Mistake("softmax over the images", "each image (row) gets a distribution over the C classes: "
            "softmax(dim=-1), not dim=0.", _softmax_over_images),
    Mistake("image features not normalised", "divide every image row by its length too "
            "(F.normalize(image_features, dim=-1)), so the logits are scaled cosines.", _image_not_normalised),
    Mistake("text features not normalised", "divide every class row of text_features by its length "
            "(F.normalize(text_features, dim=-1)) before using it as a weight.", _text_not_normalised),
    Mistake("features not normalised", "normalise the image rows and the text rows to unit length "
            "(F.normalize(x, dim=-1)) so that their products are cosines.", _nothing_normalised),
    Mistake("normalised along the wrong axis", "each row is one feature vector: normalise with dim=-1, "
            "not dim=0.", _probs_normalised_wrong_axis),
    Mistake("scale not applied", "multiply the cosine similarities by scale before the softmax.",
            _probs_scale_not_applied),
    Mistake("divided by the scale", "scale is the multiplier itself (exp of CLIP's logit_scale): "
            "multiply by it, do not divide.", _probs_divided_by_scale),
]


def check_zero_shot_probs(fn):
    """Check fn(image_features, text_features, scale) -> (N, C) class probabilities.

    image_features (N, D) and text_features (C, D, one row per class) are not normalised;
    scale is the multiplier of the cosine similarities.
    """
    check("zero_shot_probs", fn, _probs_reference, _probs_cases(), PROBS_MISTAKES,
          hint="for one image and one class the answer is [[1.0]]; for two classes with equal cosines it is [[0.5, 0.5]].")


# ---------------------------------------------------------------- exercise 2: prompt ensemble


def _ensemble_cases():
    g = torch.Generator().manual_seed(4)

    def templates(c, t, d, dtype=torch.float32):
        # Every template has its own length (0.1 to 10), so averaging before normalising is wrong.
        x = torch.randn(c, t, d, generator=g, dtype=dtype)
        return x * torch.logspace(-1, 1, t, dtype=dtype).view(1, t, 1)[:, torch.randperm(t, generator=g)]
    return [
        Case("C=3 classes, T=4 templates, D=8", (templates(3, 4, 8),)),
        Case("one class, T=3, D=5", (templates(1, 3, 5),)),
        Case("C=4, one template, D=6", (templates(4, 1, 6),)),
        Case("C=5, T=2, D=3, float64", (templates(5, 2, 3, torch.float64),)),
        Case("C=2, T=8, D=16, lengths near 100", (100 * templates(2, 8, 16),)),
    ]


def _mean_then_normalise(x):
    return F.normalize(x.mean(dim=1), dim=-1)


def _not_renormalised(x):
    return F.normalize(x, dim=-1).mean(dim=1)


def _plain_mean(x):
    return x.mean(dim=1)


def _mean_over_classes(x):
    return zeroshot.ensemble(x.transpose(0, 1))


def _normalised_over_templates(x):
    return F.normalize(F.normalize(x, dim=1).mean(dim=1), dim=-1)


ENSEMBLE_MISTAKES = [
    Mistake("averaged before normalising", "normalise each template's vector first "
            "(F.normalize(x, dim=-1)), so that every template has an equal vote, then average.",
            _mean_then_normalise),
    Mistake("not re-normalised", "the mean of unit vectors is shorter than 1: normalise the average "
            "again so the class vector lies on the unit sphere.", _not_renormalised),
    Mistake("a plain mean", "normalise each template's vector before averaging, and the average "
            "after.", _plain_mean),
    Mistake("averaged over the classes", "the templates are dimension 1 of (C, T, D): average with "
            "dim=1, which leaves one vector per class.", _mean_over_classes),
    Mistake("normalised along the templates axis", "each vector lies along the last dimension: "
            "normalise with dim=-1.", _normalised_over_templates),
]


def check_ensemble_prompts(fn):
    """Check fn(text_features) -> (C, D): text_features (C, T, D), not normalised."""
    check("ensemble_prompts", fn, zeroshot.ensemble, _ensemble_cases(), ENSEMBLE_MISTAKES,
          hint="with one template per class the answer is each class's vector at unit length.")


# ---------------------------------------------------------------- exercise 3: confusion matrix


def _confusion_cases():
    g = torch.Generator().manual_seed(5)
    t = torch.tensor
    return [
        Case("N=6, C=3, repeated pairs", (t([0, 1, 1, 2, 1, 1]), t([0, 1, 2, 2, 2, 2]), 3)),
        Case("batch of 1, C=4 (only class 2 seen)", (t([1]), t([2]), 4)),
        Case("N=5, C=5, all right", (t([4, 0, 3, 3, 1]), t([4, 0, 3, 3, 1]), 5)),
        Case("N=8, C=6, classes 4 and 5 never seen", (t([0, 0, 3, 2, 1, 1, 0, 3]), t([1, 0, 3, 3, 1, 2, 0, 0]), 6)),
        Case("N=200, C=24, random", (torch.randint(24, (200,), generator=g), torch.randint(24, (200,), generator=g), 24)),
        Case("one class, N=3", (t([0, 0, 0]), t([0, 0, 0]), 1)),
    ]


def _transposed(p, y, c):
    return zeroshot.confusion_matrix(p, y, c).T


def _pairs_counted_once(p, y, c):
    cm = torch.zeros(c, c, dtype=torch.long)
    cm[y, p] += 1   # repeated (label, prediction) pairs write the same cell once
    return cm


def _size_from_the_data(p, y, c):
    return zeroshot.confusion_matrix(p, y, int(max(p.max(), y.max())) + 1)


def _diagonal_only(p, y, c):
    return torch.diag(zeroshot.confusion_matrix(p, y, c).diagonal())


CONFUSION_MISTAKES = [
    Mistake("rows and columns swapped", "row i is the TRUE class i and column j the PREDICTED class j: "
            "cm[labels[n], predictions[n]] += 1.", _transposed),
    Mistake("repeated pairs counted once", "cm[labels, predictions] += 1 with index tensors writes each "
            "cell once even when a pair repeats; accumulate instead: "
            "cm.index_put_((labels, predictions), torch.ones_like(labels), accumulate=True), "
            "or torch.bincount(labels * num_classes + predictions, minlength=num_classes**2).", _pairs_counted_once),
    Mistake("size taken from the data", "the matrix is num_classes x num_classes even when some "
            "classes never occur in labels or predictions.", _size_from_the_data),
    Mistake("only the correct predictions counted", "count every example, right or wrong: the "
            "mistakes are the off-diagonal cells.", _diagonal_only),
]


def check_confusion_matrix(fn):
    """Check fn(predictions, labels, num_classes) -> (C, C) int64 counts, row = true class."""
    check("confusion_matrix", fn, zeroshot.confusion_matrix, _confusion_cases(), CONFUSION_MISTAKES,
          hint="the entries must add up to the number of examples, and the trace is the number right.")


# ---------------------------------------------------------------- exercise 4: the linear probe's objective


def _probe_cases():
    g = torch.Generator().manual_seed(6)

    def case(n, c, d, l2, dtype=torch.float32):
        feats = F.normalize(torch.randn(n, d, generator=g, dtype=dtype), dim=-1)
        labels = torch.randint(c, (n,), generator=g)
        weight = 2 * torch.randn(c, d, generator=g, dtype=dtype)
        bias = torch.randn(c, generator=g, dtype=dtype)
        return (weight, bias, feats, labels, l2)
    return [
        Case("N=6, C=3, D=4, l2=0.1", case(6, 3, 4, 0.1)),
        Case("batch of 1, C=2, D=3, l2=1", case(1, 2, 3, 1.0)),
        Case("N=10, C=4, D=8, float64, l2=0.01", case(10, 4, 8, 0.01, torch.float64)),
        Case("N=5, C=5, D=2, no penalty (l2=0)", case(5, 5, 2, 0.0)),
        Case("N=24, C=6, D=16, l2=1e-3", case(24, 6, 16, 1e-3)),
    ]


def _probe_compare(got, expected):
    return scalar_and_grads_difference(
        got, expected, not_scalar="average the cross-entropies",
        no_grad="the objective has no gradient: keep it a tensor built from weight and bias "
                "(no .item(), .detach() or torch.no_grad())")


def _bias_penalised(w, b, x, y, l2):
    return zeroshot.probe_loss(w, b, x, y, l2) + l2 / 2 * b.pow(2).sum()


def _no_half(w, b, x, y, l2):
    return F.cross_entropy(x @ w.T + b, y) + l2 * w.pow(2).sum()


def _no_penalty(w, b, x, y, l2):
    return F.cross_entropy(x @ w.T + b, y)


def _norm_not_squared(w, b, x, y, l2):
    return F.cross_entropy(x @ w.T + b, y) + l2 / 2 * w.norm()


def _summed_cross_entropy(w, b, x, y, l2):
    return F.cross_entropy(x @ w.T + b, y, reduction="sum") + l2 / 2 * w.pow(2).sum()


def _penalty_averaged(w, b, x, y, l2):
    return F.cross_entropy(x @ w.T + b, y) + l2 / 2 * w.pow(2).mean()


def _no_bias(w, b, x, y, l2):
    return zeroshot.probe_loss(w, torch.zeros_like(b), x, y, l2)


PROBE_MISTAKES = [
    Mistake("bias penalised too", "the penalty is on the weight matrix only; leave the bias out of it.",
            _bias_penalised),
    Mistake("penalty without the 1/2", "the penalty is l2 / 2 * (weight ** 2).sum(): its gradient is then "
            "l2 * weight.", _no_half),
    Mistake("no penalty", "add l2 / 2 times the sum of the squared weights to the cross-entropy.", _no_penalty),
    Mistake("norm instead of squared norm", "penalise the SUM OF SQUARES of the weights, "
            "weight.pow(2).sum(), not their norm.", _norm_not_squared),
    Mistake("cross-entropy summed, not averaged", "take the mean cross-entropy over the N examples "
            "(F.cross_entropy's default reduction).", _summed_cross_entropy),
    Mistake("penalty averaged, not summed", "sum the squared weights over all C x D entries; do not "
            "take their mean.", _penalty_averaged),
    Mistake("bias left out of the logits", "the logits are features @ weight.T + bias.", _no_bias),
]


def check_probe_loss(fn):
    """Check fn(weight, bias, features, labels, l2) -> 0-d tensor: value and gradients."""
    check("probe_loss", fn, zeroshot.probe_loss, _probe_cases(), PROBE_MISTAKES,
          probe=value_and_grads, compare=_probe_compare,
          hint="with l2=0 the objective is F.cross_entropy(features @ weight.T + bias, labels).")
