"""VQGAN+CLIP: draw a picture from a sentence by optimising a VQGAN's latent codes against CLIP.

The loop, one step:
  latent z (B, D, h, w) --snap to nearest codebook vectors, straight-through--> z_q
  z_q --VQGAN decoder--> image --random cutouts + augmentations--> CLIP image embeddings
  loss = weighted spherical distance between those embeddings and the prompt's text embeddings
The decoder can only draw what it learned to draw, so CLIP's gradient moves the picture between
real-looking images instead of into adversarial pixel noise (lesson 06 shows both).
"""
import time

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .models import tokenize
from .train_clip import MEAN, STD  # the normalisation clip's preprocess applies
from .vq import nearest_code
from .settings import cap_steps, get_device, get_mode, set_seed


# Good settings found on the Shapes world (lesson 06 measures them); full mode uses FULL_DEFAULTS.
TINY_DEFAULTS = dict(steps=250, size=32, cutouts=16, lr=0.15, cut_min=0.7)
FULL_DEFAULTS = dict(steps=300, size=256, cutouts=32, lr=0.1, cut_min=0.25)


def parse_prompts(prompt):
    """'a red star:1 | a blue star:-0.5' -> [('a red star', 1.0), ('a blue star', -0.5)].

    A weight after the last ':' is optional (default 1); negative weights push the image away.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"prompt must be a non-empty string like 'a red star' or 'a red star:1|blue:-0.5', got {prompt!r}.")
    parsed = []
    for part in prompt.split("|"):
        text, weight = part.strip(), 1.0
        head, sep, tail = text.rpartition(":")
        if sep:
            try:
                text, weight = head.strip(), float(tail)
            except ValueError:
                pass  # a ':' inside the text, not a weight
        if not text:
            raise ValueError(f"Empty prompt in {prompt!r}; write 'text:weight' parts separated by '|'.")
        parsed.append((text, weight))
    if not any(w > 0 for _, w in parsed):
        raise ValueError(f"{prompt!r} has no positive prompt; give at least one part a weight above 0.")
    return parsed


def spherical_distance(a, b):
    """Half the squared angle between unit vectors: 0 when equal, grows smoothly to pi^2/2.

    The angle is 2*arcsin(|a-b|/2). Unlike 1 - cosine, its gradient does not vanish when the
    vectors are nearly opposite, so far-away starts still get a push.
    """
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    return 2 * ((a - b).norm(dim=-1) / 2).clamp(max=1).arcsin().pow(2)


def text_targets(clip_model, parsed):
    """Unit text embeddings (P, D) and weights (P,) of parsed prompts."""
    with torch.no_grad():
        feats = clip_model.encode_text(tokenize([t for t, _ in parsed], clip_model)).float()
    weights = torch.tensor([w for _, w in parsed], device=feats.device)
    return F.normalize(feats, dim=-1), weights


def make_cutouts(images, n, out_size, cut_min=0.5, generator=None):
    """n random square crops (side cut_min..1 of the image), resized for CLIP, with flips and noise.

    Why: scored on one fixed view, CLIP can be satisfied by a few pixels arranged just so. Averaged
    over many crops, shifts and flips, only an image that looks right everywhere scores well.
    """
    _, _, h, w = images.shape
    side_max = min(h, w)
    cuts = []
    for _ in range(n):
        frac = cut_min + (1 - cut_min) * torch.rand((), generator=generator).item()
        side = max(1, int(side_max * frac))
        y = torch.randint(0, h - side + 1, (), generator=generator).item()
        x = torch.randint(0, w - side + 1, (), generator=generator).item()
        crop = images[:, :, y:y + side, x:x + side]
        crop = F.interpolate(crop, size=(out_size, out_size), mode="bilinear", align_corners=False)
        if torch.rand((), generator=generator).item() < 0.5:
            crop = crop.flip(-1)
        cuts.append(crop)
    cuts = torch.cat(cuts)  # (n*B, 3, out, out)
    noise = torch.randn(cuts.shape, generator=generator).to(cuts.device)
    return (cuts + 0.03 * noise).clamp(0, 1)


def clip_views(images, n, out_size, cut_min=0.5, generator=None):
    """What CLIP sees of the picture each step: n cutouts, or with n = 0 the whole picture alone.

    n = 0 is the control of lesson 06's 2 x 2 experiment: no crops, no flips, no noise.
    """
    if n == 0:
        if images.shape[-1] != out_size:
            images = F.interpolate(images, size=(out_size, out_size), mode="bilinear", align_corners=False)
        return images
    return make_cutouts(images, n, out_size, cut_min, generator)


def clip_normalise(images):
    return (images - MEAN.to(images.device)) / STD.to(images.device)


def clip_image_features(clip_model, images):
    """Unit CLIP embeddings of images in [0, 1] (resized to the model's input size)."""
    res = clip_model.visual.input_resolution
    if images.shape[-1] != res:
        images = F.interpolate(images, size=(res, res), mode="bilinear", align_corners=False)
    return F.normalize(clip_model.encode_image(clip_normalise(images)).float(), dim=-1)


def clip_score(clip_model, image, text):
    """Cosine similarity between a picture (PIL or (3,H,W)/(B,3,H,W) in [0,1]) and a text."""
    from .shapes import to_tensor

    device = next(clip_model.parameters()).device
    x = to_tensor([image]) if not isinstance(image, torch.Tensor) else image
    x = x[None] if x.ndim == 3 else x
    with torch.no_grad():
        img = clip_image_features(clip_model, x.to(device))
        txt, _ = text_targets(clip_model, [(text, 1.0)])
    return (img @ txt.T).squeeze(-1).cpu()


def codebook(vqgan):
    return vqgan.quantize.embedding.weight  # (n_codes, D)


def downsampling(vqgan):
    """Pixels per latent cell: the encoder halves the resolution once per level but the last."""
    return 2 ** (vqgan.encoder.num_resolutions - 1)


def random_latent(vqgan, size, generator=None):
    """A latent grid (1, D, h, w) filled with randomly chosen codebook vectors."""
    f = downsampling(vqgan)
    if size % f:
        raise ValueError(f"size={size} is not a multiple of the VQGAN's downsampling factor {f}; use e.g. {f * max(1, size // f)}.")
    cb = codebook(vqgan).detach()
    idx = torch.randint(0, cb.shape[0], (size // f, size // f), generator=generator).to(cb.device)
    return cb[idx].permute(2, 0, 1)[None].clone()  # (1, D, h, w)


def quantise_straight_through(vqgan, z):
    """Snap every latent vector to its nearest code; the backward pass skips the snap (STE)."""
    cb = codebook(vqgan)
    flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])  # (B*h*w, D)
    idx = nearest_code(flat, cb)  # the same lookup as taming's quantiser
    zq = cb[idx].view(z.shape[0], z.shape[2], z.shape[3], -1).permute(0, 3, 1, 2)
    return z + (zq - z).detach()


def latent_step(loss, z, optimiser, z_min, z_max):
    """One update of the latent z (a leaf tensor the optimiser owns), in place; returns nothing.

    Clear the previous step's gradients, backpropagate loss, let the optimiser move z, then clamp
    z to [z_min, z_max] (the codebook's per-dimension range) so it stays where the codes live.
    The clamp edits z itself without recording it for autograd.
    """
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    with torch.no_grad():
        z.copy_(torch.maximum(torch.minimum(z, z_max), z_min))


def decode(vqgan, z):
    """Latent (B, D, h, w) -> image (B, 3, H, W) in [0, 1] (VQGAN works in [-1, 1])."""
    return ((vqgan.decode(quantise_straight_through(vqgan, z)) + 1) / 2).clamp(0, 1)


def to_pil(image):
    from PIL import Image

    arr = (image.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    return Image.fromarray(arr)


def default_models(device):
    """The mode's CLIP and VQGAN (tiny: course-trained; full: published). The loaders keep one copy of each
    per process, so these are the very models a notebook got from load_clip() and load_vqgan()."""
    from .models import load_clip
    from .vqgan import load_vqgan, vqgan_name_for_mode

    clip_model, _ = load_clip(None, device=device)
    return clip_model, load_vqgan(vqgan_name_for_mode(), device=device)


def generate(prompt, steps=None, seed=0, size=None, cutouts=None, lr=None, cut_min=None,
             clip_model=None, vqgan=None, frames_every=10, progress=True, device=None):
    """Optimise a VQGAN latent so its picture matches `prompt` under CLIP.

    prompt: 'text' or 'text:weight|other text:-1' (negative weights steer away).
    Defaults (None) are the mode's good settings: TINY_DEFAULTS or FULL_DEFAULTS.
    Returns (PIL image, history) with history = {"frames": [PIL...], "frame_steps": [...],
    "score": [cosine to the positive prompts per step], "loss": [...], "seconds": float, "settings": {...}}.
    """
    parsed = parse_prompts(prompt)
    device = torch.device(device) if device is not None else get_device()
    if clip_model is None or vqgan is None:
        default_clip, default_vqgan = default_models(device)
        clip_model = clip_model if clip_model is not None else default_clip
        vqgan = vqgan if vqgan is not None else default_vqgan
    defaults = FULL_DEFAULTS if get_mode() == "full" else TINY_DEFAULTS
    settings = dict(steps=steps, size=size, cutouts=cutouts, lr=lr, cut_min=cut_min)
    settings = {k: defaults[k] if v is None else v for k, v in settings.items()}
    settings["steps"] = cap_steps(settings["steps"])  # stand-in weights (COURSE_STANDINS=1): a smoke run
    if settings["steps"] < 1 or settings["cutouts"] < 0:
        raise ValueError(f"steps must be at least 1 and cutouts at least 0 (0 shows CLIP the whole picture, "
                         f"unaugmented), got steps={settings['steps']} and cutouts={settings['cutouts']}.")

    set_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    for p in [*clip_model.parameters(), *vqgan.parameters()]:
        p.requires_grad_(False)  # only the latent learns; saves the weight gradients' time
    targets, weights = text_targets(clip_model, parsed)
    positive = weights > 0
    z = random_latent(vqgan, settings["size"], gen).to(device).requires_grad_()
    cb = codebook(vqgan).detach()
    z_min, z_max = cb.min(0).values.view(1, -1, 1, 1), cb.max(0).values.view(1, -1, 1, 1)
    opt = torch.optim.Adam([z], lr=settings["lr"])
    res = clip_model.visual.input_resolution
    history = {"frames": [], "frame_steps": [], "score": [], "loss": [], "settings": settings}

    start = time.perf_counter()
    for step in tqdm(range(settings["steps"]), desc=prompt[:40], disable=not progress, leave=False):
        image = decode(vqgan, z)                                              # (1, 3, H, W)
        cuts = clip_views(image, settings["cutouts"], res, settings["cut_min"], gen)
        feats = clip_image_features(clip_model, cuts)                        # (n, E) unit vectors
        dists = spherical_distance(feats[:, None], targets[None])            # (n, P)
        loss = (dists.mean(0) * weights).sum()
        latent_step(loss, z, opt, z_min, z_max)  # zero_grad, backward, step, clamp to the codes' range
        with torch.no_grad():
            history["loss"].append(loss.item())
            history["score"].append((feats @ targets[positive].T).mean().item())
        if step % frames_every == 0:
            history["frames"].append(to_pil(image[0]))
            history["frame_steps"].append(step)
    with torch.no_grad():
        final = decode(vqgan, z)[0]
    history["seconds"] = time.perf_counter() - start
    history["frames"].append(to_pil(final))
    history["frame_steps"].append(settings["steps"])
    history["latent"] = z.detach()
    return to_pil(final), history


def save_gif(frames, path, duration_ms=80, scale=4):
    """Save frames (PIL) as an animated GIF, enlarged with nearest-neighbour so pixels stay crisp."""
    big = [f.resize((f.width * scale, f.height * scale), 0) for f in frames]
    big[0].save(path, save_all=True, append_images=big[1:], duration=duration_ms, loop=0)
    return path


def optimise_pixels(prompt, clip_model, steps=150, size=32, lr=0.05, seed=0, progress=True, cutouts=0,
                    cut_min=0.7, pixel_size=1):
    """Optimise the picture itself against CLIP, with no decoder: raw pixels, or Pixray-style pixel art.

    pixel_size=1 optimises every pixel; pixel_size=4 optimises a (size/4) x (size/4) grid of colour
    cells, each drawn as a 4 x 4 block (a pixel-art "drawer"). cutouts=0 (the default) shows CLIP the
    whole picture; cutouts=n shows it n augmented crops per step, as generate() does.
    Returns (PIL image, scores per step). Without cutouts it finds an adversarial pattern that
    CLIP scores highly.
    """
    if size % pixel_size:
        raise ValueError(f"size ({size}) must be a multiple of pixel_size ({pixel_size}).")
    parsed = parse_prompts(prompt)
    set_seed(seed)
    device = next(clip_model.parameters()).device
    for p in clip_model.parameters():
        p.requires_grad_(False)
    targets, weights = text_targets(clip_model, parsed)
    res = clip_model.visual.input_resolution
    grid = size // pixel_size
    steps = cap_steps(steps)  # stand-in weights (COURSE_STANDINS=1): a smoke run
    # Optimise unbounded logits; a sigmoid keeps the pixels in [0, 1].
    logits = (0.1 * torch.randn(1, 3, grid, grid, generator=torch.Generator().manual_seed(seed))).to(device)
    logits.requires_grad_()
    gen = torch.Generator().manual_seed(seed + 1)   # the cutouts' own randomness
    opt = torch.optim.Adam([logits], lr=lr)
    scores = []
    for _ in tqdm(range(steps), desc="pixels", disable=not progress, leave=False):
        image = draw_cells(logits, pixel_size)
        views = clip_views(image, cutouts, res, cut_min, gen)
        feats = clip_image_features(clip_model, views)
        loss = (spherical_distance(feats[:, None], targets[None]).mean(0) * weights).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        scores.append((feats @ targets[weights > 0].T).mean().item())
    return to_pil(draw_cells(logits, pixel_size).detach()[0]), scores


def draw_cells(logits, pixel_size):
    """Colour cells (1, 3, g, g) of unbounded logits -> a picture in [0, 1], each cell a pixel_size block."""
    image = torch.sigmoid(logits)
    return image if pixel_size == 1 else F.interpolate(image, scale_factor=pixel_size, mode="nearest")


DRAWERS = ("pixels", "pixel art", "VQGAN")
PIXEL_SETTINGS = dict(steps=200, lr=0.05)   # for the two pixel drawers (lesson 06, Part 1)


def draw_with(drawer, prompt, clip_model, vqgan=None, cutouts=0, seed=0, size=32):
    """One picture of `prompt`, optimised against clip_model by one of DRAWERS.

    The drawers (Pixray's word for them) differ only in what the optimiser moves: every pixel
    ("pixels"), a grid of 4 x 4-pixel colour cells ("pixel art"), or the VQGAN's latent codes
    ("VQGAN", with generate()'s other defaults). cutouts=0 shows CLIP the whole picture each
    step; cutouts=16 shows it 16 augmented crops. Returns a PIL image.
    """
    if drawer == "VQGAN":
        if vqgan is None:
            raise ValueError("The VQGAN drawer needs a VQGAN: pass vqgan=load_vqgan(...).")
        return generate(prompt, seed=seed, size=size, cutouts=cutouts, clip_model=clip_model, vqgan=vqgan,
                        progress=False, device=next(clip_model.parameters()).device)[0]
    if drawer not in DRAWERS:
        raise ValueError(f"Unknown drawer {drawer!r}; choose one of {', '.join(DRAWERS)}.")
    return optimise_pixels(prompt, clip_model, size=size, seed=seed, progress=False, cutouts=cutouts,
                           pixel_size=4 if drawer == "pixel art" else 1, **PIXEL_SETTINGS)[0]


def steps_per_second(history):
    return history["settings"]["steps"] / max(history["seconds"], 1e-9)


__all__ = ["generate", "parse_prompts", "spherical_distance", "make_cutouts", "clip_score",
           "optimise_pixels", "draw_cells", "clip_views", "draw_with", "DRAWERS", "save_gif", "random_latent", "decode", "latent_step", "TINY_DEFAULTS", "FULL_DEFAULTS",
           "steps_per_second"]
