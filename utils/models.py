"""One CLIP loader for the whole course: load_clip() returns (model, preprocess) like clip.load.

- "tiny" (or "tiny-seed<N>"): the course's own small CLIP trained on the Shapes world. It is
  trained on first use (about 2-3 min on 2 CPU cores, deterministic) and cached under
  cache_dir("clip"), then loaded through clip.load like any checkpoint file.
- a published name ("ViT-B/32", ...): clip.load's own download and cache (~/.cache/clip). Offline
  without the file, we fail at once with one sentence instead of a hang or a urllib trace.
- a path to a checkpoint file: loaded as clip.load would.
"""
import hashlib
import os
import re
import socket
import warnings
from pathlib import Path

import clip
import torch

from .model_cache import train_once
from .settings import cache_dir, file_stamp, full_clip_name, get_device, get_mode, save_atomic

TINY_RECIPE = "v4"  # bump when the training recipe changes, so stale cached checkpoints are not used
CLIP_DOWNLOAD_ROOT = os.path.expanduser("~/.cache/clip")  # clip.load's default download folder
_LOADED = {}  # (file identity, device) -> (model, preprocess): one copy of each CLIP per process


def valid_names():
    return ["tiny", "tiny-seed<N>"] + clip.available_models() + ["<path to a checkpoint file>"]


def tiny_path(seed=0):
    """Where the tiny CLIP trained with `seed` is cached."""
    return cache_dir("clip") / f"tiny-clip-{TINY_RECIPE}-seed{seed}.pt"


def tiny_seed(name, seed):
    """'tiny' -> seed, 'tiny-seed3' -> 3; None if name is not a tiny name."""
    if name == "tiny":
        return seed
    match = re.fullmatch(r"tiny-seed(\d+)", name)
    return int(match.group(1)) if match else None


def save_atomically(state_dict, path):
    """Write to a temp file then rename, so a second notebook never reads a half-written file."""
    return save_atomic(state_dict, path)


def save_clip(model, path):
    """Save a clip.model.CLIP as a plain fp32 state dict that clip.load(path) can rebuild."""
    state = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
    save_atomically(state, path)
    return Path(path)


def ensure_tiny(seed=0, progress=True):
    """Path of the cached tiny CLIP for `seed`, training and caching it first if it is missing."""
    def train():
        from .train_clip import train_tiny_clip  # imported here: loading never needs training code

        return train_tiny_clip(seed=seed, progress=progress)

    return train_once(tiny_path(seed), "the tiny CLIP", train, save=lambda model, path, history: save_clip(model, path),
                      how_long=" (minutes on a CPU: about 8 on the course's 2-core test machine)")


def clip_load_quietly(name_or_path, device, **kwargs):
    """clip.load(..., jit=False) without the `torch.jit.load is deprecated` warning it causes on every load
    (clip first opens the file as a TorchScript archive, the published files' format)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch.jit")
        return clip.load(str(name_or_path), device=device, jit=False, **kwargs)


def plain_state_dict(path, device):
    """The file's state dict if it is one (course files); None for a TorchScript archive (published files,
    whose weights are fp16 anyway, so clip.load's rounding loses nothing there)."""
    try:
        state = torch.load(str(path), map_location=device)
    except RuntimeError:  # "... is a TorchScript archive": torch.load refuses those
        return None
    return state if isinstance(state, dict) else None


def load_file(path, device, retrain_hint):
    """clip.load on a file, turning a corrupt or truncated checkpoint into one clear sentence."""
    try:
        model, preprocess = clip_load_quietly(path, device)
        if device.type != "cuda":
            # build_model rounds every weight to fp16 (convert_weights) and clip.load only
            # casts back; reload the saved fp32 weights so logits match the saved model exactly.
            state = plain_state_dict(path, device)
            if state is not None:
                model.float().load_state_dict(state)
    except Exception as error:  # torch.load / build_model raise many types for a bad file
        hint = "it will be retrained on the next load_clip('tiny')" if retrain_hint else \
            "then save or download a valid checkpoint there"
        raise RuntimeError(
            f"Could not load the CLIP checkpoint {path} ({type(error).__name__}: it is corrupt, "
            f"truncated or not a CLIP state dict); delete that file and {hint}."
        ) from None
    return model, preprocess


def sha256_ok(path, expected):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == expected


def online(host="openaipublic.azureedge.net", port=443, timeout=3.0):
    """True if a TCP connection to the checkpoint host opens within `timeout` seconds."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def offline_message(name, target):
    return (f"The published CLIP checkpoint {name!r} is not at {target} and the internet is not "
            f"reachable: run once with internet (or on Colab) to download it, or copy the file to "
            f"that path, or use the course's tiny CLIP instead with COURSE_MODE=tiny or "
            f"load_clip('tiny').")


def verified(target, expected_sha):
    """True if the file at target has the published SHA-256, hashing it only once.

    Hashing ViT-B/32's 338 MB takes over a second, and clip.load(name) hashes it again on every load.
    We hash once and note the file's size and time beside it (<file>.sha256-ok); later loads only
    compare those, and the file is loaded by path so that clip does not hash it either.
    """
    marker = Path(target + ".sha256-ok")
    if not os.path.isfile(target):
        return False
    stamp = f"{expected_sha} {file_stamp(target)}"
    if marker.is_file() and marker.read_text() == stamp:
        return True
    if not sha256_ok(target, expected_sha):
        return False
    marker.write_text(stamp)
    return True


def load_published(name, device, download_root=None):
    """clip.load(name), but offline without the checkpoint it fails at once with one sentence."""
    root = download_root or CLIP_DOWNLOAD_ROOT
    url = clip.clip._MODELS[name]
    target = os.path.join(root, os.path.basename(url))
    expected_sha = url.split("/")[-2]  # clip's URLs carry the file's SHA256
    if verified(target, expected_sha):
        return clip_load_quietly(target, device)
    if not online():
        raise RuntimeError(offline_message(name, target)) from None
    try:
        loaded = clip_load_quietly(name, device, download_root=root)  # downloads and checks the hash
    except OSError:  # urllib errors are OSErrors: the network dropped during the download
        raise RuntimeError(offline_message(name, target)) from None
    verified(target, expected_sha)  # note the check for the next load
    return loaded


def load_clip(name=None, device=None, seed=0, progress=True, fresh=False):
    """(model, preprocess) for a CLIP: "tiny", "tiny-seed<N>", a published name, or a file path.

    name=None picks by mode: "ViT-B/32" (or COURSE_CLIP) in full mode, "tiny" otherwise. seed picks
    which tiny CLIP ("tiny" with seed=1 is the same as "tiny-seed1"). The model is in eval mode,
    fp32 off CUDA. One copy per process: asking again for the same checkpoint on the same device
    returns the same model object (memory holds one ViT-B/32, not one per helper that wants it);
    fresh=True loads a copy of your own, e.g. to fine-tune it.
    """
    if name is None:
        name = full_clip_name() if get_mode() == "full" else "tiny"
    if not isinstance(name, (str, os.PathLike)):
        raise ValueError(f"name must be a string; choose one of {', '.join(valid_names())}.")
    device = torch.device(device) if device is not None else get_device()
    name = os.fspath(name)
    seed_of_tiny = tiny_seed(name, seed)
    if seed_of_tiny is not None:
        path, retrain_hint = ensure_tiny(seed_of_tiny, progress), True
    elif name in clip.available_models():
        path, retrain_hint = None, False
    elif os.path.isfile(name):
        path, retrain_hint = Path(name), False
    else:
        raise ValueError(f"Unknown CLIP {name!r}; choose one of {', '.join(valid_names())}.")
    key = (name if path is None else f"{path.resolve()} {file_stamp(path)}", str(device))
    if key in _LOADED and not fresh:
        model, preprocess = _LOADED[key]
        return model.eval(), preprocess
    if path is None:
        model, preprocess = load_published(name, device)
    else:
        model, preprocess = load_file(path, device, retrain_hint)
    if device.type != "cuda":
        model.float()  # clip.load keeps fp16 weights on any non-"cpu" device, e.g. MPS
    if not fresh:
        _LOADED[key] = (model, preprocess)
    return model.eval(), preprocess


def tokenize(texts, model):
    """clip.tokenize with the model's own context length (16 for tiny, 77 for published CLIPs)."""
    tokens = clip.tokenize(texts, context_length=model.context_length, truncate=True)
    return tokens.to(next(model.parameters()).device)
