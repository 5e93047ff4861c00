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


def test_right_answers_are_accepted(capsys):
    check_add_noise(course_add_noise)
    check_add_noise(float64_add_noise)
    check_ddpm_step(course_ddpm_step)
    check_ddim_step(course_ddim_step)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("✔") for line in lines)


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
