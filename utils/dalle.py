"""A mini-DALL·E (Ramesh et al., 2021, "Zero-Shot Text-to-Image Generation"): one transformer
reads a caption's words and then writes the picture as VQGAN code indices, one at a time.

    sequence = [<bos>, w1, ..., wn, <pad>, ..., c1, c2, ..., c64]   (text: TEXT_LEN ids, image: 8x8 codes)

- text tokens: a word-level vocabulary of the Shapes captions (VOCAB; ids 0 .. len(VOCAB)-1);
- image tokens: the tiny VQGAN's code indices in raster order, shifted by len(VOCAB) so both kinds
  share one embedding table;
- training: next-token cross-entropy, split into a text part and an image part, weighted 1/8 and
  7/8 as in DALL·E;
- generation: sample the 64 codes with temperature and top-k, decode them with the VQGAN, draw N
  samples and keep the one CLIP likes best (re-ranking, as DALL·E did with CLIP).

`generate(prompt, seed=0)` does all of it with good defaults; `load_dalle()` trains the tiny model
on first use (a few minutes on a CPU) and caches it under cache_dir("dalle").
"""
import math
import re
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import shapes
from .model_cache import fingerprint, train_once  # cached codes and checkpoints carry the VQGAN's fingerprint
from .settings import cache_dir, get_device, save_atomic, seeded_generator, set_seed, torch_threads
from .transformer import GPT

# ---------------------------------------------------------------- text tokens

PAD, BOS = "<pad>", "<bos>"
# The words shapes.caption() puts in for {position} and {background} (its templates only name them).
POSITION_WORDS = ("on the left", "on the right", "at the top", "at the bottom", "in the centre")
BACKGROUND_WORDS = ("black", "dark grey", "grey")


def caption_vocabulary():
    """Every word a Shapes caption can contain, sorted (so ids are the same on every machine)."""
    words = set()
    for template in shapes.TEMPLATES:
        words.update(re.sub(r"\{\w+\}", " ", template).split())
    for phrase in shapes.COLOUR_NAMES + shapes.SHAPES + shapes.SIZE_WORDS + POSITION_WORDS + BACKGROUND_WORDS:
        words.update(phrase.split())
    return sorted(words)


VOCAB = (PAD, BOS) + tuple(caption_vocabulary())
PAD_ID, BOS_ID = 0, 1
WORD_ID = {w: i for i, w in enumerate(VOCAB)}
TEXT_LEN = 10  # <bos> + up to 9 words; the longest Shapes caption has 8


def split_words(text):
    """Lower-case words of a prompt; punctuation is dropped ('A red star.' -> ['a', 'red', 'star'])."""
    return re.findall(r"[a-z]+", text.lower())


def encode_text(text):
    """A prompt -> TEXT_LEN ids: <bos>, its words, then <pad>. Unknown words are an error, not
    silently dropped, because a dropped "not" or colour would give a picture of something else."""
    if not isinstance(text, str) or not split_words(text):
        raise ValueError(f"prompt must be a non-empty string of words like 'a photo of a red star', got {text!r}.")
    words = split_words(text)
    unknown = [w for w in words if w not in WORD_ID]
    if unknown:
        raise ValueError(f"Unknown word(s) {', '.join(map(repr, unknown))} in {text!r}; the mini-DALL·E "
                         f"only knows the Shapes caption words: {', '.join(VOCAB[2:])}.")
    if len(words) > TEXT_LEN - 1:
        raise ValueError(f"{text!r} has {len(words)} words; the mini-DALL·E reads at most {TEXT_LEN - 1}.")
    ids = [BOS_ID] + [WORD_ID[w] for w in words]
    return ids + [PAD_ID] * (TEXT_LEN - len(ids))


def text_tokens(texts):
    """A list of prompts -> (B, TEXT_LEN) long tensor of word ids."""
    if isinstance(texts, str):
        texts = [texts]
    return torch.tensor([encode_text(t) for t in texts], dtype=torch.long)


def decode_text(ids):
    """Word ids -> the prompt, without <bos> and <pad>."""
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
    return " ".join(VOCAB[i] for i in ids if i not in (PAD_ID, BOS_ID))


# ---------------------------------------------------------------- the model

TEXT_WEIGHT = 1 / 8  # DALL·E's weights: 1/8 for the text loss, 7/8 for the image loss


class MiniDalle(nn.Module):
    """A GPT over [text ids, image codes + n_text]: it predicts each text word from the words
    before it, and each image code from the whole caption and the codes before it in raster order."""

    def __init__(self, n_codes=256, grid=8, d_model=96, n_layers=3, n_heads=4, dropout=0.0,
                 text_len=TEXT_LEN, n_text=len(VOCAB)):
        super().__init__()
        self.config = dict(n_codes=n_codes, grid=grid, d_model=d_model, n_layers=n_layers,
                           n_heads=n_heads, dropout=dropout, text_len=text_len, n_text=n_text)
        self.n_codes, self.grid, self.text_len, self.n_text = n_codes, grid, text_len, n_text
        # The last code is never an input (nothing comes after it): block_size is one less than the sequence.
        self.gpt = GPT(n_text + n_codes, text_len + grid * grid - 1, d_model, n_layers, n_heads, dropout)

    def sequence(self, text, codes):
        """(B, L) word ids and (B, G, G) codes -> (B, L + G*G) ids in the shared table."""
        return torch.cat([text, codes.flatten(1) + self.n_text], dim=1)

    def forward(self, text, codes):
        """Next-token logits, split by kind: text (B, L-1, n_text) predicting text[:, 1:], and
        image (B, G*G, n_codes) predicting every code. Each kind is scored only among its own ids."""
        logits = self.gpt(self.sequence(text, codes)[:, :-1])               # (B, L + G*G - 1, V)
        text_logits = logits[:, :self.text_len - 1, :self.n_text]          # (B, L-1, n_text)
        image_logits = logits[:, self.text_len - 1:, self.n_text:]         # (B, G*G, n_codes)
        return text_logits, image_logits

    def losses(self, text, codes, text_weight=TEXT_WEIGHT):
        """{"loss", "text", "image"}: loss = text_weight * text + (1 - text_weight) * image.
        Padding is not a word to predict, so it is left out of the text part."""
        text_logits, image_logits = self(text, codes)
        text_loss = F.cross_entropy(text_logits.reshape(-1, self.n_text), text[:, 1:].reshape(-1),
                                    ignore_index=PAD_ID)
        image_loss = F.cross_entropy(image_logits.reshape(-1, self.n_codes), codes.reshape(-1))
        return {"loss": text_weight * text_loss + (1 - text_weight) * image_loss,
                "text": text_loss, "image": image_loss}

    @torch.no_grad()
    def sample(self, text, n_samples=1, temperature=1.0, top_k=None, generator=None, progress=False, threads=1):
        """Write n_samples code grids (n, G, G) for one caption's ids (L,) or (1, L), code by code.

        threads: torch CPU threads while sampling (see torch_threads; None leaves the setting alone).
        """
        from tqdm.auto import tqdm

        check_sampling(temperature, top_k, self.n_codes)
        device = next(self.parameters()).device
        seq = text.reshape(1, -1).to(device).repeat(n_samples, 1)          # (n, L)
        with torch_threads(threads):
            for _ in tqdm(range(self.grid * self.grid), desc="codes", disable=not progress, leave=False):
                # No key/value cache: re-reading the prefix is simpler and fast enough for 74 tokens.
                logits = self.gpt(seq)[:, -1, self.n_text:]                 # (n, n_codes): image codes only
                code = sample_next(logits, temperature, top_k, generator)  # (n,)
                seq = torch.cat([seq, (code + self.n_text)[:, None].to(device)], dim=1)
        return (seq[:, self.text_len:] - self.n_text).view(n_samples, self.grid, self.grid)


def check_sampling(temperature, top_k, n_codes):
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a number above 0 (1 = the model's own distribution), got {temperature!r}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= n_codes):
        raise ValueError(f"top_k must be None or a whole number from 1 to {n_codes}, got {top_k!r}.")


def top_k_filter(logits, top_k):
    """Keep the k largest logits of each row, set the rest to -inf (None keeps all)."""
    if top_k is None:
        return logits
    kth = logits.topk(top_k, dim=-1).values[..., -1:]                      # (n, 1): the k-th largest
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    """One id per row of (n, V) logits: divide by temperature, keep the top k, draw from the softmax.

    Low temperature sharpens the distribution (safer, duller pictures); top-k cuts off the long tail
    of unlikely codes, where one bad draw would put a stray blob in the picture. top_k=1 is greedy.
    Draws on the CPU so a CPU generator gives the same samples on every device.
    """
    probs = top_k_filter(logits.float() / temperature, top_k).softmax(dim=-1).cpu()
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


# ---------------------------------------------------------------- data: Shapes -> VQGAN codes


def save_atomically(obj, path):
    """Kept for callers of this module: see utils.settings.save_atomic."""
    return save_atomic(obj, path)


@torch.no_grad()
def encode_images(vqgan, images, batch_size=256):
    """(N, 3, H, W) images in [0, 1] -> (N, h, w) code indices, a batch at a time."""
    device = next(vqgan.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device) * 2 - 1                     # VQGAN works in [-1, 1]
        quant, _, (_, _, idx) = vqgan.encode(x)
        out.append(idx.reshape(quant.shape[0], quant.shape[2], quant.shape[3]).cpu())
    return torch.cat(out)


@torch.no_grad()
def decode_images(vqgan, codes):
    """(N, h, w) code indices -> (N, 3, H, W) images in [0, 1]."""
    from .vqgan import decode_codes

    device = next(vqgan.parameters()).device
    return ((decode_codes(vqgan, codes.to(device)) + 1) / 2).clamp(0, 1).cpu()


def shapes_codes(vqgan, n, seed=0, split="train", size=32, batch_size=256, progress=True, cache=True, threads=1):
    """n captioned Shapes images of a split as {"codes": (n, h, w), "text": (n, TEXT_LEN), "captions",
    "labels"}: rendered once, encoded with the VQGAN in batches and cached under cache_dir("dalle")."""
    from tqdm.auto import tqdm

    path = cache_dir("dalle") / f"codes-vq{fingerprint(vqgan)}-{split}-seed{seed}-n{n}-{size}px.pt"
    if cache and path.is_file():
        return torch.load(path, weights_only=True)
    codes, captions, labels = [], [], []
    with torch_threads(threads):
        for start in tqdm(range(0, n, batch_size), desc=f"encode {split} images", disable=not progress):
            batch = [shapes.sample(seed, i, split, size) for i in range(start, min(n, start + batch_size))]
            codes.append(encode_images(vqgan, shapes.to_tensor([b[0] for b in batch]), batch_size))
            captions += [b[1] for b in batch]
            labels += [b[2] for b in batch]
    data = {"codes": torch.cat(codes).short(), "text": text_tokens(captions), "captions": captions,
            "labels": torch.tensor(labels)}
    if cache:
        save_atomically(data, path)
    return data


# ---------------------------------------------------------------- training

RECIPE = "v1"  # bump when MODEL_CONFIG or TRAIN_SETTINGS change, so stale checkpoints are not used
# Sized for the 5-minute budget on 2 shared CPU cores (benchmarks/mini_dalle.py): 3 x 96 wide beat
# 4 x 128 wide at equal wall time (more steps matter more than width here).
MODEL_CONFIG = dict(d_model=96, n_layers=3, n_heads=4, dropout=0.0)
TRAIN_SETTINGS = dict(n_train=20000, steps=500, batch_size=64, lr=2e-3, warmup=50, weight_decay=0.01,
                      text_weight=TEXT_WEIGHT, threads=1, n_val=512)
DATA_SEED = 0  # training images; validation images come from VAL_SEED, which training never sees
VAL_SEED = 4321


def lr_at(step, steps, warmup, base_lr):
    """Linear warm-up, then cosine decay to 5 % of the base rate."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return base_lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate(model, data, batch_size=256):
    """Mean text and image loss of a data dict (no gradient, eval mode)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    totals, n = {"text": 0.0, "image": 0.0}, len(data["codes"])
    for i in range(0, n, batch_size):
        out = model.losses(data["text"][i:i + batch_size].to(device), data["codes"][i:i + batch_size].long().to(device))
        for k in totals:
            totals[k] += out[k].item() * min(batch_size, n - i)
    model.train(was_training)
    return {k: v / n for k, v in totals.items()}


def train_dalle(vqgan, seed=0, device=None, progress=True, data=None, model_config=None, **settings):
    """Train a MiniDalle on Shapes captions + VQGAN codes; returns (model, history).

    settings override TRAIN_SETTINGS (n_train, steps, batch_size, lr, warmup, weight_decay, text_weight,
    threads: torch CPU threads while training, see torch_threads; None leaves the setting alone;
    n_val: fresh images per split for the final "val" and "heldout" losses, 0 to skip).
    history: per-step "loss", "text", "image"; "val" (seen compositions) and "heldout" losses at the
    end; "seconds" (training loop) and "encode_seconds" (rendering + VQGAN encoding, cached after).
    """
    from tqdm.auto import tqdm

    unknown = set(settings) - set(TRAIN_SETTINGS)
    if unknown:
        raise ValueError(f"Unknown training setting(s) {sorted(unknown)}; choose from {sorted(TRAIN_SETTINGS)}.")
    s = dict(TRAIN_SETTINGS, **settings)
    device = get_device(device) if not isinstance(device, torch.device) else device
    t0 = time.perf_counter()
    if data is None:
        data = shapes_codes(vqgan, s["n_train"], DATA_SEED, "train", progress=progress)
    encode_seconds = time.perf_counter() - t0

    set_seed(seed)
    n_codes, grid = vqgan.quantize.n_e, data["codes"].shape[-1]
    model = MiniDalle(n_codes=n_codes, grid=grid, **dict(MODEL_CONFIG, **(model_config or {}))).to(device).train()
    # Weight decay on matrices only: decaying LayerNorm gains and biases just hurts (as in GPT-2).
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": s["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=s["lr"], betas=(0.9, 0.95))
    gen = seeded_generator(seed)
    history = {"loss": [], "text": [], "image": [], "settings": s, "model_config": model.config}
    start = time.perf_counter()
    bar = tqdm(range(s["steps"]), desc="mini-DALL·E", disable=not progress)
    with torch_threads(s["threads"]):
        train_loop(model, opt, data, s, gen, device, bar, history)
    history["seconds"] = time.perf_counter() - start
    history["encode_seconds"] = encode_seconds
    history["threads"] = s["threads"] or torch.get_num_threads()
    if s["n_val"]:  # losses on fresh images: seen compositions, and compositions never trained on
        val = shapes_codes(vqgan, s["n_val"], VAL_SEED, "train", progress=False)
        held = shapes_codes(vqgan, s["n_val"], VAL_SEED, "heldout", progress=False)
        with torch_threads(s["threads"]):
            history["val"], history["heldout"] = evaluate(model, val), evaluate(model, held)
    model.eval()
    return model, history


def train_loop(model, opt, data, s, gen, device, bar, history):
    """The optimisation steps of train_dalle: random batches, warm-up + cosine learning rate."""
    n = len(data["codes"])
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, s["steps"], s["warmup"], s["lr"])
        idx = torch.randint(n, (s["batch_size"],), generator=gen)
        out = model.losses(data["text"][idx].to(device), data["codes"][idx].long().to(device), s["text_weight"])
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # one bad batch should not wreck the run
        opt.step()
        for k in ("loss", "text", "image"):
            history[k].append(out[k].item())
        if step % 10 == 0:
            bar.set_postfix(text=f"{out['text'].item():.3f}", image=f"{out['image'].item():.3f}")


# ---------------------------------------------------------------- checkpoints


def dalle_path(vqgan, seed=0):
    return cache_dir("dalle") / f"mini-dalle-{RECIPE}-vq{fingerprint(vqgan)}-seed{seed}.pt"


def save_dalle(model, path, history=None):
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_atomically({"state_dict": state, "config": model.config, "vocab": list(VOCAB),
                            "history": history or {}}, path)


def read_dalle(path, device=None):
    """(model, history) from a saved checkpoint; a corrupt file or another vocabulary is one clear error."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        model = MiniDalle(**ckpt["config"])
        model.load_state_dict(ckpt["state_dict"])
    except Exception as err:
        raise RuntimeError(f"Could not load the mini-DALL·E checkpoint {path} ({type(err).__name__}); delete it "
                           "and it will be retrained on the next load_dalle().") from None
    if tuple(ckpt["vocab"]) != VOCAB:
        raise RuntimeError(f"The checkpoint {path} was trained with another word list; delete it and it will be "
                           "retrained on the next load_dalle().")
    device = get_device(device) if not isinstance(device, torch.device) else device
    return model.to(device).eval(), ckpt["history"]


def load_dalle(seed=0, device=None, vqgan=None, progress=True):
    """(model, history) of the tiny mini-DALL·E for the tiny VQGAN, trained and cached on first use."""
    from .vqgan import load_vqgan

    vqgan = load_vqgan("tiny", device=device) if vqgan is None else vqgan
    path = train_once(dalle_path(vqgan, seed), "the mini-DALL·E", save=save_dalle, how_long=" (a few minutes on a CPU)",
                      train=lambda: train_dalle(vqgan, seed=seed, device=device, progress=progress))
    return read_dalle(path, device)


# ---------------------------------------------------------------- generation and CLIP re-ranking

# Good settings measured on the 24 class prompts (benchmarks/mini_dalle.py, lesson 07).
GENERATE_DEFAULTS = dict(temperature=1.0, top_k=64, n_samples=8)
_MODELS = {}


def default_models(device):
    """The tiny mini-DALL·E, VQGAN and CLIP, loaded once per process."""
    key = str(device)
    if key not in _MODELS:
        from .models import load_clip
        from .vqgan import load_vqgan

        vqgan = load_vqgan("tiny", device=device)
        model, _ = load_dalle(device=device, vqgan=vqgan)
        clip_model, _ = load_clip("tiny", device=device)
        _MODELS[key] = (model, vqgan, clip_model)
    return _MODELS[key]


@torch.no_grad()
def clip_scores(clip_model, images, prompt):
    """(N,) cosine between each image's CLIP embedding ((N, 3, H, W) in [0, 1]) and the prompt's."""
    from .generation import clip_score

    return clip_score(clip_model, images, prompt).reshape(-1)


def sample_images(prompt, seed=0, n_samples=None, temperature=None, top_k=None, model=None, vqgan=None,
                  clip_model=None, device=None, progress=False, threads=1):
    """Draw n_samples pictures for a prompt, in drawing order (not sorted).

    None for n_samples, temperature or top_k means the default in GENERATE_DEFAULTS (to switch top-k
    off, pass top_k=model.n_codes). threads: torch CPU threads meanwhile (see torch_threads).
    Returns {"images": (n, 3, H, W) in [0, 1], "codes": (n, h, w), "scores": (n,) CLIP cosines, "seconds"}.
    """
    text = text_tokens([prompt])[0]  # validates the prompt before any model is loaded
    n_samples = GENERATE_DEFAULTS["n_samples"] if n_samples is None else n_samples
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a whole number of at least 1, got {n_samples!r}.")
    temperature = GENERATE_DEFAULTS["temperature"] if temperature is None else temperature
    device = get_device(device) if not isinstance(device, torch.device) else device
    if model is None or vqgan is None or clip_model is None:
        d_model, d_vqgan, d_clip = default_models(device)
        model, vqgan, clip_model = model or d_model, vqgan or d_vqgan, clip_model or d_clip
    if model.n_codes != vqgan.quantize.n_e:
        raise ValueError(f"The transformer writes {model.n_codes} codes but the VQGAN has {vqgan.quantize.n_e}; "
                         "pass the VQGAN it was trained with.")
    if top_k is None:  # the default, capped for models with fewer codes (e.g. small test models)
        top_k = min(GENERATE_DEFAULTS["top_k"], model.n_codes)
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    with torch_threads(threads):
        codes = model.sample(text, n_samples, temperature, top_k, gen, progress, threads=None)  # (n, G, G)
        images = decode_images(vqgan, codes)                                     # (n, 3, H, W)
        scores = clip_scores(clip_model, images, prompt)                         # (n,)
    return {"images": images, "codes": codes.cpu(), "scores": scores, "seconds": time.perf_counter() - start}


def generate(prompt, seed=0, n_samples=None, temperature=None, top_k=None, model=None, vqgan=None,
             clip_model=None, device=None, progress=False, threads=1):
    """Draw n_samples (default 8) pictures of `prompt` and re-rank them with CLIP.

    Returns (best_image, samples): best_image is the PIL image CLIP scores highest, and samples is a
    list of all n_samples (PIL image, CLIP cosine score) pairs sorted best-first (samples[0][0] is
    best_image). Lesson 07 compares this ranking with others, judged by utils/judge.py. Defaults (None) are the measured good settings in GENERATE_DEFAULTS; the tiny models
    are loaded (the transformer trained on first use) unless model, vqgan and clip_model are given.
    Prompts may use only the Shapes caption words (VOCAB); any other word raises a ValueError that
    lists the known words (dropping it silently could drop the colour and draw something else).
    """
    from .vqgan import to_pil

    out = sample_images(prompt, seed, n_samples, temperature, top_k, model, vqgan, clip_model, device,
                        progress, threads)
    order = out["scores"].argsort(descending=True).tolist()
    samples = [(to_pil(out["images"][i] * 2 - 1), float(out["scores"][i])) for i in order]
    return samples[0][0], samples


# ---------------------------------------------------------------- measuring it


def evaluate_prompts(compositions=None, seeds=(0,), n_samples=None, temperature=None, top_k=None, model=None,
                     vqgan=None, clip_model=None, device=None, progress=True, judge=None):
    """How often the re-ranked best of n shows the prompt, against a random pick and the mean of all n:
    utils.judge.evaluate_generator on this model's sample_images (its docstring names what is returned)."""
    from .judge import evaluate_generator

    def draw(prompt, seed):
        return sample_images(prompt, seed, n_samples, temperature, top_k, model, vqgan, clip_model, device)

    return evaluate_generator(draw, compositions, seeds, judge, progress)
