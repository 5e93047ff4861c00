"""The checks of lesson 08 accept right answers (utils.diffusion's, and ones written another way) and
reject the wrong ones, naming the known mistakes. Their reference is diffusers' schedulers."""
import re

import pytest
import torch

from utils import diffusion as D
from utils.checks import check_add_noise, check_ddim_step, check_ddpm_step
from utils.checks import lesson08

pytest.importorskip("diffusers")


def course_add_noise(x0, noise, t, betas):
    return D.add_noise(D.Schedule(betas), x0, noise, t)


def course_ddpm_step(eps, t, x_t, betas, noise):
    return D.ddpm_step(D.Schedule(betas), eps, t, x_t, noise)


def course_ddim_step(eps, t, t_prev, x_t, betas):
    return D.ddim_step(D.Schedule(betas), eps, t, t_prev, x_t)


def float64_add_noise(x0, noise, t, betas):
    """Another right answer: the products in float64, the result back in float32."""
    abar = torch.cumprod(1 - betas.double(), 0)[t].view(-1, *([1] * (x0.ndim - 1)))
    return (abar.sqrt() * x0.double() + (1 - abar).sqrt() * noise.double()).float()


def textbook_ddpm_step(eps, t, x_t, betas, noise):
    """Another right answer, as the lesson writes it: beta_t = betas[t] (not 1 - abar_t / abar_{t-1})."""
    abar = torch.cumprod(1 - betas, 0)
    abar_prev = abar[t - 1] if t > 0 else torch.tensor(1.0)
    x0 = (x_t - (1 - abar[t]).sqrt() * eps) / abar[t].sqrt()
    mean = abar_prev.sqrt() * betas[t] / (1 - abar[t]) * x0 + (1 - betas[t]).sqrt() * (1 - abar_prev) / (1 - abar[t]) * x_t
    return mean if t == 0 else mean + ((1 - abar_prev) / (1 - abar[t]) * betas[t]).sqrt() * noise


def test_right_answers_are_accepted(capsys):
    check_add_noise(course_add_noise)
    check_add_noise(float64_add_noise)
    check_ddpm_step(course_ddpm_step)
    check_ddpm_step(textbook_ddpm_step)   # float32 rounds 1 - abar_0 = beta_0 differently: still right
    check_ddim_step(course_ddim_step)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(line.startswith("✔") for line in lines)


@pytest.mark.parametrize("check, mistakes", [(check_add_noise, lesson08.NOISE_MISTAKES),
                                             (check_ddpm_step, lesson08.DDPM_MISTAKES),
                                             (check_ddim_step, lesson08.DDIM_MISTAKES)])
def test_named_mistakes_are_rejected_by_name(check, mistakes):
    for mistake in mistakes:
        with pytest.raises(AssertionError, match=re.escape(f"looks like '{mistake.name}'")):
            check(mistake.fn)


def test_an_unknown_wrong_answer_is_rejected_with_the_case():
    with pytest.raises(AssertionError, match="add_noise"):
        check_add_noise(lambda x0, noise, t, betas: x0 + 0.1 * noise)


def test_not_written_yet_passes_through():
    def stub(*args):
        raise NotImplementedError
    for check in (check_add_noise, check_ddpm_step, check_ddim_step):
        with pytest.raises(NotImplementedError):
            check(stub)
