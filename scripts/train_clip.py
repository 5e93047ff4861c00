"""Train a CLIP on the Shapes world or on your own captioned images, on one or many processes.

    python scripts/train_clip.py --data shapes --out runs/shapes
    torchrun --nproc_per_node=4 scripts/train_clip.py --data photos/ --captions photos/captions.csv

The same command runs on one CPU, one GPU or N GPUs (torchrun starts one process per GPU; see
docs/multi_gpu.md). Every process encodes its own slice of the batch and the contrastive loss is
computed over the global batch (utils.distributed). Outputs in --out:

    clip.pt      the model's state dict: clip.load("clip.pt", jit=False) or utils.models.load_clip
    resume.pt    model + optimizer + scheduler + step + RNG states; a rerun continues from it
    log.jsonl    one line per logged step (loss, learning rate, temperature)
"""
import argparse
import csv
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torchvision import transforms
from tqdm.auto import tqdm

import utils  # noqa: F401  (compatibility shims before clip is imported)
import clip
from utils import distributed, shapes
from utils.models import save_clip
from utils.settings import seeded_generator, set_seed
from utils.train_clip import (VIT_CONFIG, TRAIN_SETTINGS, augment, build_tiny_clip, lr_at, normalise,
                              param_groups)

RESUME_FILE = "resume.pt"
MODEL_FILE = "clip.pt"


class UsageError(ValueError):
    """Bad input from the user: reported as one sentence, without a traceback."""


# ---------------------------------------------------------------- arguments


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default="shapes", help="'shapes' or a folder of images")
    p.add_argument("--captions", help="CSV with columns filename,caption (default: DATA/captions.csv)")
    p.add_argument("--n-images", type=int, default=TRAIN_SETTINGS["n_images"],
                   help="Shapes images to draw (with --data shapes)")
    p.add_argument("--steps", type=int, help="optimizer steps (default: "
                   f"{TRAIN_SETTINGS['epochs']} epochs of the data at the global batch)")
    p.add_argument("--batch-size", type=int, default=TRAIN_SETTINGS["batch_size"],
                   help="pairs per process; the global batch is this times the number of processes")
    p.add_argument("--lr", type=float, default=TRAIN_SETTINGS["lr"])
    p.add_argument("--weight-decay", type=float, default=TRAIN_SETTINGS["weight_decay"])
    p.add_argument("--warmup", type=float, default=TRAIN_SETTINGS["warmup"], help="fraction of steps")
    p.add_argument("--out", default="runs/clip", help="folder for clip.pt, resume.pt and log.jsonl")
    p.add_argument("--resume", nargs="?", const="auto", default="auto", metavar="FILE",
                   help=f"continue from FILE (default: OUT/{RESUME_FILE} if it exists)")
    p.add_argument("--no-resume", action="store_true", help="start from scratch even if OUT/resume.pt exists")
    p.add_argument("--save-every", type=int, default=200, help="steps between checkpoints")
    p.add_argument("--log-every", type=int, default=10, help="steps between log lines")
    p.add_argument("--stop-after", type=int,
                   help="stop after this step as if interrupted (time-limited jobs; resume later)")
    p.add_argument("--no-augment", dest="augment", action="store_false",
                   help="feed images as they are (no brightness/contrast/noise jitter)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda or mps (default: CUDA if available, else CPU)")
    p.add_argument("--workers", type=int, help="DataLoader workers per process (default: 4 on CUDA, else 0)")
    # Model size. This script trains ViT image towers; the defaults are the ViT tiny CLIP of
    # utils.train_clip.VIT_CONFIG (the course's cached tiny CLIP has a ResNet tower, TINY_CONFIG).
    p.add_argument("--embed-dim", type=int, default=VIT_CONFIG["embed_dim"])
    p.add_argument("--width", type=int, default=VIT_CONFIG["vision_width"],
                   help="width of both towers (a multiple of 64)")
    p.add_argument("--layers", type=int, default=VIT_CONFIG["vision_layers"], help="blocks in the image tower")
    p.add_argument("--text-layers", type=int, default=VIT_CONFIG["transformer_layers"],
                   help="blocks in the text tower")
    p.add_argument("--image-size", type=int, default=VIT_CONFIG["image_resolution"])
    p.add_argument("--patch-size", type=int, default=VIT_CONFIG["vision_patch_size"])
    p.add_argument("--context-length", type=int, default=VIT_CONFIG["context_length"])
    args = p.parse_args(argv)
    for name in ("n_images", "batch_size", "save_every", "log_every", "embed_dim", "width", "layers",
                 "text_layers", "image_size", "patch_size", "context_length"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1.")
    if args.steps is not None and args.steps < 1:
        p.error("--steps must be at least 1.")
    if args.image_size % args.patch_size:
        p.error(f"--image-size {args.image_size} must be a multiple of --patch-size {args.patch_size}.")
    return args


def model_config(args):
    return dict(embed_dim=args.embed_dim, image_resolution=args.image_size, vision_layers=args.layers,
                vision_width=args.width, vision_patch_size=args.patch_size,
                context_length=args.context_length, transformer_width=args.width,
                transformer_layers=args.text_layers)


# ---------------------------------------------------------------- model


def build_model(config, seed):
    """The course's clip.model.CLIP builder (utils.train_clip), so clip.load can rebuild it."""
    return build_tiny_clip(seed=seed, **config)


class Features(torch.nn.Module):
    """CLIP's forward pass as DDP needs it: one call that returns both normalised features.

    DDP syncs gradients only for work done inside its forward(), and CLIP.forward returns logits
    of the local batch, not the features that the global loss needs.
    """

    def __init__(self, model):
        super().__init__()
        self.clip = model

    def forward(self, images, tokens):
        image = self.clip.encode_image(images)
        text = self.clip.encode_text(tokens)
        return (image / image.norm(dim=-1, keepdim=True), text / text.norm(dim=-1, keepdim=True),
                self.clip.logit_scale.exp())


# ---------------------------------------------------------------- data


def image_transform(size):
    """Resize the short side and centre-crop, as clip.load's preprocess does; uint8 out.

    Normalisation happens after augmentation (utils.train_clip.augment), on the whole batch.
    """
    return transforms.Compose([
        transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(size),
        transforms.PILToTensor(),
    ])


class ShapesPairs(torch.utils.data.Dataset):
    """n training-split Shapes images with their captions, drawn on demand (the same on every rank)."""

    def __init__(self, n, size, seed):
        self.data = shapes.ShapesDataset(n, split="train", seed=seed, size=size, transform=image_transform(size))

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        image, text, _ = self.data[i]
        return image, text


class FolderPairs(torch.utils.data.Dataset):
    """Images in a folder, captioned by a CSV with columns filename,caption (one row per pair)."""

    def __init__(self, folder, captions_csv, size):
        self.folder, self.transform = Path(folder), image_transform(size)
        self.rows = read_captions(self.folder, captions_csv)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        name, text = self.rows[i]
        try:
            with Image.open(self.folder / name) as im:
                image = im.convert("RGB")
        except OSError as err:
            raise UsageError(f"Cannot read image {self.folder / name} ({err}); fix or remove its row.") from None
        return self.transform(image), text


def read_captions(folder, captions_csv):
    """[(filename, caption), ...] from the CSV, after checking that every image exists."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"Image folder {folder} does not exist; pass --data shapes or a folder of images.")
    path = Path(captions_csv) if captions_csv else folder / "captions.csv"
    if not path.is_file():
        raise UsageError(f"Captions file {path} not found; pass --captions with a CSV of columns filename,caption.")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in ("filename", "caption") if c not in columns]
        if missing:
            raise UsageError(f"Captions file {path} has columns {columns} but needs {missing}; "
                             "its first line must be: filename,caption")
        rows = []
        for r in reader:
            r = {k.strip(): (v or "").strip() for k, v in r.items() if k}
            if r["filename"] and r["caption"]:
                rows.append((r["filename"], r["caption"]))
    if not rows:
        raise UsageError(f"Captions file {path} has no rows with both a filename and a caption.")
    absent = [name for name, _ in rows if not (folder / name).is_file()]
    if absent:
        raise UsageError(f"{len(absent)} images named in {path} are missing from {folder}, "
                         f"e.g. {absent[0]!r}; fix the filenames or remove those rows.")
    return rows


def make_dataset(args):
    if args.data == "shapes":
        return ShapesPairs(args.n_images, args.image_size, args.seed)
    return FolderPairs(args.data, args.captions, args.image_size)


def collate(batch):
    images, texts = zip(*batch)
    return torch.stack(images), list(texts)


def epoch_batches(dataset, args, info, epoch, skip):
    """This rank's batches of one epoch, from batch `skip` on (to resume mid-epoch exactly).

    DistributedSampler gives each rank a disjoint share of a shuffle that depends only on
    (seed, epoch), so every rank agrees without talking, and a resumed run sees the same order.
    """
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank,
                                                  shuffle=True, seed=args.seed, drop_last=True)
    sampler.set_epoch(epoch)
    indices = list(sampler)[skip * args.batch_size:]
    return torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, sampler=indices, drop_last=True,
                                       num_workers=args.workers, collate_fn=collate,
                                       persistent_workers=False, pin_memory=info.device.type == "cuda")


# ---------------------------------------------------------------- checkpoints


def save_atomic(obj, path):
    """Write to a temporary file and rename, so a crash never leaves half a checkpoint."""
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def rng_state(generator):
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "augment": generator.get_state()}


def set_rng_state(state, generator):
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["augment"])


def save_checkpoints(out, model, optimizer, scheduler, step, config, generator, info):
    """clip.pt (for clip.load) and resume.pt (everything to continue), written by rank 0 only.

    Every rank has its own RNG streams, so their states are gathered and saved side by side.
    """
    states = [None] * info.world_size
    if info.world_size > 1:
        dist.all_gather_object(states, rng_state(generator))
    else:
        states = [rng_state(generator)]
    if info.rank == 0:
        save_clip(model, out / MODEL_FILE)  # the fp32 state dict that clip.load / load_clip read
        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        save_atomic({"model": weights, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "step": step, "config": config, "world_size": info.world_size, "rng": states},
                    out / RESUME_FILE)
    if info.world_size > 1:
        dist.barrier()  # nobody races ahead (or exits) before the files are complete


def find_resume(args, out):
    if args.no_resume:
        return None
    if args.resume == "auto":
        path = out / RESUME_FILE
        return path if path.is_file() else None
    path = Path(args.resume)
    if not path.is_file():
        raise UsageError(f"Resume file {path} not found; drop --resume to start from scratch.")
    return path


def check_all_ranks_agree(found, info):
    """Every rank must see the same resume file, or they would start from different steps and hang.

    On several nodes that means --out on a filesystem that all nodes share.
    """
    if info.world_size == 1:
        return
    seen = [None] * info.world_size
    dist.all_gather_object(seen, found)
    if len(set(seen)) > 1:
        raise UsageError(f"The resume file is visible to ranks {[r for r, f in enumerate(seen) if f]} only; "
                         "put --out on a filesystem that every node shares.")


def load_resume(path, config):
    # weights_only=False: the file holds Python RNG states; it is our own file, not a download.
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["config"] != config:
        raise UsageError(f"{path} was saved for model {state['config']} but the options ask for {config}; "
                         "use the same model size options or --no-resume.")
    return state


# ---------------------------------------------------------------- training


def check_device(name):
    if name and name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu.")
    if name and name.startswith("mps") and not torch.backends.mps.is_available():
        raise UsageError("--device mps was asked for but this machine has no MPS; use --device cpu.")


def train(args):
    check_device(args.device)
    info = distributed.setup(args.device)
    try:
        return run(args, info)
    finally:
        distributed.cleanup()


def run(args, info):
    main = info.rank == 0
    if args.workers is None:
        args.workers = 4 if info.device.type == "cuda" else 0
    if info.device.type == "mps" and info.world_size > 1:
        raise UsageError("torch.distributed does not run on MPS; use one process or --device cpu.")
    out = Path(args.out)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    config = model_config(args)
    dataset = make_dataset(args)
    global_batch = args.batch_size * info.world_size
    steps_per_epoch = len(dataset) // global_batch
    if steps_per_epoch == 0:
        raise UsageError(f"The dataset has {len(dataset)} pairs but one step needs {global_batch} "
                         f"({args.batch_size} per process x {info.world_size} processes); lower --batch-size.")
    steps = args.steps or TRAIN_SETTINGS["epochs"] * steps_per_epoch

    # Same seed on every rank for the weights (DDP also broadcasts rank 0's at wrap time) ...
    model = build_model(config, args.seed)
    if args.data == "shapes":
        # As in the course recipe (utils.train_clip.train): Shapes captions use ~40 of the 49408
        # word-table rows, and updating the rest would cost a third of every CPU step for nothing.
        # A folder of real captions needs the whole table, so there it trains.
        model.token_embedding.weight.requires_grad_(False)
    resume = find_resume(args, out)
    check_all_ranks_agree(resume is not None, info)
    state = load_resume(resume, config) if resume else None
    if state is not None:
        model.load_state_dict(state["model"])
    model.to(info.device)
    ddp = Features(model)
    if info.world_size > 1:
        ids = [info.local_rank] if info.device.type == "cuda" else None
        ddp = torch.nn.parallel.DistributedDataParallel(ddp, device_ids=ids)
    optimizer = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    # lr_at gives warm-up then cosine decay; with lr=1 it is the factor LambdaLR wants.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_at(s, steps, 1.0, args.warmup))

    # ... but a different stream per rank for augmentation, so ranks do not draw the same noise.
    set_seed(args.seed + 1000 * info.rank)
    generator = seeded_generator(args.seed + 1000 * info.rank)
    start = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = state["step"]
        # Put the rate back on this run's schedule: a rerun with a larger --steps stretches the
        # cosine, and the saved rate (the old schedule's, 0 at its end) would stall the next step.
        for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
            group["lr"] = base * lr_at(start, steps, 1.0, args.warmup)
        if state["world_size"] == info.world_size:
            set_rng_state(state["rng"][info.rank], generator)
        elif main:
            print(f"note: {resume} was saved by {state['world_size']} processes, this run has "
                  f"{info.world_size}; data order continues, augmentation noise starts afresh.", flush=True)
    if main:
        n_params = sum(p.numel() for p in model.parameters())
        print(f"{'resuming from step ' + str(start) + ' of' if start else 'training for'} {steps} steps: "
              f"{len(dataset)} pairs, {info.world_size} process(es) x {args.batch_size} = global batch "
              f"{global_batch}, {n_params / 1e6:.2f}M parameters on {info.device}", flush=True)
    if start >= steps:
        if main:
            print(f"nothing to do: {resume} is already at step {start} (--steps {steps}).", flush=True)
        return start

    stop = min(steps, args.stop_after) if args.stop_after else steps
    # A resumed run adds to the log of the run it continues; a fresh one starts a new log.
    log = open(out / "log.jsonl", "a" if start else "w") if main else None
    bar = tqdm(total=steps, initial=start, desc="train CLIP", disable=not main, dynamic_ncols=True)
    step, tic = start, time.perf_counter()
    try:
        while step < stop:
            epoch, skip = divmod(step, steps_per_epoch)
            for images, texts in epoch_batches(dataset, args, info, epoch, skip):
                images = augment(images, generator) if args.augment else normalise(images)
                images = images.to(info.device, non_blocking=True)
                tokens = clip.tokenize(texts, context_length=config["context_length"], truncate=True).to(info.device)
                image_features, text_features, scale = ddp(images, tokens)
                loss = distributed.distributed_clip_loss(image_features, text_features, scale)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                lr = optimizer.param_groups[0]["lr"]  # the rate this step used (before the schedule moves)
                optimizer.step()
                scheduler.step()
                with torch.no_grad():  # CLIP clips the temperature so logits never exceed 100
                    model.logit_scale.clamp_(0, math.log(100))
                step += 1
                if main:
                    bar.update(1)
                if main and (step % args.log_every == 0 or step == stop):
                    record = {"step": step, "loss": round(loss.item(), 5), "lr": lr,
                              "temperature": round(model.logit_scale.exp().item(), 3),
                              "pairs_per_second": round((step - start) * global_batch / (time.perf_counter() - tic), 1)}
                    bar.set_postfix(loss=f"{record['loss']:.3f}", T=f"{record['temperature']:.1f}")
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                if step % args.save_every == 0 or step == stop:
                    save_checkpoints(out, model, optimizer, scheduler, step, config, generator, info)
                if step >= stop:
                    break
    finally:
        bar.close()
        if log:
            log.close()
    if main:
        done = "stopped (resume with the same command)" if step < steps else "done"
        print(f"{done} at step {step}: {out / MODEL_FILE} (clip.load) and {out / RESUME_FILE}", flush=True)
    return step


def main(argv=None):
    args = parse_args(argv)
    try:
        train(args)
    except UsageError as err:  # bad input: one sentence, no traceback
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
