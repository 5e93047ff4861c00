"""Every tiny model the course trains on first use, in one list.

The notebooks train their tiny models when they first need them and cache them under .cache/. This
module knows them all, for three jobs:

- `notice(...)`: the one line at the top of a notebook saying which models it will train now, and
  for about how long, so that a learner who pressed Run All knows why nothing seems to happen;
- `make models` (`python -m utils.course_models train`): train and cache every one in one go;
- `make pack` / `make unpack FILE=...`: copy the trained models to other laptops as one archive with
  a checksum manifest (for a workshop room whose network may fail), refusing an archive that is
  corrupt, truncated, or from another version of the training recipes.
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from . import dalle, judge, models, unclip, vqgan
from .settings import cache_dir, get_mode

ARCHIVE_FORMAT = 1
MANIFEST = "MANIFEST.json"


def recipes():
    """The recipe version of each kind of model: an archive from other versions is refused."""
    return {"clip": models.TINY_RECIPE, "vqgan": vqgan.TINY_FILE, "dalle": dalle.RECIPE, "unclip": unclip.RECIPE,
            "judge": judge.VERSION}


def dalle_file():
    """The mini-DALL·E's file; its name carries the VQGAN's fingerprint, so it needs the tiny VQGAN's file."""
    if not vqgan.tiny_path().is_file():
        return None
    return dalle.dalle_path(vqgan.load_vqgan("tiny", device="cpu"))


def unclip_file():
    """The mini-unCLIP's file; its name carries the tiny CLIP's fingerprint, so it needs the tiny CLIP's file."""
    if not models.tiny_path(0).is_file():
        return None
    return unclip.unclip_path(models.load_clip("tiny", device="cpu")[0])


@dataclass(frozen=True)
class TinyModel:
    key: str        # the name notebooks and `make models` use
    title: str      # how a sentence names it
    minutes: float  # training minutes on the 2-core test machine, rounded up from busier runs (idle: about half, README)
    file: object    # () -> Path of its cached file (None if it cannot be known yet)
    train: object   # (progress) -> None: trains and caches it

    def cached(self):
        path = self.file()
        return path is not None and path.is_file()


# In the order `make models` trains them: the mini-DALL·E needs the VQGAN (and CLIP for re-ranking).
MODELS = [
    TinyModel("clip", "the tiny CLIP", 8.0, lambda: models.tiny_path(0),
              lambda progress: models.ensure_tiny(0, progress)),
    TinyModel("clip-seed1", "a second tiny CLIP (seed 1)", 8.0, lambda: models.tiny_path(1),
              lambda progress: models.ensure_tiny(1, progress)),
    TinyModel("vqgan", "the tiny VQGAN", 12.0, vqgan.tiny_path,
              lambda progress: vqgan.load_vqgan("tiny")),
    TinyModel("dalle", "the mini-DALL·E", 6.0, dalle_file,
              lambda progress: dalle.load_dalle(progress=progress)),
    TinyModel("unclip", "the mini-unCLIP", 5.5, unclip_file,
              lambda progress: unclip.load_unclip(progress=progress)),
    TinyModel("judge", "the Shapes judge", 1.0, lambda: judge.judge_path(0),
              lambda progress: judge.load_judge(progress=progress)),
]
BY_KEY = {m.key: m for m in MODELS}


def lookup(keys):
    unknown = [k for k in keys if k not in BY_KEY]
    if unknown:
        raise ValueError(f"Unknown tiny model {unknown[0]!r}; choose from {', '.join(BY_KEY)}.")
    return [BY_KEY[k] for k in keys]


def notice(tiny=(), full=()):
    """Print one line: which of this notebook's tiny models are cached, which it will train now and
    for about how long. tiny / full: the keys the notebook loads in tiny / full mode."""
    tiny, full = lookup(tiny), lookup(full)
    wanted = tiny if get_mode() == "tiny" else full
    if not wanted:
        print("Models: this notebook trains none (in full mode it downloads the published ones on first use).")
        return
    missing = [m for m in wanted if not m.cached()]
    if not missing:
        print("Models: " + ", ".join(m.title for m in wanted) + " cached; each loads in seconds.")
        return
    minutes = sum(m.minutes for m in missing)
    print(f"Models: this run first trains {', '.join(m.title for m in missing)} (about {minutes:.0f} min on a "
          f"2-core CPU; the cells that load them show a progress bar), then caches them for later runs. "
          f"`make models` trains every model ahead of time.")


def train_all(progress=True, registry=None):
    """Train and cache every tiny model that is missing, under one progress bar; {key: seconds}."""
    registry = MODELS if registry is None else registry
    seconds = {}
    start = time.perf_counter()
    bar = tqdm(registry, desc="tiny models", unit="model", disable=not progress)
    for m in bar:
        bar.set_postfix_str(m.key)
        if m.cached():
            seconds[m.key] = 0.0
            continue
        t0 = time.perf_counter()
        m.train(False)  # one bar for the whole job: the model's own bar stays off
        seconds[m.key] = time.perf_counter() - t0
        if not m.cached():
            raise RuntimeError(f"Training {m.title} finished but left no file at {m.file()}.")
    bar.close()
    total = time.perf_counter() - start
    trained = {k: s for k, s in seconds.items() if s}
    print("trained:", ", ".join(f"{k} {s / 60:.1f} min" for k, s in trained.items()) or "nothing (all cached)",
          f"| total {total / 60:.1f} min")
    return seconds


# ---------------------------------------------------------------- pack and unpack


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pack(archive, registry=None):
    """Write every cached tiny model and a manifest (recipes, sizes, SHA-256) into one tar file."""
    registry = MODELS if registry is None else registry
    missing = [m.title for m in registry if not m.cached()]
    if missing:
        raise RuntimeError(f"Not every model is trained yet ({', '.join(missing)} missing): run `make models` first.")
    root = cache_dir()
    files = {m.file().relative_to(root).as_posix(): m.file() for m in registry}
    manifest = {"format": ARCHIVE_FORMAT, "recipes": recipes(),
                "files": {name: {"bytes": p.stat().st_size, "sha256": sha256(p)} for name, p in files.items()}}
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(archive.name + ".tmp")
    with tarfile.open(tmp, "w") as tar:
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name, path in files.items():
            tar.add(path, arcname=name)
    os.replace(tmp, archive)
    mb = archive.stat().st_size / 1e6
    print(f"wrote {archive} ({mb:.0f} MB, {len(files)} models); copy it to each laptop, then `make unpack FILE={archive}`")
    return manifest


def unpack(archive):
    """Install the models of an archive written by pack() into the cache, checking every checksum first."""
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"No archive at {archive}; give the path of the file `make pack` wrote, as FILE=...")
    broken = (f"The archive {archive} is truncated or corrupt; copy it again from the machine that ran "
              "`make pack` (or run `make models` here instead).")
    root = cache_dir()
    try:
        with tarfile.open(archive, "r") as tar:
            try:
                manifest = json.load(tar.extractfile(MANIFEST))
            except (KeyError, TypeError, ValueError):
                raise RuntimeError(f"The archive {archive} has no readable {MANIFEST}: it was not written by "
                                   "`make pack`.") from None
            if manifest.get("format") != ARCHIVE_FORMAT or manifest.get("recipes") != recipes():
                raise RuntimeError(
                    f"The archive {archive} holds models of other training recipes ({manifest.get('recipes')}) than "
                    f"this version of the course ({recipes()}); pack it again from a clone at the same commit as this one.")
            files = manifest["files"]
            names = set(tar.getnames()) - {MANIFEST}
            if names != set(files) or any(Path(n).is_absolute() or ".." in Path(n).parts for n in names):
                raise RuntimeError(f"The archive {archive} holds other files than its manifest lists (is it truncated?); "
                                   "copy it again, or pack it again with `make pack`.")
            with tempfile.TemporaryDirectory(dir=root, prefix="unpack-") as tmp:
                for name, expected in files.items():
                    target = Path(tmp) / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(name) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    if target.stat().st_size != expected["bytes"] or sha256(target) != expected["sha256"]:
                        raise RuntimeError(f"{name} in {archive} does not match its checksum: the copy is damaged; "
                                           "copy the archive again.")
                for name in files:  # only now that every file checked out: nothing half-installed
                    (root / name).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(Path(tmp) / name, root / name)
    except (tarfile.TarError, EOFError, OSError) as err:
        if isinstance(err, FileNotFoundError) and not archive.exists():
            raise
        raise RuntimeError(broken) from None
    print(f"installed {len(files)} models into {root}: " + ", ".join(sorted(files)))
    return sorted(files)


def status(registry=None):
    for m in MODELS if registry is None else registry:
        path = m.file()
        print(f"{m.key:12s} {'cached ' if m.cached() else 'missing'}  {path if path else '(needs the tiny VQGAN first)'}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.course_models", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="train and cache every tiny model that is missing")
    sub.add_parser("status", help="list the tiny models and whether each is cached")
    p = sub.add_parser("pack", help="write every cached model into one archive")
    p.add_argument("file")
    u = sub.add_parser("unpack", help="install the models of an archive into the cache")
    u.add_argument("file")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            train_all()
        elif args.command == "status":
            status()
        elif args.command == "pack":
            pack(args.file)
        else:
            unpack(args.file)
    except (RuntimeError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
