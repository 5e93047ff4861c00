"""Which re-ranking picks the best of the mini-DALL·E's 8 samples? Judged by the independent judge.

    python benchmarks/rerank.py [--seeds 0 1 ... 14]

Lesson 07's investigation. For each of the 24 prompts "a photo of a {colour} {shape}" and each seed,
the cached mini-DALL·E draws 8 samples (dalle.sample_images, the defaults). Every sample is read by
the independent judge of utils/judge.py (colour, shape, or "none" for an empty picture), and each
ranking rule below picks one sample:
- cosine: CLIP A's cosine to the prompt (what dalle.generate uses);
- margin: that cosine minus the highest cosine to a class prompt of another colour or shape;
- softmax over 24: CLIP A's zero-shot probability of the prompt among the 24 class prompts;
- cosine - mean cosine: the cosine minus the mean cosine to the 24 class prompts;
- cosine among CLIP-colour = prompt: the cosine, among the samples whose zero-shot class has the
  prompt's colour (all samples if none has);
- cosine among foreground >= 0.01: the cosine, among samples with at least 1 % saturated pixels;
- two CLIPs: the sum of the cosines of CLIP A (seed 0) and CLIP B (seed 1).
Also prints, for seen and held-out compositions, how often all samples and CLIP's pick are right.
Prints, per rule, how often its pick has the right colour, shape and both, how often it is wrong
while a random pick (seeded, one per case) is right, and how many picks the judge calls empty. It
also prints how CLIP A's cosine and the mean cosine differ between judged groups of samples.
Uses the cached tiny models (trained first if the cache is empty); about 20 s per seed, one thread.
"""
import argparse
import collections

import utils  # noqa: F401
import numpy as np
import torch

from utils import dalle, generation, shapes
from utils.judge import load_judge
from utils.models import load_clip
from utils.pixels import foreground_fraction


def sample_table(seeds):
    """One dict per sample: prompt class, seed, judge verdict, CLIP A and B cosines to all 24 prompts."""
    model, vqgan, clip_a = dalle.default_models(torch.device("cpu"))
    clip_b, _ = load_clip("tiny-seed1", device="cpu", progress=False)
    judge = load_judge(progress=False)
    prompts = shapes.prompts()
    text_a, _ = generation.text_targets(clip_a, [(p, 1.0) for p in prompts])   # (24, E)
    text_b, _ = generation.text_targets(clip_b, [(p, 1.0) for p in prompts])
    rows = []
    for seed in seeds:
        for k, (colour, shape) in enumerate(shapes.CLASSES):
            out = dalle.sample_images(prompts[k], seed=seed, model=model, vqgan=vqgan, clip_model=clip_a, device="cpu")
            with torch.no_grad():
                cos_a = generation.clip_image_features(clip_a, out["images"]) @ text_a.T   # (8, 24)
                cos_b = generation.clip_image_features(clip_b, out["images"]) @ text_b.T
            said = judge.predict(out["images"])
            for i in range(len(said)):
                rows.append(dict(seed=seed, k=k, colour=colour, shape=shape, judged=said[i],
                                 cos_a=cos_a[i].tolist(), cos_b=cos_b[i].tolist(),
                                 fg=foreground_fraction(out["images"][i])))
    return rows, float(clip_a.logit_scale.exp())


def right(r, what):
    colour, shape = r["judged"][0] == r["colour"], r["judged"][1] == r["shape"]
    return {"colour": colour, "shape": shape, "both": colour and shape}[what]


def rules(scale):
    def cos(r):
        return r["cos_a"][r["k"]]

    def margin(r):
        rivals = [v for j, v in enumerate(r["cos_a"]) if shapes.CLASSES[j] != (r["colour"], r["shape"])]
        return cos(r) - max(rivals)

    def softmax(r):
        return torch.softmax(scale * torch.tensor(r["cos_a"]), 0)[r["k"]].item()

    def among(keep, key):
        return lambda g: max([r for r in g if keep(r)] or g, key=key)

    def clip_colour(r):
        return shapes.CLASSES[int(np.argmax(r["cos_a"]))][0] == r["colour"]

    return {
        "cosine (dalle.generate)": lambda g: max(g, key=cos),
        "margin over other colours/shapes": lambda g: max(g, key=margin),
        "softmax over 24 prompts": lambda g: max(g, key=softmax),
        "cosine - mean cosine": lambda g: max(g, key=lambda r: cos(r) - np.mean(r["cos_a"])),
        "cosine among CLIP-colour = prompt": among(clip_colour, cos),
        "cosine among foreground >= 0.01": among(lambda r: r["fg"] >= 0.01, cos),
        "two CLIPs (A + B cosines)": lambda g: max(g, key=lambda r: cos(r) + r["cos_b"][r["k"]]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(15)))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, scale = sample_table(args.seeds)
    groups = collections.defaultdict(list)
    for r in rows:
        groups[r["seed"], r["k"]].append(r)
    rng = np.random.default_rng(0)
    picks = {key: g[rng.integers(len(g))] for key, g in groups.items()}
    print(f"{len(groups)} cases (24 prompts x {len(args.seeds)} seeds), 8 samples each")
    for name, test in (("judged right (colour and shape)", lambda r: right(r, "both")),
                       ("judged empty", lambda r: r["judged"] == ("none", "none"))):
        xs = [r for r in rows if test(r)]
        print(f"  samples {name}: {len(xs)}, CLIP A cosine to the prompt {np.mean([r['cos_a'][r['k']] for r in xs]):.3f}, "
              f"mean cosine to the 24 prompts {np.mean([np.mean(r['cos_a']) for r in xs]):.3f}")
    print(f"| ranking | colour | shape | both | wrong while random is right | empty picks |\n|---|---|---|---|---|---|")
    for name, pick in rules(scale).items():
        chosen = {key: pick(g) for key, g in groups.items()}
        cells = [f"{np.mean([right(r, w) for r in chosen.values()]):.0%}" for w in ("colour", "shape", "both")]
        worse = sum((not right(chosen[k], "both")) and right(picks[k], "both") for k in groups)
        empty = sum(r["judged"][1] == "none" for r in chosen.values())
        print(f"| {name} | " + " | ".join(cells) + f" | {worse} of {len(groups)} | {empty} |")
    cells = [f"{np.mean([right(r, w) for r in picks.values()]):.0%}" for w in ("colour", "shape", "both")]
    print("| random pick | " + " | ".join(cells) + " | | |")

    # Held-out compositions (never in the transformer's training data) against seen ones, on every sample.
    best = rules(scale)["cosine (dalle.generate)"]
    for name, held in (("seen", False), ("held-out", True)):
        keys = [k for k in groups if (shapes.CLASSES[k[1]] in shapes.HELDOUT) == held]
        samples = [r for k in keys for r in groups[k]]
        print(f"{name:8s} {len(keys):3d} cases: all samples colour {np.mean([right(r, 'colour') for r in samples]):.0%}, "
              f"shape {np.mean([right(r, 'shape') for r in samples]):.0%}, both {np.mean([right(r, 'both') for r in samples]):.0%}"
              f" | CLIP's pick both {np.mean([right(best(groups[k]), 'both') for k in keys]):.0%}")


if __name__ == "__main__":
    main()
