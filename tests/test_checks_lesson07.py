"""The checks of lesson 07 accept the reference (and other right answers) and reject every wrong
answer, naming the known ones."""
import math
import re

import pytest
import torch
import torch.nn.functional as F

from utils import dalle, transformer
from utils.checks import check_causal_attention, check_causal_mask, check_sample_next, check_split_loss
from utils.checks import lesson07


# ---------------------------------------------------------------- right answers


def good_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


def good_attention(q, k, v):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])              # (B, H, T, T)
    scores = scores.masked_fill(~good_mask(q.shape[-2]), float("-inf"))
    return scores.softmax(dim=-1) @ v


def good_loss(text_logits, image_logits, text, codes, text_weight):
    text_loss = F.cross_entropy(text_logits.reshape(-1, text_logits.shape[-1]), text[:, 1:].reshape(-1),
                                ignore_index=dalle.PAD_ID)
    image_loss = F.cross_entropy(image_logits.reshape(-1, image_logits.shape[-1]), codes.reshape(-1))
    return text_weight * text_loss + (1 - text_weight) * image_loss, text_loss, image_loss


def good_sample(logits, temperature, top_k, generator):
    logits = logits / temperature
    if top_k is not None:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(1)


def test_references_are_accepted(capsys):
    check_causal_mask(good_mask)
    check_causal_attention(good_attention)
    check_split_loss(good_loss)
    check_sample_next(good_sample)
    check_sample_next(dalle.sample_next)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(line.startswith("✔") for line in lines)


def _gumbel_max(logits, temperature, top_k, generator):
    """Another right sampler: the Gumbel-max trick draws the same distribution with other random numbers."""
    logits = logits.double() / temperature
    if top_k is not None:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    u = torch.rand(logits.shape, generator=generator, dtype=torch.float64).clamp_min(1e-300)
    return (logits - (-u.log()).log()).argmax(-1)


def _scatter_top_k(logits, temperature, top_k, generator):
    """Another right sampler: softmax over the k largest only, draw a position, map it back to an id."""
    k = logits.shape[-1] if top_k is None else top_k
    values, ids = (logits / temperature).topk(k, dim=-1)
    pick = torch.multinomial(values.softmax(-1), 1, generator=generator)
    return ids.gather(-1, pick).squeeze(-1)


def _masked_mean_loss(tl, il, text, codes, w):
    """Another right loss: per-word cross-entropies, averaged over the real words by hand."""
    targets = text[:, 1:]                                                    # (B, L-1)
    per_word = F.cross_entropy(tl.transpose(1, 2), targets, reduction="none")
    keep = (targets != dalle.PAD_ID).to(per_word.dtype)
    text_loss = (per_word * keep).sum() / keep.sum()
    image_loss = F.cross_entropy(il.transpose(1, 2), codes.flatten(1))
    return w * text_loss + (1 - w) * image_loss, text_loss, image_loss


OTHER_RIGHT_ANSWERS = [
    (check_causal_mask, lambda T: torch.arange(T)[:, None] >= torch.arange(T)[None, :]),
    (check_causal_mask, lambda T: transformer.causal_mask(T)),
    (check_causal_attention, lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
    (check_causal_attention, lambda q, k, v: torch.where(good_mask(q.shape[-2]), q @ k.mT * q.shape[-1] ** -0.5,
                                                         float("-inf")).softmax(-1) @ v),
    (check_split_loss, lambda tl, il, text, codes, w: tuple(lesson07._loss_reference(tl, il, text, codes, w))),
    (check_split_loss, lambda tl, il, text, codes, w: _masked_mean_loss(tl, il, text, codes, w)),
    (check_sample_next, _gumbel_max),
    (check_sample_next, _scatter_top_k),
]


@pytest.mark.parametrize("check, fn", OTHER_RIGHT_ANSWERS)
def test_other_right_answers_are_accepted(check, fn, capsys):
    check(fn)
    assert capsys.readouterr().out.startswith("✔")


# ---------------------------------------------------------------- named mistakes


@pytest.mark.parametrize("check, mistakes", [
    (check_causal_mask, lesson07.MASK_MISTAKES),
    (check_causal_attention, lesson07.ATTENTION_MISTAKES),
    (check_split_loss, lesson07.LOSS_MISTAKES),
    (check_sample_next, lesson07.SAMPLE_MISTAKES),
], ids=["mask", "attention", "loss", "sample"])
def test_named_mistakes_are_rejected_by_name(check, mistakes):
    assert len(mistakes) >= 2
    for mistake in mistakes:
        with pytest.raises(AssertionError, match=re.escape(f"looks like '{mistake.name}'")):
            check(mistake.fn)


def test_the_mask_mistakes_the_instructors_asked_for_are_named():
    names = [m.name for m in lesson07.MASK_MISTAKES]
    for wanted in ("upper instead of lower triangle", "diagonal excluded", "float mask instead of bool",
                   "True/False inverted"):
        assert any(name.startswith(wanted) for name in names), wanted


# ---------------------------------------------------------------- other wrong answers


WRONG_MASKS = {
    "no mask at all (all True)": lambda T: torch.ones(T, T, dtype=torch.bool),
    "only the diagonal": lambda T: torch.eye(T, dtype=torch.bool),
    "off by one: sees the next position too": lambda T: torch.ones(T, T, dtype=torch.bool).tril(1),
    "integer 0/1 mask": lambda T: torch.ones(T, T, dtype=torch.long).tril(),
    "one row too many": lambda T: torch.ones(T + 1, T, dtype=torch.bool).tril(),
    "broadcast shape (1, 1, T, T)": lambda T: good_mask(T)[None, None],
    "returns a nested list": lambda T: good_mask(T).tolist(),
    "wrong only for T = 1": lambda T: good_mask(T) if T > 1 else torch.zeros(1, 1, dtype=torch.bool),
}


@pytest.mark.parametrize("name", WRONG_MASKS)
def test_wrong_masks_are_rejected(name):
    with pytest.raises(AssertionError):
        check_causal_mask(WRONG_MASKS[name])


def _inplace_attention(q, k, v):
    q /= math.sqrt(q.shape[-1])
    return good_attention(q * math.sqrt(q.shape[-1]), k, v)


WRONG_ATTENTIONS = {
    "scaled by sqrt(T) instead of sqrt(d)": lambda q, k, v: good_attention(
        q * math.sqrt(q.shape[-1] / q.shape[-2]), k, v),
    "off by one: sees the next position too": lambda q, k, v: (q @ k.mT / math.sqrt(q.shape[-1])).masked_fill(
        ~torch.ones(q.shape[-2], q.shape[-2], dtype=torch.bool).tril(1), float("-inf")).softmax(-1) @ v,
    "keys and queries swapped (transposed scores)": lambda q, k, v: good_attention(k, q, v),
    "returns the weights, not the weighted values": lambda q, k, v: (q @ k.mT / math.sqrt(q.shape[-1])).masked_fill(
        ~good_mask(q.shape[-2]), float("-inf")).softmax(-1),
    "heads and positions swapped in the output": lambda q, k, v: good_attention(q, k, v).transpose(1, 2),
    "float32 for float64 input": lambda q, k, v: good_attention(q.float(), k.float(), v.float()),
    "detached": lambda q, k, v: good_attention(q, k, v).detach(),
    "changes q in place": _inplace_attention,
    "wrong only for one position": lambda q, k, v: good_attention(q, k, v) + (q.shape[-2] == 1),
}


@pytest.mark.parametrize("name", WRONG_ATTENTIONS)
def test_wrong_attentions_are_rejected(name):
    with pytest.raises(AssertionError):
        check_causal_attention(WRONG_ATTENTIONS[name])


def _per_caption_mean(tl, il, text, codes, w):
    targets = text[:, 1:]                                                    # (B, L-1)
    per_word = F.cross_entropy(tl.transpose(1, 2), targets, reduction="none")
    keep = (targets != dalle.PAD_ID).to(per_word.dtype)
    text_loss = ((per_word * keep).sum(1) / keep.sum(1)).mean()
    image_loss = good_loss(tl, il, text, codes, w)[2]
    return w * text_loss + (1 - w) * image_loss, text_loss, image_loss


def _inplace_loss(tl, il, text, codes, w):
    text[text == dalle.PAD_ID] = -100
    return good_loss(tl, il, torch.where(text == -100, dalle.PAD_ID, text), codes, w)


WRONG_LOSSES = {
    "text loss averaged per caption, then over captions": _per_caption_mean,
    "returns Python floats": lambda *a: tuple(x.item() for x in good_loss(*a)),
    "returns a dict like MiniDalle.losses": lambda *a: dict(zip(("loss", "text", "image"), good_loss(*a))),
    "detached": lambda *a: tuple(x.detach() for x in good_loss(*a)),
    "float32 for float64 input": lambda tl, il, *a: good_loss(tl.float(), il.float(), *a),
    "per-token losses, not their mean": lambda tl, il, text, codes, w: (
        w * good_loss(tl, il, text, codes, w)[1] + (1 - w) * F.cross_entropy(
            il.reshape(-1, il.shape[-1]), codes.reshape(-1), reduction="none"),
        good_loss(tl, il, text, codes, w)[1], good_loss(tl, il, text, codes, w)[2]),
    "image targets off by one code": lambda tl, il, text, codes, w: good_loss(tl, il, text, (codes + 1) % il.shape[-1], w),
    "image targets as shared-table ids (codes + n_text)": lambda tl, il, text, codes, w: good_loss(
        tl, il, text, codes + tl.shape[-1], w),
    "returns (text_loss, image_loss, loss)": lambda *a: (lambda l, t, i: (t, i, l))(*good_loss(*a)),
    "changes the text in place": _inplace_loss,
}


@pytest.mark.parametrize("name", WRONG_LOSSES)
def test_wrong_losses_are_rejected(name):
    with pytest.raises(AssertionError):
        check_split_loss(WRONG_LOSSES[name])


def _inplace_sample(logits, temperature, top_k, generator):
    logits /= temperature
    return good_sample(logits * temperature, temperature, top_k, generator)


def _top_k_minus_one(logits, temperature, top_k, generator):
    return good_sample(logits, temperature, None if top_k is None else max(1, top_k - 1), generator)


WRONG_SAMPLES = {
    "top-k keeps k-1 ids": _top_k_minus_one,
    "top-k ignored": lambda logits, t, k, g: good_sample(logits, t, None, g),
    "temperature applied twice": lambda logits, t, k, g: good_sample(logits / t, t, k, g),
    "exp without subtracting the max (overflows)": lambda logits, t, k, g: torch.multinomial(
        (logits / t).exp().masked_fill(logits < logits.topk(k or logits.shape[-1], -1).values[:, -1:], 0),
        1, generator=g).squeeze(1),
    "returns shape (n, 1)": lambda *a: good_sample(*a)[:, None],
    "returns a list": lambda *a: good_sample(*a).tolist(),
    "uniform over the top k": lambda logits, t, k, g: good_sample(
        torch.zeros_like(logits).masked_fill(logits < logits.topk(k or logits.shape[-1], -1).values[:, -1:],
                                             float("-inf")), 1.0, None, g),
    "changes the logits in place": _inplace_sample,
    "softmax over the batch (dim=0)": lambda logits, t, k, g: torch.multinomial(
        (logits / t).softmax(0), 1, generator=g).squeeze(1),
}


@pytest.mark.parametrize("name", WRONG_SAMPLES)
def test_wrong_samplers_are_rejected(name):
    with pytest.raises(AssertionError):
        check_sample_next(WRONG_SAMPLES[name])


def test_the_sampler_check_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_sample_next(dalle.sample_next)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------- the rest


def test_not_written_yet_passes_through():
    def stub(*args):
        raise NotImplementedError("Your turn")
    for check in (check_causal_mask, check_causal_attention, check_split_loss, check_sample_next):
        with pytest.raises(NotImplementedError):
            check(stub)


def test_a_non_function_gets_a_clear_error():
    with pytest.raises(TypeError, match="pass your function itself"):
        check_causal_mask(good_mask(3))
