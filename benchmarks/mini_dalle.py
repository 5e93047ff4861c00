"""Train the mini-DALL·E from scratch and compare it with lesson 06's VQGAN+CLIP on the 24 class prompts.

    python benchmarks/mini_dalle.py [--seeds 0 1 2] [--lesson06-prompts 24] [--save-cache]

The tiny VQGAN and CLIP come from the course cache (trained there on first use); everything the
mini-DALL·E writes (encoded images, checkpoint) goes to a temporary cache, so the run really starts
from scratch (use --save-cache to store the trained transformer as the course's cached one).
Prints: encoding and training time, final text/image losses; for the CLIP re-ranked best-of-8, a random pick and the mean over
the 8: colour from the pixels and colour, shape and both from the independent judge
(utils/judge.py), for all, seen and held-out compositions; how often the pick is worse than a
random one; seconds per image; and the same for utils.generation.generate (lesson 06).
"""
import argparse
import os
import tempfile
import time

import utils  # noqa: F401  (compatibility shims before clip/taming)
import numpy as np
import torch

from utils import dalle, shapes
from utils.judge import judge_accuracy, load_judge
from utils.models import load_clip
from utils.vqgan import load_vqgan


def rate(rows, key, heldout=None):
    rows = [r for r in rows if heldout is None or r["heldout"] == heldout]
    return float(np.mean([r[key] for r in rows])), len(rows)


def report(name, result):
    rows = result["rows"]
    print(f"\n{name}: {len(rows)} prompt x seed cases, {result['seconds_per_image']:.3f} s per image "
          f"({result['seconds_per_prompt']:.2f} s per prompt incl. decoding and CLIP scoring)")
    print("  judged by the independent judge (utils/judge.py) and, for colour, the pixels (utils/pixels.py):")
    for label, held in (("all", None), ("seen compositions", False), ("held-out compositions", True)):
        cells = []
        for choice in ("best", "random", "mean"):
            both, n = rate(rows, f"{choice}_judge_both", held)
            colour, _ = rate(rows, f"{choice}_judge_colour", held)
            shape, _ = rate(rows, f"{choice}_judge_shape", held)
            pixel, _ = rate(rows, f"{choice}_colour", held)
            cells.append(f"{choice}: colour {colour:.0%} (pixels {pixel:.0%}) shape {shape:.0%} both {both:.0%}")
        print(f"  {label:22s} n={n:3d} | " + " | ".join(cells))
    worse, n = rate(rows, "best_worse_than_random")
    print(f"  CLIP's pick is wrong (colour and shape) while a random pick is right in {worse:.0%} of {n} cases")


def lesson06(prompts, clip_model, seeds, judge):
    """utils.generation.generate with its defaults: colour (pixels) and the judge's verdicts, seconds per image."""
    from utils.generation import generate
    from utils.pixels import dominant_colour

    images, classes, seconds = [], [], []
    for seed in seeds:
        for colour, shape in prompts:
            prompt = shapes.PROMPT.format(colour=colour, shape=shape)
            start = time.perf_counter()
            image, _ = generate(prompt, seed=seed, progress=False)
            seconds.append(time.perf_counter() - start)
            images.append(image)
            classes.append((colour, shape))
            print(f"  lesson 06 {prompt!r} seed {seed}: {dominant_colour(image)} in {seconds[-1]:.1f} s", flush=True)
    verdict = judge_accuracy(judge, images, classes)
    pixel = np.mean([dominant_colour(im) == c for im, (c, _) in zip(images, classes)])
    print(f"\nlesson 06 VQGAN+CLIP (generation.generate defaults), {len(images)} cases: colour (pixels) {pixel:.0%}, "
          f"judge: colour {verdict['colour']:.0%}, shape {verdict['shape']:.0%}, both {verdict['both']:.0%}; "
          f"{np.mean(seconds):.1f} s per image")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="generation seeds per prompt")
    parser.add_argument("--lesson06-prompts", type=int, default=24, help="how many of the 24 prompts for lesson 06 (0: skip)")
    parser.add_argument("--lesson06-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the whole run (lesson 06 too); on a busy 2-core machine 2 threads "
                             "were measured 20-40x slower than 1 for these tiny models")
    parser.add_argument("--save-cache", action="store_true", help="store the trained transformer as the course's cached one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"load before: {os.getloadavg()} on {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    vqgan = load_vqgan("tiny", device="cpu")
    clip_model, _ = load_clip("tiny", device="cpu")
    judge = load_judge()   # from the course cache, before the temporary one replaces it
    real_cache = os.environ.get("COURSE_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COURSE_CACHE"] = tmp  # the mini-DALL·E's codes and checkpoint start from nothing
        start = time.perf_counter()
        data = dalle.shapes_codes(vqgan, dalle.TRAIN_SETTINGS["n_train"], dalle.DATA_SEED, "train")
        encode = time.perf_counter() - start
        model, hist = dalle.train_dalle(vqgan, seed=args.seed, device="cpu", data=data)
        print(f"settings: {hist['settings']}\nmodel: {hist['model_config']}, "
              f"{sum(p.numel() for p in model.parameters()):,} parameters")
        print(f"render + VQGAN-encode {len(data['codes'])} images: {encode:.1f} s (cached after the first run)")
        print(f"training loop: {hist['seconds']:.1f} s with {hist['threads']} torch thread(s); load now {os.getloadavg()}")
        last = slice(-50, None)
        print(f"final training loss (mean of last 50 steps): text {np.mean(hist['text'][last]):.3f}, "
              f"image {np.mean(hist['image'][last]):.3f} (first step: text {hist['text'][0]:.3f}, image {hist['image'][0]:.3f})")
        print(f"fresh images: seen compositions text {hist['val']['text']:.3f} / image {hist['val']['image']:.3f}; "
              f"held-out compositions text {hist['heldout']['text']:.3f} / image {hist['heldout']['image']:.3f}")
        if args.save_cache:
            if real_cache is None:
                del os.environ["COURSE_CACHE"]
            else:
                os.environ["COURSE_CACHE"] = real_cache
            print("saved", dalle.save_dalle(model, dalle.dalle_path(vqgan, args.seed), hist))
            os.environ["COURSE_CACHE"] = tmp
        print(f"generation defaults: {dalle.GENERATE_DEFAULTS}")
        result = dalle.evaluate_prompts(seeds=args.seeds, model=model, vqgan=vqgan, clip_model=clip_model, device="cpu",
                                        judge=judge)
        report(f"mini-DALL·E, seeds {args.seeds}", result)
        for k in (8, 256):
            for t in (0.7, 1.0):
                if (t, k) == (dalle.GENERATE_DEFAULTS["temperature"], dalle.GENERATE_DEFAULTS["top_k"]):
                    continue
                res = dalle.evaluate_prompts(seeds=args.seeds[:1], temperature=t, top_k=k, model=model, vqgan=vqgan,
                                             clip_model=clip_model, device="cpu", progress=False, judge=judge)
                print(f"  temperature {t}, top_k {k}, seed {args.seeds[0]}: colour best-of-8 {res['best_colour']:.0%}, "
                      f"random {res['random_colour']:.0%}, mean {res['mean_colour']:.0%}; judge both: best "
                      f"{res['best_judge_both']:.0%}, mean {res['mean_judge_both']:.0%}")
    if real_cache is None:
        os.environ.pop("COURSE_CACHE", None)
    else:
        os.environ["COURSE_CACHE"] = real_cache
    if args.lesson06_prompts:
        lesson06(list(shapes.CLASSES)[:args.lesson06_prompts], clip_model, args.lesson06_seeds, judge)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
