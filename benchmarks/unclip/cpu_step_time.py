"""CPU seconds per training step of the mini-unCLIP pixel decoder variants of sweep2.py / sweep3.py.

    python benchmarks/unclip/cpu_step_time.py [--threads 2] [--steps 10]

Run on an otherwise idle machine (the figures are what the 5-minute training target is judged by):
it prints, per variant, the mean time of --steps optimiser steps after 2 warm-up steps.
"""
import argparse
import time

import torch

from utils import diffusion as D
from utils.unclip import PixelDecoder

VARIANTS = {  # name: (widths, patch, batch size)
    "base (16,32,64) b128": ((16, 32, 64), 1, 128),
    "narrow (8,16,32) b128": ((8, 16, 32), 1, 128),
    "patch2 wide (32,64,128) b128": ((32, 64, 128), 2, 128),
    "patch2 (16,32,64) b128": ((16, 32, 64), 2, 128),
    "base b64": ((16, 32, 64), 1, 64),
    "base b32": ((16, 32, 64), 1, 32),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    schedule = D.Schedule(D.cosine_betas(1000))
    for name, (widths, patch, batch) in VARIANTS.items():
        torch.manual_seed(0)
        model = PixelDecoder(widths, patch=patch)
        opt = torch.optim.AdamW(model.parameters(), 2e-3)
        x0, emb = torch.rand(batch, 3, 32, 32) * 2 - 1, torch.randn(batch, 128)
        gen = torch.Generator().manual_seed(0)
        for step in range(args.steps + 2):
            if step == 2:
                start = time.perf_counter()
            loss = D.diffusion_loss(model, schedule, x0, gen, emb=emb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        per_step = (time.perf_counter() - start) / args.steps
        print(f"{name:32s} {per_step:.3f} s/step  (5,000 steps: {per_step * 5000 / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
