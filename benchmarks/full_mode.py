"""Full mode's cost, measured on this machine and estimated for a Colab GPU.

1. One VQGAN+CLIP step at full size (256 px, the f16 VQGAN, ViT-B/32, 32 cutouts: generation's
   FULL_DEFAULTS), timed part by part on this machine, and its floating-point operations counted
   with torch's FlopCounterMode. Without the published files it uses the random-weight stand-ins
   (same architectures, so the same time and FLOPs).
2. A Colab estimate: FLOPs / (peak throughput x utilisation) on an NVIDIA T4, Colab's usual free GPU.
   The T4's peaks are NVIDIA's datasheet figures (8.1 TFLOPS fp32, 65 TFLOPS fp16 with tensor cores).
   On CUDA, clip.load keeps CLIP in fp16 and the VQGAN stays fp32. The utilisation (35 %) is our
   assumption for small batches, not a measurement; a run on a real GPU replaces the estimate.
3. --picture: times one whole picture (generation.generate at FULL_DEFAULTS, 300 steps): seconds on
   a GPU; on a CPU, 300 times the step time printed above.
4. --notebooks: runs notebooks 03-06 in full mode (on stand-ins unless --real) and prints minutes and
   the kernel's peak memory.

    .venv/bin/python benchmarks/full_mode.py [--picture] [--notebooks] [--real]
"""
import argparse
import os
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import utils  # noqa: F401  (shims)
from utils import generation
from utils.models import load_clip
from utils.settings import cache_dir, get_device
from utils.standins import execute_notebook, standin_settings
from utils.vqgan import load_vqgan, vqgan_name_for_mode

ROOT = Path(__file__).resolve().parent.parent
T4_FP32, T4_FP16 = 8.1e12, 65e12   # NVIDIA T4 datasheet peaks
UTILISATION = 0.35                 # assumed share of the peak a batch of 32 cutouts reaches


def sync(device):
    """Wait for the GPU: CUDA runs kernels asynchronously, so a timer read without this measures the launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_parts(clip_model, vqgan, settings, repeats=2):
    """Seconds of decode, CLIP forward and backward of one step, and the FLOPs of each (forward+backward)."""
    gen = torch.Generator().manual_seed(0)
    device = next(clip_model.parameters()).device
    for p in [*clip_model.parameters(), *vqgan.parameters()]:
        p.requires_grad_(False)
    targets, weights = generation.text_targets(clip_model, [("a lighthouse at sunset", 1.0)])
    z = generation.random_latent(vqgan, settings["size"], gen).to(device).requires_grad_()
    res = clip_model.visual.input_resolution
    times = {"decode": [], "CLIP": [], "backward": []}
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        image = generation.decode(vqgan, z)
        sync(device)
        t1 = time.perf_counter()
        cuts = generation.clip_views(image, settings["cutouts"], res, settings["cut_min"], gen)
        feats = generation.clip_image_features(clip_model, cuts)
        loss = (generation.spherical_distance(feats[:, None], targets[None]).mean(0) * weights).sum()
        sync(device)
        t2 = time.perf_counter()
        loss.backward()
        sync(device)
        t3 = time.perf_counter()
        z.grad = None
        for k, value in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[k].append(value)
    seconds = {k: min(v) for k, v in times.items()}   # the fastest of the runs: the first one warms up
    with FlopCounterMode(display=False) as counter:
        image = generation.decode(vqgan, z)
    decode_flops = counter.get_total_flops() * 3           # backward through the decoder: about twice the forward
    with FlopCounterMode(display=False) as counter:
        cuts = generation.clip_views(image.detach(), settings["cutouts"], res, settings["cut_min"], gen)
        generation.clip_image_features(clip_model, cuts)
    clip_flops = counter.get_total_flops() * 3
    return seconds, decode_flops, clip_flops


def embedding_rate(clip_model, device, batch=256, repeats=5):
    """Images per second CLIP embeds on this device (preprocessed 224 px batches, no grad), the best of `repeats`."""
    images = torch.randn(batch, 3, 224, 224, device=device, dtype=clip_model.dtype)
    best = float("inf")
    with torch.no_grad():
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            clip_model.encode_image(images)
            sync(device)
            best = min(best, time.perf_counter() - t0)
    return batch / best


def picture_seconds(clip_model, vqgan, prompt="a lighthouse at sunset"):
    """Wall time of one whole picture at FULL_DEFAULTS (generate() reads a number off the GPU every step, so
    its clock is honest). On stand-ins the step count stays the real one: random weights change what is
    drawn, not how long it takes."""
    standins = os.environ.pop("COURSE_STANDINS", None)  # else cap_steps cuts the run to one step
    try:
        _, history = generation.generate(prompt, clip_model=clip_model, vqgan=vqgan, progress=False)
    finally:
        if standins is not None:
            os.environ["COURSE_STANDINS"] = standins
    return history["seconds"], history["settings"]["steps"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--picture", action="store_true", help="also time one whole 300-step picture")
    parser.add_argument("--notebooks", action="store_true", help="also run notebooks 03-06 in full mode")
    parser.add_argument("--real", action="store_true", help="use the published checkpoints (download) instead of stand-ins")
    args = parser.parse_args()
    env = {"COURSE_MODE": "full"} if args.real else standin_settings(cache_dir("standins"))
    os.environ.update(env)
    device = get_device()
    clip_model, _ = load_clip(device=device)
    vqgan = load_vqgan(vqgan_name_for_mode(), device=device)
    settings = dict(generation.FULL_DEFAULTS)
    seconds, decode_flops, clip_flops = step_parts(clip_model, vqgan, settings, repeats=10 if device.type == "cuda" else 2)
    kind = "published" if args.real else "stand-in"
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"one full-size VQGAN+CLIP step ({kind} weights, {where}, torch {torch.__version__}, "
          f"{settings['size']} px, {settings['cutouts']} cutouts):")
    print("  " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in seconds.items()) + f" = {sum(seconds.values()):.3f} s")
    print(f"  FLOPs per step (forward + backward): VQGAN decoder {decode_flops / 1e9:.0f} G, CLIP {clip_flops / 1e9:.0f} G")
    t4 = decode_flops / (T4_FP32 * UTILISATION) + clip_flops / (T4_FP16 * UTILISATION)
    print(f"  estimate on a Colab T4 at {UTILISATION:.0%} of peak: {t4:.2f} s per step, "
          f"{settings['steps'] * t4 / 60:.1f} min per {settings['steps']}-step picture")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        clip_model.encode_image(torch.zeros(8, 3, 224, 224, device=device, dtype=clip_model.dtype))
    per_image = counter.get_total_flops() / 8
    print(f"CLIP image embedding: {per_image / 1e9:.1f} GFLOPs per 224 px image; estimate on a T4 (fp16, "
          f"{UTILISATION:.0%} of peak): {T4_FP16 * UTILISATION / per_image:.0f} images/s before preprocessing")
    if device.type == "cuda":
        print(f"  measured here: {embedding_rate(clip_model, device):.0f} images/s in batches of 256 ({where})")
    if args.picture:
        total, steps = picture_seconds(clip_model, vqgan)
        print(f"one whole picture ({steps} steps, {kind} weights, {where}): {total:.1f} s, {total / steps:.3f} s per step")
    if args.notebooks:
        for name in ("03_zero_shot_classification", "04_text_image_retrieval",
                     "05_vector_quantization_vqgan", "06_vqgan_clip_generation"):
            run = execute_notebook(ROOT / "notebooks" / f"{name}.ipynb", env)
            print(f"{name}: {run['seconds'] / 60:.1f} min, peak RAM {run['peak_ram_mb'] / 1024:.1f} GB, "
                  f"peak GPU memory {run['peak_gpu_mb'] / 1024:.1f} GB ({kind} weights)")


if __name__ == "__main__":
    main()
