"""A tiny VQGAN (Esser et al., 2021, "Taming Transformers for High-Resolution Image Synthesis")
built from taming-transformers' own VQModel, trained on 32x32 Shapes images in a few minutes on CPU.

Two sources, one loader (utils.settings picks the mode):
- tiny: `load_vqgan("tiny")` loads the course checkpoint from the cache, training it first if missing.
- full: `load_vqgan("imagenet-f16-16384")` (or "imagenet-f16-1024") builds taming's published ImageNet
  f16 model from its checkpoint in the cache (path in `published_path`), downloaded on first use.

Images in VQGAN convention live in [-1, 1]; `to_vqgan` / `from_vqgan` convert from and to [0, 1].
"""
import contextlib
import copy
import io
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from . import shapes, vq
from .model_cache import train_once
from .threads import training_threads
from .settings import (cache_dir, file_stamp, full_vqgan_name, get_device, get_mode, model_device, save_atomic,
                       seeded_generator, set_seed)

# No LPIPS: taming's VQLPIPSWithDiscriminator downloads VGG weights when it is built. The course
# writes its own losses in `train_vqgan`, so the model carries this empty placeholder instead.
DUMMY_LOSS = {"target": "taming.modules.losses.vqperceptual.DummyLoss"}

IMAGE_SIZE = 32  # Shapes images for the tiny VQGAN; factor 4 -> an 8x8 grid of 64 codes
TINY_NAME = "tiny"
TINY_FILE = "tiny-v4.pt"  # bump the version when TINY_CONFIG or the recipe changes
TRAIN_SEED, EVAL_SEED = 0, 1234  # evaluation images come from a seed training never sees

# taming's Encoder/Decoder, shrunk. len(ch_mult) - 1 = 2 downsamplings -> factor 4. taming's
# GroupNorm always has 32 groups: with 32 channels each group is one channel, which removes every
# channel's mean per image (instance norm) and with it the flat background colour before the last
# layer; 64 channels keep pairs of channels together. num_res_blocks=0 leaves the encoder only its
# strided convs and middle blocks (the decoder still gets one res block per level), which pays for
# the 64 channels. No attention beyond the one taming always puts in the middle (8x8: cheap).
TINY_CONFIG = {
    "ddconfig": {"double_z": False, "z_channels": 64, "resolution": IMAGE_SIZE, "in_channels": 3,
                 "out_ch": 3, "ch": 64, "ch_mult": [1, 1, 1], "num_res_blocks": 0,
                 "attn_resolutions": [], "dropout": 0.0},
    "n_embed": 256,
    "embed_dim": 32,
}

# taming's published ImageNet VQGANs (configs/model.yaml of the checkpoints below): factor 16,
# 256x256 images -> 16x16 codes. Download last.ckpt and save it as published_path(name).
IMAGENET_F16_DDCONFIG = {"double_z": False, "z_channels": 256, "resolution": 256, "in_channels": 3,
                         "out_ch": 3, "ch": 128, "ch_mult": [1, 1, 2, 2, 4], "num_res_blocks": 2,
                         "attn_resolutions": [16], "dropout": 0.0}
PUBLISHED = {
    "imagenet-f16-16384": {
        "config": {"ddconfig": IMAGENET_F16_DDCONFIG, "n_embed": 16384, "embed_dim": 256},
        "file": "vqgan_imagenet_f16_16384.ckpt",
        "url": "https://heibox.uni-heidelberg.de/d/a7530b09fed84f80a887/files/?p=%2Fckpts%2Flast.ckpt&dl=1",
    },
    "imagenet-f16-1024": {
        "config": {"ddconfig": IMAGENET_F16_DDCONFIG, "n_embed": 1024, "embed_dim": 256},
        "file": "vqgan_imagenet_f16_1024.ckpt",
        "url": "https://heibox.uni-heidelberg.de/d/8088892a516d4e3baf92/files/?p=%2Fckpts%2Flast.ckpt&dl=1",
    },
}
NAMES = (TINY_NAME,) + tuple(PUBLISHED)


# ---------------------------------------------------------------- images


def to_vqgan(images):
    """PIL images or a (N, 3, H, W) / (3, H, W) tensor in [0, 1] -> tensor in [-1, 1]."""
    if not isinstance(images, torch.Tensor):
        images = shapes.to_tensor(images if isinstance(images, (list, tuple)) else [images])
    return images * 2 - 1


def from_vqgan(x):
    """Tensor in [-1, 1] -> tensor in [0, 1] (clamped, detached), ready for show_grid or PSNR."""
    return ((x.detach() + 1) / 2).clamp(0, 1)


def to_pil(x):
    """(3, H, W) or (N, 3, H, W) tensor in [-1, 1] -> PIL image(s)."""
    from PIL import Image

    arr = (from_vqgan(x).cpu() * 255).round().byte()
    if arr.ndim == 3:
        return Image.fromarray(arr.permute(1, 2, 0).numpy())
    return [Image.fromarray(a.permute(1, 2, 0).numpy()) for a in arr]


def shapes_images(n, seed, split="train", size=IMAGE_SIZE):
    """n Shapes images rendered once into a (n, 3, size, size) tensor in [-1, 1]."""
    return to_vqgan([shapes.sample(seed, i, split, size)[0] for i in range(n)])


# ---------------------------------------------------------------- model


def build_vqgan(config=None, ckpt_path=None):
    """taming's VQModel for a config {"ddconfig", "n_embed", "embed_dim"} (tiny by default)."""
    from taming.models.vqgan import VQModel

    config = TINY_CONFIG if config is None else config
    missing = {"ddconfig", "n_embed", "embed_dim"} - set(config)
    if missing:
        raise ValueError(f"VQGAN config lacks {sorted(missing)}; give ddconfig, n_embed and embed_dim.")
    with contextlib.redirect_stdout(io.StringIO()):  # taming prints the z shape and "Restored from ..."
        return VQModel(copy.deepcopy(config["ddconfig"]), DUMMY_LOSS, config["n_embed"],
                       config["embed_dim"], ckpt_path=None if ckpt_path is None else str(ckpt_path))


def reconstruct(model, x):
    """Encode, quantise and decode x in [-1, 1]; returns (reconstruction, (B, h, w) code indices).

    x may live on another device than the model (CPU images, a model on the GPU): it is moved to the
    model's device, and both results come back on x's device.
    """
    quant, _, (_, _, indices) = model.encode(x.to(model_device(model)))
    b, _, h, w = quant.shape
    return model.decode(quant).to(x.device), indices.reshape(b, h, w).to(x.device)


def decode_codes(model, indices):
    """(B, h, w) code indices -> images in [-1, 1], on the indices' device (computed on the model's)."""
    b, h, w = indices.shape
    quant = model.quantize.get_codebook_entry(indices.reshape(-1).to(model_device(model)), (b, h, w, model.quantize.e_dim))
    return model.decode(quant).to(indices.device)


# ---------------------------------------------------------------- evaluation


def psnr(x, y):
    """PSNR in dB of two batches in [-1, 1], measured in [0, 1] from the mean squared error of the
    whole batch (one number for the set, not an average of per-image PSNRs, which flatters)."""
    mse = F.mse_loss(from_vqgan(x), from_vqgan(y))
    return (10 * torch.log10(1 / mse)).item()


@torch.no_grad()
def evaluate_vqgan(model, n=512, seed=EVAL_SEED, batch_size=128, images=None):
    """PSNR, code usage and perplexity on n fresh Shapes images (all compositions, held-out too).

    The images are the rendered ones, background pixel noise included: no 64-code grid can store
    that noise, so it bounds the PSNR (28.6 dB: the error of a perfect but noise-free copy).
    """
    was_training = model.training
    model.eval()
    x = shapes_images(n, seed, "all") if images is None else images
    device = next(model.parameters()).device
    recs, codes = [], []
    for i in range(0, len(x), batch_size):
        rec, idx = reconstruct(model, x[i:i + batch_size].to(device))
        recs.append(rec.cpu())
        codes.append(idx.cpu())
    model.train(was_training)
    rec, codes = torch.cat(recs), torch.cat(codes)
    usage, perplexity = vq.codebook_usage(codes, model.quantize.n_e)
    return {"psnr": psnr(rec, x), "usage": usage, "perplexity": perplexity, "n": len(x)}


# ---------------------------------------------------------------- training


def hinge_d_loss(logits_real, logits_fake):
    """taming's hinge loss for the discriminator: real logits pushed above +1, fake below -1."""
    return 0.5 * (F.relu(1 - logits_real).mean() + F.relu(1 + logits_fake).mean())


def reconstruction_loss(rec, x):
    """L1 + L2 in pixel space: L2 is what PSNR measures, L1 keeps edges sharper than L2 alone.

    taming adds LPIPS (a VGG feature distance); that needs downloaded weights, so we leave it out.
    """
    return (rec - x).abs().mean() + F.mse_loss(rec, x)


def cosine_lr(step, steps, warmup, base_lr):
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return base_lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def adaptive_weight(rec_loss, g_loss, last_layer):
    """taming's balance of the two losses: ||grad rec|| / ||grad GAN|| at the decoder's last layer.

    Hinge generator logits are unbounded, so a fixed weight lets the GAN gradient swamp the
    reconstruction gradient (measured here: the reconstruction loss doubled within 100 steps).
    Scaled this way, disc_weight is the GAN's share of the gradient reaching the output layer.
    """
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (rec_grad.norm() / (g_grad.norm() + 1e-4)).clamp(0, 1e4).detach()


def make_discriminator():
    """taming's PatchGAN discriminator, shrunk for 32x32: 2 stride-2 layers -> a 6x6 map of patch logits."""
    from taming.modules.discriminator.model import NLayerDiscriminator, weights_init

    return NLayerDiscriminator(input_nc=3, ndf=32, n_layers=2).apply(weights_init)


@torch.no_grad()
def encoder_outputs(model, x):
    """(N, D) pre-quantisation vectors of a batch (what the codebook should cover)."""
    return vq.flatten_channels_last(model.quant_conv(model.encoder(x)))


def train_vqgan(config=None, steps=1500, batch_size=32, lr=2e-3, n_train=8000, seed=TRAIN_SEED,
                disc_start=0.6, disc_weight=0.1, restart_every=50, restart_until=0.8,
                device=None, progress=True, threads="auto"):
    """Train a VQModel on Shapes images with a plain PyTorch loop; returns (model, history).

    history: lists "step", "rec", "codebook", "g", "d" (losses) and "usage", "perplexity" (per log step),
    and "threads", the CPU thread counts chosen: threads="auto" uses the cores other programs leave
    free (utils/threads.py), a number fixes it.
    """
    from tqdm.auto import tqdm

    config = TINY_CONFIG if config is None else config
    device = get_device(device) if not isinstance(device, torch.device) else device
    set_seed(seed)
    images = shapes_images(n_train, seed, "train", config["ddconfig"]["resolution"])  # render once
    model = build_vqgan(config).to(device).train()
    disc = make_discriminator().to(device).train()
    ae_params = [p for n, p in model.named_parameters() if not n.startswith("loss.")]
    # taming uses betas (0.5, 0.9) for both; the autoencoder here keeps Adam's usual momentum, which
    # converges faster in a short run, and the discriminator keeps taming's GAN-friendly setting.
    opt_ae = torch.optim.Adam(ae_params, lr=lr, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr / 4, betas=(0.5, 0.9))
    gen = seeded_generator(seed)
    codebook = model.quantize.embedding.weight
    n_codes = codebook.shape[0]

    # Start the codebook where the encoder outputs are (k-means), not in taming's tiny box of
    # +-1/n_embed around the origin, where most codes are never nearest to anything.
    start = images[torch.randperm(n_train, generator=gen)[:256]].to(device)
    codebook.data.copy_(vq.kmeans(encoder_outputs(model, start), n_codes, generator=gen))

    # The adversarial part starts late (taming: disc_start) so the GAN only sharpens
    # reconstructions that are already right; started early, the discriminator wins easily
    # against blurry outputs and its gradients fight the reconstruction loss. Its weight is low
    # because PSNR rewards the pixel-exact mean, while the GAN rewards texture (here: noise).
    disc_from = int(disc_start * steps)
    counts = torch.zeros(n_codes, dtype=torch.long, device=device)
    history = {k: [] for k in ("step", "rec", "codebook", "g", "d", "usage", "perplexity")}
    window = dict.fromkeys(("rec", "codebook", "g", "d"), 0.0)
    bar = tqdm(range(steps), desc="tiny VQGAN", disable=not progress)
    with training_threads(threads) as governor:  # the cores other programs leave free (utils/threads.py)
        for step in bar:
            for group in opt_ae.param_groups:
                group["lr"] = cosine_lr(step, steps, 50, lr)
            x = images[torch.randint(n_train, (batch_size,), generator=gen)].to(device)
            quant, q_loss, (_, _, idx) = model.encode(x)
            rec = model.decode(quant)
            rec_loss = reconstruction_loss(rec, x)
            loss = rec_loss + q_loss
            use_gan = step >= disc_from
            g_loss = torch.zeros(())
            if use_gan:
                g_loss = -disc(rec).mean()  # the generator wants high "real" logits
                loss = loss + disc_weight * adaptive_weight(rec_loss, g_loss, model.decoder.conv_out.weight) * g_loss
            opt_ae.zero_grad(set_to_none=True)
            loss.backward()
            opt_ae.step()

            d_loss = torch.zeros(())
            if use_gan:
                d_loss = hinge_d_loss(disc(x), disc(rec.detach()))
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()

            counts += vq.code_counts(idx, n_codes)
            for k, v in (("rec", rec_loss), ("codebook", q_loss), ("g", g_loss), ("d", d_loss)):
                window[k] += v.item()
            if (step + 1) % restart_every == 0:
                usage, perplexity = vq.usage_from_counts(counts)
                if step < restart_until * steps:  # stop restarting in time for the codes to settle
                    vq.restart_dead_codes(codebook.data, encoder_outputs(model, x), counts, generator=gen)
                counts.zero_()
                history["step"].append(step + 1)
                for k in ("rec", "codebook", "g", "d"):  # mean over the window, less noisy than one batch
                    history[k].append(window[k] / restart_every)
                    window[k] = 0.0
                history["usage"].append(usage)
                history["perplexity"].append(perplexity)
                bar.set_postfix(rec=f"{history['rec'][-1]:.4f}", used=f"{usage:.0%}")
            governor.tick()
    model.eval()
    history["threads"] = governor.history
    return model, history


# ---------------------------------------------------------------- checkpoints


def save_vqgan(model, path, config=None, history=None):
    """Save {"state_dict", "config"(, "history")} atomically (temp file + os.replace: two notebooks
    may build the same checkpoint at once). history (training curves) is kept for the lesson's plots."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items() if not k.startswith("loss.")}
    ckpt = {"state_dict": sd, "config": config or TINY_CONFIG}
    if history is not None:
        ckpt["history"] = history
    save_atomic(ckpt, path)
    return path


def read_checkpoint(path, trusted=False):
    """torch.load a checkpoint; any failure becomes one sentence naming the file.

    trusted=True allows full unpickling, needed for Lightning's published .ckpt files (they
    pickle callback objects, which torch>=2.6's weights_only loading refuses); only for those.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=not trusted)
    except Exception as err:
        if not trusted and "Weights only load failed" in str(err):
            raise RuntimeError(
                f"Checkpoint {path} holds pickled Python objects besides the weights (a PyTorch Lightning "
                "checkpoint, like taming's last.ckpt), which safe loading refuses; if you trust the file, "
                "load it with load_vqgan(path, trusted=True).") from None
        raise RuntimeError(
            f"Checkpoint {path} could not be read ({type(err).__name__}: {str(err).splitlines()[0][:120]}); "
            "it is truncated or corrupt, so delete it and load again (the tiny VQGAN is retrained on demand, "
            "a published one must be downloaded again)."
        ) from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise RuntimeError(f"Checkpoint {path} holds no 'state_dict'; delete it or save it as "
                           "{'state_dict': model.state_dict()}.")
    return ckpt


def check_keys(model, state_dict, path):
    """taming loads with strict=False, which hides a wrong checkpoint; we refuse one here."""
    expected = {k for k in model.state_dict() if not k.startswith("loss.")}
    got = {k for k in state_dict if not k.startswith("loss.")}  # training-only loss weights: unused
    missing, unexpected = sorted(expected - got), sorted(got - expected)
    if missing or unexpected:
        raise RuntimeError(f"Checkpoint {path} does not fit this VQGAN config: {len(missing)} missing keys "
                           f"{missing[:3]} and {len(unexpected)} unexpected keys {unexpected[:3]}.")


def config_from_yaml(path):
    """{"ddconfig", "n_embed", "embed_dim"} from a taming run's model.yaml (model.params of the file)."""
    from omegaconf import OmegaConf

    params = OmegaConf.to_container(OmegaConf.load(path)).get("model", {}).get("params", {})
    return {"ddconfig": params["ddconfig"], "n_embed": params["n_embed"], "embed_dim": params["embed_dim"]}


def infer_config(state_dict, path="the checkpoint"):
    """Read a VQModel's config off its weights' shapes, for checkpoints saved without one.

    Every number taming's Encoder/Decoder take shows in a weight: channels in conv_in, the levels and
    their widths in down.<i>, res blocks per level, where attention sits, the codebook's size. Only
    `resolution` does not (the convolutions work at any size): we take 16 x the downsampling factor,
    which puts attention at the same levels as the weights do.
    """
    def shape(key):
        if key not in state_dict:
            raise RuntimeError(
                f"{path} holds no config and is not a taming VQModel state dict (no {key!r}); save it as "
                "{'state_dict': ..., 'config': {'ddconfig': ..., 'n_embed': ..., 'embed_dim': ...}} "
                "or put taming's model.yaml beside it.")
        return tuple(state_dict[key].shape)

    ch, in_channels = shape("encoder.conv_in.weight")[:2]
    n_embed, embed_dim = shape("quantize.embedding.weight")
    z_channels = shape("quant_conv.weight")[1]
    # The decoder shows every level's width: it has num_res_blocks + 1 blocks per level (the encoder
    # may have none, as the tiny VQGAN does).
    levels = sorted({int(k.split(".")[2]) for k in state_dict if k.startswith("decoder.up.")})
    ch_mult = [shape(f"decoder.up.{i}.block.0.conv1.weight")[0] // ch for i in levels]
    num_res_blocks = len({k.split(".")[4] for k in state_dict if k.startswith("decoder.up.0.block.")}) - 1
    resolution = 16 * 2 ** (len(levels) - 1)
    attn_resolutions = [resolution // 2 ** i for i in levels if f"decoder.up.{i}.attn.0.q.weight" in state_dict]
    double_z = shape("encoder.conv_out.weight")[0] == 2 * z_channels
    return {"ddconfig": {"double_z": double_z, "z_channels": z_channels, "resolution": resolution,
                         "in_channels": in_channels, "out_ch": shape("decoder.conv_out.weight")[0], "ch": ch,
                         "ch_mult": ch_mult, "num_res_blocks": num_res_blocks,
                         "attn_resolutions": attn_resolutions, "dropout": 0.0},
            "n_embed": n_embed, "embed_dim": embed_dim}


def checkpoint_config(ckpt, path):
    """The config saved in the file, else taming's model.yaml beside it (a run's configs/ folder or the
    same folder), else the one the weights' shapes say."""
    if ckpt.get("config"):
        return ckpt["config"]
    folder = Path(path).resolve().parent
    for yaml in (folder / "model.yaml", folder.parent / "configs" / "model.yaml", folder / "configs" / "model.yaml"):
        if yaml.is_file():
            return config_from_yaml(yaml)
    return infer_config(ckpt["state_dict"], path)


def load_checkpoint_file(path, trusted=False):
    """A VQModel from {"state_dict", "config"?} via taming's ckpt_path (config: see checkpoint_config)."""
    ckpt = read_checkpoint(path, trusted)
    if trusted:  # taming's ckpt_path loader would unpickle the file again, safely, and refuse it
        model = build_vqgan(checkpoint_config(ckpt, path))
        model.load_state_dict({k: v for k, v in ckpt["state_dict"].items() if not k.startswith("loss.")}, strict=False)
    else:
        model = build_vqgan(checkpoint_config(ckpt, path), ckpt_path=path)
    check_keys(model, ckpt["state_dict"], path)
    return model


def online(url, timeout=3.0):
    """True if a TCP connection to the URL's host opens within `timeout` seconds (no hang offline)."""
    import socket
    from urllib.parse import urlparse

    try:
        socket.create_connection((urlparse(url).hostname, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def download(url, path, chunk=1 << 20):
    """Stream a published checkpoint to `path` (temp file, then rename) with a progress bar.

    taming publishes no checksums for these files, so the check is structural: the file must
    unpickle to a dict with a state_dict holding encoder and decoder weights (done on load, where
    missing or unexpected keys are an error) — a truncated download fails there, not silently.
    """
    import urllib.request

    from tqdm.auto import tqdm

    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=path.name) as bar:
                for block in iter(lambda: response.read(chunk), b""):
                    out.write(block)
                    bar.update(len(block))
        os.replace(tmp, path)
    except OSError as error:
        raise RuntimeError(f"Downloading {url} to {path} failed ({error}); retry, or download it by hand "
                           "to that path, or use COURSE_MODE=tiny.") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def published_path(name):
    return cache_dir("vqgan") / PUBLISHED[name]["file"]


def slim_published(name):
    """The published .ckpt reduced to {"state_dict"} without loss.* keys (LPIPS and discriminator),
    written once beside it, so taming's ckpt_path loader reads plain tensors."""
    src = published_path(name)
    slim = src.with_suffix(".slim.pt")
    if slim.exists() and slim.stat().st_mtime >= src.stat().st_mtime:
        return slim
    ckpt = read_checkpoint(src, trusted=True)
    sd = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith("loss.")}
    save_atomic({"state_dict": sd, "config": PUBLISHED[name]["config"]}, slim)
    return slim


def tiny_path():
    return cache_dir("vqgan") / TINY_FILE


def vqgan_name_for_mode():
    """The VQGAN the current COURSE_MODE asks for: "tiny", or the published ImageNet f16 16384 (or COURSE_VQGAN)."""
    return TINY_NAME if get_mode() == "tiny" else full_vqgan_name()


_LOADED = {}  # (name or file identity, device) -> model: one copy of each VQGAN per process


def load_vqgan(name=TINY_NAME, device=None, seed=TRAIN_SEED, fresh=False, trusted=False):
    """A taming VQModel in eval mode: "tiny" (trained on demand, cached), a published name, or a file.

    A missing published checkpoint is downloaded when its host is reachable; offline, it fails at once
    with where to get it. One copy per process: the same name (or unchanged file) on the same device
    returns the same model object; fresh=True loads a copy of your own, e.g. to fine-tune it.
    trusted=True lets a checkpoint file unpickle Python objects (a Lightning .ckpt of your own taming run):
    only for files you trust, since unpickling can run code.
    """
    device = get_device(device) if not isinstance(device, torch.device) else device
    key = loaded_key(name, seed, device)
    if key in _LOADED and not fresh:
        return _LOADED[key].eval()
    model = load_vqgan_uncached(name, device, seed, trusted)
    key = loaded_key(name, seed, device)
    if key is not None and not fresh:
        _LOADED[key] = model
    return model


def tiny_seed_path(seed):
    return tiny_path() if seed == TRAIN_SEED else cache_dir("vqgan") / f"{Path(TINY_FILE).stem}-seed{seed}.pt"


def loaded_key(name, seed, device):
    """Which file a name loads, as it is now (path, size, time), and the device; None if there is no file yet."""
    if name == TINY_NAME:
        path = tiny_seed_path(seed)
    elif name in PUBLISHED:
        path = published_path(name)
    elif isinstance(name, (str, Path)):
        path = Path(name)
    else:
        return None
    if not path.is_file():
        return None
    return (str(path.resolve()), file_stamp(path), str(device))


def load_vqgan_uncached(name, device, seed, trusted=False):
    if name == TINY_NAME:
        path = train_once(tiny_seed_path(seed), "the tiny VQGAN", lambda: train_vqgan(seed=seed, device=device),
                          save=lambda model, path, history: save_vqgan(model, path, TINY_CONFIG, history),
                          how_long=" (about 12 min on a 2-core CPU)")
        model = load_checkpoint_file(path)
    elif name in PUBLISHED:
        path = published_path(name)
        if not path.exists() and online(PUBLISHED[name]["url"]):
            download(PUBLISHED[name]["url"], path)
        if not path.exists():
            raise FileNotFoundError(
                f"The published VQGAN {name!r} needs its checkpoint at {path}, which is missing: download "
                f"last.ckpt from {PUBLISHED[name]['url']} and save it there, or use the course's tiny VQGAN "
                "with COURSE_MODE=tiny or load_vqgan('tiny')."
            )
        model = load_checkpoint_file(slim_published(name))
    elif isinstance(name, (str, Path)) and (Path(name).suffix or os.sep in str(name)):
        if not Path(name).is_file():
            raise FileNotFoundError(f"No VQGAN checkpoint file at {name}; give an existing file or one of {', '.join(NAMES)}.")
        model = load_checkpoint_file(name, trusted)
    else:
        raise ValueError(f"Unknown VQGAN {name!r}; choose one of {', '.join(NAMES)} or a checkpoint file path.")
    return model.to(device).eval()
