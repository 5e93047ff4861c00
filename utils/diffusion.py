"""Denoising diffusion, written for teaching: the pieces lesson 08 builds, one small function each.

DDPM (Ho et al., 2020, "Denoising Diffusion Probabilistic Models"):
- forward process: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, eps ~ N(0, I), where
  abar_t = prod_{s <= t} (1 - beta_s) falls from ~1 (t = 0, clean) to ~0 (t = T - 1, pure noise);
- training: a network eps_theta(x_t, t) learns to predict the noise eps; the loss is the mean
  squared error between the two (the "simple" loss of the paper);
- ancestral sampling: from x_{T-1} ~ N(0, I), step back one t at a time to x_0, each step the mean
  of q(x_{t-1} | x_t, x_0) with x_0 estimated from the predicted noise, plus fresh noise.
DDIM (Song et al., 2021, "Denoising Diffusion Implicit Models"): the same trained network, sampled
deterministically (eta = 0) on a few of the T timesteps: 25 steps instead of 1000.

Timesteps count from 0 like Hugging Face diffusers' schedulers, which tests/test_diffusion.py checks
these functions against (DDPMScheduler.add_noise / step and DDIMScheduler.step).
"""
import math

import torch
import torch.nn.functional as F


def linear_betas(T=1000, beta_start=1e-4, beta_end=0.02):
    """DDPM's schedule: beta_t rising linearly (the paper's values for T = 1000)."""
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64).float()


def cosine_betas(T=1000, s=0.008, max_beta=0.999):
    """Nichol & Dhariwal (2021)'s schedule: abar_t follows cos^2, so less of the signal is destroyed
    early on than with the linear one (diffusers calls it "squaredcos_cap_v2")."""
    f = lambda t: math.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return torch.tensor([min(1 - f((t + 1) / T) / f(t / T), max_beta) for t in range(T)], dtype=torch.float32)


class Schedule:
    """A noise schedule and the products every formula needs, as float32 tensors of length T."""

    def __init__(self, betas):
        betas = torch.as_tensor(betas, dtype=torch.float32)
        if betas.ndim != 1 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError("betas must be a 1-D tensor of numbers strictly between 0 and 1, e.g. linear_betas(1000).")
        self.betas = betas
        self.alphas = 1 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)    # abar_t
        self.T = len(betas)

    def abar(self, t, like):
        """abar at timesteps t (a (B,) long tensor), shaped to broadcast against `like` (B, ...)."""
        a = self.alphas_cumprod.to(like.device)[t.to(like.device)]
        return a.reshape(-1, *([1] * (like.ndim - 1)))


def add_noise(schedule, x0, noise, t):
    """q(x_t | x_0): sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, for a batch of timesteps t (B,)."""
    abar = schedule.abar(t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def predict_x0(schedule, x_t, eps, t):
    """Invert add_noise with the predicted noise: x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
    abar = schedule.abar(t, x_t)
    return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()


def diffusion_loss(model, schedule, x0, generator=None, snr_gamma=None, **model_kwargs):
    """The epsilon-prediction loss: noise a clean batch at random timesteps, ask the model for the noise.

    model(x_t, t, **model_kwargs) -> predicted noise, the shape of x_t. Returns the mean squared error.
    snr_gamma: weigh each picture's error by min(SNR_t, gamma) / SNR_t, SNR_t = abar_t / (1 - abar_t)
    (Min-SNR weighting, Hang et al., 2023): the nearly clean steps, where finding the noise is easy and
    says nothing about what is drawn, count less. None: every step counts the same (DDPM's loss).
    """
    if snr_gamma is not None and not (isinstance(snr_gamma, (int, float)) and snr_gamma > 0):
        raise ValueError(f"snr_gamma must be a positive number (5 in Hang et al., 2023) or None, got {snr_gamma!r}.")
    t = torch.randint(0, schedule.T, (x0.shape[0],), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    pred = model(add_noise(schedule, x0, noise, t), t, **model_kwargs)
    if snr_gamma is None:
        return F.mse_loss(pred, noise)
    error = (pred - noise).pow(2).flatten(1).mean(1)                   # one number per picture
    abar = schedule.abar(t, error)
    snr = abar / (1 - abar)
    return (error * snr.clamp(max=snr_gamma) / snr).mean()


def ddpm_step(schedule, eps, t, x_t, noise=None):
    """One ancestral step x_t -> x_{t-1} (t an int), given the predicted noise eps.

    The mean is that of q(x_{t-1} | x_t, x0) with x0 from predict_x0; the variance is DDPM's
    beta_tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t. No noise is added at the last step (t = 0).
    """
    ts = torch.full((x_t.shape[0],), t, dtype=torch.long)
    abar_t = schedule.alphas_cumprod[t]
    abar_prev = schedule.alphas_cumprod[t - 1] if t > 0 else torch.tensor(1.0)
    # beta_t and alpha_t from the products (equal to schedule.betas[t] in exact arithmetic): at t = 0 the x0
    # coefficient is then exactly 1 in float32 too, where 1 - abar_0 is a tiny, rounded number.
    beta_t = 1 - abar_t / abar_prev
    x0 = predict_x0(schedule, x_t, eps, ts)
    mean = (abar_prev.sqrt() * beta_t / (1 - abar_t)) * x0 + ((1 - beta_t).sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
    if t == 0:
        return mean
    variance = (1 - abar_prev) / (1 - abar_t) * beta_t
    noise = torch.randn_like(x_t) if noise is None else noise
    return mean + variance.clamp(min=1e-20).sqrt() * noise


def ddim_timesteps(T, steps):
    """The timesteps DDIM visits, largest first: every T // steps-th one from 0 (diffusers' "leading")."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be a whole number from 1 to {T} (the schedule's length), got {steps!r}.")
    return list(range(0, T, T // steps))[:steps][::-1]


def ddim_step(schedule, eps, t, t_prev, x_t):
    """One deterministic DDIM step (eta = 0) from timestep t to t_prev (t_prev < 0: to the clean image).

    Estimate x0 from the predicted noise, then put back exactly that noise at the lower level:
    x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps.
    """
    abar_prev = schedule.alphas_cumprod[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    x0 = predict_x0(schedule, x_t, eps, torch.full((x_t.shape[0],), t, dtype=torch.long))
    return abar_prev.sqrt() * x0 + (1 - abar_prev).sqrt() * eps


@torch.no_grad()
def sample_ddpm(eps_fn, shape, schedule, generator=None, device="cpu"):
    """Ancestral sampling with all T steps. eps_fn(x_t, t: (B,) long) -> predicted noise."""
    x = torch.randn(shape, generator=generator).to(device)
    for t in reversed(range(schedule.T)):
        eps = eps_fn(x, torch.full((shape[0],), t, dtype=torch.long, device=device))
        noise = torch.randn(shape, generator=generator).to(device) if t > 0 else None
        x = ddpm_step(schedule, eps, t, x, noise)
    return x


@torch.no_grad()
def sample_ddim(eps_fn, shape, schedule, steps=25, generator=None, device="cpu", x=None):
    """DDIM sampling on `steps` of the T timesteps (deterministic given the starting noise x)."""
    x = torch.randn(shape, generator=generator).to(device) if x is None else x.to(device)
    times = ddim_timesteps(schedule.T, steps)
    for i, t in enumerate(times):
        t_prev = times[i + 1] if i + 1 < len(times) else -1
        eps = eps_fn(x, torch.full((shape[0],), t, dtype=torch.long, device=device))
        x = ddim_step(schedule, eps, t, t_prev, x)
    return x


def guided_eps(model, x, t, cond, scale, null_cond):
    """Classifier-free guidance (Ho & Salimans, 2022): eps_uncond + scale * (eps_cond - eps_uncond).

    One batch of 2B through the model: the conditioned and the unconditioned (null) prediction.
    scale 1 is the plain conditional model; above 1 follows the condition harder (less diverse).
    """
    if scale == 1:
        return model(x, t, cond)
    both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, null_cond.expand_as(cond)]))
    eps_cond, eps_uncond = both.chunk(2)
    return eps_uncond + scale * (eps_cond - eps_uncond)
