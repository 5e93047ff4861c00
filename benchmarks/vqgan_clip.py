"""VQGAN+CLIP in tiny mode: speed, and what the decoder and the cutouts each contribute.

    python benchmarks/vqgan_clip.py [--seeds 0] [--drawers pixels "pixel art" VQGAN]

Lesson 06's experiment. For each drawer (raw pixels, pixel art of 8 x 8 cells, VQGAN latents)
and each view (CLIP sees the whole picture, or 16 augmented cutouts per step), it draws the 24
"a photo of a {colour} {shape}" prompts by optimising against the tiny CLIP A (seed 0), then
asks four judges whether each picture shows its prompt:
- CLIP A, the one optimised against (zero-shot over the 24 prompts);
- CLIP B, trained the same way with seed 1 (a second opinion that was never optimised against);
- the independent judge of utils/judge.py (a supervised CNN), for colour, shape, and both;
- the dominant colour read from the pixels (utils/pixels.py).
Uses the cached tiny models (trained first if the cache is empty). Prints one table per seed and
the mean over seeds, and the time per picture.
"""
import argparse
import os
import time

import utils  # noqa: F401
import numpy as np
import torch
import torch.nn.functional as F

from utils import generation, pixels, shapes
from utils.judge import judge_accuracy, load_judge
from utils.models import load_clip, tokenize
from utils.vqgan import load_vqgan

VIEWS = {"whole picture": 0, "16 cutouts": 16}


def clip_says(model, images):
    """Index of the prompt each picture is classified as by zero-shot over the 24 prompts."""
    with torch.no_grad():
        text = F.normalize(model.encode_text(tokenize(shapes.prompts(), model)).float(), dim=-1)
        img = generation.clip_image_features(model, shapes.to_tensor(images))
    return (img @ text.T).argmax(1)


def score(images, clip_a, clip_b, judge):
    labels = torch.arange(len(shapes.CLASSES))
    verdict = judge_accuracy(judge, images, shapes.CLASSES)
    return {"CLIP A": (clip_says(clip_a, images) == labels).float().mean().item(),
            "CLIP B": (clip_says(clip_b, images) == labels).float().mean().item(),
            "judge colour": verdict["colour"], "judge shape": verdict["shape"], "judge both": verdict["both"],
            "pixel colour": pixels.colour_match_rate(images, [c for c, _ in shapes.CLASSES])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="one seed is 24 pictures per cell, about 20 minutes on one busy CPU thread")
    parser.add_argument("--drawers", nargs="+", default=list(generation.DRAWERS), choices=generation.DRAWERS)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("COURSE_MODE", "tiny")
    torch.set_num_threads(args.threads)
    clip_a, _ = load_clip("tiny", device="cpu", progress=False)
    clip_b, _ = load_clip("tiny-seed1", device="cpu", progress=False)
    vqgan = load_vqgan("tiny", device="cpu")
    judge = load_judge()
    print(f"load: {os.getloadavg()} | threads: {args.threads} | VQGAN defaults: {generation.TINY_DEFAULTS}"
          f" | pixel drawers: {generation.PIXEL_SETTINGS}")

    results = {}
    for seed in args.seeds:
        for drawer in args.drawers:
            for view, cutouts in VIEWS.items():
                t0 = time.perf_counter()
                images = [generation.draw_with(drawer, p, clip_a, vqgan, cutouts=cutouts, seed=seed)
                          for p in shapes.prompts()]
                seconds = (time.perf_counter() - t0) / len(images)
                results[seed, drawer, view] = {**score(images, clip_a, clip_b, judge), "s/picture": seconds}
                row = results[seed, drawer, view]
                print(f"seed {seed} | {drawer:9s} | {view:13s} | " + " | ".join(f"{k} {v:.0%}" if k != "s/picture"
                      else f"{v:.2f} s/picture" for k, v in row.items()), flush=True)

    keys = list(next(iter(results.values())))
    print(f"\nMean over seeds {args.seeds} (24 prompts each), optimised against CLIP A:")
    print(f"| drawer | CLIP sees | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for drawer in args.drawers:
        for view in VIEWS:
            rows = [results[s, drawer, view] for s in args.seeds]
            cells = [f"{np.mean([r[k] for r in rows]):.2f} s" if k == "s/picture" else f"{np.mean([r[k] for r in rows]):.0%}"
                     for k in keys]
            print(f"| {drawer} | {view} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
