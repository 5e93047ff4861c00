"""Checks for lesson 02 (training a tiny CLIP): tokenising captions, the learning-rate schedule,
one training step, and zero-shot accuracy from features."""
import copy
import math

import clip
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import train_clip
from ..losses import clip_loss
from ..zeroshot import accuracy
from ._core import Case, Mistake, check, difference

__all__ = ["check_tokenize", "check_lr_at", "check_train_step", "check_zero_shot_accuracy"]


# ---------------------------------------------------------------- 1. tokenising captions

_BPE = clip.clip._tokenizer          # the byte-pair encoder clip.tokenize uses
_SOT = _BPE.encoder["<|startoftext|>"]
_EOT = _BPE.encoder["<|endoftext|>"]


def _tokenize_reference(texts, context_length):
    return clip.tokenize(texts, context_length=context_length, truncate=True)


def _caption_of(n_words):
    """A caption of exactly n_words BPE tokens (each of these words is one token)."""
    words = "a photo of a small red star on the left on a dark grey background there is".split()
    return " ".join((words * 4)[:n_words])


def _tokenize_cases():
    assert len(_BPE.encode(_caption_of(14))) == 14   # the cases below rely on one token per word
    return [
        Case("one caption, context 16", (["a photo of a red circle"], 16)),
        Case("captions of different lengths, context 16",
             (["a red star", "a small blue square on the right", "a photo of a green triangle"], 16)),
        Case("a caption that fills context 16 exactly", ([_caption_of(14), "a circle"], 16)),
        Case("a caption one token too long", ([_caption_of(15)], 16)),
        Case("long captions, context 8", ([_caption_of(12), "a star", _caption_of(7)], 8)),
        Case("capitals and punctuation, context 77", (["A RED Star!", "there is a blue square, on the left."], 77)),
        Case("an empty caption", (["", "a square"], 6)),
    ]


def _tokens_with(texts, context_length, make):
    """Pad each row that make(encoded words) returns with zeros to the context length."""
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, text in enumerate(texts):
        row = make(_BPE.encode(text))[:context_length]
        out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def _no_start(texts, n):
    return _tokens_with(texts, n, lambda w: w[:n - 1] + [_EOT])


def _no_end(texts, n):
    return _tokens_with(texts, n, lambda w: [_SOT] + w)


def _end_cut_off(texts, n):
    return _tokens_with(texts, n, lambda w: [_SOT] + w + [_EOT])   # [:n] cuts the end token away


def _cut_at_the_front(texts, n):
    return _tokens_with(texts, n, lambda w: [_SOT] + w[max(0, len(w) - (n - 2)):] + [_EOT])


def _padded_with_end(texts, n):
    tokens = _tokenize_reference(texts, n)
    return torch.where(tokens == 0, torch.full_like(tokens, _EOT), tokens)


TOKENIZE_MISTAKES = [
    Mistake("no start token", f"every row begins with the start-of-text token ({_SOT}).", _no_start),
    Mistake("no end token", f"put the end-of-text token ({_EOT}) after the caption's tokens: CLIP's "
            "text tower reads its output at that position (the largest id in the row).", _no_end),
    Mistake("end token cut off when truncating", f"when a caption is too long, keep the first "
            f"context_length tokens and make the last of them the end token ({_EOT}), or the text "
            "tower reads its output at the wrong position.", _end_cut_off),
    Mistake("caption cut at the wrong end", "keep the beginning of a long caption and drop its end "
            "(as clip.tokenize(..., truncate=True) does).", _cut_at_the_front),
    Mistake("padded with the end token", "pad the rest of the row with zeros, not with the end token.",
            _padded_with_end),
]


def _compare_tokens(got, expected):
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype != expected.dtype:
        return f"expected dtype {expected.dtype}, got {got.dtype}: token ids are int64 (torch.long), as clip.tokenize returns"
    return difference(got, expected)


def check_tokenize(fn):
    """Check fn(texts, context_length) -> int64 tensor (N, context_length), as
    clip.tokenize(texts, context_length, truncate=True) returns."""
    check("tokenize", fn, _tokenize_reference, _tokenize_cases(), TOKENIZE_MISTAKES, compare=_compare_tokens,
          hint="print your row and clip.tokenize's for the case above, side by side.")


# ---------------------------------------------------------------- 2. the learning-rate schedule

def _lr_cases():
    return [
        Case("100 steps, 5 % warm-up, lr 1e-3", (100, 1e-3, 0.05)),
        Case("a run of 1 step", (1, 0.5, 0.05)),
        Case("10 steps, no warm-up", (10, 1.0, 0.0)),
        Case("117 steps, 5 % warm-up (5.85 steps)", (117, 3e-4, 0.05)),
        Case("40 steps, half of them warm-up, lr 2", (40, 2.0, 0.5)),
        Case("8 steps, all warm-up", (8, 1e-2, 1.0)),
    ]


def _every_step(fn, total, lr, warmup):
    """The learning rate of every step of a run, as a float64 tensor (total,)."""
    rates = []
    for step in range(total):
        rate = fn(step, total, lr, warmup)
        if isinstance(rate, torch.Tensor) or not isinstance(rate, (int, float)):
            raise AssertionError(f"lr_at: return a Python float (the optimizer's group['lr']), got "
                                 f"{type(rate).__name__} for step {step} of {total}")
        rates.append(float(rate))
    return torch.tensor(rates, dtype=torch.float64)


def _warm(total, warmup):
    return max(1, int(total * warmup))


def _cosine(step, total, lr, warm):
    return lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def _warmup_from_zero(step, total, lr, warmup):
    warm = _warm(total, warmup)
    return lr * step / warm if step < warm else _cosine(step, total, lr, warm)


def _no_warmup(step, total, lr, warmup):
    return _cosine(step, total, lr, 0)


def _cosine_over_whole_run(step, total, lr, warmup):
    warm = _warm(total, warmup)
    return lr * (step + 1) / warm if step < warm else lr * 0.5 * (1 + math.cos(math.pi * step / total))


def _full_cosine(step, total, lr, warmup):
    warm = _warm(total, warmup)
    return lr * (step + 1) / warm if step < warm else lr * math.cos(math.pi * (step - warm) / max(1, total - warm))


def _rounded_warmup(step, total, lr, warmup):
    warm = max(1, round(total * warmup))
    return lr * (step + 1) / warm if step < warm else _cosine(step, total, lr, warm)


LR_MISTAKES = [
    Mistake("warm-up starts at zero", "step 0 should already train: the warm-up rate of step s is "
            "lr * (s + 1) / warm, so that step warm - 1 reaches lr.", _warmup_from_zero),
    Mistake("no warm-up", "ramp the rate up linearly over the first max(1, int(total * warmup)) steps "
            "before the cosine starts.", _no_warmup),
    Mistake("cosine over the whole run", "the cosine starts after the warm-up: its progress is "
            "(step - warm) / (total - warm), so it begins at lr, not below it.", _cosine_over_whole_run),
    Mistake("full cosine (the rate goes negative)", "use half a cosine from lr down to 0: "
            "lr * 0.5 * (1 + cos(pi * progress)).", _full_cosine),
    Mistake("warm-up length rounded", "the number of warm-up steps is int(total * warmup) (rounded "
            "down), at least 1.", _rounded_warmup),
]


def check_lr_at(fn):
    """Check fn(step, total, lr, warmup) -> float against train_clip.lr_at, on every step of
    several runs."""
    check("lr_at", fn, train_clip.lr_at, _lr_cases(), LR_MISTAKES, probe=_every_step,
          hint="print your rate and train_clip.lr_at's for the first and last steps of that run.")


# ---------------------------------------------------------------- 3. one training step

class ToyCLIP(nn.Module):
    """A stand-in with CLIP's interface (encode_image, encode_text, logit_scale), small enough to
    check a training step in milliseconds. Images (B, 3, 4, 4), tokens (B, L) below `vocab`."""

    def __init__(self, dim=6, vocab=12, log_scale=math.log(1 / 0.07), seed=0, dtype=torch.float32):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.visual = nn.Linear(48, dim, dtype=dtype)
        self.token_embedding = nn.Embedding(vocab, dim, dtype=dtype)
        self.text_projection = nn.Parameter(torch.empty(dim, dim, dtype=dtype))
        self.logit_scale = nn.Parameter(torch.tensor(float(log_scale), dtype=dtype))
        with torch.no_grad():
            for p in (self.visual.weight, self.visual.bias, self.token_embedding.weight, self.text_projection):
                p.copy_(torch.randn(p.shape, generator=g, dtype=dtype) / math.sqrt(p.shape[-1]))

    def encode_image(self, images):
        return torch.tanh(self.visual(images.flatten(1)))          # (B, dim)

    def encode_text(self, tokens):
        return self.token_embedding(tokens).mean(1) @ self.text_projection  # (B, dim)


def _step_case(label, batch, optimizer, seed, log_scale=math.log(1 / 0.07), dtype=torch.float32,
               repeats=False, lr=0.05):
    g = torch.Generator().manual_seed(100 + seed)
    model = ToyCLIP(log_scale=log_scale, seed=seed, dtype=dtype)
    opt = (torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.1)
           if optimizer == "AdamW" else torch.optim.SGD(model.parameters(), lr=lr))
    images = torch.randn(batch, 3, 4, 4, generator=g, dtype=dtype)
    tokens = torch.randint(1, 12, (batch, 5), generator=g)
    if repeats:    # like the colourless pairs of a batch: some rows share a caption
        tokens[1::2] = tokens[0]
    return Case(label, (model, opt, images, tokens))


def _step_cases():
    cap = math.log(100)
    return [
        _step_case("B=6, AdamW, some captions repeated", 6, "AdamW", 0, repeats=True),
        _step_case("batch of 1", 1, "AdamW", 1),
        _step_case("B=4, float64, SGD", 4, "SGD", 2, dtype=torch.float64, lr=0.5),
        _step_case("B=5, logit_scale above the cap (4.8 > log 100)", 5, "AdamW", 3, log_scale=4.8),
        _step_case("B=5, logit_scale just below the cap, SGD", 5, "SGD", 4, log_scale=cap - 1e-3, lr=2.0),
        _step_case("B=3, logit_scale below 0", 3, "SGD", 5, log_scale=-0.5, lr=0.1),
    ]


def _after_one_step(fn, model, optimizer, images, tokens):
    """Run fn once, with stale gradients left in the model as a previous step would leave them:
    (the value fn returned, every parameter after the step)."""
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.3)
    try:
        out = fn(model, optimizer, images, tokens)
    except RuntimeError as e:
        if "leaf Variable" not in str(e):
            raise
        raise AssertionError("train_step: changing model.logit_scale in place needs torch.no_grad(): "
                             "clamp it inside `with torch.no_grad():`, after optimizer.step().") from e
    return (out, *[p.detach().clone() for p in model.parameters()])


def _compare_steps(got, expected):
    loss = got[0]
    if isinstance(loss, torch.Tensor) or not isinstance(loss, float):
        return (f"return the loss as a Python float (loss.item()), got {type(loss).__name__}"
                if loss is not None else "return the loss (loss.item()); your function returned None")
    problem = difference(torch.tensor(loss, dtype=torch.float64), torch.tensor(expected[0], dtype=torch.float64),
                         rtol=1e-5, atol=1e-6)
    if problem:
        return f"the loss: {problem}"
    names = ["visual.weight", "visual.bias", "token_embedding.weight", "text_projection", "logit_scale"]
    for name, g, e in zip(names, got[1:], expected[1:]):
        problem = difference(g, e)
        if problem:
            return f"the weights after the step ({name}): {problem}"
    return None


def _step_with(loss_of, clamp=(0, math.log(100)), order=("zero", "backward", "step", "clamp")):
    """A training step built from parts, for the known mistakes."""
    def step(model, optimizer, images, tokens):
        image_features = model.encode_image(images)
        text_features = model.encode_text(tokens)
        loss = loss_of(model, image_features, text_features)
        for part in order:
            if part == "zero":
                optimizer.zero_grad()
            elif part == "backward":
                loss.backward()
            elif part == "step":
                optimizer.step()
            elif part == "clamp" and clamp is not None:
                with torch.no_grad():
                    model.logit_scale.clamp_(*clamp)
        return loss.item()
    return step


def _right_loss(model, i, t):
    return clip_loss(F.normalize(i, dim=-1), F.normalize(t, dim=-1), model.logit_scale.exp())


STEP_MISTAKES = [
    Mistake("features not normalised", "divide both feature matrices by their row lengths before "
            "clip_loss, so the similarities are cosines.",
            _step_with(lambda m, i, t: clip_loss(i, t, m.logit_scale.exp()))),
    Mistake("temperature not exponentiated", "model.logit_scale is the log of the multiplier: pass "
            "model.logit_scale.exp() to clip_loss.",
            _step_with(lambda m, i, t: clip_loss(F.normalize(i, dim=-1), F.normalize(t, dim=-1), m.logit_scale))),
    Mistake("temperature detached", "keep model.logit_scale.exp() a tensor (no .item(), no float()): "
            "the temperature is learned, so the loss must reach it.",
            _step_with(lambda m, i, t: clip_loss(F.normalize(i, dim=-1), F.normalize(t, dim=-1),
                                                 m.logit_scale.exp().item()))),
    Mistake("gradients not reset", "call optimizer.zero_grad() before loss.backward(): otherwise the "
            "gradients of earlier steps are added to this one's.",
            _step_with(_right_loss, order=("backward", "step", "clamp"))),
    Mistake("the update does not use this batch's gradients", "the order is optimizer.zero_grad(), "
            "loss.backward(), optimizer.step().", _step_with(_right_loss, order=("backward", "zero", "step", "clamp"))),
    Mistake("temperature not clamped", "after optimizer.step(), clamp model.logit_scale in place to "
            "[0, log(100)] inside torch.no_grad().", _step_with(_right_loss, clamp=None)),
    Mistake("clamped at 100 instead of log(100)", "logit_scale is a logarithm: the cap of 100 on the "
            "multiplier is log(100) = 4.6 on logit_scale.", _step_with(_right_loss, clamp=(0, 100))),
    Mistake("clamped before the update", "clamp after optimizer.step(), so the weights the next step "
            "sees are within the cap.", _step_with(_right_loss, order=("zero", "backward", "clamp", "step"))),
]


def check_train_step(fn):
    """Check fn(model, optimizer, images, tokens) -> float against train_clip.train_step: the loss
    it returns and every weight after the step, on a small stand-in model (ToyCLIP)."""
    check("train_step", fn, train_clip.train_step, _step_cases(), STEP_MISTAKES, probe=_after_one_step,
          compare=_compare_steps)


# ---------------------------------------------------------------- 4. zero-shot accuracy

def _zero_shot_reference(image_features, text_features, labels):
    scores = F.normalize(image_features, dim=-1) @ F.normalize(text_features, dim=-1).T   # (N, C)
    return accuracy(scores, labels)


def _zero_shot_cases():
    g = torch.Generator().manual_seed(2)

    def make(n, c, d, dtype=torch.float32, image_scale=1.0):
        text = torch.randn(c, d, generator=g, dtype=dtype)
        text = text * (0.2 + 4.8 * torch.rand(c, 1, generator=g, dtype=dtype))   # very different lengths
        labels = torch.randint(c, (n,), generator=g)
        # Images near their class's direction, some far from it: the accuracy is neither 0 nor 1.
        images = F.normalize(text[labels], dim=-1) + 1.8 * torch.randn(n, d, generator=g, dtype=dtype) / math.sqrt(d)
        images = images * image_scale * (0.5 + torch.rand(n, 1, generator=g, dtype=dtype))
        return images, text, labels

    return [
        Case("N=40 images, C=6 classes, D=8", make(40, 6, 8)),
        Case("batch of 1", make(1, 3, 4)),
        Case("N=25, C=24, D=16, float64", make(25, 24, 16, torch.float64)),
        Case("N=30, C=5, D=3, image features x100", make(30, 5, 3, image_scale=100.0)),
        Case("N=12, C=12, D=5", make(12, 12, 5)),
    ]


def _compare_accuracy(got, expected):
    if isinstance(got, torch.Tensor) or not isinstance(got, float):
        return f"return the accuracy as a Python float (e.g. .item()), got {type(got).__name__}"
    return difference(torch.tensor(got), torch.tensor(expected))


def _text_not_normalised(i, t, y):
    return accuracy(F.normalize(i, dim=-1) @ t.T, y)


def _least_similar(i, t, y):
    return accuracy(-(F.normalize(i, dim=-1) @ F.normalize(t, dim=-1).T), y)


def _percentage(i, t, y):
    return 100 * _zero_shot_reference(i, t, y)


def _count(i, t, y):
    return float(round(len(y) * _zero_shot_reference(i, t, y)))


ZERO_SHOT_MISTAKES = [
    Mistake("class embeddings not normalised", "normalise the text features too: otherwise a class "
            "whose prompt embedding is longer wins more often.", _text_not_normalised),
    Mistake("least similar class picked", "predict the class with the highest cosine similarity "
            "(argmax), not the lowest.", _least_similar),
    Mistake("a percentage, not a fraction", "return the fraction correct, between 0 and 1.", _percentage),
    Mistake("a count, not a fraction", "divide the number correct by the number of images (or take "
            "the mean of the correct/incorrect values).", _count),
]


def check_zero_shot_accuracy(fn):
    """Check fn(image_features (N, D), text_features (C, D), labels (N,)) -> float: the fraction of
    images whose most similar class (cosine similarity) is their label."""
    check("zero_shot_accuracy", fn, _zero_shot_reference, _zero_shot_cases(), ZERO_SHOT_MISTAKES,
          compare=_compare_accuracy, hint="compare your predicted classes with the labels for that case.")
