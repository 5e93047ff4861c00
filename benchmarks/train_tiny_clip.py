"""Train the course's tiny CLIP from scratch and print time, speed and zero-shot accuracy.

    python benchmarks/train_tiny_clip.py [--seed 0] [--save-cache]
    python benchmarks/train_tiny_clip.py --vit --epochs 11    # the alternatives lesson 02 compares
    python benchmarks/train_tiny_clip.py --split train

Trains with utils.train_clip.TRAIN_SETTINGS into memory (the real cache is only written with
--save-cache), then measures 24-way zero-shot top-1 on fresh Shapes images of seen and held-out
compositions and on images from an independent renderer (tests/independent_shapes.py).
"""
import argparse
import os
import sys
import time
from pathlib import Path

import utils  # noqa: F401  (compatibility shims before clip)
import torch
from clip.clip import _transform

from utils import models, shapes, train_clip

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import independent_shapes  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-cache", action="store_true", help="store the result as the cached tiny CLIP")
    parser.add_argument("--epochs", type=int, default=None, help="override TRAIN_SETTINGS['epochs']")
    parser.add_argument("--vit", action="store_true", help="the ViT image tower (VIT_CONFIG) instead of the ResNet")
    parser.add_argument("--split", default="world", choices=["world", "train"],
                        help="training pairings: the wide world (default) or the 20 seen classes only")
    args = parser.parse_args()
    if args.save_cache and (args.vit or args.split != "world" or args.epochs is not None):
        parser.error("--save-cache stores the course's recipe only; drop --vit, --split and --epochs.")

    overrides = {} if args.epochs is None else {"epochs": args.epochs}
    print(f"load before: {os.getloadavg()} on {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    model, history = train_clip.train_tiny_clip(seed=args.seed, config=train_clip.VIT_CONFIG if args.vit else None,
                                                split=args.split, **overrides)
    print(f"load after:  {os.getloadavg()}")
    print(f"settings: {dict(train_clip.TRAIN_SETTINGS, **overrides)}, image tower "
          f"{type(model.visual).__name__}, split {args.split!r}")
    print(f"wall time total (render + tokenize + train): {history['total_seconds']:.1f} s")
    print(f"training loop: {history['seconds']:.1f} s, {history['images_per_second']:.0f} images/s")
    print(f"final loss {history['loss'][-1]:.3f}, 1/T {history['temperature'][-1]:.1f}")

    preprocess = _transform(model.visual.input_resolution)  # what clip.load returns for it
    start = time.perf_counter()
    seen = train_clip.zero_shot_accuracy(model, preprocess, "train", n=2000, seed=12345)
    held = train_clip.zero_shot_accuracy(model, preprocess, "heldout", n=1000, seed=12345)
    print(f"zero-shot top-1, 24-way, fresh Shapes images: seen {seen:.1%} (n=2000), "
          f"held-out {held:.1%} (n=1000)")
    for name, comps in [("all", None), ("seen", shapes.compositions("train")), ("held-out", shapes.HELDOUT)]:
        images, labels = independent_shapes.dataset(960 if comps is None else 480, compositions=comps)
        acc = train_clip.zero_shot_accuracy(model, preprocess, images=images, labels=labels)
        print(f"zero-shot top-1, 24-way, independent renderer, {name} compositions: {acc:.1%} (n={len(images)})")
    print(f"evaluation: {time.perf_counter() - start:.1f} s")
    if args.save_cache:
        print("saved", models.save_clip(model, models.tiny_path(args.seed)))


if __name__ == "__main__":
    main()
