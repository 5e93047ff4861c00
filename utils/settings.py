"""Run settings in one place: mode (tiny/full), device, seeding and the cache folder.

Every notebook and module asks here instead of reading environment variables itself,
so a learner changes one setting (COURSE_MODE) and the whole course follows.
"""
import os
import random
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
MODES = ("tiny", "full")


def get_device(prefer=None):
    """CUDA, then Apple's MPS, then CPU — or the device named by `prefer` / COURSE_DEVICE."""
    name = prefer or os.environ.get("COURSE_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def get_mode():
    """'tiny' (course-trained Shapes models) or 'full' (published CLIP and VQGAN).

    Read from COURSE_MODE; without it, full on a CUDA machine and tiny everywhere else.
    """
    mode = os.environ.get("COURSE_MODE", "").strip().lower()
    if not mode:
        return "full" if torch.cuda.is_available() else "tiny"
    if mode not in MODES:
        raise ValueError(f"COURSE_MODE={mode!r} is not a mode; set it to one of {', '.join(MODES)}.")
    return mode


def is_full():
    return get_mode() == "full"


# What full mode loads: the published checkpoints by default. COURSE_CLIP / COURSE_VQGAN name another
# model or a checkpoint file instead (your own fine-tuned CLIP, a taming run of your own, or the
# random-weight stand-ins that the tests put there: tests/test_full_mode.py).
FULL_CLIP = "ViT-B/32"
FULL_VQGAN = "imagenet-f16-16384"


def full_clip_name():
    """The CLIP of full mode: COURSE_CLIP (a published name or a checkpoint file) or ViT-B/32."""
    return os.environ.get("COURSE_CLIP", "").strip() or FULL_CLIP


def full_vqgan_name():
    """The VQGAN of full mode: COURSE_VQGAN (a published name or a checkpoint file) or the ImageNet f16-16384."""
    return os.environ.get("COURSE_VQGAN", "").strip() or FULL_VQGAN


def standins():
    """True when COURSE_STANDINS=1: the full-mode checkpoints are random-weight stand-ins (CI has no download).

    The notebooks then run every full-mode code path at STANDIN_STEPS optimisation steps and skip
    the assertions about what a trained model gets right, printing that they did.
    """
    return os.environ.get("COURSE_STANDINS", "").strip() not in ("", "0")


STANDIN_STEPS = 1


def cap_steps(steps):
    """steps, or STANDIN_STEPS when running on stand-ins (a smoke run of the code path, not of the result)."""
    return min(steps, STANDIN_STEPS) if standins() else steps


def accuracy_asserts():
    """Whether a notebook should assert what a trained model does: not on random-weight stand-ins."""
    if standins():
        print("Stand-in weights (COURSE_STANDINS=1): this cell's accuracy assertions are skipped; "
              "the numbers above are those of random weights.")
        return False
    return True


def cache_dir(*parts):
    """A git-ignored folder for checkpoints and embeddings (COURSE_CACHE overrides the place)."""
    root = Path(os.environ.get("COURSE_CACHE", REPO_ROOT / ".cache"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_stamp(path):
    """Size and modification time of a file: it changes whenever the file is rewritten (loaders key on it)."""
    st = os.stat(path)
    return f"{st.st_size} {st.st_mtime_ns}"


def model_device(model):
    """The device a model's weights are on."""
    return next(model.parameters()).device


def set_seed(seed=0):
    """Seed Python, NumPy and torch so a cell gives the same numbers on every run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def seeded_generator(seed=0):
    """A torch.Generator for DataLoader(shuffle=True, generator=...)."""
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def save_atomic(obj, path):
    """torch.save to a temp file in the same folder, then rename it into place.

    Two notebooks may build the same cached checkpoint at once; a reader then sees either no
    file or a whole one, never half of it.
    """
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class torch_threads:
    """Run a with-block with n torch threads (None: leave the setting alone), then restore the old number.

    Why: the course's tiny models have small matrices, so a second thread saves little, and on a busy
    shared CPU the threads spend their time waiting for each other: the mini-DALL·E's sampling was
    measured 30x slower with 2 threads than with 1 under load (lesson 07's benchmark).
    """

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.old = torch.get_num_threads()
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)
