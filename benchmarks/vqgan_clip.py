"""VQGAN+CLIP in tiny mode: speed, colour match on the 24 prompts, and the adversarial contrast.

    python benchmarks/vqgan_clip.py [--seeds 0 1 2]

Uses the cached tiny CLIP (seed 0 and, for the second opinion, seed 1) and tiny VQGAN, training
them first if the cache is empty. Prints steps/s, seconds per image, the share of the 24
"a photo of a {colour} {shape}" prompts whose generated picture has the prompt's dominant colour
(measured from the pixels by utils.pixels, per seed), and how two CLIPs classify pixel-space and
VQGAN+CLIP results.
"""
import argparse
import os
import time

import utils  # noqa: F401
import torch
import torch.nn.functional as F

from utils import generation, pixels, shapes
from utils.models import load_clip, tokenize
from utils.vqgan import load_vqgan


def judge(model, images):
    with torch.no_grad():
        text = F.normalize(model.encode_text(tokenize(shapes.prompts(), model)).float(), dim=-1)
        img = generation.clip_image_features(model, shapes.to_tensor(images))
    return (img @ text.T).argmax(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    os.environ.setdefault("COURSE_MODE", "tiny")
    torch.set_num_threads(2)
    clip_a, _ = load_clip("tiny", device="cpu", progress=False)
    clip_b, _ = load_clip("tiny-seed1", device="cpu", progress=False)
    vqgan = load_vqgan("tiny", device="cpu")
    print(f"load: {os.getloadavg()} | defaults: {generation.TINY_DEFAULTS}")

    prompts, colours = shapes.prompts(), [c for c, _ in shapes.CLASSES]
    labels = torch.arange(len(prompts))
    for seed in args.seeds:
        images, steps, t0 = [], 0, time.perf_counter()
        for p in prompts:
            img, hist = generation.generate(p, seed=seed, clip_model=clip_a, vqgan=vqgan, progress=False, device="cpu")
            images.append(img)
            steps += hist["settings"]["steps"]
        secs = time.perf_counter() - t0
        match = pixels.colour_match_rate(images, colours)
        acc_a = (judge(clip_a, images) == labels).float().mean().item()
        acc_b = (judge(clip_b, images) == labels).float().mean().item()
        print(f"seed {seed}: colour match {match:.1%} | {steps / secs:.1f} steps/s, {secs / len(prompts):.2f} s/image"
              f" | class judged right by CLIP A {acc_a:.0%}, by CLIP B {acc_b:.0%}")

    t0 = time.perf_counter()
    pix = [generation.optimise_pixels(p, clip_a, steps=200, size=32, seed=0, progress=False)[0] for p in prompts]
    secs = time.perf_counter() - t0
    acc_a = (judge(clip_a, pix) == labels).float().mean().item()
    acc_b = (judge(clip_b, pix) == labels).float().mean().item()
    print(f"pixel space (200 steps, {secs / len(prompts):.2f} s/image): judged right by CLIP A {acc_a:.0%},"
          f" by CLIP B {acc_b:.0%}, colour match {pixels.colour_match_rate(pix, colours):.0%}")


if __name__ == "__main__":
    main()
