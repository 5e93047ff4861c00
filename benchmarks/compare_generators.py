"""Three ways to draw from a sentence, on the same prompts: lesson 06's VQGAN+CLIP, lesson 07's mini-DALL·E
and lesson 08's mini-unCLIP (with its prior, and with the text embedding fed straight in).

    python benchmarks/compare_generators.py [--seeds 0 1 2] [--threads 2] [--grid build/compare_generators.png]

For each of the 24 prompts "a photo of a {colour} {shape}" and each seed, the independent judge
(utils/judge.py) reads what each generator returns: VQGAN+CLIP's one optimised picture; CLIP's best of
8 samples for the mini-DALL·E and the mini-unCLIP (and, for these two, all 8: "mean of 8"). Printed per
generator: colour, shape and both right; the 4 held-out compositions (never in any training picture)
separately; two measures of variety: the kinds of picture among a prompt's 8 samples (different
(colour, shape) verdicts of the judge) and the pixel diversity, the mean root-mean-square pixel difference
between two pictures of one prompt (utils.pixels.mean_pairwise_distance: between the 8 samples of a seed,
and for VQGAN+CLIP between its pictures of the different seeds); seconds per returned picture here. The tiny models are
loaded from the cache (trained first if it is empty). Lesson 08's table is this script's output.
"""
import argparse
import time

import utils  # noqa: F401
import numpy as np
import torch

from utils import dalle, shapes, unclip
from utils.generation import generate as vqgan_clip_generate
from utils.judge import load_judge
from utils.models import load_clip
from utils.pixels import mean_pairwise_distance
from utils.vqgan import load_vqgan


def vqgan_clip_rows(seeds, clip_model, vqgan, judge):
    """One row per prompt: the judge on each seed's picture, diversity across the seeds, seconds per picture."""
    rows = []
    for colour, shape in shapes.CLASSES:
        prompt = shapes.PROMPT.format(colour=colour, shape=shape)
        pictures, start = [], time.perf_counter()
        for seed in seeds:
            image, _ = vqgan_clip_generate(prompt, seed=seed, progress=False, clip_model=clip_model, vqgan=vqgan)
            pictures.append(shapes.to_tensor([image])[0])
        seconds = (time.perf_counter() - start) / len(seeds)
        said = judge.predict(torch.stack(pictures))
        rows.append({"heldout": (colour, shape) in shapes.HELDOUT, "seconds": seconds,
                     "colour": np.mean([c == colour for c, _ in said]), "shape": np.mean([s == shape for _, s in said]),
                     "both": np.mean([(c, s) == (colour, shape) for c, s in said]),
                     "diversity": mean_pairwise_distance(torch.stack(pictures)) if len(seeds) > 1 else float("nan"),
                     "distinct": float("nan")})
    return rows


def sampled_rows(result):
    """evaluate_generator's rows (one per prompt and seed) in the same form, for CLIP's best of 8."""
    return [{"heldout": r["heldout"], "colour": r["best_judge_colour"], "shape": r["best_judge_shape"],
             "both": r["best_judge_both"], "mean_both": r["mean_judge_both"], "diversity": r["diversity"],
             "distinct": r["distinct"],
             "seconds": result["seconds_per_prompt"]} for r in result["rows"]]


def summary(rows):
    seen = [r for r in rows if not r["heldout"]]
    held = [r for r in rows if r["heldout"]]
    mean = lambda rs, k: float(np.mean([r[k] for r in rs]))  # noqa: E731
    out = {k: mean(seen, k) for k in ("colour", "shape", "both")}
    out.update(heldout_both=mean(held, "both"), diversity=float(np.nanmean([r["diversity"] for r in rows])),
               distinct=mean(rows, "distinct"), seconds=mean(rows, "seconds"))
    out["mean_both"] = mean(seen, "mean_both") if "mean_both" in rows[0] else float("nan")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the machine's cores)")
    parser.add_argument("--skip-vqgan-clip", action="store_true", help="leave out the slow one (minutes per seed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clip_model, _ = load_clip("tiny", device="cpu", progress=False)
    vqgan = load_vqgan("tiny", device="cpu")
    judge = load_judge(progress=False)
    dalle_model, _ = dalle.load_dalle(device="cpu", vqgan=vqgan, progress=False)
    (decoder, prior), _ = unclip.load_unclip(device="cpu", clip_model=clip_model, progress=False)

    results = {}
    common = dict(seeds=args.seeds, judge=judge, progress=False)
    results["mini-DALL·E (07), best of 8"] = sampled_rows(dalle.evaluate_prompts(
        model=dalle_model, vqgan=vqgan, clip_model=clip_model, device="cpu", **common))
    for name, use_prior in (("mini-unCLIP (08), best of 8", True), ("mini-unCLIP, no prior, best of 8", False)):
        results[name] = sampled_rows(unclip.evaluate_prompts(
            use_prior=use_prior, decoder=decoder, prior=prior, clip_model=clip_model, device="cpu", **common))
    if not args.skip_vqgan_clip:
        results["VQGAN+CLIP (06)"] = vqgan_clip_rows(args.seeds, clip_model, vqgan, judge)

    print(f"24 prompts x seeds {args.seeds}, judged by utils/judge.py; {args.threads} CPU threads\n")
    print("| generator | colour | shape | both | both, mean of 8 | held-out: both | kinds among 8 | pixel diversity "
          "| s per picture |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        s = summary(rows)
        mean8 = "—" if np.isnan(s["mean_both"]) else f"{s['mean_both']:.0%}"
        kinds = "—" if np.isnan(s["distinct"]) else f"{s['distinct']:.1f}"
        print(f"| {name} | {s['colour']:.0%} | {s['shape']:.0%} | {s['both']:.0%} | {mean8} | {s['heldout_both']:.0%} "
              f"| {kinds} | {s['diversity']:.3f} | {s['seconds']:.2f} |")
    print("\ncolour / shape / both: the 20 seen compositions; held-out: the 4 never trained on; kinds among 8: the "
          "different (colour, shape) verdicts among a prompt's 8 samples; pixel diversity: between the 8 samples of a "
          "seed (VQGAN+CLIP: between its pictures of the seeds); s per picture: one returned picture (for the "
          "samplers: 8 samples drawn and re-ranked by CLIP).")


if __name__ == "__main__":
    main()
