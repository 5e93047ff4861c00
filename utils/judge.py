"""An independent judge of Shapes pictures: a small supervised CNN that names colour and shape.

Lessons 06 and 07 make pictures that a CLIP optimised or chose. Asking a CLIP whether they are
right is circular, and `utils.pixels.dominant_colour` reads colour only. This judge is trained
with labels, not captions, never sees a CLIP, and knows two answers besides the classes:
"other" (a colour or shape of the wider Shapes world, e.g. a pink hexagon) and "none" (an empty
background), so a blank or off-world picture is not counted as right by luck.

    judge = load_judge()                       # trained on first use (~30 s on a CPU), then cached
    judge.predict(images)                      # [("red", "star"), ("none", "none"), ...]
    judge_accuracy(judge, images, classes)     # {"colour": 0.9, "shape": 0.7, "both": 0.65}

Its accuracy on the independent renderer of tests/independent_shapes.py is checked in
tests/test_judge.py.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageFilter

from . import shapes
from .model_cache import train_once
from .settings import cache_dir, save_atomic, set_seed
from .threads import ThreadGovernor

COLOURS = shapes.COLOUR_NAMES + ("other", "none")
SHAPES = shapes.SHAPES + ("other", "none")
SIZE = 32
# Shapes the judge learns to call "other". Not the hexagon: at 32 px it is hard to tell from a circle.
OTHER_SHAPES = ("cross", "crescent")
VERSION = 1  # bump when the recipe below changes: the cached file name carries it
SETTINGS = dict(n_images=6000, epochs=5, batch_size=128, lr=3e-3, empty=0.08, off_world=0.2)


class Judge(nn.Module):
    """Five small convolutions, then average- and max-pooling, then two heads (colour, shape)."""

    def __init__(self, width=24):
        super().__init__()
        w = width
        def block(c_in, c_out, stride=1):   # convolution, batch norm (trains in fewer steps), ReLU
            return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        self.features = nn.Sequential(
            *block(3, w), *block(w, w, 2),              # 16 x 16
            *block(w, 2 * w), *block(2 * w, 2 * w, 2),  # 8 x 8
            *block(2 * w, 4 * w),
        )
        # Max-pooling finds a small shape anywhere; average-pooling sees how much of the picture it fills.
        self.colour = nn.Linear(8 * w, len(COLOURS))
        self.shape = nn.Linear(8 * w, len(SHAPES))

    def forward(self, x):
        """x: (N, 3, 32, 32) in [0, 1] -> (colour logits (N, 8), shape logits (N, 6))."""
        h = self.features(x * 2 - 1)
        h = torch.cat([h.mean((2, 3)), h.amax((2, 3))], dim=1)
        return self.colour(h), self.shape(h)

    @torch.no_grad()
    def predict(self, images):
        """A list of (colour, shape) names, one per image (PIL images or a (N, 3, H, W) tensor in [0, 1])."""
        x = as_batch(images).to(next(self.parameters()).device)
        colour, shape = self(x)
        return [(COLOURS[c], SHAPES[s]) for c, s in zip(colour.argmax(1).tolist(), shape.argmax(1).tolist())]


def as_batch(images):
    """PIL images or a tensor -> a float (N, 3, 32, 32) tensor in [0, 1] (other sizes are resized)."""
    if isinstance(images, torch.Tensor):
        x = images.float()
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"The judge takes images as (N, 3, H, W); got a tensor of shape {tuple(x.shape)}.")
    else:   # PIL images may differ in size: bring each to 32 x 32 first (LANCZOS, as a downscale should)
        x = shapes.to_tensor([im.convert("RGB").resize((SIZE, SIZE), Image.LANCZOS) for im in images])
    if x.shape[-2:] != (SIZE, SIZE):
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0, 1)


def render_labelled(n, seed=0, empty=0.08, off_world=0.2):
    """n training pictures with (colour, shape) label indices into COLOURS and SHAPES.

    Objects are drawn by utils.shapes at the world's sizes and a bit smaller; `empty` of them are
    bare backgrounds ("none"); `off_world` get a colour or a shape from outside the 24 classes ("other").
    Half the pictures are blurred a little, as a decoder's pictures are.
    """
    rng = np.random.default_rng([seed, 7])
    images, colours, shape_labels = [], [], []
    for _ in range(n):
        if rng.random() < empty:
            objects, c, s = [], "none", "none"
        else:
            c, s = rng.choice(shapes.COLOUR_NAMES), rng.choice(shapes.SHAPES)
            if rng.random() < off_world:   # half of these get a colour, half a shape from outside the classes
                if rng.random() < 0.5:
                    c = rng.choice(tuple(shapes.EXTRA_COLOURS))
                else:
                    s = rng.choice(OTHER_SHAPES)
            ob = shapes.sample_object(rng, c, s, extent=rng.uniform(0.14, 0.67))
            objects = [ob]
        image = shapes.render(objects, size=SIZE, rng=rng)
        if rng.random() < 0.5:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
        images.append(image)
        colours.append(COLOURS.index(c if c in COLOURS else "other"))
        shape_labels.append(SHAPES.index(s if s in SHAPES else "other"))
    return shapes.to_tensor(images), torch.tensor(colours), torch.tensor(shape_labels)


def train_judge(seed=0, progress=True, tick=None, **settings):
    """Train a Judge from scratch on rendered, labelled pictures; returns (judge, history)."""
    from tqdm.auto import tqdm

    s = {**SETTINGS, **settings}
    set_seed(seed)
    x, yc, ys = render_labelled(s["n_images"], seed, s["empty"], s["off_world"])
    judge = Judge()
    opt = torch.optim.Adam(judge.parameters(), lr=s["lr"])
    steps = s["epochs"] * (len(x) // s["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, s["lr"], total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    history = {"loss": []}
    bar = tqdm(total=steps, desc="training the judge", disable=not progress)
    for _ in range(s["epochs"]):
        order = torch.randperm(len(x), generator=gen)
        for k in range(len(x) // s["batch_size"]):
            idx = order[k * s["batch_size"]:(k + 1) * s["batch_size"]]
            batch = x[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5   # a mirrored shape is the same shape
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
            colour, shape = judge(batch)
            loss = F.cross_entropy(colour, yc[idx]) + F.cross_entropy(shape, ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if tick:
                tick()  # the thread governor's look at the load (see load_judge)
            sched.step()
            history["loss"].append(loss.item())
            bar.update()
    bar.close()
    return judge.eval(), history


def judge_path(seed=0):
    return cache_dir("judge") / f"judge-v{VERSION}-seed{seed}.pt"


def load_judge(seed=0, device=None, progress=True):
    """The judge in eval mode, trained on first use and cached (.cache/judge/)."""
    def train():
        # A third thread gains nothing on this small net; fewer when other programs keep the cores busy.
        with ThreadGovernor(min(2, torch.get_num_threads())) as governor:
            return train_judge(seed, progress=progress, tick=governor.tick)

    path = train_once(judge_path(seed), "the Shapes judge", train, how_long=" (about a minute)",
                      save=lambda judge, path, history: save_atomic(
                          {"state_dict": judge.state_dict(), "settings": SETTINGS, "history": history}, path))
    judge = Judge()
    judge.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
    return judge.to(device or "cpu").eval()


def judge_accuracy(judge, images, classes):
    """Share of images whose colour, shape, and both the judge names as in `classes` [(colour, shape)]."""
    if len(images) != len(classes):
        raise ValueError(f"Give one (colour, shape) per image: {len(images)} images but {len(classes)} classes.")
    said = judge.predict(images)
    colour = np.mean([p[0] == c for p, (c, _) in zip(said, classes)])
    shape = np.mean([p[1] == s for p, (_, s) in zip(said, classes)])
    both = np.mean([p == tuple(c) for p, c in zip(said, classes)])
    return {"colour": float(colour), "shape": float(shape), "both": float(both)}


def evaluate_generator(draw, compositions=None, seeds=(0,), judge=None, progress=True):
    """How often a text-to-image model's CLIP re-ranked best of n shows the prompt, against a random pick
    and the mean of all n (lessons 07 and 08 grade the mini-DALL·E and the mini-unCLIP with it).

    draw(prompt, seed) -> {"images": (n, 3, H, W) in [0, 1], "scores": (n,) CLIP cosines, "seconds"}.
    For each (colour, shape) and seed: draw the samples of "a photo of a {colour} {shape}", then
    - best: the CLIP re-ranked sample (what generate() returns first);
    - random: one sample picked with a seeded RNG (what you get without re-ranking);
    - mean: the share of all n samples (the expected value of a random pick).
    Two judges that never saw a CLIP read every sample: the dominant colour of its pixels
    (utils.pixels.dominant_colour) and this module's judge (colour and shape).
    Returns {"rows": [...], rates, "seconds_per_image", "seconds_per_prompt", "diversity", "distinct"}. Rates
    are named
    "{choice}_{what}" with choice in best, random, mean and what in colour (pixels) or judge_colour,
    judge_shape, judge_both; "best_worse_than_random" is the share of cases where the judge finds the
    best wrong (colour and shape) and the random pick right. Each row keeps its samples' pixel colours
    ("dominant_colours"), judge verdicts ("judged"), CLIP scores ("scores") in drawing order, and their
    "diversity" (utils.pixels.mean_pairwise_distance: 0 when all n are the same picture) and "distinct",
    the number of different (colour, shape) verdicts among them (1: the judge sees one kind of picture).
    """
    from tqdm.auto import tqdm

    from .pixels import dominant_colour, mean_pairwise_distance

    judge = load_judge(progress=progress) if judge is None else judge
    compositions = list(shapes.CLASSES) if compositions is None else list(compositions)
    rng = np.random.default_rng(0)
    rows, seconds, n_images = [], 0.0, 0
    jobs = [(c, s, seed) for seed in seeds for c, s in compositions]
    for colour, shape, seed in tqdm(jobs, desc="prompts", disable=not progress):
        prompt = shapes.PROMPT.format(colour=colour, shape=shape)
        out = draw(prompt, seed)
        seconds += out["seconds"]
        n_images += len(out["images"])
        colours = [dominant_colour(im) for im in out["images"]]
        judged = judge.predict(out["images"])
        choice = {"best": int(out["scores"].argmax()), "random": int(rng.integers(len(colours)))}
        row = {"prompt": prompt, "colour": colour, "shape": shape, "seed": seed,
               "heldout": (colour, shape) in shapes.HELDOUT, "dominant_colours": colours, "judged": judged,
               "scores": out["scores"].tolist(), "best_image": out["images"][choice["best"]],
               "diversity": mean_pairwise_distance(out["images"]), "distinct": len(set(judged))}
        verdicts = {  # what -> one bool per sample
            "colour": [c == colour for c in colours],
            "judge_colour": [c == colour for c, _ in judged],
            "judge_shape": [s == shape for _, s in judged],
            "judge_both": [(c, s) == (colour, shape) for c, s in judged],
        }
        for what, hits in verdicts.items():
            for name, i in choice.items():
                row[f"{name}_{what}"] = hits[i]
            row[f"mean_{what}"] = float(np.mean(hits))
        row["best_worse_than_random"] = (not row["best_judge_both"]) and row["random_judge_both"]
        rows.append(row)
    summary = {"rows": rows, "seconds_per_image": seconds / max(1, n_images),
               "seconds_per_prompt": seconds / max(1, len(rows)),
               "diversity": float(np.mean([r["diversity"] for r in rows])),
               "distinct": float(np.mean([r["distinct"] for r in rows]))}
    for key in rows[0]:
        if key.startswith(("best_", "random_", "mean_")) and key != "best_image":
            summary[key] = float(np.mean([r[key] for r in rows]))
    return summary


__all__ = ["Judge", "load_judge", "train_judge", "judge_accuracy", "evaluate_generator", "COLOURS", "SHAPES"]
