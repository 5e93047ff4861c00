"""Building blocks to train the course's tiny CLIP on the Shapes world.

The model is OpenAI's own `clip.model.CLIP`, only small, so `clip.load(<file>)` rebuilds it
from a saved state dict exactly like a published checkpoint. The recipe follows Radford et
al. (2021): symmetric contrastive loss, learned temperature, AdamW with warm-up and cosine decay.

Speed on a CPU comes from doing the slow parts once: every training image is rendered once into
a uint8 tensor and every caption is tokenized once; each epoch only applies cheap tensor
augmentations. Training images are 32 px, the model's input resolution, so no resizing per step.
"""
import math
import time

import clip
import numpy as np
import torch
from clip.model import CLIP
from tqdm.auto import tqdm

from . import shapes
from .losses import clip_loss
from .settings import seeded_generator, set_seed
from .threads import training_threads

# The image tower is CLIP's ResNet (clip.model.ModifiedResNet, the tower of OpenAI's RN50 models),
# shrunk: a 3-convolution stem, one bottleneck block per stage, attention pooling. We first used
# a ViT (VIT_CONFIG below, the tower of ViT-B/32): in 3 minutes on a CPU it never learned shape
# well (91 % zero-shot on seen classes, 62 % on held-out ones), where this ResNet reaches 97 % / 92 %
# (lessons/02). Convolutions build in what a shape detector needs - local edges, the same filter
# at every position - which a ViT has to learn from data.
# clip.model.build_model infers the architecture back from a state dict; it sets
# heads = width // 64 in the text tower, so transformer_width must be a multiple of 64 and we
# build with the same rule, or the reloaded model would differ from the trained one.
TINY_CONFIG = dict(
    embed_dim=128,           # size of the shared image-text embedding space
    image_resolution=32,     # input size; clip.load's preprocess resizes to this
    vision_layers=(1, 1, 1, 1),  # bottleneck blocks per ResNet stage (RN50 has (3, 4, 6, 3))
    vision_width=32,         # channels of the first stage (RN50: 64); stages double it, blocks x4
    vision_patch_size=None,  # None means "ResNet" to clip.model.CLIP
    context_length=16,       # captions are short; CLIP's own models use 77
    vocab_size=49408,        # CLIP's BPE vocabulary, so clip.tokenize works unchanged
    transformer_width=128,   # text transformer width (2 heads)
    transformer_heads=2,
    transformer_layers=2,    # Shapes captions come in about 2,000 variants: 2 blocks read them as well as 3
)

# The ViT tiny CLIP of earlier course versions, kept for the exercise that compares the two
# image towers and as scripts/train_clip.py's default model (3 blocks, 4 x 4 patches of 8 px).
VIT_CONFIG = dict(TINY_CONFIG, vision_layers=3, vision_width=128, vision_patch_size=8)

# CLIP's image normalisation (the one clip.load's preprocess applies).
MEAN = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
STD = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)

# The course's training settings: about 3 min on 2 CPU cores (benchmarks/train_tiny_clip.py).
# Images show the whole training world (shapes.compositions("world")): the 20 seen classes and
# every pairing of the extra colours and shapes. colourless: the share of each batch shown in
# greyscale with a caption that names only the shape (see `train`).
TRAIN_SETTINGS = dict(n_images=20000, epochs=8, batch_size=128, lr=1e-3, weight_decay=0.1,
                      warmup=0.05, colourless=0.3)

# The caption of a colourless (greyscale) training image: it names the shape and nothing else.
SHAPE_ONLY_PROMPT = "a photo of a {shape}"
GREY = torch.tensor((0.299, 0.587, 0.114)).view(1, 3, 1, 1)  # luminance weights (ITU-R BT.601)


def build_tiny_clip(seed=0, **overrides):
    """A freshly initialised small clip.model.CLIP in fp32 (overrides change TINY_CONFIG)."""
    config = {**TINY_CONFIG, **overrides}
    config["transformer_heads"] = config["transformer_width"] // 64
    vit = config["vision_patch_size"] is not None
    if config["transformer_width"] % 64 or (vit and config["vision_width"] % 64):
        raise ValueError("transformer_width (and a ViT's vision_width) must be multiples of 64, "
                         "because clip.load rebuilds the model with heads = width // 64.")
    set_seed(seed)
    return CLIP(**config).float()


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


CLASS_SHARE = 0.5  # of the training images of the "world" split, the share that shows a class


def render_training_set(n, seed=0, split="world", size=32, captions_per_image=3, progress=True):
    """Render n Shapes images once: uint8 images (n, 3, size, size), captions, labels.

    Labels index shapes.WORLD_CLASSES, whose first 24 entries are the classes (shapes.CLASSES).
    Each image gets several captions from different templates; training picks one per epoch,
    so the text tower sees more phrasings without rendering more images.
    """
    pairs = shapes.compositions(split)
    classes = [cs for cs in pairs if cs in shapes.CLASSES]
    extras = [cs for cs in pairs if cs not in shapes.CLASSES]
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    captions, labels = [], []
    for i in tqdm(range(n), desc="render", disable=not progress, leave=False):
        rng = np.random.default_rng([seed, i, 7])
        # Half the images show a class, half an extra pairing (drawn uniformly, the classes would
        # get only 20 of 59 shares).
        group = classes if not extras or rng.random() < CLASS_SHARE else extras
        colour, shape = group[rng.integers(len(group))]
        ob = shapes.sample_object(rng, colour, shape)
        bg_level = rng.uniform(0, 128)
        images[i] = np.asarray(shapes.render([ob], size=size, rng=rng, bg_level=bg_level))
        captions.append([shapes.caption(ob, rng, bg_level) for _ in range(captions_per_image)])
        labels.append(shapes.WORLD_CLASSES.index((colour, shape)))
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), captions, torch.tensor(labels)


def tokenize_captions(captions, context_length):
    """(n, k) captions -> int tensor (n, k, context_length)."""
    k = len(captions[0])
    flat = [c for caps in captions for c in caps]
    tokens = clip.tokenize(flat, context_length=context_length, truncate=True)
    return tokens.view(len(captions), k, context_length)


def augment(images, generator, colourless=None):
    """uint8 (B, 3, H, W) -> normalised float images, with cheap photometric jitter.

    Brightness/contrast and a little noise: things another renderer or camera changes. No flips,
    shifts or hue changes: captions name positions and colours (and positions already vary).
    colourless: an optional (B,) bool mask of images to turn into greyscale.
    """
    x = images.float() / 255.0
    b = len(x)
    gain = torch.empty(b, 1, 1, 1).uniform_(0.85, 1.15, generator=generator)
    offset = torch.empty(b, 1, 1, 1).uniform_(-0.06, 0.06, generator=generator)
    x = x * gain + offset
    x = x + torch.randn(x.shape, generator=generator) * torch.empty(b, 1, 1, 1).uniform_(
        0, 0.04, generator=generator)
    if colourless is not None:
        grey = (x * GREY).sum(dim=1, keepdim=True).expand_as(x)
        x = torch.where(colourless.view(-1, 1, 1, 1), grey, x)
    return (x.clamp(0, 1) - MEAN) / STD


def shape_only_tokens(labels, context_length):
    """Tokens of "a photo of a {shape}" for each label (an index of shapes.WORLD_CLASSES): (n, L)."""
    table = clip.tokenize([SHAPE_ONLY_PROMPT.format(shape=s) for s in shapes.WORLD_SHAPES],
                          context_length=context_length)
    shape_of = torch.tensor([shapes.WORLD_SHAPES.index(s) for _, s in shapes.WORLD_CLASSES])
    return table[shape_of[labels]]


def normalise(images):
    """uint8 (B, 3, H, W) -> what clip.load's preprocess would give for 32 px images."""
    return (images.float() / 255.0 - MEAN) / STD


def param_groups(model, weight_decay):
    """Weight decay on matrices only: not on gains, biases, embeddings or the temperature."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        big_matrix = p.ndim >= 2 and "embedding" not in name
        (decay if big_matrix else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step, total, lr, warmup):
    """Linear warm-up then cosine decay to zero."""
    warm = max(1, int(total * warmup))
    if step < warm:
        return lr * (step + 1) / warm
    return lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def train_step(model, optimizer, images, tokens):
    """One contrastive step: encode, normalise, clip_loss, update; returns the loss."""
    image_features = model.encode_image(images)
    # Encode each distinct caption once: the colourless pairs of a batch share a few captions.
    unique, where = torch.unique(tokens, dim=0, return_inverse=True)
    text_features = model.encode_text(unique)[where]
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    text_features = text_features / text_features.norm(dim=-1, keepdim=True)
    loss = clip_loss(image_features, text_features, model.logit_scale.exp())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():  # CLIP clips the temperature so logits never exceed 100
        model.logit_scale.clamp_(0, math.log(100))
    return loss.item()


def train(model, images, tokens, labels=None, epochs=8, batch_size=128, lr=1e-3, weight_decay=0.1,
          warmup=0.05, colourless=0.0, seed=0, progress=True, device="cpu", threads="auto"):
    """Train `model` in place on pre-rendered uint8 images and (n, k, L) tokens.

    Batches are drawn and augmented on the CPU (seeded, so every machine gets the same ones)
    and moved to `device` for the forward and backward passes.

    colourless: the share of each batch turned greyscale and captioned with the shape alone
    ("a photo of a star"); needs `labels` (shapes.WORLD_CLASSES indices). Why: trained only on coloured pairs,
    the image tower learns "blue square" as one pattern, and its shape features fail on colour x
    shape pairs it never saw. A picture without colour can only be matched by its shape, which
    builds shape features that do not lean on colour. No held-out composition is ever shown.

    threads: CPU threads; "auto" uses the cores other programs leave free (utils/threads.py).

    Returns a history dict: loss and temperature (logit_scale.exp()) per step, seconds, images/s,
    and the thread counts chosen.
    """
    if colourless and labels is None:
        raise ValueError("colourless > 0 needs the class labels of the images; pass labels=... "
                         "(the third value render_training_set returns) or colourless=0.")
    set_seed(seed)
    generator = seeded_generator(seed)
    shape_tokens = shape_only_tokens(labels, tokens.shape[-1]) if colourless else None
    model.to(device).train()
    # The word table has 49408 rows but Shapes captions use about 40 of them; updating the other
    # 6.3M numbers (zero gradient, so Adam would leave them unchanged anyway) would cost a third
    # of every step on a CPU. So the word table stays at its random initialisation.
    model.token_embedding.weight.requires_grad_(False)
    optimizer = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.98),
                                  eps=1e-6)
    n = len(images)
    steps_per_epoch = n // batch_size  # drop the ragged last batch: every step has B pairs
    total = epochs * steps_per_epoch
    history = {"loss": [], "temperature": []}
    start = time.perf_counter()
    bar = tqdm(total=total, desc="train tiny CLIP", disable=not progress)
    step = 0
    with training_threads(threads) as governor:
        for epoch in range(epochs):
            order = torch.randperm(n, generator=generator)
            pick = torch.randint(tokens.shape[1], (n,), generator=generator)  # caption per image
            for b in range(steps_per_epoch):
                idx = order[b * batch_size:(b + 1) * batch_size]
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step, total, lr, warmup)
                text = tokens[idx, pick[idx]]
                grey = None
                if colourless:
                    grey = torch.rand(len(idx), generator=generator) < colourless
                    text = torch.where(grey.view(-1, 1), shape_tokens[idx], text)
                batch = augment(images[idx], generator, grey).to(device)
                loss = train_step(model, optimizer, batch, text.to(device))
                history["loss"].append(loss)
                history["temperature"].append(model.logit_scale.exp().item())
                step += 1
                bar.update(1)
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{loss:.3f}", T=f"{history['temperature'][-1]:.1f}")
                governor.tick()
    bar.close()
    model.eval()
    history["seconds"] = time.perf_counter() - start
    history["images_per_second"] = total * batch_size / history["seconds"]
    history["threads"] = governor.history
    return history


def train_tiny_clip(seed=0, progress=True, config=None, split="world", **settings):
    """Build and train the course's tiny CLIP from scratch; returns (model, history).

    config (changes to TINY_CONFIG, e.g. VIT_CONFIG) and split (e.g. "train": the 20 seen classes
    only) are there to measure the alternatives lesson 02 compares; settings change TRAIN_SETTINGS.
    """
    settings = {**TRAIN_SETTINGS, **settings}
    start = time.perf_counter()
    model = build_tiny_clip(seed, **(config or {}))
    images, captions, labels = render_training_set(settings.pop("n_images"), seed=seed, split=split,
                                                   size=model.visual.input_resolution, progress=progress)
    tokens = tokenize_captions(captions, model.context_length)
    history = train(model, images, tokens, labels, seed=seed, progress=progress, **settings)
    history["total_seconds"] = time.perf_counter() - start
    return model, history


@torch.no_grad()
def class_text_features(model, template=shapes.PROMPT):
    """Normalised text embeddings of the 24 class prompts, in shapes.CLASSES order: (24, D)."""
    tokens = clip.tokenize(shapes.prompts(template), context_length=model.context_length, truncate=True)
    features = model.encode_text(tokens.to(next(model.parameters()).device))  # clip.tokenize gives CPU ids
    return features / features.norm(dim=-1, keepdim=True)


@torch.no_grad()
def zero_shot_accuracy(model, preprocess, split="train", n=1000, seed=12345, size=64, images=None,
                       labels=None):
    """Top-1 accuracy over all 24 classes at once on n fresh Shapes images of a split.

    Images go through `preprocess` (as a learner would do), rendered with a seed different from
    training's. Pass `images` (PIL list) and `labels` to score other images instead.
    """
    if images is None:
        data = shapes.ShapesDataset(n, split=split, seed=seed, size=size)
        images, labels = zip(*[(im, label) for im, _, label in data])
    device = next(model.parameters()).device
    text = class_text_features(model)
    correct = 0
    for start in range(0, len(images), 256):
        batch = torch.stack([preprocess(im) for im in images[start:start + 256]]).to(device)
        feats = model.encode_image(batch)
        feats = feats / feats.norm(dim=-1, keepdim=True)
        pred = (feats @ text.t()).argmax(dim=-1).cpu()
        correct += (pred == torch.as_tensor(labels[start:start + 256])).sum().item()
    return correct / len(images)
