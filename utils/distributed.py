"""CLIP's contrastive loss over the batch of every process (data-parallel training with torchrun).

Each process encodes its own slice of the global batch. `gather_features` collects the features of
all processes so the loss sees every pair of the global batch: each image is contrasted with the
texts of all processes, so the number of negatives grows with the global batch, not the local one.

The gradient, worked out (W processes, global loss L over the whole batch, x_r = rank r's features):

* `gather_features` keeps the autograd link only for the local slice (the other slices arrive
  through all_gather, which has no backward). Every rank computes the same L, so rank r's backward
  gives dL/dx_r — the exact full-batch gradient for its own rows (its rows of the logits *and* its
  columns, because the local tensor is used in both places) — and nothing for other ranks' rows.
* Through the encoder, rank r's parameter gradient is g_r = dL/dx_r * dx_r/dtheta, and the
  full-batch gradient is the sum over ranks: dL/dtheta = sum_r g_r.
* DistributedDataParallel *averages* gradients: (1/W) sum_r g_r = (1/W) dL/dtheta. Left alone,
  the encoders would train with a gradient W times too small (this is open_clip's
  local_loss=False, gather_with_grad=False setting).
* So each rank must produce W * g_r. `distributed_clip_loss` multiplies the gradient flowing into
  the local features by W (the forward value is untouched); DDP's average then gives the sum.
* logit_scale is *not* scaled: it multiplies the whole global logit matrix on every rank, so each
  rank already holds the full dL/dscale, and the average of W equal copies is that same value.
  Scaling the loss by W instead would make logit_scale's gradient W times too large.

open_clip's gather_with_grad=True reaches the same numbers with an all_reduce in the backward
(sum over ranks of dL/dx_r, which is W * dL/dx_r because every rank computes the same L); scaling
locally gives the same result without that extra communication.
"""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .losses import check_features, clip_loss


# ---------------------------------------------------------------- process group (torchrun)


@dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device


def env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"Environment variable {name}={value!r} must be an integer (torchrun sets it).") from None


def setup(device=None):
    """Join the process group that torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR).

    Without torchrun (no WORLD_SIZE) it does nothing and reports a world of one process.
    The backend is nccl for CUDA and gloo otherwise; each process uses GPU number LOCAL_RANK.
    device: 'cpu', 'cuda', 'mps' or None (CUDA if available, else CPU).
    """
    rank, world_size, local_rank = env_int("RANK", 0), env_int("WORLD_SIZE", 1), env_int("LOCAL_RANK", 0)
    kind = torch.device(device).type if device else ("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu.")
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} GPUs are visible; "
                               "start at most that many processes per node.")
        torch.cuda.set_device(local_rank)  # one GPU per process, chosen by its rank on this node
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device(kind)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if kind == "cuda" else "gloo"  # nccl only speaks CUDA tensors
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistInfo(rank, world_size, local_rank, dev)


def cleanup():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def world_size():
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank():
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main():
    """True on the process that logs and saves (rank 0), and always without torch.distributed."""
    return rank() == 0


# ---------------------------------------------------------------- the gather and the loss


class ScaleGrad(torch.autograd.Function):
    """Identity in the forward pass; multiplies the incoming gradient by `scale` in the backward."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


def scale_grad(x, scale):
    return ScaleGrad.apply(x, scale)


def gather_features(features):
    """(n, D) on each of W processes -> (W*n, D), in rank order, the same on every process.

    The rows of this process are its own tensor, so gradients flow back to them; the rows of the
    other processes are copies without gradient (their own process computes those gradients).
    """
    size = world_size()
    if size == 1:
        return features
    local = features.contiguous()
    check_same_batch(local)
    parts = [torch.empty_like(local) for _ in range(size)]
    dist.all_gather(parts, local.detach())  # all_gather has no backward: these are constants
    parts[rank()] = local  # put the autograd link back for our own slice
    return torch.cat(parts, dim=0)


def check_same_batch(features):
    """all_gather needs the same shape on every rank; say so clearly instead of hanging or crashing."""
    shape = torch.tensor(features.shape, device=features.device)
    shapes = [torch.empty_like(shape) for _ in range(world_size())]
    dist.all_gather(shapes, shape)
    if any(not torch.equal(s, shapes[0]) for s in shapes):
        found = [tuple(s.tolist()) for s in shapes]
        raise ValueError(f"Every process must pass features of the same shape, got {found}; "
                         "use drop_last=True in the DataLoader so every rank has full batches.")


def distributed_clip_loss(image_features, text_features, logit_scale):
    """CLIP's loss over the global batch of all processes, with gradients ready for DDP averaging.

    The value equals utils.losses.clip_loss on the concatenated batch, identical on every rank.
    The gradient into the local features is multiplied by the world size, so that after
    DistributedDataParallel averages the parameter gradients they equal the single-process
    full-batch gradient (see the module docstring for why). With one process it is clip_loss.
    """
    check_features(image_features, text_features)
    size = world_size()
    if size == 1:
        return clip_loss(image_features, text_features, logit_scale)
    all_images = gather_features(scale_grad(image_features, float(size)))  # (W*n, D)
    all_texts = gather_features(scale_grad(text_features, float(size)))  # (W*n, D)
    return clip_loss(all_images, all_texts, logit_scale)
