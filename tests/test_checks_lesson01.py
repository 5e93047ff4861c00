"""The checks of lesson 01 accept the reference and reject every wrong answer, naming the known ones."""
import re

import pytest
import torch
import torch.nn.functional as F

from utils.checks import check_clip_loss, check_logits_gradient, check_similarity_matrix
from utils.checks import lesson01
from utils.losses import clip_loss


def good_loss(i, t, s):
    return clip_loss(F.normalize(i, dim=-1), F.normalize(t, dim=-1), s)


def good_similarity(i, t):
    return F.normalize(i, dim=-1) @ F.normalize(t, dim=-1).T


def good_gradient(logits):
    n = len(logits)
    y = torch.eye(n, dtype=logits.dtype)
    return ((logits.softmax(1) - y) + (logits.softmax(0) - y)) / (2 * n)


def test_references_are_accepted(capsys):
    check_similarity_matrix(good_similarity)
    check_clip_loss(good_loss)
    check_logits_gradient(good_gradient)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith("✔") for line in lines)


@pytest.mark.parametrize("check, mistakes", [
    (check_similarity_matrix, lesson01.SIMILARITY_MISTAKES),
    (check_clip_loss, lesson01.MISTAKES),
    (check_logits_gradient, lesson01.GRADIENT_MISTAKES),
], ids=["similarity", "loss", "gradient"])
def test_named_mistakes_are_rejected_by_name(check, mistakes):
    assert len(mistakes) >= 2
    for mistake in mistakes:
        with pytest.raises(AssertionError, match=re.escape(f"looks like '{mistake.name}'")):
            check(mistake.fn)


def _inplace_normalise(i, t, s):
    i /= i.norm(dim=-1, keepdim=True)
    return clip_loss(i, F.normalize(t, dim=-1), s)


def _inplace_similarity(i, t):
    i.div_(i.norm(dim=-1, keepdim=True))
    return i @ F.normalize(t, dim=-1).T


WRONG_LOSSES = {
    "returns a Python float": lambda i, t, s: good_loss(i, t, s).item(),
    "detached": lambda i, t, s: good_loss(i, t, s).detach(),
    "float32 for float64 input": lambda i, t, s: good_loss(i.float(), t.float(), s),
    "changes its input in place": _inplace_normalise,
    "per-pair losses, not their mean": lambda i, t, s: F.cross_entropy(
        s * good_similarity(i, t), torch.arange(len(i)), reduction="none"),
    "squared cosines": lambda i, t, s: clip_loss(F.normalize(i, dim=-1), F.normalize(t, dim=-1), s) ** 2,
    "off by a little": lambda i, t, s: good_loss(i, t, s) + 1e-3,
    "wrong only for a batch of 1": lambda i, t, s: good_loss(i, t, s) + (len(i) == 1),
    "scale squared": lambda i, t, s: good_loss(i, t, s * s),
    "mean over the whole matrix of -log softmax": lambda i, t, s: -(s * good_similarity(i, t)).log_softmax(1).mean(),
}


@pytest.mark.parametrize("name", WRONG_LOSSES)
def test_wrong_losses_are_rejected(name):
    with pytest.raises(AssertionError):
        check_clip_loss(WRONG_LOSSES[name])


WRONG_SIMILARITIES = {
    "dot products of raw features, then clamped": lambda i, t: (i @ t.T).clamp(-1, 1),
    "euclidean distances": lambda i, t: torch.cdist(i, t),
    "float32 for float64 input": lambda i, t: good_similarity(i.float(), t.float()),
    "changes its input in place": _inplace_similarity,
    "only the diagonal": lambda i, t: (F.normalize(i, dim=-1) * F.normalize(t, dim=-1)[: len(i)]).sum(-1),
    "returns a list": lambda i, t: good_similarity(i, t).tolist(),
}


@pytest.mark.parametrize("name", WRONG_SIMILARITIES)
def test_wrong_similarities_are_rejected(name):
    with pytest.raises(AssertionError):
        check_similarity_matrix(WRONG_SIMILARITIES[name])


WRONG_GRADIENTS = {
    "identity missing": lambda L: (L.softmax(1) + L.softmax(0)) / (2 * len(L)),
    "float32 for float64 input": lambda L: good_gradient(L.float()),
    "transposed": lambda L: good_gradient(L).T,
    "softmax of the whole matrix": lambda L: 2 * (L.flatten().softmax(0).view_as(L) - torch.eye(len(L), dtype=L.dtype)) / (2 * len(L)),
    "wrong for a batch of 1": lambda L: good_gradient(L) + (len(L) == 1),
}


@pytest.mark.parametrize("name", WRONG_GRADIENTS)
def test_wrong_gradients_are_rejected(name):
    with pytest.raises(AssertionError):
        check_logits_gradient(WRONG_GRADIENTS[name])


def test_not_written_yet_passes_through():
    def stub(*args):
        raise NotImplementedError("Your turn")
    for check in (check_similarity_matrix, check_clip_loss, check_logits_gradient):
        with pytest.raises(NotImplementedError):
            check(stub)


def test_a_non_function_gets_a_clear_error():
    with pytest.raises(TypeError, match="pass your function itself"):
        check_clip_loss(good_loss(torch.ones(2, 2), torch.ones(2, 2), 1.0))
