"""utils.diffusion against Hugging Face diffusers' schedulers (the well-kept reference), step by step."""
import pytest
import torch

from utils import diffusion as D

diffusers = pytest.importorskip("diffusers")


def reference(cls, kind, **kwargs):
    name = {"linear": "linear", "cosine": "squaredcos_cap_v2"}[kind]
    return cls(num_train_timesteps=1000, beta_schedule=name, clip_sample=False, **kwargs)


def ours(kind):
    return D.Schedule(D.linear_betas(1000) if kind == "linear" else D.cosine_betas(1000))


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_and_forward_process_match_diffusers(kind):
    ref, s = reference(diffusers.DDPMScheduler, kind), ours(kind)
    torch.testing.assert_close(s.betas, ref.betas, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(s.alphas_cumprod, ref.alphas_cumprod, rtol=1e-5, atol=1e-7)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(6, 3, 8, 8, generator=g), torch.randn(6, 3, 8, 8, generator=g)
    t = torch.tensor([0, 1, 10, 500, 998, 999])
    torch.testing.assert_close(D.add_noise(s, x0, noise, t), ref.add_noise(x0, noise, t), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("t", [999, 500, 3, 1, 0])
def test_ddpm_step_matches_diffusers(kind, t):
    ref, s = reference(diffusers.DDPMScheduler, kind, variance_type="fixed_small"), ours(kind)
    ref.set_timesteps(1000)
    g = torch.Generator().manual_seed(1)
    x_t, eps = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 3, 8, 8, generator=g)
    # diffusers draws the step's noise with torch.randn from the generator it is given: same seed, same noise
    expected = ref.step(eps, t, x_t, generator=torch.Generator().manual_seed(7)).prev_sample
    noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(D.ddpm_step(s, eps, t, x_t, noise), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [25, 50, 7])
def test_ddim_timesteps_and_steps_match_diffusers(kind, steps):
    ref, s = reference(diffusers.DDIMScheduler, kind, set_alpha_to_one=True, timestep_spacing="leading"), ours(kind)
    ref.set_timesteps(steps)
    times = D.ddim_timesteps(1000, steps)
    assert times == ref.timesteps.tolist()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 2, 4, 4, generator=g)
    weights = torch.randn(2, 2, generator=g)
    eps_fn = lambda x, t: torch.einsum("oc,bchw->bohw", weights, x) * 0.3   # any fixed function of x
    ours_x, ref_x = x.clone(), x.clone()
    for i, t in enumerate(times):
        t_prev = times[i + 1] if i + 1 < len(times) else -1
        ours_x = D.ddim_step(s, eps_fn(ours_x, t), t, t_prev, ours_x)
        ref_x = ref.step(eps_fn(ref_x, t), t, ref_x, eta=0.0).prev_sample
    torch.testing.assert_close(ours_x, ref_x, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(D.sample_ddim(eps_fn, x.shape, s, steps, x=x), ref_x, rtol=1e-4, atol=1e-4)


def test_loss_is_small_for_the_true_noise_and_large_for_zero():
    s = ours("linear")
    x0 = torch.randn(64, 2, 4, 4)
    g = torch.Generator().manual_seed(3)
    # A model that knows x0 recovers the noise exactly: (x_t - sqrt(abar) x0) / sqrt(1 - abar)
    def knows_x0(x_t, t):
        abar = s.abar(t, x_t)
        return (x_t - abar.sqrt() * x0) / (1 - abar).sqrt()
    assert D.diffusion_loss(knows_x0, s, x0, g) < 1e-6
    assert abs(D.diffusion_loss(lambda x_t, t: torch.zeros_like(x_t), s, x0, g) - 1) < 0.1


def test_min_snr_weights_each_picture_by_min_snr_gamma_over_snr():
    s = ours("cosine")
    x0, model = torch.randn(256, 2, 4, 4), lambda x_t, t: torch.zeros_like(x_t)   # error = the noise itself
    weighted = D.diffusion_loss(model, s, x0, torch.Generator().manual_seed(5), snr_gamma=5.0)
    g = torch.Generator().manual_seed(5)             # the same draws as inside diffusion_loss
    t = torch.randint(0, s.T, (256,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    snr = s.alphas_cumprod[t] / (1 - s.alphas_cumprod[t])
    expected = (noise.pow(2).flatten(1).mean(1) * torch.minimum(snr, torch.tensor(5.0)) / snr).mean()
    torch.testing.assert_close(weighted, expected)
    assert weighted < D.diffusion_loss(model, s, x0, torch.Generator().manual_seed(5))   # weights are at most 1
    huge = D.diffusion_loss(model, s, x0, torch.Generator().manual_seed(5), snr_gamma=1e12)  # no step capped
    torch.testing.assert_close(huge, D.diffusion_loss(model, s, x0, torch.Generator().manual_seed(5)))
    with pytest.raises(ValueError, match="snr_gamma must be a positive number"):
        D.diffusion_loss(model, s, x0, snr_gamma=0)


def test_guidance_scale_one_is_the_conditional_model_and_bad_inputs_are_named():
    model = lambda x, t, c: x * c.mean(dim=1).view(-1, 1, 1, 1)
    x, t, c = torch.randn(2, 1, 2, 2), torch.tensor([5, 5]), torch.ones(2, 3)
    torch.testing.assert_close(D.guided_eps(model, x, t, c, 1.0, torch.zeros(1, 3)), x)
    torch.testing.assert_close(D.guided_eps(model, x, t, c, 3.0, torch.zeros(1, 3)), 3 * x)
    with pytest.raises(ValueError, match="steps must be a whole number"):
        D.ddim_timesteps(1000, 0)
    with pytest.raises(ValueError, match="betas must be"):
        D.Schedule(torch.tensor([0.0, 0.5]))
