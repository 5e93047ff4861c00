"""Train the tiny VQGAN from scratch into a temporary folder and print what it costs and reaches.

    .venv/bin/python benchmarks/train_tiny_vqgan.py [--steps N] [--seed S] [--threads T]

Prints wall time, CPU time, machine load (other jobs inflate wall time), PSNR on fresh Shapes images
(rendered, background noise included), codebook usage and perplexity. Nothing in the cache is touched.
"""
import argparse
import inspect
import os
import tempfile
import time

import torch

import utils  # noqa: F401  (shims before taming)
from utils import vqgan


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the library's)")
    parser.add_argument("--seed", type=int, default=vqgan.TRAIN_SEED)
    parser.add_argument("--eval-images", type=int, default=512)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads (on a machine shared with other jobs, 1 is often faster)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    default_steps = inspect.signature(vqgan.train_vqgan).parameters["steps"].default
    steps = default_steps if args.steps is None else args.steps
    load_before = os.getloadavg()[0]
    t0, c0 = time.time(), time.process_time()
    model, history = vqgan.train_vqgan(steps=steps, seed=args.seed, device="cpu")
    wall, cpu = time.time() - t0, time.process_time() - c0
    load_after = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = vqgan.save_vqgan(model, os.path.join(tmp, "tiny.pt"), vqgan.TINY_CONFIG, history)
        model = vqgan.load_vqgan(str(path), device="cpu")  # score what a learner would load
        scores = vqgan.evaluate_vqgan(model, n=args.eval_images)
    print(f"steps           {steps} (batch 32)")
    print(f"wall time       {wall:.0f} s  (CPU time {cpu:.0f} s on {torch.get_num_threads()} threads; "
          f"load average {load_before:.1f} before, {load_after:.1f} after, {os.cpu_count()} cores)")
    print(f"PSNR            {scores['psnr']:.2f} dB on {scores['n']} fresh images (seed {vqgan.EVAL_SEED})")
    print(f"codebook usage  {scores['usage']:.0%} of {model.quantize.n_e} codes, perplexity {scores['perplexity']:.1f}")


if __name__ == "__main__":
    main()
