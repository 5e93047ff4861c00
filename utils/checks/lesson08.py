"""Checks for lesson 08 (diffusion): the forward process q(x_t | x_0), one DDPM ancestral step and one
DDIM step. The reference of each is Hugging Face diffusers' scheduler (DDPMScheduler, DDIMScheduler)
built on the same betas, so a learner's function that passes agrees with a library people rely on.

diffusers is imported only when a check runs: it takes seconds to import, and the other lessons'
checks are imported from the same package.
"""
from contextlib import contextmanager
from unittest import mock

import torch

from ..diffusion import cosine_betas, linear_betas
from ._core import Case, Mistake, check, difference

__all__ = ["check_add_noise", "check_ddpm_step", "check_ddim_step"]


def _scheduler(kind, betas):
    import diffusers

    common = dict(num_train_timesteps=len(betas), trained_betas=betas.tolist(), clip_sample=False)
    if kind == "ddpm":
        return diffusers.DDPMScheduler(variance_type="fixed_small", **common)
    return diffusers.DDIMScheduler(set_alpha_to_one=True, timestep_spacing="leading", **common)


def _close(got, expected):
    # The learner may compute alphas_cumprod in another order than diffusers: allow float32 rounding.
    return difference(got, expected, rtol=1e-4, atol=1e-5)


def _abar(betas):
    return torch.cumprod(1 - betas, dim=0)


# ---------------------------------------------------------------- exercise: the forward process


def _add_noise_reference(x0, noise, t, betas):
    return _scheduler("ddpm", betas).add_noise(x0, noise, t)


def _noise_cases():
    g = torch.Generator().manual_seed(8)
    cases = []
    for label, betas, shape, t in [
        ("linear schedule, 4 images of 3x8x8", linear_betas(1000), (4, 3, 8, 8), [0, 10, 500, 999]),
        ("cosine schedule, 3 images", cosine_betas(1000), (3, 3, 4, 4), [1, 250, 998]),
        ("T = 50, one image", linear_betas(50), (1, 2, 5, 5), [25]),
    ]:
        x0, noise = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        cases.append(Case(label, (x0, noise, torch.tensor(t), betas)))
    return cases


def _bcast(a, like):
    return a.reshape(-1, *([1] * (like.ndim - 1)))


NOISE_MISTAKES = [
    Mistake("alpha_t instead of the cumulative product", "the noise of t steps adds up: use abar_t = "
            "prod_{s <= t} (1 - beta_s) (torch.cumprod), not 1 - beta_t of the last step alone.",
            lambda x0, n, t, b: _bcast((1 - b[t]).sqrt(), x0) * x0 + _bcast(b[t].sqrt(), x0) * n),
    Mistake("no square roots", "the weights are sqrt(abar_t) and sqrt(1 - abar_t): their squares add up to "
            "1, which keeps the variance of x_t at 1.",
            lambda x0, n, t, b: _bcast(_abar(b)[t], x0) * x0 + _bcast(1 - _abar(b)[t], x0) * n),
    Mistake("noise not scaled", "the noise is multiplied by sqrt(1 - abar_t), not added as it is.",
            lambda x0, n, t, b: _bcast(_abar(b)[t].sqrt(), x0) * x0 + n),
    Mistake("one step too many (abar_{t+1})", "timesteps count from 0: abar_t includes beta_0 .. beta_t, "
            "i.e. torch.cumprod(1 - betas, 0)[t].",
            lambda x0, n, t, b: _bcast(_abar(b)[(t + 1).clamp(max=len(b) - 1)].sqrt(), x0) * x0
            + _bcast((1 - _abar(b)[(t + 1).clamp(max=len(b) - 1)]).sqrt(), x0) * n),
]


def check_add_noise(fn):
    """Check fn(x0, noise, t, betas) -> x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise for a batch of
    timesteps t (one per image), with abar = torch.cumprod(1 - betas, 0)."""
    check("add_noise", fn, _add_noise_reference, _noise_cases(), NOISE_MISTAKES, compare=_close,
          hint="abar = torch.cumprod(1 - betas, dim=0)[t] has one number per image: reshape it to (B, 1, 1, 1) "
               "before multiplying.")


# ---------------------------------------------------------------- exercise: one DDPM step


@contextmanager
def _noise_from(noise):
    """Make DDPMScheduler.step add exactly `noise` (it draws its own with diffusers' randn_tensor)."""
    with mock.patch("diffusers.schedulers.scheduling_ddpm.randn_tensor", lambda *a, **k: noise.clone()):
        yield


def _ddpm_reference(eps, t, x_t, betas, noise):
    scheduler = _scheduler("ddpm", betas)
    with _noise_from(noise):
        return scheduler.step(eps, t, x_t).prev_sample


def _step_cases():
    g = torch.Generator().manual_seed(9)
    cases = []
    for label, betas, t in [("linear, t = 999", linear_betas(1000), 999), ("linear, t = 500", linear_betas(1000), 500),
                            ("cosine, t = 3", cosine_betas(1000), 3), ("linear, t = 0 (the last step)",
                                                                        linear_betas(1000), 0)]:
        eps, x_t, noise = (torch.randn(2, 3, 4, 4, generator=g) for _ in range(3))
        cases.append(Case(label, (eps, t, x_t, betas, noise)))
    return cases


def _ddpm_parts(eps, t, x_t, betas):
    abar = _abar(betas)
    abar_prev = abar[t - 1] if t > 0 else torch.tensor(1.0)
    beta_t = 1 - abar[t] / abar_prev
    x0 = (x_t - (1 - abar[t]).sqrt() * eps) / abar[t].sqrt()
    mean = abar_prev.sqrt() * beta_t / (1 - abar[t]) * x0 + (1 - beta_t).sqrt() * (1 - abar_prev) / (1 - abar[t]) * x_t
    return mean, (1 - abar_prev) / (1 - abar[t]) * beta_t


def _ddpm_no_noise(eps, t, x_t, betas, noise):
    return _ddpm_parts(eps, t, x_t, betas)[0]


def _ddpm_noise_at_zero(eps, t, x_t, betas, noise):
    mean, var = _ddpm_parts(eps, t, x_t, betas)
    return mean + (var if t > 0 else betas[0]).clamp(min=1e-20).sqrt() * noise


def _ddpm_variance_not_sqrt(eps, t, x_t, betas, noise):
    mean, var = _ddpm_parts(eps, t, x_t, betas)
    return mean + (var * noise if t > 0 else 0)


def _ddpm_beta_variance(eps, t, x_t, betas, noise):
    mean, _ = _ddpm_parts(eps, t, x_t, betas)
    return mean + (betas[t].sqrt() * noise if t > 0 else 0)


DDPM_MISTAKES = [
    Mistake("no fresh noise", "an ancestral step samples x_{t-1}: add sqrt(variance) * noise to the mean "
            "(except at t = 0).", _ddpm_no_noise),
    Mistake("noise added at the last step", "at t = 0 the step returns the mean alone: the picture is done.",
            _ddpm_noise_at_zero),
    Mistake("variance instead of standard deviation", "multiply the noise by the square root of the variance.",
            _ddpm_variance_not_sqrt),
    Mistake("beta_t as the variance", "these checks use DDPM's smaller choice, beta_tilde_t = (1 - abar_{t-1}) "
            "/ (1 - abar_t) * beta_t (diffusers' variance_type='fixed_small'); beta_t itself is the other one "
            "the paper tried.", _ddpm_beta_variance),
]


def _close_ddpm(got, expected):
    # The textbook form with beta_t = betas[t] is right, but at t = 0 it divides by 1 - abar_0 = beta_0, a
    # number float32 rounds by about 6e-4 of itself (diffusers takes 1 - abar_t / abar_prev instead, exactly
    # beta_0's rounding). Every named mistake differs by far more (at least a few per cent).
    return difference(got, expected, rtol=2e-3, atol=1e-4)


def check_ddpm_step(fn):
    """Check fn(eps, t, x_t, betas, noise) -> x_{t-1}, one ancestral DDPM step (t an int, noise given)."""
    check("ddpm_step", fn, _ddpm_reference, _step_cases(), DDPM_MISTAKES, compare=_close_ddpm,
          hint="estimate x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), take the mean of q(x_{t-1} | x_t, x0), "
               "then add sqrt(beta_tilde_t) * noise when t > 0.")


# ---------------------------------------------------------------- exercise: one DDIM step


def _ddim_reference(eps, t, t_prev, x_t, betas):
    scheduler = _scheduler("ddim", betas)
    scheduler.set_timesteps(len(betas) // (t - t_prev))   # diffusers steps down by T // steps
    return scheduler.step(eps, t, x_t, eta=0.0).prev_sample


def _ddim_cases():
    g = torch.Generator().manual_seed(10)
    cases = []
    for label, betas, t, t_prev in [("linear, 960 -> 920", linear_betas(1000), 960, 920),
                                    ("cosine, 500 -> 480", cosine_betas(1000), 500, 480),
                                    ("linear, 20 -> the clean picture (t_prev = -20)", linear_betas(1000), 20, -20)]:
        eps, x_t = (torch.randn(2, 3, 4, 4, generator=g) for _ in range(2))
        cases.append(Case(label, (eps, t, t_prev, x_t, betas)))
    return cases


def _ddim_parts(eps, t, t_prev, x_t, betas):
    abar = _abar(betas)
    abar_prev = abar[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    return abar, abar_prev, (x_t - (1 - abar[t]).sqrt() * eps) / abar[t].sqrt()


DDIM_MISTAKES = [
    Mistake("x0 estimate without square roots", "x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t): both "
            "weights are square roots, as in the forward process.",
            lambda eps, t, tp, x, b: _ddim_parts(eps, t, tp, x, b)[1].sqrt() * ((x - (1 - _abar(b)[t]) * eps)
                                                                               / _abar(b)[t])
            + (1 - _ddim_parts(eps, t, tp, x, b)[1]).sqrt() * eps),
    Mistake("returns the x0 estimate", "step to the noise level of t_prev: sqrt(abar_prev) x0 + "
            "sqrt(1 - abar_prev) eps; x0 alone is only the last step's answer.",
            lambda eps, t, tp, x, b: _ddim_parts(eps, t, tp, x, b)[2]),
    Mistake("abar_prev of a negative index", "t_prev < 0 means 'to the clean picture': use abar_prev = 1 there "
            "(a negative index would read abar from the end of the table).",
            lambda eps, t, tp, x, b: _abar(b)[tp].sqrt() * _ddim_parts(eps, t, tp, x, b)[2]
            + (1 - _abar(b)[tp]).sqrt() * eps),
]


def check_ddim_step(fn):
    """Check fn(eps, t, t_prev, x_t, betas) -> x at t_prev, one deterministic DDIM step (t_prev < 0: clean)."""
    check("ddim_step", fn, _ddim_reference, _ddim_cases(), DDIM_MISTAKES, compare=_close,
          hint="x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t); then sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps, "
               "with abar_prev = 1 when t_prev < 0.")
