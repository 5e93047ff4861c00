"""What every check shares: run the learner's function on a set of cases, compare it with the
course's reference, and, when it is wrong, name the mistake if it matches a known wrong answer.

A check is built from
- ``cases``: inputs chosen to catch mistakes (a batch of 1, float64, several sizes and scales),
- ``reference``: the course's own function with the learner's signature,
- ``mistakes``: known wrong implementations, each with a name and a hint,
- ``probe`` (optional): how to call a function on a case and what to collect (for a loss: the
  value and the gradients), so that reference, learner and mistakes are compared the same way.

Every function is called on fresh copies of the inputs, so a function that changes its input in
place is caught instead of spoiling the next comparison.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch


@dataclass
class Case:
    label: str     # how the message names this input, e.g. "batch of 1, float64"
    args: tuple    # positional arguments for the learner's function


@dataclass
class Mistake:
    name: str      # the mistake, as the message names it ("one direction only")
    hint: str      # what to change
    fn: Callable   # a wrong implementation with the learner's signature


def call(fn: Callable, *args):
    """Call fn on the arguments as they are (the default probe)."""
    return fn(*args)


def value_and_grads(fn: Callable, *args, wrt: int = 2):
    """A probe for scalar functions: fn's value and its gradients with respect to the first `wrt`
    arguments (fresh leaf copies). A value that is no differentiable tensor comes back as
    (value, None, ...), for the comparison to explain."""
    leaves = [a.clone().requires_grad_() for a in args[:wrt]]
    value = fn(*leaves, *args[wrt:])
    if not isinstance(value, torch.Tensor) or not value.requires_grad:
        return (value,) + (None,) * wrt
    grads = torch.autograd.grad(value, leaves, allow_unused=True)
    return (value.detach(), *[torch.zeros_like(x) if g is None else g for g, x in zip(grads, leaves)])


def scalar_and_grads_difference(got, expected, no_grad: str, not_scalar: str) -> str | None:
    """Compare two value_and_grads results: a tensor, differentiable, 0-d, then values and gradients."""
    if not isinstance(got[0], torch.Tensor):
        return difference(got[0], expected[0])
    if got[1] is None:
        return no_grad
    if got[0].ndim != 0:
        return f"expected a scalar (0-d tensor), got shape {tuple(got[0].shape)}: {not_scalar}"
    return difference(got, expected)


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        if x.numel() <= 6:
            return f"tensor {x.detach().cpu().tolist()} ({x.dtype})"
        return f"tensor of shape {tuple(x.shape)} ({x.dtype})"
    return repr(x) if len(repr(x)) < 80 else type(x).__name__


def difference(got: Any, expected: Any, rtol: float | None = None, atol: float | None = None) -> str | None:
    """None when got equals expected (tensors within tolerance), else a short description of how
    they differ. Tuples and lists are compared element by element."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected {len(expected)} values, got {_describe(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = difference(g, e, rtol, atol)
            if problem:
                return f"value {i}: {problem}"
        return None
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor, got {_describe(got)} (return a torch tensor; do not call .item() or .tolist())"
        if got.shape != expected.shape:
            return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}"
        if got.dtype != expected.dtype:
            return f"expected dtype {expected.dtype}, got {got.dtype} (keep the input's dtype)"
        if expected.dtype == torch.bool or not expected.is_floating_point():
            if not torch.equal(got.cpu(), expected.cpu()):
                wrong = (got.cpu() != expected.cpu()).sum().item()
                return f"{wrong} of {expected.numel()} entries differ"
            return None
        try:
            torch.testing.assert_close(got.detach().cpu(), expected.detach().cpu(), rtol=rtol, atol=atol)
        except AssertionError:
            if expected.numel() == 1:
                return f"expected {expected.item():.6g}, got {got.item():.6g}"
            err = (got.detach().cpu() - expected.detach().cpu()).abs().max().item()
            return f"values differ by up to {err:.3g}"
        return None
    if got != expected:
        return f"expected {_describe(expected)}, got {_describe(got)}"
    return None


def _run(probe, fn, case: Case):
    args = copy.deepcopy(case.args)
    before = copy.deepcopy(args)
    out = probe(fn, *args)
    for i, (a, b) in enumerate(zip(args, before)):
        if isinstance(a, torch.Tensor) and not torch.equal(a.detach(), b.detach()):
            raise AssertionError(
                f"argument {i + 1} was changed in place (case '{case.label}'): work on a copy, "
                "e.g. x = x / x.norm(...) instead of x /= ...")
    return out


def _same_answers(probe, compare, fn, cases, answers):
    """True when fn gives the learner's answer on every case (stops at the first difference)."""
    for case, answer in zip(cases, answers):
        try:
            if compare(answer, _run(probe, fn, case)) is not None:
                return False
        except Exception:
            return False
    return True


@contextlib.contextmanager
def one_thread():
    """Checks use tiny tensors: one thread is faster, and on a busy laptop much faster (several
    threads spinning for work on a loaded CPU cost 10x here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check(title: str, fn: Callable, reference: Callable, cases: Sequence[Case],
          mistakes: Sequence[Mistake] = (), probe: Callable = call, compare: Callable = difference,
          hint: str = "") -> None:
    """Compare fn with reference on every case; print one line if all agree, else raise
    AssertionError naming the first mistake that fn's answers match, or the first case that differs.

    NotImplementedError (an exercise not written yet) passes through unchanged.
    """
    if not callable(fn):
        raise TypeError(f"{title}: pass your function itself (e.g. check(my_fn)), not {type(fn).__name__}")
    with one_thread():
        _check(title, fn, reference, cases, mistakes, probe, compare, hint)


def _check(title, fn, reference, cases, mistakes, probe, compare, hint):
    first_problem = None
    answers = []
    for case in cases:
        try:
            got = _run(probe, fn, case)
        except NotImplementedError:
            raise
        except AssertionError:
            raise
        except Exception as e:
            advice = " Work on a copy of the input (x = x / ...) instead of changing it in place." \
                if "in-place" in str(e) else ""
            raise AssertionError(f"{title}: your function raised {type(e).__name__}: {e} "
                                 f"(case '{case.label}').{advice}") from e
        answers.append(got)
        problem = compare(got, _run(probe, reference, case))
        if problem and first_problem is None:
            first_problem = (case, problem)
    if first_problem is None:
        labels = "; ".join(c.label for c in cases)
        print(f"✔ {title}: right on all {len(cases)} cases ({labels}).")
        return
    for mistake in mistakes:
        if _same_answers(probe, compare, mistake.fn, cases, answers):
            raise AssertionError(f"{title}: not right yet. This looks like '{mistake.name}': {mistake.hint}")
    case, problem = first_problem
    raise AssertionError(f"{title}: not right yet on case '{case.label}': {problem}." + (f" Hint: {hint}" if hint else ""))
