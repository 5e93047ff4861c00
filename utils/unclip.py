"""A mini-unCLIP (Ramesh et al., 2022, "Hierarchical Text-Conditional Image Generation with CLIP
Latents", the paper of DALL·E 2), built small on the Shapes world.

    prompt --CLIP text encoder--> text embedding --prior--> image embedding --decoder--> picture

- the decoder: a diffusion model (utils/diffusion.py) that turns noise into a picture, conditioned on
  a CLIP *image* embedding, trained with the condition dropped 10 % of the time so that
  classifier-free guidance can push a sample towards its condition. Two were tried
  (benchmarks/unclip/README.md has the measurements): `LatentDecoder` denoises the tiny VQGAN's
  latents (32 x 8 x 8, lesson 05; latent diffusion, Rombach et al. 2022), `PixelDecoder` is a small
  U-Net on the 3 x 32 x 32 pixels. At equal training steps the pixel one drew far better shapes.
- the prior: maps a CLIP *text* embedding to the CLIP *image* embedding of a matching picture. Text
  and image embeddings of the same thing sit in different regions of the sphere (the modality gap),
  so a decoder trained on image embeddings may not understand text embeddings. Ours is a small
  regression network (DALL·E 2 used an autoregressive or a diffusion prior).

`generate(prompt, seed=0)` returns (best picture, [(picture, CLIP score), ...]) like
utils.dalle.generate; `load_unclip()` trains decoder and prior on first use and caches them under
cache_dir("unclip"). Lesson 08 (notebooks/08_mini_unclip.ipynb) builds the diffusion parts from scratch
and uses this module; benchmarks/unclip/README.md has the measurements behind the settings below.
"""
import copy
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import diffusion, shapes
from .dalle import encode_text, lr_at  # the mini-DALL·E's word check and learning-rate schedule
from .model_cache import fingerprint, train_once
from .retrieval import embed_texts
from .settings import cache_dir, get_device, save_atomic, set_seed, torch_threads

RECIPE = "v3"  # bump when the settings below change, so stale checkpoints are not used
DECODER_WIDTHS = (16, 32, 64)
# Sized for 5 minutes of decoder and prior training on a 2-core CPU (benchmarks/unclip/README.md): 1,800 steps
# of 32 pictures, with an average of the weights (EMA), Min-SNR-5 loss weights and the embedding scaled up (the
# last two took CLIP's best-of-8 from 40 % to 83 % right shapes at the same cost). TRAIN_SETTINGS_LONG is the
# recipe measured on a GPU before those two: 5,000 steps of 128, plain loss (about 40 minutes here).
TRAIN_SETTINGS = dict(n_train=20000, steps=1800, batch_size=32, lr=2e-3, warmup=100, p_uncond=0.1, ema_decay=0.995,
                      snr_gamma=5.0, scale_emb=True, prior_steps=1500, prior_lr=1e-3, prior_batch=256, threads="auto")
TRAIN_SETTINGS_LONG = dict(TRAIN_SETTINGS, steps=5000, batch_size=128, ema_decay=0.0, snr_gamma=None, scale_emb=False)
RECIPES = {"quick": TRAIN_SETTINGS, "long": TRAIN_SETTINGS_LONG}
SAMPLE_DEFAULTS = dict(guidance=5.0, ddim_steps=25, n_samples=8)  # guidance: benchmarks/unclip/README.md
DATA_SEED = 0  # the training pictures: the Shapes train split of this seed (the mini-DALL·E's too)
T = 1000


# ---------------------------------------------------------------- the networks


def timestep_embedding(t, dim):
    """Sinusoidal features of the timestep (as the Transformer's positions; DDPM does the same)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a skip; the conditioning scales and shifts the features between them."""

    def __init__(self, width, cond_dim):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, width), nn.Conv2d(width, width, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(8, width), nn.Conv2d(width, width, 3, padding=1)
        self.film = nn.Linear(cond_dim, 2 * width)
        nn.init.zeros_(self.conv2.weight)   # each block starts as the identity: trains faster
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x, cond):
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return x + self.conv2(F.silu(h))


class LatentDecoder(nn.Module):
    """eps_theta(x_t, t, image embedding): predicts the noise in a noisy VQGAN latent (B, 32, 8, 8).

    The timestep and the CLIP image embedding become one conditioning vector that every ResBlock
    uses (FiLM). An all-zero embedding means "no condition" (used for classifier-free guidance).
    """

    def __init__(self, channels=32, width=64, n_blocks=4, emb_dim=128):
        super().__init__()
        self.config = dict(channels=channels, width=width, n_blocks=n_blocks, emb_dim=emb_dim)
        self.t_dim = width
        self.cond = nn.Sequential(nn.Linear(width + emb_dim, 2 * width), nn.SiLU(), nn.Linear(2 * width, 2 * width))
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.blocks = nn.ModuleList(ResBlock(width, 2 * width) for _ in range(n_blocks))
        self.out = nn.Sequential(nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, channels, 3, padding=1))

    def forward(self, x, t, emb):
        cond = self.cond(torch.cat([timestep_embedding(t, self.t_dim), emb], dim=1))
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, cond)
        return self.out(h)


class PixelDecoder(nn.Module):
    """eps_theta(x_t, t, image embedding) on 3 x 32 x 32 pixels: a small U-Net (32 -> 16 -> 8 px and back,
    widths a, b, c), a ResBlock per level, skips joined by concatenation, FiLM conditioning as above.

    scale_emb: multiply the unit embedding by sqrt(emb_dim) first. Its entries are then about as large as
    the step's sine features (about 0.09 each otherwise), so the condition steers the network from the
    first steps of training: best-of-8 shape 62 % against 40 % after 5 minutes of training here
    (benchmarks/unclip/README.md).
    """

    def __init__(self, widths=(16, 32, 64), emb_dim=128, patch=1, scale_emb=True):
        super().__init__()
        a, b, c = widths
        self.config = dict(widths=tuple(widths), emb_dim=emb_dim, patch=patch, scale_emb=scale_emb)
        self.emb_scale = math.sqrt(emb_dim) if scale_emb else 1.0
        # patch 2: each 2 x 2 block of pixels becomes one position with 12 channels (pixel unshuffle), so every
        # level runs at half the resolution: about 4 times fewer operations.
        self.patch = patch
        cond_dim, self.t_dim = 2 * c, c
        self.cond = nn.Sequential(nn.Linear(c + emb_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.inp = nn.Conv2d(3 * patch * patch, a, 3, padding=1)
        self.res1, self.down1 = ResBlock(a, cond_dim), nn.Conv2d(a, b, 3, stride=2, padding=1)
        self.res2, self.down2 = ResBlock(b, cond_dim), nn.Conv2d(b, c, 3, stride=2, padding=1)
        self.mid1, self.mid2 = ResBlock(c, cond_dim), ResBlock(c, cond_dim)
        self.join2, self.res3 = nn.Conv2d(c + b, b, 3, padding=1), ResBlock(b, cond_dim)
        self.join1, self.res4 = nn.Conv2d(b + a, a, 3, padding=1), ResBlock(a, cond_dim)
        self.out = nn.Sequential(nn.GroupNorm(8, a), nn.SiLU(), nn.Conv2d(a, 3 * patch * patch, 3, padding=1))

    def forward(self, x, t, emb):
        cond = self.cond(torch.cat([timestep_embedding(t, self.t_dim), emb * self.emb_scale], dim=1))
        if self.patch > 1:
            x = F.pixel_unshuffle(x, self.patch)
        h1 = self.res1(self.inp(x), cond)                                   # 32 x 32 (patch 2: 16 x 16)
        h2 = self.res2(self.down1(h1), cond)                                # 16 x 16
        h = self.mid2(self.mid1(self.down2(h2), cond), cond)                # 8 x 8
        h = self.res3(self.join2(torch.cat([F.interpolate(h, scale_factor=2), h2], 1)), cond)
        h = self.res4(self.join1(torch.cat([F.interpolate(h, scale_factor=2), h1], 1)), cond)
        h = self.out(h)
        return F.pixel_shuffle(h, self.patch) if self.patch > 1 else h


class Prior(nn.Module):
    """Text embedding -> image embedding: an MLP with a skip from its input, output on the unit sphere."""

    def __init__(self, emb_dim=128, hidden=512, n_layers=3):
        super().__init__()
        self.config = dict(emb_dim=emb_dim, hidden=hidden, n_layers=n_layers)
        layers, d = [], emb_dim
        for _ in range(n_layers - 1):
            layers += [nn.Linear(d, hidden), nn.SiLU()]
            d = hidden
        self.net = nn.Sequential(*layers, nn.Linear(d, emb_dim))

    def forward(self, text_emb):
        return F.normalize(text_emb + self.net(text_emb), dim=-1)


# ---------------------------------------------------------------- data


def noise_schedule():
    """The cosine schedule of Nichol & Dhariwal (2021) over T = 1000 steps, used for training and sampling."""
    return diffusion.Schedule(diffusion.cosine_betas(T))


@torch.no_grad()
def embed_images(clip_model, images, batch_size=500):
    """(N, 3, 32, 32) pictures in [0, 1] -> (N, D) unit CLIP image embeddings."""
    from .generation import clip_image_features

    device = next(clip_model.parameters()).device
    return torch.cat([clip_image_features(clip_model, images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


def training_data(clip_model, n, seed=DATA_SEED, progress=True, cache=True):
    """n Shapes train pictures as {"pixels": (n, 3, 32, 32) uint8, "image_emb", "text_emb": (n, D),
    "captions"}: rendered and embedded once, cached under cache_dir("unclip")."""
    from tqdm.auto import tqdm

    path = cache_dir("unclip") / f"data-clip{fingerprint(clip_model)}-seed{seed}-n{n}.pt"
    if cache and path.is_file():
        return torch.load(path, weights_only=True)
    pixels, captions = [], []
    for start in tqdm(range(0, n, 1000), desc="render + embed pictures", disable=not progress):
        batch = [shapes.sample(seed, i, "train", 32) for i in range(start, min(n, start + 1000))]
        pixels.append((shapes.to_tensor([b[0] for b in batch]) * 255).round().to(torch.uint8))
        captions += [b[1] for b in batch]
    pixels = torch.cat(pixels)
    data = {"pixels": pixels, "image_emb": embed_images(clip_model, pixels.float() / 255),
            "text_emb": embed_texts(clip_model, captions, progress=False), "captions": captions}
    if cache:
        save_atomic(data, path)
    return data


# ---------------------------------------------------------------- training


def train_prior(data, steps=1500, lr=1e-3, batch_size=256, seed=0):
    """Fit the regression prior: text embedding -> the image embedding of the same picture (cosine loss)."""
    set_seed(seed)
    prior = Prior(emb_dim=data["text_emb"].shape[1])
    opt = torch.optim.AdamW(prior.parameters(), lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, min(100, steps // 10), lr)
        i = torch.randint(len(data["text_emb"]), (batch_size,), generator=gen)
        loss = (1 - (prior(data["text_emb"][i].float()) * data["image_emb"][i].float()).sum(1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return prior.eval(), {"prior_loss": losses}


def train_decoder(data, steps=5000, batch_size=128, lr=2e-3, warmup=100, p_uncond=0.1, seed=0, progress=True,
                  threads="auto", widths=DECODER_WIDTHS, device=None, patch=1, ema_decay=0.0, snr_gamma=None,
                  scale_emb=True):
    """Train a PixelDecoder on (picture, image embedding) pairs with the epsilon loss; the embedding is
    replaced by zeros for a share p_uncond of each batch (classifier-free guidance needs both).
    snr_gamma: Min-SNR loss weights (utils.diffusion.diffusion_loss); scale_emb: see PixelDecoder.

    ema_decay > 0 returns an exponential moving average of the weights instead of the last ones: the
    average of many nearby weights draws cleaner pictures than any one of them (Ho et al., 2020 used 0.9999).
    """
    from tqdm.auto import tqdm

    from .threads import ThreadGovernor, training_threads

    device = get_device(device) if not isinstance(device, torch.device) else device
    set_seed(seed)
    schedule = noise_schedule()
    model = PixelDecoder(widths, emb_dim=data["image_emb"].shape[1], patch=patch, scale_emb=scale_emb).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=0.0)
    ema = copy.deepcopy(model).eval().requires_grad_(False) if ema_decay else None
    gen = torch.Generator().manual_seed(seed)
    losses, n = [], len(data["pixels"])
    bar = tqdm(range(steps), desc="unCLIP decoder", disable=not progress)
    # "auto": up to every core, fewer while other programs keep them busy. Not torch's current setting, which
    # the notebooks lower to one thread for sampling (training on one thread took 1.8 times as long).
    governor_threads = ThreadGovernor(os.cpu_count() or 1) if threads == "auto" else training_threads(threads)
    with governor_threads as governor:
        for step in bar:
            for group in opt.param_groups:
                group["lr"] = lr_at(step, steps, warmup, lr)
            i = torch.randint(n, (batch_size,), generator=gen)
            x0 = data["pixels"][i].float() / 127.5 - 1                       # pictures in [-1, 1]
            drop = torch.rand(batch_size, generator=gen) < p_uncond
            emb = data["image_emb"][i].float().masked_fill(drop[:, None], 0.0)
            loss = diffusion.diffusion_loss(model, schedule, x0.to(device), gen, snr_gamma, emb=emb.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)   # one bad batch should not wreck the run
            opt.step()
            if ema is not None:
                # early on the average follows the weights closely (1 + step) / (10 + step); later it is slow
                decay = min(ema_decay, (1 + step) / (10 + step))
                with torch.no_grad():
                    for e, p in zip(ema.parameters(), model.parameters()):
                        e.lerp_(p, 1 - decay)
            losses.append(loss.item())
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}")
            governor.tick()
    return (model if ema is None else ema).eval(), {"decoder_loss": losses}


def train_unclip(clip_model, seed=0, progress=True, device=None, **settings):
    """Decoder and prior for a CLIP; returns ((decoder, prior), history with losses and seconds)."""
    unknown = set(settings) - set(TRAIN_SETTINGS)
    if unknown:
        raise ValueError(f"Unknown training setting(s) {sorted(unknown)}; choose from {sorted(TRAIN_SETTINGS)}.")
    s = dict(TRAIN_SETTINGS, **settings)
    t0 = time.perf_counter()
    data = training_data(clip_model, s["n_train"], progress=progress)
    t1 = time.perf_counter()
    prior, history = train_prior(data, s["prior_steps"], s["prior_lr"], s["prior_batch"], seed)
    t2 = time.perf_counter()
    decoder, dec_history = train_decoder(data, s["steps"], s["batch_size"], s["lr"], s["warmup"], s["p_uncond"], seed,
                                         progress, s["threads"], device=device, ema_decay=s["ema_decay"],
                                         snr_gamma=s["snr_gamma"], scale_emb=s["scale_emb"])
    history.update(dec_history, settings=s, data_seconds=t1 - t0, prior_seconds=t2 - t1,
                   decoder_seconds=time.perf_counter() - t2)
    return (decoder, prior), history


# ---------------------------------------------------------------- checkpoints


def check_recipe(recipe):
    if recipe not in RECIPES:
        raise ValueError(f"Unknown mini-unCLIP recipe {recipe!r}; choose {' or '.join(map(repr, RECIPES))}.")
    return RECIPES[recipe]


def unclip_path(clip_model, seed=0, recipe="quick"):
    check_recipe(recipe)
    name = RECIPE if recipe == "quick" else f"{RECIPE}-{recipe}"
    return cache_dir("unclip") / f"unclip-{name}-clip{fingerprint(clip_model)}-seed{seed}.pt"


def save_unclip(decoder, prior, path, history=None):
    return save_atomic({"decoder": decoder.state_dict(), "decoder_config": decoder.config,
                        "prior": prior.state_dict(), "prior_config": prior.config, "history": history or {}}, path)


def read_unclip(path, device=None):
    """((decoder, prior), history) from a checkpoint; a damaged file is one clear error."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        decoder, prior = PixelDecoder(**ckpt["decoder_config"]), Prior(**ckpt["prior_config"])
        decoder.load_state_dict(ckpt["decoder"])
        prior.load_state_dict(ckpt["prior"])
    except Exception as err:
        raise RuntimeError(f"Could not load the mini-unCLIP checkpoint {path} ({type(err).__name__}); delete it "
                           "and it will be retrained on the next load_unclip().") from None
    device = get_device(device) if not isinstance(device, torch.device) else device
    return (decoder.to(device).eval(), prior.to(device).eval()), ckpt["history"]


def load_unclip(seed=0, device=None, clip_model=None, progress=True, recipe="quick"):
    """((decoder, prior), history) for the tiny CLIP, trained and cached on first use.

    recipe "quick" (TRAIN_SETTINGS, about 5 minutes on a 2-core CPU) or "long" (TRAIN_SETTINGS_LONG: the
    recipe of the GPU search, 5,000 steps of 128 with the plain loss; about 40 minutes on that CPU, a few on a GPU).
    """
    from .models import load_clip

    settings = check_recipe(recipe)
    clip_model = load_clip("tiny", device=device)[0] if clip_model is None else clip_model
    path = train_once(unclip_path(clip_model, seed, recipe), f"the mini-unCLIP (decoder and prior, {recipe} recipe)",
                      train=lambda: train_unclip(clip_model, seed=seed, progress=progress, device=device, **settings),
                      save=lambda models, path, history: save_unclip(*models, path, history),
                      how_long=" (about 5 min on a 2-core CPU)" if recipe == "quick" else " (about 40 min on a 2-core CPU)")
    return read_unclip(path, device)


# ---------------------------------------------------------------- sampling


def check_prompt(prompt):
    """The same words as the mini-DALL·E: a word the Shapes captions never use is an error, not ignored."""
    encode_text(prompt)


@torch.no_grad()
def decode(decoder, emb, seed=0, guidance=None, ddim_steps=None, threads=1):
    """Pictures (N, 3, 32, 32) in [0, 1] for N image embeddings, by guided DDIM from seeded noise."""
    guidance = SAMPLE_DEFAULTS["guidance"] if guidance is None else guidance
    ddim_steps = SAMPLE_DEFAULTS["ddim_steps"] if ddim_steps is None else ddim_steps
    if not isinstance(guidance, (int, float)) or not math.isfinite(guidance) or guidance < 0:
        raise ValueError(f"guidance must be a number of at least 0 (1 = no guidance), got {guidance!r}.")
    device = next(decoder.parameters()).device
    x = torch.randn((len(emb), 3, 32, 32), generator=torch.Generator().manual_seed(seed)).to(device)
    null = torch.zeros(1, emb.shape[1], device=device)
    eps_fn = lambda x_t, t: diffusion.guided_eps(decoder, x_t, t, emb.to(device), guidance, null)
    with torch_threads(threads):
        x = diffusion.sample_ddim(eps_fn, x.shape, noise_schedule(), ddim_steps, device=device, x=x)
    return ((x.clamp(-1, 1) + 1) / 2).cpu()


def slerp(a, b, weight):
    """The point a fraction `weight` of the way from unit vector a to unit vector b along the sphere."""
    omega = torch.arccos((a * b).sum(-1, keepdim=True).clamp(-1, 1))
    so = torch.sin(omega).clamp(min=1e-8)
    return torch.sin((1 - weight) * omega) / so * a + torch.sin(weight * omega) / so * b


_MODELS = {}


def default_models(device):
    """The tiny mini-unCLIP (decoder, prior) and CLIP, loaded once per process."""
    key = str(device)
    if key not in _MODELS:
        from .models import load_clip

        clip_model, _ = load_clip("tiny", device=device)
        (decoder, prior), _ = load_unclip(device=device, clip_model=clip_model)
        _MODELS[key] = (decoder, prior, clip_model)
    return _MODELS[key]


def sample_images(prompt, seed=0, n_samples=None, guidance=None, ddim_steps=None, use_prior=True, decoder=None,
                  prior=None, clip_model=None, device=None, threads=1):
    """n_samples pictures of a prompt in drawing order: {"images", "scores" (CLIP cosines), "seconds"}.

    use_prior=False feeds the prompt's text embedding straight to the decoder (no prior), to compare.
    """
    from .generation import clip_score  # imported here: the networks above need neither clip nor taming

    check_prompt(prompt)  # before any model is loaded
    n_samples = SAMPLE_DEFAULTS["n_samples"] if n_samples is None else n_samples
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a whole number of at least 1, got {n_samples!r}.")
    device = get_device(device) if not isinstance(device, torch.device) else device
    if decoder is None or prior is None or clip_model is None:
        d_decoder, d_prior, d_clip = default_models(device)
        decoder, prior, clip_model = decoder or d_decoder, prior or d_prior, clip_model or d_clip
    start = time.perf_counter()
    with torch_threads(threads):
        text = embed_texts(clip_model, [prompt], progress=False)                 # (1, D)
        emb = prior(text.to(next(prior.parameters()).device)).cpu() if use_prior else text
        images = decode(decoder, emb.repeat(n_samples, 1), seed, guidance, ddim_steps, threads=None)
        scores = clip_score(clip_model, images, prompt).reshape(-1)             # as utils.dalle scores its samples
    return {"images": images, "scores": scores, "seconds": time.perf_counter() - start}


def generate(prompt, seed=0, n_samples=None, guidance=None, ddim_steps=None, decoder=None, prior=None,
             clip_model=None, device=None, threads=1):
    """Draw n_samples (default 8) pictures of `prompt` and re-rank them with CLIP, as utils.dalle.generate.

    Returns (best_image, samples): samples is a list of (PIL image, CLIP cosine) pairs, best first.
    Prompts may use only the Shapes caption words; any other word raises a ValueError naming it.
    """
    from .vqgan import to_pil

    out = sample_images(prompt, seed, n_samples, guidance, ddim_steps, True, decoder, prior, clip_model, device,
                        threads)
    order = out["scores"].argsort(descending=True).tolist()
    samples = [(to_pil(out["images"][i] * 2 - 1), float(out["scores"][i])) for i in order]
    return samples[0][0], samples


def evaluate_prompts(compositions=None, seeds=(0,), n_samples=None, guidance=None, ddim_steps=None, use_prior=True,
                     decoder=None, prior=None, clip_model=None, device=None, progress=True, judge=None):
    """The mini-unCLIP graded as lesson 07 grades the mini-DALL·E: utils.judge.evaluate_generator on
    sample_images (its docstring names what is returned); use_prior=False feeds the text embedding straight in."""
    from .judge import evaluate_generator

    def draw(prompt, seed):
        return sample_images(prompt, seed, n_samples, guidance, ddim_steps, use_prior, decoder, prior, clip_model,
                             device)

    return evaluate_generator(draw, compositions, seeds, judge, progress)

