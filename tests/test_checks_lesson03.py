"""The checks of lesson 03 accept the course's reference and reject wrong answers, naming the
known mistakes."""
import pytest
import torch
import torch.nn.functional as F

from utils import zeroshot
from utils.checks import lesson03
from utils.checks import (check_confusion_matrix, check_ensemble_prompts, check_probe_loss,
                          check_zero_shot_probs)


def accepted(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out
    assert out.startswith("✔") and out.count("\n") == 1, out


def rejected(check, fn, name=None):
    with pytest.raises(AssertionError) as info:
        check(fn)
    if name is not None:
        assert name in str(info.value), str(info.value)
    return str(info.value)


def not_written(*args):
    raise NotImplementedError("Your turn: ...")


# ---------------------------------------------------------------- zero_shot_probs


def probs_solution(image_features, text_features, scale):
    img = F.normalize(image_features, dim=-1)   # (N, D)
    txt = F.normalize(text_features, dim=-1)    # (C, D)
    return (scale * img @ txt.T).softmax(dim=-1)


def probs_float32(i, t, s):
    return probs_solution(i.float(), t.float(), s)


def probs_in_place(i, t, s):
    i /= i.norm(dim=-1, keepdim=True)
    return probs_solution(i, t, s)


def probs_as_list(i, t, s):
    return probs_solution(i, t, s).tolist()


def probs_one_hot(i, t, s):
    p = probs_solution(i, t, s)
    return F.one_hot(p.argmax(dim=-1), p.shape[1]).to(p.dtype)


def probs_squared_scale(i, t, s):
    return probs_solution(i, t, s * s)


def probs_keeps_batch_dim(i, t, s):
    return probs_solution(i, t, s).unsqueeze(0)


def test_zero_shot_probs_accepts_the_reference_and_a_hand_written_solution(capsys):
    accepted(check_zero_shot_probs, lesson03._probs_reference, capsys)
    accepted(check_zero_shot_probs, probs_solution, capsys)


@pytest.mark.parametrize("mistake", lesson03.PROBS_MISTAKES, ids=lambda m: m.name)
def test_zero_shot_probs_names_each_known_mistake(mistake):
    rejected(check_zero_shot_probs, mistake.fn, mistake.name)


@pytest.mark.parametrize("wrong", [probs_float32, probs_in_place, probs_as_list, probs_one_hot,
                                   probs_squared_scale, probs_keeps_batch_dim])
def test_zero_shot_probs_rejects_other_wrong_answers(wrong):
    rejected(check_zero_shot_probs, wrong)


# ---------------------------------------------------------------- ensemble_prompts


def ensemble_solution(text_features):
    unit = text_features / text_features.norm(dim=-1, keepdim=True)   # (C, T, D)
    mean = unit.sum(dim=1)                                             # any positive multiple of the mean
    return mean / mean.norm(dim=-1, keepdim=True)                      # (C, D)


def ensemble_float32(x):
    return zeroshot.ensemble(x.float())


def ensemble_in_place(x):
    x /= x.norm(dim=-1, keepdim=True)
    return F.normalize(x.mean(dim=1), dim=-1)


def ensemble_first_template(x):
    return F.normalize(x[:, 0], dim=-1)


def ensemble_median(x):
    return F.normalize(F.normalize(x, dim=-1).median(dim=1).values, dim=-1)


def ensemble_keepdim(x):
    return F.normalize(F.normalize(x, dim=-1).mean(dim=1, keepdim=True), dim=-1)


def test_ensemble_prompts_accepts_the_reference_and_a_sum(capsys):
    accepted(check_ensemble_prompts, zeroshot.ensemble, capsys)
    accepted(check_ensemble_prompts, ensemble_solution, capsys)


@pytest.mark.parametrize("mistake", lesson03.ENSEMBLE_MISTAKES, ids=lambda m: m.name)
def test_ensemble_prompts_names_each_known_mistake(mistake):
    rejected(check_ensemble_prompts, mistake.fn, mistake.name)


@pytest.mark.parametrize("wrong", [ensemble_float32, ensemble_in_place, ensemble_first_template,
                                   ensemble_median, ensemble_keepdim])
def test_ensemble_prompts_rejects_other_wrong_answers(wrong):
    rejected(check_ensemble_prompts, wrong)


# ---------------------------------------------------------------- confusion_matrix


def confusion_solution(predictions, labels, num_classes):
    cm = torch.zeros(num_classes, num_classes, dtype=torch.long)
    cm.index_put_((labels, predictions), torch.ones_like(labels), accumulate=True)
    return cm


def confusion_loop(predictions, labels, num_classes):
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for p, y in zip(predictions.tolist(), labels.tolist()):
        cm[y, p] += 1
    return cm


def confusion_float(p, y, c):
    return zeroshot.confusion_matrix(p, y, c).float()


def confusion_off_by_one(p, y, c):
    return torch.bincount(y * c + p, minlength=(c - 1) * (c - 1))[: (c - 1) * (c - 1)].view(c - 1, c - 1)


def confusion_in_place(p, y, c):
    flat = y.mul_(c).add_(p)
    return torch.bincount(flat, minlength=c * c).view(c, c)


def confusion_as_list(p, y, c):
    return zeroshot.confusion_matrix(p, y, c).tolist()


def confusion_normalised_rows(p, y, c):
    cm = zeroshot.confusion_matrix(p, y, c)
    return cm // cm.sum(dim=1, keepdim=True).clamp(min=1)


def confusion_argmax_of_indices(p, y, c):
    # treats the (N,) predictions as if they were scores and takes an argmax
    return zeroshot.confusion_matrix(p.unsqueeze(1).expand(-1, c), y, c)


def test_confusion_matrix_accepts_the_reference_and_two_hand_written_solutions(capsys):
    accepted(check_confusion_matrix, zeroshot.confusion_matrix, capsys)
    accepted(check_confusion_matrix, confusion_solution, capsys)
    accepted(check_confusion_matrix, confusion_loop, capsys)


@pytest.mark.parametrize("mistake", lesson03.CONFUSION_MISTAKES, ids=lambda m: m.name)
def test_confusion_matrix_names_each_known_mistake(mistake):
    rejected(check_confusion_matrix, mistake.fn, mistake.name)


@pytest.mark.parametrize("wrong", [confusion_float, confusion_off_by_one, confusion_in_place, confusion_as_list,
                                   confusion_normalised_rows, confusion_argmax_of_indices])
def test_confusion_matrix_rejects_other_wrong_answers(wrong):
    rejected(check_confusion_matrix, wrong)


def test_in_place_change_of_labels_is_named():
    assert "changed in place" in rejected(check_confusion_matrix, confusion_in_place)


# ---------------------------------------------------------------- probe_loss


def probe_solution(weight, bias, features, labels, l2):
    logits = features @ weight.T + bias                     # (N, C)
    return F.cross_entropy(logits, labels) + l2 / 2 * (weight ** 2).sum()


def probe_float32(w, b, x, y, l2):
    return zeroshot.probe_loss(w.float(), b.float(), x.float(), y, l2)


def probe_python_number(w, b, x, y, l2):
    return zeroshot.probe_loss(w, b, x, y, l2).item()


def probe_detached(w, b, x, y, l2):
    return zeroshot.probe_loss(w, b, x, y, l2).detach()


def probe_per_example(w, b, x, y, l2):
    return F.cross_entropy(x @ w.T + b, y, reduction="none") + l2 / 2 * w.pow(2).sum()


def probe_weight_not_transposed(w, b, x, y, l2):
    return F.cross_entropy(x @ w.reshape(w.shape[1], w.shape[0]) + b, y) + l2 / 2 * w.pow(2).sum()


def probe_renormalises_in_place(w, b, x, y, l2):
    x.mul_(2.0)   # "rescaling" the features in place
    return zeroshot.probe_loss(w, b, x, y, l2)


def probe_labels_off_by_one(w, b, x, y, l2):
    return zeroshot.probe_loss(w, b, x, (y + 1) % w.shape[0], l2)


def test_probe_loss_accepts_the_reference_and_a_hand_written_solution(capsys):
    accepted(check_probe_loss, zeroshot.probe_loss, capsys)
    accepted(check_probe_loss, probe_solution, capsys)


@pytest.mark.parametrize("mistake", lesson03.PROBE_MISTAKES, ids=lambda m: m.name)
def test_probe_loss_names_each_known_mistake(mistake):
    rejected(check_probe_loss, mistake.fn, mistake.name)


@pytest.mark.parametrize("wrong", [probe_float32, probe_python_number, probe_detached, probe_per_example,
                                   probe_weight_not_transposed, probe_renormalises_in_place,
                                   probe_labels_off_by_one])
def test_probe_loss_rejects_other_wrong_answers(wrong):
    rejected(check_probe_loss, wrong)


# ---------------------------------------------------------------- all checks


@pytest.mark.parametrize("check", [check_zero_shot_probs, check_ensemble_prompts, check_confusion_matrix,
                                   check_probe_loss])
def test_not_written_yet_passes_through(check):
    with pytest.raises(NotImplementedError):
        check(not_written)


def test_every_check_names_at_least_two_mistakes():
    for mistakes in (lesson03.PROBS_MISTAKES, lesson03.ENSEMBLE_MISTAKES, lesson03.CONFUSION_MISTAKES,
                     lesson03.PROBE_MISTAKES):
        assert len(mistakes) >= 2 and len({m.name for m in mistakes}) == len(mistakes)


def test_named_mistakes_are_told_apart():
    """Every named mistake is recognised as itself, not as another one listed before it."""
    for check, mistakes in ((check_zero_shot_probs, lesson03.PROBS_MISTAKES),
                            (check_ensemble_prompts, lesson03.ENSEMBLE_MISTAKES),
                            (check_confusion_matrix, lesson03.CONFUSION_MISTAKES),
                            (check_probe_loss, lesson03.PROBE_MISTAKES)):
        for m in mistakes:
            message = rejected(check, m.fn)
            assert f"'{m.name}'" in message, message
