"""The checks of lesson 02 accept the reference (and other right answers) and reject every wrong
answer, naming the known ones."""
import math
import re

import clip
import pytest
import torch
import torch.nn.functional as F

from utils import train_clip
from utils.checks import check_lr_at, check_tokenize, check_train_step, check_zero_shot_accuracy
from utils.checks import lesson02
from utils.losses import clip_loss

BPE = clip.simple_tokenizer.SimpleTokenizer()
SOT, EOT = BPE.encoder["<|startoftext|>"], BPE.encoder["<|endoftext|>"]


# ---------------------------------------------------------------- right answers

def good_tokenize(texts, context_length):
    return clip.tokenize(texts, context_length=context_length, truncate=True)


def loop_tokenize(texts, context_length):
    """Cut the words first, then frame them: the same rows as clip.tokenize."""
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = [SOT] + BPE.encode(text)[:context_length - 2] + [EOT]
        out[i, :len(ids)] = torch.tensor(ids)
    return out


def good_step(model, optimizer, images, tokens):
    """The step as a learner may write it: F.normalize, every caption encoded, zero_grad()."""
    i = F.normalize(model.encode_image(images), dim=-1)
    t = F.normalize(model.encode_text(tokens), dim=-1)
    loss = clip_loss(i, t, model.logit_scale.exp())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        model.logit_scale.data = model.logit_scale.data.clamp(0, math.log(100))
    return float(loss.detach())


def good_lr(step, total, lr, warmup):
    warm = max(1, int(total * warmup))
    if step < warm:
        return lr * (step + 1) / warm
    return lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))) / 2


def good_accuracy(image_features, class_features, labels):
    sims = F.cosine_similarity(image_features[:, None], class_features[None], dim=-1)   # (N, C)
    return (sims.argmax(dim=1) == labels).sum().item() / len(labels)


def test_references_are_accepted(capsys):
    check_tokenize(good_tokenize)
    check_lr_at(train_clip.lr_at)
    check_train_step(train_clip.train_step)
    check_zero_shot_accuracy(lesson02._zero_shot_reference)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("✔") for line in lines)


def test_other_right_answers_are_accepted(capsys):
    check_tokenize(loop_tokenize)
    check_lr_at(good_lr)
    check_train_step(good_step)
    check_zero_shot_accuracy(good_accuracy)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("✔") for line in lines)


# ---------------------------------------------------------------- named mistakes

@pytest.mark.parametrize("check, mistakes", [
    (check_tokenize, lesson02.TOKENIZE_MISTAKES),
    (check_lr_at, lesson02.LR_MISTAKES),
    (check_train_step, lesson02.STEP_MISTAKES),
    (check_zero_shot_accuracy, lesson02.ZERO_SHOT_MISTAKES),
], ids=["tokenize", "lr_at", "train_step", "zero_shot_accuracy"])
def test_named_mistakes_are_rejected_by_name(check, mistakes):
    assert len(mistakes) >= 2
    for mistake in mistakes:
        with pytest.raises(AssertionError, match=re.escape(f"looks like '{mistake.name}'")):
            check(mistake.fn)


# ---------------------------------------------------------------- other wrong answers

def _cuts_one_word_too_many(texts, context_length):
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = [SOT] + BPE.encode(text)[:context_length - 3] + [EOT]
        out[i, :len(ids)] = torch.tensor(ids)
    return out


WRONG_TOKENIZERS = {
    "int32 ids": lambda texts, n: good_tokenize(texts, n).int(),
    "one row too few (off by one)": lambda texts, n: good_tokenize(texts, n)[:-1],
    "context length off by one": lambda texts, n: good_tokenize(texts, n + 1)[:, :n],
    "padded with -1": lambda texts, n: torch.where(good_tokenize(texts, n) == 0, -1, good_tokenize(texts, n)),
    "the default context of 77": lambda texts, n: good_tokenize(texts, 77),
    "returns a list": lambda texts, n: good_tokenize(texts, n).tolist(),
    "cuts one word too many": _cuts_one_word_too_many,
}


@pytest.mark.parametrize("name", WRONG_TOKENIZERS)
def test_wrong_tokenizers_are_rejected(name):
    with pytest.raises(AssertionError):
        check_tokenize(WRONG_TOKENIZERS[name])


WRONG_RATES = {
    "returns a tensor": lambda s, t, lr, w: torch.tensor(train_clip.lr_at(s, t, lr, w)),
    "no max(1, ...) on the warm-up": lambda s, t, lr, w: (
        lr * (s + 1) / int(t * w) if s < int(t * w) else
        lr * (1 + math.cos(math.pi * (s - int(t * w)) / max(1, t - int(t * w)))) / 2),
    "cosine off by one step": lambda s, t, lr, w: train_clip.lr_at(s + 1, t, lr, w) if s >= max(1, int(t * w)) else train_clip.lr_at(s, t, lr, w),
    "linear decay instead of cosine": lambda s, t, lr, w: (
        train_clip.lr_at(s, t, lr, w) if s < max(1, int(t * w)) else
        lr * (1 - (s - max(1, int(t * w))) / max(1, t - max(1, int(t * w))))),
    "decays to a floor of lr / 10": lambda s, t, lr, w: max(train_clip.lr_at(s, t, lr, w), lr / 10),
    "the step count from 1": lambda s, t, lr, w: train_clip.lr_at(s + 1, t, lr, w) if s + 1 < t else 0.0,
}


@pytest.mark.parametrize("name", WRONG_RATES)
def test_wrong_schedules_are_rejected(name):
    with pytest.raises(AssertionError):
        check_lr_at(WRONG_RATES[name])


def _step_returning(transform):
    def step(model, optimizer, images, tokens):
        return transform(train_clip.train_step(model, optimizer, images, tokens), model, optimizer, images, tokens)
    return step


def _one_direction_step(model, optimizer, images, tokens):
    i = F.normalize(model.encode_image(images), dim=-1)
    t = F.normalize(model.encode_text(tokens), dim=-1)
    loss = F.cross_entropy(model.logit_scale.exp() * i @ t.T, torch.arange(len(i)))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))
    return loss.item()


def _returns_tensor(model, optimizer, images, tokens):
    train_clip.train_step(model, optimizer, images, tokens)
    i = F.normalize(model.encode_image(images), dim=-1)
    return clip_loss(i, F.normalize(model.encode_text(tokens), dim=-1), model.logit_scale.exp())


def _images_changed_in_place(model, optimizer, images, tokens):
    loss = train_clip.train_step(model, optimizer, images, tokens)
    images.mul_(2)
    return loss


def _two_steps(model, optimizer, images, tokens):
    loss = train_clip.train_step(model, optimizer, images, tokens)
    train_clip.train_step(model, optimizer, images, tokens)
    return loss


def _clamp_without_no_grad(model, optimizer, images, tokens):
    loss = lesson02._step_with(lesson02._right_loss, clamp=None)(model, optimizer, images, tokens)
    model.logit_scale.clamp_(0, math.log(100))   # RuntimeError: in-place change of a leaf that needs grad
    return loss


def _float32_for_float64(model, optimizer, images, tokens):
    model.float()
    return train_clip.train_step(model, optimizer, images.float(), tokens)


WRONG_STEPS = {
    "returns the loss tensor": _returns_tensor,
    "returns nothing": _step_returning(lambda loss, *_: None),
    "two steps": _two_steps,
    "image->text direction only": _one_direction_step,
    "changes the images in place": _images_changed_in_place,
    "float32 for float64 input": _float32_for_float64,
    "clamp without no_grad": _clamp_without_no_grad,
}


@pytest.mark.parametrize("name", WRONG_STEPS)
def test_wrong_steps_are_rejected(name):
    with pytest.raises(AssertionError):
        check_train_step(WRONG_STEPS[name])


def _normalised_in_place(image_features, class_features, labels):
    image_features /= image_features.norm(dim=-1, keepdim=True)
    class_features /= class_features.norm(dim=-1, keepdim=True)
    return ((image_features @ class_features.T).argmax(1) == labels).float().mean().item()


WRONG_ACCURACIES = {
    "returns a 0-d tensor": lambda i, t, y: torch.tensor(lesson02._zero_shot_reference(i, t, y)),
    "changes its inputs in place": _normalised_in_place,
    "argmax over the classes axis of the wrong matrix": lambda i, t, y: (
        (F.normalize(i, dim=-1) @ F.normalize(t, dim=-1).T).argmax(0) == y).float().mean().item(),
    "off by one: the last image left out": lambda i, t, y: lesson02._zero_shot_reference(i[:-1], t, y[:-1])
    if len(y) > 1 else 0.5,
    "labels shifted by one": lambda i, t, y: lesson02._zero_shot_reference(i, t, (y + 1) % len(t)),
    "error rate instead of accuracy": lambda i, t, y: 1 - lesson02._zero_shot_reference(i, t, y),
    "euclidean distance of raw features": lambda i, t, y: (torch.cdist(i, t).argmin(1) == y).float().mean().item(),
}


@pytest.mark.parametrize("name", WRONG_ACCURACIES)
def test_wrong_accuracies_are_rejected(name):
    with pytest.raises(AssertionError):
        check_zero_shot_accuracy(WRONG_ACCURACIES[name])


# ---------------------------------------------------------------- the check machinery

@pytest.mark.parametrize("check", [check_tokenize, check_lr_at, check_train_step, check_zero_shot_accuracy])
def test_not_written_yet_passes_through(check):
    def stub(*args):
        raise NotImplementedError("Your turn")
    with pytest.raises(NotImplementedError):
        check(stub)


def test_a_non_function_gets_a_clear_error():
    with pytest.raises(TypeError, match="pass your function itself"):
        check_lr_at(train_clip.lr_at(0, 10, 1.0, 0.1))


def test_the_train_step_check_leaves_the_thread_count_alone():
    threads = torch.get_num_threads()
    check_train_step(train_clip.train_step)
    with pytest.raises(AssertionError):
        check_train_step(lesson02.STEP_MISTAKES[0].fn)
    with pytest.raises(AssertionError, match="torch.no_grad"):
        check_train_step(WRONG_STEPS["clamp without no_grad"])
    assert torch.get_num_threads() == threads
