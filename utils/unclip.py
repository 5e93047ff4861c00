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
  so a decoder trained on image embeddings cannot take text embeddings directly. Ours is a small
  regression network (DALL·E 2 also tried an autoregressive and a diffusion prior).

Status: the networks and the recipe search (benchmarks/unclip/). Training on first use, `generate`
and lesson 08 come next (issue #14).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


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
    widths a, b, c), a ResBlock per level, skips joined by concatenation, FiLM conditioning as above."""

    def __init__(self, widths=(16, 32, 64), emb_dim=128):
        super().__init__()
        a, b, c = widths
        self.config = dict(widths=tuple(widths), emb_dim=emb_dim)
        cond_dim, self.t_dim = 2 * c, c
        self.cond = nn.Sequential(nn.Linear(c + emb_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.inp = nn.Conv2d(3, a, 3, padding=1)
        self.res1, self.down1 = ResBlock(a, cond_dim), nn.Conv2d(a, b, 3, stride=2, padding=1)
        self.res2, self.down2 = ResBlock(b, cond_dim), nn.Conv2d(b, c, 3, stride=2, padding=1)
        self.mid1, self.mid2 = ResBlock(c, cond_dim), ResBlock(c, cond_dim)
        self.join2, self.res3 = nn.Conv2d(c + b, b, 3, padding=1), ResBlock(b, cond_dim)
        self.join1, self.res4 = nn.Conv2d(b + a, a, 3, padding=1), ResBlock(a, cond_dim)
        self.out = nn.Sequential(nn.GroupNorm(8, a), nn.SiLU(), nn.Conv2d(a, 3, 3, padding=1))

    def forward(self, x, t, emb):
        cond = self.cond(torch.cat([timestep_embedding(t, self.t_dim), emb], dim=1))
        h1 = self.res1(self.inp(x), cond)                                   # 32 x 32
        h2 = self.res2(self.down1(h1), cond)                                # 16 x 16
        h = self.mid2(self.mid1(self.down2(h2), cond), cond)                # 8 x 8
        h = self.res3(self.join2(torch.cat([F.interpolate(h, scale_factor=2), h2], 1)), cond)
        h = self.res4(self.join1(torch.cat([F.interpolate(h, scale_factor=2), h1], 1)), cond)
        return self.out(h)


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
