"""Vector quantisation from scratch (van den Oord et al., 2017, "Neural Discrete Representation
Learning"), written to give the same numbers as taming-transformers' VectorQuantizer2.

An encoder output z (one D-dimensional vector per position) is replaced by its nearest row of a
codebook (K, D). The lookup has no gradient, so the straight-through estimator copies the decoder's
gradient from z_q back to z. Two extra losses train what the lookup cannot: the codebook loss pulls
the chosen codes towards the encoder outputs, the commitment loss keeps the encoder close to its codes.
"""
import torch


def check_inputs(z, codebook):
    if codebook.ndim != 2:
        raise ValueError(f"codebook has shape {tuple(codebook.shape)}; it must be (K, D), one code per row.")
    if z.ndim not in (2, 4):
        raise ValueError(f"z has shape {tuple(z.shape)}; pass (N, D) vectors or a (B, D, H, W) feature map.")
    dim = z.shape[1]
    if dim != codebook.shape[1]:
        raise ValueError(f"z has {dim} channels but the codes have {codebook.shape[1]}; they must match.")


def flatten_channels_last(z):
    """(B, D, H, W) -> (B*H*W, D) in taming's order (batch, row, column); (N, D) passes through."""
    if z.ndim == 2:
        return z
    return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])


def unflatten_like(flat, z):
    """Inverse of flatten_channels_last for a tensor shaped like z."""
    if z.ndim == 2:
        return flat
    b, d, h, w = z.shape
    return flat.reshape(b, h, w, d).permute(0, 3, 1, 2).contiguous()


def squared_distances(z_flat, codebook):
    """(N, K) squared distances, expanded as |z|^2 + |e|^2 - 2 z.e (no (N, K, D) tensor is built).

    Same expansion as taming, so ties break the same way and the chosen indices agree exactly.
    """
    return (z_flat.pow(2).sum(1, keepdim=True) + codebook.pow(2).sum(1)
            - 2 * z_flat @ codebook.t())


def nearest_code(z_flat, codebook):
    """(N,) index of the nearest code of every row of z_flat."""
    return squared_distances(z_flat, codebook).argmin(dim=1)


def straight_through(z, z_q):
    """The straight-through estimator: the value of z_q, the gradient of z.

    Forward it returns z_q; backward the lookup counts as the identity, so the gradient reaching the
    result goes to z unchanged and none goes to z_q (the codes learn from the codebook loss instead).
    """
    return z + (z_q - z).detach()


def quantize(z, codebook, beta=0.25, legacy=True):
    """Quantise z with a codebook; returns (z_q, loss, indices).

    z: (N, D) or (B, D, H, W). codebook: (K, D).
    z_q: same shape as z; its forward value is the nearest code, its gradient flows to z (STE).
    loss: codebook loss + commitment loss, a scalar.
    indices: (N,) or (B, H, W).

    The paper's loss is |sg[z] - e|^2 + beta |z - sg[e]|^2 (beta on the commitment term).
    taming's VectorQuantizer2 puts beta on the codebook term instead by an acknowledged bug and
    keeps it by default (legacy=True) for old checkpoints. Both terms have the same value, so the
    loss value is (1 + beta) * MSE either way; only the gradients differ.
    """
    check_inputs(z, codebook)
    z_flat = flatten_channels_last(z)  # (N, D)
    indices = nearest_code(z_flat, codebook)  # (N,)
    zq_flat = codebook[indices]  # (N, D)
    codebook_loss = torch.mean((zq_flat - z_flat.detach()) ** 2)  # moves the codes only
    commitment_loss = torch.mean((zq_flat.detach() - z_flat) ** 2)  # moves the encoder only
    if legacy:
        loss = commitment_loss + beta * codebook_loss
    else:
        loss = codebook_loss + beta * commitment_loss
    zq_flat = straight_through(z_flat, zq_flat)
    zq = unflatten_like(zq_flat, z)
    if z.ndim == 4:
        indices = indices.reshape(z.shape[0], z.shape[2], z.shape[3])
    return zq, loss, indices


def code_counts(indices, n_codes):
    """(K,) how often each code was chosen."""
    return torch.bincount(indices.reshape(-1), minlength=n_codes)


def codebook_usage(indices, n_codes):
    """(fraction of codes used at least once, perplexity) of a batch of indices.

    Perplexity is exp(entropy) of the code histogram: the number of equally used codes that would
    give the same entropy. n_codes means every code is used equally; 1 means collapse to one code.
    """
    return usage_from_counts(code_counts(indices, n_codes))


def usage_from_counts(counts):
    """codebook_usage from a (K,) histogram of chosen codes."""
    counts = counts.float()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return (counts > 0).float().mean().item(), entropy.exp().item()


@torch.no_grad()
def restart_dead_codes(codebook, z_flat, counts, generator=None):
    """Move every code with count 0 onto a random encoder output from z_flat (in place).

    A code that no encoder output picks gets no gradient from the codebook loss and stays dead
    forever; placing it where the data is gives it a chance to be chosen again. Returns how many
    codes were restarted.
    """
    dead = (counts == 0).nonzero().flatten()
    if len(dead) == 0:
        return 0
    # Drawn where the generator lives, then moved: CUDA refuses a CPU generator (train_vqgan's) for a GPU draw.
    device = z_flat.device if generator is None else generator.device
    pick = torch.randint(len(z_flat), (len(dead),), generator=generator, device=device).to(z_flat.device)
    codebook[dead] = z_flat[pick].to(codebook.dtype)
    return len(dead)


@torch.no_grad()
def kmeans(x, k, iters=10, generator=None):
    """Plain k-means on the rows of x (N, D) -> (k, D) centres, started from k random rows.

    Used to start a codebook where the encoder outputs are instead of in a tiny box at the origin.
    """
    if len(x) < k:
        raise ValueError(f"k-means needs at least k={k} points to start from; got {len(x)}.")
    centres = x[torch.randperm(len(x), generator=generator)[:k]].clone()
    for _ in range(iters):
        assign = nearest_code(x, centres)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        # An empty cluster keeps its old centre instead of collapsing to the origin.
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
    return centres
