"""Random-weight stand-ins of the published checkpoints, to run full mode's code without a download.

Full mode loads OpenAI's ViT-B/32 and taming's ImageNet f16 VQGAN, which neither CI nor an offline
laptop can download. A stand-in has exactly the published architecture and file format (a CLIP state
dict in fp16 that clip.load rebuilds; a Lightning-style VQGAN checkpoint with the discriminator's
loss.* weights inside and no config), only with random weights. Shapes, 224 px preprocessing, 256 px
generation, devices and memory then behave as in full mode; what the model *says* is noise.

    python -m utils.standins .cache/standins      # writes the files, prints the settings to use

and run a notebook with those settings (tests/test_full_mode.py does): COURSE_MODE=full,
COURSE_CLIP=<file>, COURSE_VQGAN=<file>, COURSE_STANDINS=1 (one optimisation step per generation,
no accuracy assertions).
"""
import sys
from pathlib import Path

import torch

from .settings import save_atomic

# The published models' hyperparameters, as clip.model.build_model reads them off the released weights
# (Radford et al., 2021, Table 19 and 20).
CLIP_ARCHITECTURES = {
    "ViT-B/32": dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                     vision_patch_size=32, context_length=77, vocab_size=49408, transformer_width=512,
                     transformer_heads=8, transformer_layers=12),
    "RN50": dict(embed_dim=1024, image_resolution=224, vision_layers=(3, 4, 6, 3), vision_width=64,
                 vision_patch_size=None, context_length=77, vocab_size=49408, transformer_width=512,
                 transformer_heads=8, transformer_layers=12),
}
VQGAN_STANDIN = "imagenet-f16-16384"


def clip_standin(name, path, seed=0):
    """Write a random-weight CLIP with the architecture of the published `name`, in its fp16 weights."""
    import clip

    if name not in CLIP_ARCHITECTURES:
        raise ValueError(f"No stand-in for CLIP {name!r}; choose one of {', '.join(CLIP_ARCHITECTURES)}.")
    torch.manual_seed(seed)
    model = clip.model.CLIP(**CLIP_ARCHITECTURES[name])
    clip.model.convert_weights(model)  # fp16, as the published files store them
    save_atomic({k: v.detach().clone() for k, v in model.state_dict().items()}, path)
    return Path(path)


def vqgan_standin(path, name=VQGAN_STANDIN, seed=0):
    """Write a random-weight taming VQModel of the published `name` as taming's training saves it:
    {"epoch", "global_step", "state_dict"} with the loss's weights in the state dict, and no config."""
    from .vqgan import PUBLISHED, build_vqgan

    torch.manual_seed(seed)
    model = build_vqgan(PUBLISHED[name]["config"])
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state["loss.discriminator.main.0.weight"] = torch.randn(64, 3, 4, 4)  # a published file carries these
    save_atomic({"epoch": 0, "global_step": 0, "state_dict": state}, path)
    return Path(path)


def standin_settings(folder):
    """The environment that runs full mode on stand-ins kept in `folder` (written the first time)."""
    folder = Path(folder)
    clip_file, vqgan_file = folder / "clip-vit-b-32-standin.pt", folder / "vqgan-f16-16384-standin.ckpt"
    if not clip_file.is_file():
        clip_standin("ViT-B/32", clip_file)
    if not vqgan_file.is_file():
        vqgan_standin(vqgan_file)
    return {"COURSE_MODE": "full", "COURSE_CLIP": str(clip_file), "COURSE_VQGAN": str(vqgan_file),
            "COURSE_STANDINS": "1"}


PEAK_MEMORY_CELL = """import resource, torch
print("PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0)"""


def execute_notebook(path, env, timeout=1800):
    """Run a notebook top to bottom in a fresh kernel with `env` added to the environment.

    Returns {"seconds", "peak_ram_mb" (the kernel's largest resident size), "peak_gpu_mb" (0 without
    CUDA)}; a cell that raises fails the run with nbclient's CellExecutionError.
    """
    import os
    import time

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY_CELL))
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(Path(path).parent)}}).execute()
        seconds = time.perf_counter() - start
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs).split()
    ram, gpu = float(text[text.index("PEAK") + 1]), float(text[text.index("PEAK") + 2])
    return {"seconds": seconds, "peak_ram_mb": ram, "peak_gpu_mb": gpu, "notebook": nb}


if __name__ == "__main__":
    import utils  # noqa: F401  (the compatibility shims, before clip and taming are imported)

    if len(sys.argv) != 2:
        sys.exit("usage: python -m utils.standins FOLDER  (where to write the stand-in checkpoints)")
    for key, value in standin_settings(sys.argv[1]).items():
        print(f"export {key}={value}")
