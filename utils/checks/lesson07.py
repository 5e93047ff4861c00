"""Checks for lesson 07 (the mini-DALL·E): the causal mask, masked self-attention, the loss split
into a text and an image part, and drawing the next code with temperature and top-k."""
import math

import torch
import torch.nn.functional as F

from .. import dalle, transformer
from ._core import Case, Mistake, check, difference

__all__ = ["check_causal_mask", "check_causal_attention", "check_split_loss", "check_sample_next"]


# ---------------------------------------------------------------- exercise: the causal mask


def _mask_reference(T):
    return transformer.causal_mask(T)


def _mask_cases():
    return [Case(f"T={T}", (T,)) for T in (1, 2, 3, 5, 12)]


MASK_MISTAKES = [
    Mistake("upper instead of lower triangle", "row i is the query, column j the key: position i may see "
            "j <= i, the lower triangle (torch.tril), not the upper one (the future).",
            lambda T: torch.ones(T, T, dtype=torch.bool).triu()),
    Mistake("diagonal excluded", "a position may attend to itself: keep the diagonal (tril() with the "
            "default diagonal=0, not diagonal=-1).", lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1)),
    Mistake("True/False inverted (True = blocked)", "True must mean 'may attend': the mask is used as "
            "scores.masked_fill(~mask, -inf). Return the lower triangle itself, not its complement.",
            lambda T: ~torch.ones(T, T, dtype=torch.bool).tril()),
    Mistake("float mask instead of bool", "return a bool tensor (dtype=torch.bool, or .bool() at the end): "
            "~mask and masked_fill need True/False, not 1.0/0.0.", lambda T: torch.ones(T, T).tril()),
    Mistake("float mask instead of bool (0 allowed, -inf blocked)", "that additive form is what gets added "
            "to the scores; this function returns the bool mask itself: True where attention is allowed.",
            lambda T: torch.zeros(T, T).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))),
]


def check_causal_mask(fn):
    """Check fn(T) -> (T, T) bool tensor, True where query i may attend to key j (j <= i)."""
    check("causal_mask", fn, _mask_reference, _mask_cases(), MASK_MISTAKES,
          hint="for T=3 the answer is [[T, F, F], [T, T, F], [T, T, T]]: row = query, column = key.")


# ---------------------------------------------------------------- exercise: masked self-attention


def _attention_reference(q, k, v):
    # The fused kernel that utils.transformer.reference_attention checks the course's layer against.
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def _attention_cases():
    g = torch.Generator().manual_seed(7)

    def qkv(b, h, t, d, dtype=torch.float32, scale=1.0):
        return tuple(torch.randn(b, h, t, d, generator=g, dtype=dtype) * (scale if i < 2 else 1.0) for i in range(3))
    return [
        Case("one position (B=1, H=1, T=1, d=4)", qkv(1, 1, 1, 4)),
        Case("B=2, H=3, T=5, d=4", qkv(2, 3, 5, 4)),
        Case("B=1, H=1, T=6, d=16, float64, q and k scaled by 3", qkv(1, 1, 6, 16, torch.float64, 3.0)),
        Case("B=3, H=2, T=9, d=2, q and k scaled by 0.3", qkv(3, 2, 9, 2, scale=0.3)),
    ]


def _value_and_grads(fn, q, k, v):
    """The output and the gradients of a fixed weighted sum of it with respect to q, k and v."""
    q, k, v = (x.clone().requires_grad_() for x in (q, k, v))
    out = fn(q, k, v)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return (out, None, None, None)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    grads = torch.autograd.grad((out * weights).sum(), (q, k, v), allow_unused=True)
    return (out.detach(), *[torch.zeros_like(x) if g is None else g for g, x in zip(grads, (q, k, v))])


def _attention_compare(got, expected):
    if isinstance(got[0], torch.Tensor) and got[1] is None:
        return "the output has no gradient: build it from q, k and v with torch operations (no .detach(), no numpy)"
    return difference(got, expected)


def _scores(q, k, scale):
    return q @ k.transpose(-2, -1) * scale


def _allowed(q):
    return transformer.causal_mask(q.shape[-2])


def _no_mask(q, k, v):
    return _scores(q, k, q.shape[-1] ** -0.5).softmax(-1) @ v


def _mask_after_softmax(q, k, v):
    return (_scores(q, k, q.shape[-1] ** -0.5).softmax(-1) * _allowed(q)) @ v


def _masked_with_zero(q, k, v):
    return _scores(q, k, q.shape[-1] ** -0.5).masked_fill(~_allowed(q), 0.0).softmax(-1) @ v


def _masked(q, k, scale):
    return _scores(q, k, scale).masked_fill(~_allowed(q), float("-inf"))


ATTENTION_MISTAKES = [
    Mistake("no mask (the future is visible)", "set the scores of later keys (j > i) to -inf before the "
            "softmax: scores.masked_fill(~causal_mask(T), float('-inf')).", _no_mask),
    Mistake("mask applied after the softmax", "zeroing weights after the softmax leaves rows that no "
            "longer sum to 1; set the scores to -inf before the softmax instead.", _mask_after_softmax),
    Mistake("masked scores set to 0 instead of -inf", "a score of 0 still gets weight exp(0) in the "
            "softmax; use float('-inf') so the weight is exactly 0.", _masked_with_zero),
    Mistake("not scaled by 1/sqrt(d)", "divide the scores q @ k^T by sqrt(d), d = q.shape[-1], "
            "before the softmax.", lambda q, k, v: _masked(q, k, 1.0).softmax(-1) @ v),
    Mistake("scaled by 1/d instead of 1/sqrt(d)", "divide by the square root of d, math.sqrt(q.shape[-1]).",
            lambda q, k, v: _masked(q, k, 1.0 / q.shape[-1]).softmax(-1) @ v),
    Mistake("softmax over the queries (dim=-2)", "each query's weights over the keys must sum to 1: "
            "softmax(dim=-1), along a row.",
            lambda q, k, v: _masked(q, k, q.shape[-1] ** -0.5).softmax(-2).nan_to_num(0.0) @ v),
    Mistake("the future instead of the past", "mask the upper triangle (keys after the query), keep the "
            "lower one: use ~causal_mask(T) as the places to fill with -inf.",
            lambda q, k, v: _scores(q, k, q.shape[-1] ** -0.5).masked_fill(
                ~_allowed(q).T, float("-inf")).softmax(-1) @ v),
]


def check_causal_attention(fn):
    """Check fn(q, k, v) -> (B, H, T, d): causal scaled dot-product attention.

    q, k, v: (B, H, T, d). Output row i is the softmax over keys j <= i of q_i . k_j / sqrt(d),
    times v.
    """
    check("causal_attention", fn, _attention_reference, _attention_cases(), ATTENTION_MISTAKES,
          probe=_value_and_grads, compare=_attention_compare,
          hint="for T=1 the output is v itself; print the weights (before @ v) for T=3: the upper "
               "triangle must be 0 and every row must sum to 1.")


# ---------------------------------------------------------------- exercise: the split loss


class _GivenLogits:
    """Stands in for a MiniDalle whose forward pass returns the given logits, so that the course's
    own MiniDalle.losses is the reference for a function of (logits, targets)."""

    def __init__(self, text_logits, image_logits):
        self.logits = (text_logits, image_logits)
        self.n_text, self.n_codes = text_logits.shape[-1], image_logits.shape[-1]

    def __call__(self, text, codes):
        return self.logits


def _loss_reference(text_logits, image_logits, text, codes, text_weight):
    out = dalle.MiniDalle.losses(_GivenLogits(text_logits, image_logits), text, codes, text_weight)
    return out["loss"], out["text"], out["image"]


def _loss_cases():
    g = torch.Generator().manual_seed(3)

    def case(label, lengths, text_len, n_text, grid, n_codes, weight, dtype=torch.float32, scale=1.0):
        b = len(lengths)
        text = torch.full((b, text_len), dalle.PAD_ID, dtype=torch.long)
        text[:, 0] = dalle.BOS_ID
        for i, n in enumerate(lengths):   # n words after <bos>, then padding
            text[i, 1:1 + n] = torch.randint(2, n_text, (n,), generator=g)
        codes = torch.randint(n_codes, (b, grid, grid), generator=g)
        text_logits = scale * torch.randn(b, text_len - 1, n_text, generator=g, dtype=dtype)
        image_logits = scale * torch.randn(b, grid * grid, n_codes, generator=g, dtype=dtype)
        return Case(label, (text_logits, image_logits, text, codes, weight))
    return [
        case("batch of 1, 5 words then padding, weight 1/8", [5], 10, 35, 8, 256, 1 / 8),
        case("B=4, captions of 2, 3, 6 and 9 words, weight 1/8", [2, 3, 6, 9], 10, 35, 4, 16, 1 / 8),
        case("B=3, float64, logits scaled by 4, weight 0.5", [1, 4, 2], 6, 12, 3, 7, 0.5, torch.float64, 4.0),
        case("B=2, no padding, weight 0 (image only)", [4, 4], 5, 9, 2, 5, 0.0),
        case("B=5, weight 0.9", [3, 1, 2, 3, 2], 4, 20, 3, 11, 0.9),
    ]


def _loss_probe(fn, text_logits, image_logits, text, codes, text_weight):
    """The three losses and the gradients of the weighted loss with respect to both logits."""
    tl, il = text_logits.clone().requires_grad_(), image_logits.clone().requires_grad_()
    out = fn(tl, il, text, codes, text_weight)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        return {"problem": f"expected a tuple (loss, text_loss, image_loss), got {type(out).__name__}"}
    if not all(isinstance(x, torch.Tensor) for x in out):
        return {"problem": "return three tensors (no .item() or float())"}
    if not all(x.ndim == 0 for x in out):
        return {"problem": f"expected three scalars (0-d tensors), got shapes {[tuple(x.shape) for x in out]}: "
                           "average the cross-entropies"}
    if not out[0].requires_grad:
        return {"problem": "the loss has no gradient: keep it a tensor built from the logits (no .detach())"}
    grads = torch.autograd.grad(out[0], (tl, il), allow_unused=True)
    grads = [torch.zeros_like(x) if gr is None else gr for gr, x in zip(grads, (tl, il))]
    return {"problem": None, "values": tuple(x.detach() for x in out), "grads": tuple(grads)}


def _loss_compare(got, expected):
    if got["problem"]:
        return got["problem"]
    for i, name in enumerate(("loss", "text_loss", "image_loss")):
        problem = difference(got["values"][i], expected["values"][i])
        if problem:
            return f"{name}: {problem}"
    for i, name in enumerate(("text_logits", "image_logits")):
        problem = difference(got["grads"][i], expected["grads"][i])
        if problem:
            return f"the gradient of loss with respect to {name}: {problem}"
    return None


def _ce_text(text_logits, targets, **kw):
    return F.cross_entropy(text_logits.reshape(-1, text_logits.shape[-1]), targets.reshape(-1), **kw)


def _ce_image(image_logits, codes):
    return F.cross_entropy(image_logits.reshape(-1, image_logits.shape[-1]), codes.reshape(-1))


def _combine(text_loss, image_loss, w):
    return w * text_loss + (1 - w) * image_loss, text_loss, image_loss


def _padding_counted(tl, il, text, codes, w):
    return _combine(_ce_text(tl, text[:, 1:]), _ce_image(il, codes), w)


def _not_shifted(tl, il, text, codes, w):
    return _combine(_ce_text(tl, text[:, :-1], ignore_index=dalle.PAD_ID), _ce_image(il, codes), w)


def _weights_swapped(tl, il, text, codes, w):
    loss, t, i = _loss_reference(tl, il, text, codes, w)
    return (1 - w) * t + w * i, t, i


def _summed(tl, il, text, codes, w):
    loss, t, i = _loss_reference(tl, il, text, codes, w)
    return t + i, t, i


def _padding_zeroed_but_counted(tl, il, text, codes, w):
    targets = text[:, 1:]
    per_word = _ce_text(tl, targets, reduction="none")
    keep = (targets.reshape(-1) != dalle.PAD_ID).to(per_word.dtype)
    return _combine((per_word * keep).mean(), _ce_image(il, codes), w)


def _codes_by_column(tl, il, text, codes, w):
    return _loss_reference(tl, il, text, codes.transpose(-2, -1), w)


LOSS_MISTAKES = [
    Mistake("padding counted as words", "<pad> is not a word to predict: pass ignore_index=dalle.PAD_ID "
            "to F.cross_entropy for the text part.", _padding_counted),
    Mistake("padding zeroed but still counted in the mean", "average over the real words only: "
            "F.cross_entropy(..., ignore_index=dalle.PAD_ID) does that for you.", _padding_zeroed_but_counted),
    Mistake("text targets not shifted", "text_logits[:, t] predicts the NEXT word, text[:, t + 1]: the "
            "targets are text[:, 1:].", _not_shifted),
    Mistake("weights swapped", "text_weight multiplies the text loss and 1 - text_weight the image loss.",
            _weights_swapped),
    Mistake("losses summed, not weighted", "loss = text_weight * text_loss + (1 - text_weight) * image_loss.",
            _summed),
    Mistake("codes read column by column", "the image tokens are in raster order, row by row: "
            "codes.reshape(B, -1) (or codes.flatten(1)), no transpose.", _codes_by_column),
]


def check_split_loss(fn):
    """Check fn(text_logits, image_logits, text, codes, text_weight) -> (loss, text_loss, image_loss).

    text_logits: (B, L-1, n_text), predicting text[:, 1:]; image_logits: (B, G*G, n_codes), predicting
    the codes in raster order; text: (B, L) word ids padded with dalle.PAD_ID; codes: (B, G, G).
    """
    check("split_loss", fn, _loss_reference, _loss_cases(), LOSS_MISTAKES, probe=_loss_probe,
          compare=_loss_compare,
          hint="check one caption by hand: its text loss is the mean of -log softmax(text_logits[0, t])"
               "[text[0, t + 1]] over the positions whose target is a real word.")


# ---------------------------------------------------------------- exercise: drawing the next code
# A sampler is random, so its draws are not compared one by one (a right answer may use the
# generator differently from the course's). Each case repeats a few logit rows thousands of times
# and compares how often each id is drawn, within DRAW_TOLERANCE: at 6 000 draws the share of an
# id drawn by two right samplers differs with a standard deviation of at most 0.009 (5.5 of them
# fit in the tolerance), while a wrong temperature moves some share by 0.14 or more in these cases. It also compares whether an id
# outside the top k was ever drawn (impossible for a right answer), and whether the same seeded
# generator gives the same draws.

DRAWS = 6_000
DRAW_TOLERANCE = 0.05


def _sample_reference(logits, temperature, top_k, generator):
    return dalle.sample_next(logits, temperature, top_k, generator)


def _sample_cases():
    g = torch.Generator().manual_seed(11)
    spread = torch.tensor([[2.0, 1.4, 1.0, 0.6, 0.3, 0.0, -0.4, -0.8],
                           [0.0, 0.9, -0.5, 1.6, 0.4, -1.0, 1.2, 0.2],
                           [-0.6, -0.2, 0.2, 0.6, 1.0, 1.4, 1.8, 2.2]])   # no ties: top-k is unambiguous

    def rows(base, reps=DRAWS, dtype=torch.float32):
        return base.to(dtype).repeat_interleave(reps, dim=0)
    wide = torch.randn(1, 32, generator=g) * 0.3   # a codebook-like row: many ids, none rare
    return [
        Case("one row, top_k=1 (greedy)", (rows(spread[1:2], 1), 1.0, 1)),
        Case("one row, temperature 0.001 (about greedy)", (rows(spread[2:3], 1), 1e-3, None)),
        Case(f"3 rows x {DRAWS} draws, temperature 1, no top-k", (rows(spread), 1.0, None)),
        Case(f"3 rows x {DRAWS} draws, temperature 0.5, top_k=3", (rows(spread), 0.5, 3)),
        Case(f"3 rows x {DRAWS} draws, logits + 200 (no overflow), temperature 2, top_k=8 (all)",
             (rows(spread + 200), 2.0, 8)),
        Case(f"2 rows x {DRAWS} draws, float64, logits x 2, temperature 1.5, top_k=5",
             (rows(spread[:2] * 2, dtype=torch.float64), 1.5, 5)),
        Case(f"32 ids x {DRAWS} draws, temperature 1, top_k=8", (rows(wide), 1.0, 8)),
    ]


def _sample_probe(fn, logits, temperature, top_k):
    """Summary of fn's draws: per distinct row, the share of draws of each id; how many draws fell
    outside the top k; and whether the same seed gives the same draws."""
    starts = torch.ones(len(logits), dtype=torch.bool)       # where a new distinct row begins
    starts[1:] = (logits[1:] != logits[:-1]).any(-1)
    distinct, row_of = logits[starts], starts.cumsum(0) - 1
    allowed = dalle.top_k_filter(distinct.float(), top_k) > float("-inf")   # (R, V)
    few = logits[:500].clone()   # enough rows to see whether the generator decides the draws
    with torch.random.fork_rng(devices=[]):   # leave the learner's own random state alone
        torch.manual_seed(1)
        ids = fn(logits, temperature, top_k, torch.Generator().manual_seed(0))
        torch.manual_seed(2)
        first = fn(few, temperature, top_k, torch.Generator().manual_seed(5))
        torch.manual_seed(3)
        again = fn(few, temperature, top_k, torch.Generator().manual_seed(5))
    n = len(logits)
    if not isinstance(ids, torch.Tensor):
        return {"problem": f"expected a tensor of ids, got {type(ids).__name__} (return a torch tensor)"}
    if ids.shape != (n,):
        return {"problem": f"expected shape ({n},), one id per row of logits, got {tuple(ids.shape)}"}
    if ids.dtype != torch.long:
        return {"problem": f"expected dtype torch.int64 (ids), got {ids.dtype}"}
    ids = ids.cpu()
    if ids.min() < 0 or ids.max() >= logits.shape[-1]:
        return {"problem": f"ids must lie in 0..{logits.shape[-1] - 1}, got {ids.min().item()}..{ids.max().item()}"}
    counts = torch.zeros(distinct.shape, dtype=torch.float64)
    counts.index_put_((row_of.cpu(), ids), torch.ones(n, dtype=torch.float64), accumulate=True)
    return {"problem": None, "share": counts / counts.sum(-1, keepdim=True),
            "outside": int((~allowed.cpu())[row_of.cpu(), ids].sum()),
            "same_seed_same_draws": isinstance(again, torch.Tensor) and torch.equal(again, first)}


def _sample_compare(got, expected):
    if got["problem"]:
        return got["problem"]
    if expected["problem"]:
        return "no problem expected here"
    if (got["outside"] > 0) != (expected["outside"] > 0):
        return (f"{got['outside']} draws were ids outside the top k (keep exactly the k largest logits)"
                if got["outside"] else "expected some draws outside the top k")
    if got["same_seed_same_draws"] != expected["same_seed_same_draws"]:
        return ("two calls with generators seeded alike gave different ids: draw with the generator "
                "(torch.multinomial(probs, 1, generator=generator))")
    gap = (got["share"] - expected["share"]).abs().max().item()
    if gap > DRAW_TOLERANCE:
        row, col = divmod(int((got["share"] - expected["share"]).abs().argmax()), got["share"].shape[1])
        return (f"id {col} (row {row}) was drawn {got['share'][row, col]:.1%} of the time, expected about "
                f"{expected['share'][row, col]:.1%}")
    return None


def _argmax(logits, temperature, top_k, generator):
    return logits.argmax(-1)


def _temperature_multiplied(logits, temperature, top_k, generator):
    return dalle.sample_next(logits * temperature * temperature, temperature, top_k, generator)


def _temperature_ignored(logits, temperature, top_k, generator):
    return dalle.sample_next(logits, 1.0, top_k, generator)


def _top_k_plus_one(logits, temperature, top_k, generator):
    keep = top_k if top_k is None or top_k == logits.shape[-1] else top_k + 1
    return dalle.sample_next(logits, temperature, keep, generator)


def _generator_ignored(logits, temperature, top_k, generator):
    return dalle.sample_next(logits, temperature, top_k, None)


SAMPLE_MISTAKES = [
    Mistake("always the most likely id (argmax)", "draw from the distribution instead: "
            "torch.multinomial(probs, 1, generator=generator); only top_k=1 (or a tiny temperature) is greedy.",
            _argmax),
    Mistake("temperature multiplies the logits", "divide the logits by the temperature: below 1 sharpens, "
            "above 1 flattens.", _temperature_multiplied),
    Mistake("temperature ignored", "divide the LOGITS by the temperature before the softmax (dividing the "
            "probabilities changes nothing once they are normalised).", _temperature_ignored),
    Mistake("top-k keeps k+1 ids (off by one)", "the k-th largest logit is logits.topk(k).values[..., -1:]; "
            "mask everything below it.", _top_k_plus_one),
    Mistake("the generator is not used", "pass it on: torch.multinomial(probs, 1, generator=generator), so "
            "the same seed gives the same picture.", _generator_ignored),
]


def check_sample_next(fn):
    """Check fn(logits, temperature, top_k, generator) -> (n,) long: one id per row of (n, V) logits,
    drawn from softmax(logits / temperature) restricted to the top_k largest logits (None: all)."""
    check("sample_next", fn, _sample_reference, _sample_cases(), SAMPLE_MISTAKES, probe=_sample_probe,
          compare=_sample_compare,
          hint="with top_k=1 every row must give its argmax; with temperature 1 and no top-k the share of "
               "each id must approach logits.softmax(-1).")
