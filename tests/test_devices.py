"""Device mistakes in the utils that take models, caught on a machine with only a CPU.

The course runs on Colab GPUs, CI on a CPU, where every tensor lives on the same device: a tensor made
on the CPU and fed to a model on the GPU (token ids, images, a small nn.Linear built with default
arguments, a CPU random generator drawing onto the GPU) goes unnoticed until a learner hits it.

Here the models are built on the CPU and moved to PyTorch's `meta` device (shapes, no data), the
functions run as the notebooks call them (with device=META where they take a device), and
StrictDevices, a dispatch mode, applies CUDA's rule to every operator, backward passes included: all
tensor arguments on one device, except 0-dim CPU tensors (scalars), CPU index tensors of advanced
indexing (x[idx]) and explicit copies (.to(), .cpu(), copy_); a random generator on the device it
draws on. Meta kernels alone are not enough: conv2d, matmul, bmm and embedding take a CPU tensor next
to meta ones without complaint (CPU token ids into a meta CLIP pass, into a CUDA CLIP they raise), and
random draws ignore the generator's device.

run_on_meta(call) runs call() and returns an Outcome saying how far it got:
- "returned": it ran to its end;
- "read data": it stopped at its first read of data, which meta tensors have not got (.item(), .cpu(),
  .tolist(), bool()), or at an operator whose output shape depends on the data (nonzero, unique,
  bincount, x[mask]): every operator before that point was device-consistent, which counts as a pass.
It raises DeviceMismatch (a test failure naming the repository line) when an operator mixes devices,
or when code calls .numpy() on a device tensor (CUDA tensors refuse that too).

A function that reads early (a loss logged with .item() each step, codes drawn on the CPU) would leave
the rest of its body unchecked, so the tests mostly use runs_through(call, first_read=...): a run with
fake_reads=True, where every read is answered as if the meta tensors held ones (item() -> 1, .cpu() ->
a CPU tensor of ones, x[mask] selects everything), so the function runs on to its end. It checks all
that a plain run checks and the rest; the values are meaningless, the devices are what is checked.
first_read names the line where a plain run stops, so a new early read shows up as a failing test,
not as silently less checking. `pytest tests/test_devices.py -rP` prints every outcome with the
number of operators checked before the first read and in all.
"""
import functools
import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import clip
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from utils import dalle, generation, judge, retrieval, shapes, train_clip, vq, vqgan, zeroshot
from utils.models import tokenize

from small_models import small_clip  # noqa: E402  (tests/ is on sys.path)

META = torch.device("meta")
HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
aten = torch.ops.aten

# ---------------------------------------------------------------- the checker

TRANSFERS = {aten._to_copy.default, aten.copy_.default, aten._copy_from.default,
             aten._copy_from_and_resize.default}
INDEXING = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default, aten._index_put_impl_.default}
NO_DATA = ("Cannot copy out of meta tensor", "cannot be called on meta tensors",  # .cpu()/.tolist(), .item()/bool()
           "no fake impl or Meta kernel",  # bincount, unique: the output's shape depends on the data
           "data-independent implementation does not exist")  # nonzero, masked_select
MISMATCH = re.compile(r"not on the expected device|Expected all tensors to be on the same device|"
                      r"should be the same device|indices should be either on|device type for generator|"
                      r"can't convert \w+ device type tensor to numpy|expected device \w+ but got")
MACHINERY = {"__torch_dispatch__", "fake", "check", "run_on_meta"}  # frames of this file's checker


class DeviceMismatch(AssertionError):
    """An operator got tensors on two devices: it would raise on a GPU."""


def tensor_devices(func, args, kwargs):
    """The devices an operator's tensor arguments must share (CUDA's rule, see the module docstring)."""
    if func in INDEXING:  # x[idx] accepts CPU indices for x on any device
        args = (args[0], [i for i in args[1] if i is not None and i.device.type != "cpu"], *args[2:])
    flat, _ = tree_flatten((args, kwargs))
    return {t.device for t in flat if isinstance(t, torch.Tensor) and not (t.dim() == 0 and t.device.type == "cpu")}


class StrictDevices(TorchDispatchMode):
    """Refuse every operator that mixes devices, as CUDA does; optionally answer reads of meta data."""

    def __init__(self, fake_reads=False):
        super().__init__()
        self.fake_reads, self.ops, self.reads, self.first_read, self.ops_before_read = fake_reads, 0, 0, "", 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.ops += 1
        self.check(func, args, kwargs)
        if self.fake_reads:
            answer = self.fake(func, args, kwargs)
            if answer is not None:
                if not self.reads:
                    self.first_read, self.ops_before_read = where(traceback.extract_stack()), self.ops - 1
                self.reads += 1
                return answer
        return func(*args, **kwargs)

    @staticmethod
    def check(func, args, kwargs):
        if func in TRANSFERS:
            return
        devices = tensor_devices(func, args, kwargs)
        if len(devices) > 1:
            raise DeviceMismatch(f"{func} got tensors on {' and '.join(sorted(map(str, devices)))}")
        generator = kwargs.get("generator") or next((a for a in args if isinstance(a, torch.Generator)), None)
        if generator is not None:
            device = torch.device(kwargs["device"]) if kwargs.get("device") is not None else next(iter(devices), None)
            if device is not None and device.type != generator.device.type:
                raise DeviceMismatch(f"{func} draws on {device} with a generator on {generator.device} "
                                     f"(CUDA: \"Expected a '{device.type}' device type for generator\")")

    @staticmethod
    def fake(func, args, kwargs):
        """What a read of meta data returns with fake_reads: as if every meta tensor held ones."""
        src = args[0] if args else None
        if not isinstance(src, torch.Tensor):
            return None
        if func is aten._local_scalar_dense.default and src.is_meta:  # .item(), bool(), float()
            return True if src.dtype == torch.bool else 1.0 if src.is_floating_point() else 1
        if func is aten._to_copy.default and src.is_meta and torch.device(kwargs.get("device") or META) != META:
            return torch.ones(src.shape, dtype=kwargs.get("dtype") or src.dtype, device=kwargs["device"])
        if func is aten.copy_.default and args[1].is_meta and not src.is_meta:
            return src.fill_(1)
        if func is aten.bincount.default and src.is_meta:  # counts of ones: max(2, minlength) bins
            minlength = kwargs.get("minlength", args[2] if len(args) > 2 else 0)
            return torch.zeros(max(2, minlength), dtype=torch.long, device=META)
        if func is aten.nonzero.default and src.is_meta:  # every element is non-zero
            return torch.zeros(src.numel(), src.dim(), dtype=torch.long, device=META)
        if func in INDEXING and any(i is not None and i.is_meta and i.dtype == torch.bool for i in args[1]):
            # x[mask] with a meta mask: every element selected, as the mask's nonzero() long indices
            indices = []
            for i in args[1]:
                is_mask = i is not None and i.is_meta and i.dtype == torch.bool
                indices += [torch.zeros(i.numel(), dtype=torch.long, device=META)] * i.dim() if is_mask else [i]
            return func(src, indices, *args[2:], **kwargs)
        if func is aten.unique_dim.default and src.is_meta:  # every slice is the same: one unique slice
            dim = args[1]
            return (src.narrow(dim, 0, 1).clone(), torch.zeros(src.shape[dim], dtype=torch.long, device=META),
                    torch.zeros(1, dtype=torch.long, device=META))
        return None


def where(frames):
    """'utils/x.py:12 in f: <source line>' of the innermost frame in the repository's own code."""
    for frame in reversed(frames):
        path = Path(frame.filename).resolve()
        if path == HERE and frame.name in MACHINERY:
            continue
        if REPO in path.parents and ".venv" not in path.parts:
            return f"{path.relative_to(REPO)}:{frame.lineno} in {frame.name}: {(frame.line or '').strip()}"
    return "(no frame in the repository)"


@dataclass
class Outcome:
    how: str                # "returned" or "read data"
    where: str = ""         # for "read data": the repository line that read, and its source
    error: str = ""         # for "read data": what torch said
    value: object = None    # for "returned": the return value
    ops: int = 0            # operators checked
    reads: int = 0          # with fake_reads: how many reads were answered with ones,
    first_read: str = ""    # where the first one was (where a run without fake_reads stops)
    ops_before_read: int = 0  # and how many operators ran before it

    def __str__(self):
        if self.how == "returned":
            faked = (f"; {self.reads} reads answered with ones, the first after {self.ops_before_read} operators "
                     f"at {self.first_read}") if self.reads else ""
            return f"returned after {self.ops} operators{faked}"
        return f"read data after {self.ops} operators at {self.where} ({self.error})"


def run_on_meta(call, fake_reads=False):
    """Run call() under StrictDevices; an Outcome, or DeviceMismatch naming the line that mixes devices."""
    mode = StrictDevices(fake_reads)
    try:
        with mode:
            value = call()
    except Exception as error:  # noqa: BLE001  (sorted below: mismatch, read of data, or a real error)
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        line = where(traceback.extract_tb(error.__traceback__))
        if isinstance(error, DeviceMismatch) or MISMATCH.search(str(error)):
            raise DeviceMismatch(f"devices mixed at {line}\n  {message}") from None
        if isinstance(error, (RuntimeError, NotImplementedError)) and any(s in str(error) for s in NO_DATA):
            outcome = Outcome("read data", where=line, error=message[:90], ops=mode.ops)
            print(outcome)
            return outcome
        raise
    outcome = Outcome("returned", value=value, ops=mode.ops, reads=mode.reads, first_read=mode.first_read,
                      ops_before_read=mode.ops_before_read)
    print(outcome)
    return outcome


def stops_at(outcome, line):
    """Assert that a plain run stopped at a read of data on a line containing `line` (all before it checked)."""
    assert outcome.how == "read data" and line in outcome.where, f"expected a stop at a read in `{line}`; {outcome}"


def runs_through(call, first_read=None):
    """Run call() with fake_reads; assert it ran to its end, its first read of data (where a plain run stops)
    on a line containing first_read (None: no read at all). Returns call()'s value."""
    outcome = run_on_meta(call, fake_reads=True)
    assert outcome.how == "returned", f"expected the function to run to its end; {outcome}"
    if first_read is None:
        assert outcome.reads == 0, f"expected no read of data; {outcome}"
    else:
        assert first_read in outcome.first_read, f"expected the first read in `{first_read}`; {outcome}"
    return outcome.value


# ---------------------------------------------------------------- models, built on the CPU then moved


def resnet_clip():
    """A random CLIP with clip's ModifiedResNet tower (the course's tiny CLIP and RN50 have it; attention
    pooling is another code path than the ViT's), one block per stage, 32 px."""
    torch.manual_seed(0)
    return clip.model.CLIP(embed_dim=32, image_resolution=32, vision_layers=(1, 1, 1, 1), vision_width=32,
                           vision_patch_size=None, context_length=16, vocab_size=49408,
                           transformer_width=64, transformer_heads=1, transformer_layers=1).float().eval()


@functools.lru_cache(maxsize=None)
def meta_clip(tower):
    """A one-layer random CLIP moved to meta: "ViT" (tests/small_models.py) or "ResNet"."""
    return (small_clip() if tower == "ViT" else resnet_clip()).to(META)


@functools.lru_cache(maxsize=None)
def meta_vqgan():
    """The tiny VQGAN's architecture (utils.vqgan.TINY_CONFIG: 256 codes, 32 px -> 8 x 8), random, on meta."""
    torch.manual_seed(0)
    return vqgan.build_vqgan(vqgan.TINY_CONFIG).eval().to(META)


@functools.lru_cache(maxsize=None)
def meta_dalle(grid=4):
    """A one-layer MiniDalle for the tiny VQGAN's 256 codes; a 4 x 4 grid keeps sampling short (16 codes)."""
    torch.manual_seed(0)
    model = dalle.MiniDalle(n_codes=vqgan.TINY_CONFIG["n_embed"], grid=grid, d_model=32, n_layers=1, n_heads=2)
    return model.eval().to(META)


@pytest.fixture(params=["ViT", "ResNet"])
def clip_model(request):
    return meta_clip(request.param)


def pictures(n=3, size=32):
    """n Shapes pictures (PIL) and their class indices."""
    samples = [shapes.sample(0, i, "train", size) for i in range(n)]
    return [s[0] for s in samples], [s[2] for s in samples]


PREPROCESS = clip.clip._transform(32)  # what clip.load returns for a 32 px model
PROMPTS = ["a photo of a red star", "a photo of a blue circle"]

# ---------------------------------------------------------------- the checker catches what it should


def forgets_the_tokens(model, texts):
    """Wrong on a GPU: clip.tokenize makes the token ids on the CPU and they are never moved."""
    return model.encode_text(clip.tokenize(texts, context_length=model.context_length))


def test_a_function_that_forgets_to_move_its_tokens_fails():
    model = meta_clip("ViT")
    with pytest.raises(DeviceMismatch, match="forgets_the_tokens: return model.encode_text"):
        run_on_meta(lambda: forgets_the_tokens(model, PROMPTS))
    with pytest.raises(DeviceMismatch):
        run_on_meta(lambda: forgets_the_tokens(model, PROMPTS), fake_reads=True)
    # Why StrictDevices: on meta alone the CPU ids pass through the embedding (CUDA would refuse them).
    assert forgets_the_tokens(model, PROMPTS).is_meta


class GradientOnTheCPU(torch.autograd.Function):
    """Doubles x; its backward wrongly builds a CPU tensor (the engine checks gradients after the operators)."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return torch.full(grad.shape, 2.0)


MISTAKES = {
    "CPU images into the model": lambda model, feats: model.encode_image(torch.rand(2, 3, 32, 32)),
    "nn.Linear built on the CPU": lambda model, feats: nn.Linear(32, 3)(feats),
    "CPU weights in F.linear": lambda model, feats: F.linear(feats, torch.ones(3, 32)),
    "CPU tensor in a matmul": lambda model, feats: feats @ torch.ones(32, 3),
    "torch.arange without device": lambda model, feats: feats + torch.arange(32),
    "CPU generator drawing on the device": lambda model, feats: torch.randn(feats.shape, generator=torch.Generator(),
                                                                            device=feats.device),
    ".numpy() without .cpu()": lambda model, feats: feats.numpy(),
    "mistake after a read": lambda model, feats: feats.sum().item() + (feats + torch.ones(32)).sum(),
    "CPU gradient in a backward pass": lambda model, feats: GradientOnTheCPU.apply(feats.requires_grad_()).sum().backward(),
}
AFTER_A_READ = {"mistake after a read": "feats.sum().item()"}  # where a plain run stops, before the mistake


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_kind_of_mistake_fails(mistake):
    model, feats = meta_clip("ResNet"), torch.ones(4, 32, device=META)
    with pytest.raises(DeviceMismatch):
        run_on_meta(lambda: MISTAKES[mistake](model, feats), fake_reads=True)
    if mistake in AFTER_A_READ:
        stops_at(run_on_meta(lambda: MISTAKES[mistake](model, feats)), AFTER_A_READ[mistake])
    else:
        with pytest.raises(DeviceMismatch):
            run_on_meta(lambda: MISTAKES[mistake](model, feats))


def test_what_cuda_allows_passes():
    x = torch.ones(5, 3, device=META)
    runs_through(lambda: x[torch.tensor([0, 2])] * torch.tensor(2.0))  # CPU indices, a CPU scalar
    runs_through(lambda: x.index_put_((torch.tensor([1]),), torch.zeros((), device=META)))
    runs_through(lambda: torch.ones(5, 3).to(META) + x)
    runs_through(lambda: torch.randint(5, (3,), generator=torch.Generator()).to(META) + 1)
    stops_at(run_on_meta(lambda: (x.sum() * 2).item()), "(x.sum() * 2).item()")
    stops_at(run_on_meta(lambda: x.cpu()), "x.cpu()")
    stops_at(run_on_meta(lambda: x[x > 0]), "x[x > 0]")  # a data-dependent shape
    value = runs_through(lambda: (x.sum().item(), x.cpu(), x.tolist(), x[x > 0].shape), first_read="x.sum().item()")
    assert value[0] == 1.0 and value[1].device.type == "cpu" and value[3] == (15,)


# ---------------------------------------------------------------- retrieval and tokenize


def test_tokenize_puts_the_ids_on_the_model_device(clip_model):
    assert runs_through(lambda: tokenize(PROMPTS, clip_model)).is_meta


def test_embed_images(clip_model):
    images, _ = pictures()
    for data, pre in [(images, PREPROCESS), (torch.stack([PREPROCESS(im) for im in images]), None)]:
        vectors = runs_through(lambda: retrieval.embed_images(clip_model, data, pre, batch_size=2, progress=False),
                               first_read="model.encode_image(x.to(device))")  # .cpu() of the first batch
        assert vectors.shape == (3, 32) and vectors.device.type == "cpu"


def test_embed_texts(clip_model):
    for tok in (None, tokenize):
        vectors = runs_through(lambda: retrieval.embed_texts(clip_model, PROMPTS, tokenize=tok, progress=False),
                               first_read="model.encode_text(tokens)")
        assert vectors.shape == (2, 32)


# ---------------------------------------------------------------- zero-shot and the linear probe


def test_class_embeddings(clip_model):
    weights = runs_through(lambda: zeroshot.class_embeddings(clip_model, ["a photo of a {}", "a {}"], ["star", "circle"]),
                           first_read="model.encode_text(tokens)")  # embed_texts gives CPU vectors
    assert weights.shape == (2, 32)
    assert runs_through(lambda: zeroshot.ensemble(torch.ones(2, 3, 32, device=META))).is_meta
    assert runs_through(lambda: zeroshot.logit_scale(clip_model), first_read="model.logit_scale.exp().item()") == 1


def test_zero_shot_head_and_predict_proba_with_features_on_the_device():
    feats = torch.ones(5, 32, device=META)  # e.g. model.encode_image(x) of a model on the GPU
    head = runs_through(lambda: zeroshot.zero_shot_head(torch.ones(3, 32, device=META), 10.0))
    assert head.weight.is_meta
    assert runs_through(lambda: zeroshot.predict_proba(head, feats)).shape == (5, 3)
    cpu_head = zeroshot.zero_shot_head(torch.ones(3, 32), 10.0)  # from class_embeddings: CPU vectors
    assert runs_through(lambda: zeroshot.predict_proba(cpu_head, feats)).is_meta


def test_linear_probe_with_features_on_the_device():
    feats, labels = torch.ones(6, 32, device=META), torch.tensor([0, 1, 2, 0, 1, 2])
    probe = runs_through(lambda: zeroshot.fit_linear_probe(feats, labels, 3, max_iter=3),
                         first_read="opt.step(closure)")  # L-BFGS reads the loss after one forward and backward
    assert probe.weight.is_meta
    assert runs_through(lambda: zeroshot.probe_predict(probe, feats)).is_meta
    cpu_probe = zeroshot.fit_linear_probe(torch.randn(6, 32), labels, 3, max_iter=3)  # fitted on CPU vectors
    assert runs_through(lambda: zeroshot.probe_predict(cpu_probe, feats)).shape == (6,)


# ---------------------------------------------------------------- lesson 02: training and evaluating CLIP


def test_class_text_features(clip_model):
    assert runs_through(lambda: train_clip.class_text_features(clip_model)).shape == (24, 32)


def test_zero_shot_accuracy(clip_model):
    images, labels = pictures()
    accuracy = runs_through(lambda: train_clip.zero_shot_accuracy(clip_model, PREPROCESS, images=images, labels=labels),
                            first_read="pred = (feats @ text.t()).argmax(dim=-1).cpu()")
    assert 0 <= accuracy <= 1


def test_train_clip_on_the_device():
    model = resnet_clip()  # a fresh one: train() moves it to the device and trains it
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    tokens = train_clip.tokenize_captions([[p, p] for p in PROMPTS * 2], model.context_length)  # (4, 2, L)
    labels = torch.zeros(4, dtype=torch.long)  # for the colourless (greyscale, shape-only caption) pairs
    history = runs_through(lambda: train_clip.train(model, images, tokens, labels, epochs=1, batch_size=4, colourless=0.5,
                                                    progress=False, device=META),
                           first_read="torch.unique(tokens, dim=0, return_inverse=True)")  # train_step, after encode_image
    assert len(history["loss"]) == 1 and model.logit_scale.is_meta  # forward, backward, AdamW, clamp


# ---------------------------------------------------------------- lesson 05: the VQGAN


def test_reconstruct_and_decode_codes():
    model = meta_vqgan()
    rec, codes = runs_through(lambda: vqgan.reconstruct(model, torch.ones(2, 3, 32, 32, device=META)))
    assert rec.shape == (2, 3, 32, 32) and codes.shape == (2, 8, 8) and codes.is_meta
    assert runs_through(lambda: vqgan.decode_codes(model, codes)).shape == (2, 3, 32, 32)
    # Lesson 05's way: images and code grids made on the CPU, the model loaded on the GPU; results on the CPU.
    images, grids = torch.rand(2, 3, 32, 32) * 2 - 1, torch.zeros(2, 8, 8, dtype=torch.long)
    rec, codes = runs_through(lambda: vqgan.reconstruct(model, images), first_read="model.decode(quant).to(x.device)")
    assert rec.device.type == codes.device.type == "cpu"
    decoded = runs_through(lambda: vqgan.decode_codes(model, grids), first_read="model.decode(quant).to(indices.device)")
    assert decoded.device.type == "cpu"


def test_evaluate_vqgan():
    scores = runs_through(lambda: vqgan.evaluate_vqgan(meta_vqgan(), images=torch.rand(3, 3, 32, 32) * 2 - 1, batch_size=2),
                          first_read="recs.append(rec.cpu())")
    assert set(scores) == {"psnr", "usage", "perplexity", "n"}


def test_train_vqgan_on_the_device():
    small = {"ddconfig": dict(vqgan.TINY_CONFIG["ddconfig"], ch=32, z_channels=8), "n_embed": 16, "embed_dim": 8}
    model, history = runs_through(lambda: vqgan.train_vqgan(small, steps=1, batch_size=2, n_train=4, disc_start=0,
                                                            restart_every=1, device=META, progress=False),
                                  first_read="counts = torch.bincount(assign, minlength=k)")  # k-means start
    assert len(history["usage"]) == 1 and model.quantize.embedding.weight.is_meta  # a step with the GAN, restarts


def test_vq_helpers():
    z, codebook, counts = torch.ones(10, 8, device=META), torch.ones(4, 8, device=META), torch.zeros(4, device=META)
    assert runs_through(lambda: vq.quantize(torch.ones(2, 8, 3, 3, device=META), codebook))[0].is_meta
    gen = torch.Generator().manual_seed(0)  # train_vqgan passes its CPU generator
    assert runs_through(lambda: vq.restart_dead_codes(codebook, z, counts, generator=gen),
                        first_read="dead = (counts == 0).nonzero().flatten()") == 4
    assert runs_through(lambda: vq.kmeans(z, 4, generator=gen), first_read="torch.bincount(assign, minlength=k)").is_meta


# ---------------------------------------------------------------- lesson 06: VQGAN+CLIP and the pixel drawers


def test_text_targets_and_image_features(clip_model):
    parsed = [("a red star", 1.0), ("a blue star", -0.5)]
    targets, weights = runs_through(lambda: generation.text_targets(clip_model, parsed))
    assert targets.is_meta and weights.is_meta
    feats = runs_through(lambda: generation.clip_image_features(clip_model, torch.ones(2, 3, 64, 64, device=META)))
    assert feats.shape == (2, 32)


def test_clip_score(clip_model):
    images, _ = pictures(1)
    for image in (images[0], shapes.to_tensor(images)):  # a PIL picture, a CPU tensor
        score = runs_through(lambda: generation.clip_score(clip_model, image, "a red star"),
                             first_read="return (img @ txt.T).squeeze(-1).cpu()")
        assert score.shape == (1,)


def test_cutouts_and_views_of_a_picture_on_the_device():
    image = torch.ones(1, 3, 32, 32, device=META)
    gen = torch.Generator().manual_seed(0)
    assert runs_through(lambda: generation.make_cutouts(image, 4, 32, 0.7, gen)).shape == (4, 3, 32, 32)
    assert runs_through(lambda: generation.clip_views(image, 0, 64)).shape == (1, 3, 64, 64)
    assert runs_through(lambda: generation.clip_views(image, 3, 32, 0.5, gen)).is_meta
    assert runs_through(lambda: generation.draw_cells(torch.ones(1, 3, 8, 8, device=META), 4)).shape == (1, 3, 32, 32)


def test_latents_and_decoding():
    model = meta_vqgan()
    z = runs_through(lambda: generation.random_latent(model, 32, torch.Generator().manual_seed(0)))
    assert z.is_meta and z.shape == (1, 32, 8, 8)
    assert runs_through(lambda: generation.quantise_straight_through(model, z)).is_meta
    assert runs_through(lambda: generation.decode(model, z)).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("tower, cutouts", [("ViT", 0), ("ResNet", 4)])
def test_generate(tower, cutouts):
    image, history = runs_through(
        lambda: generation.generate("a red star|a blue star:-0.5", steps=2, size=32, cutouts=cutouts, progress=False,
                                    clip_model=meta_clip(tower), vqgan=meta_vqgan(), device=META),
        first_read='history["loss"].append(loss.item())')  # after a whole step: forward, backward, Adam, clamp
    assert len(history["loss"]) == 2 and history["latent"].is_meta and image.size == (32, 32)


@pytest.mark.parametrize("tower, pixel_size", [("ViT", 1), ("ResNet", 4)])
def test_optimise_pixels(tower, pixel_size):
    image, scores = runs_through(
        lambda: generation.optimise_pixels("a red star", meta_clip(tower), steps=2, size=32, cutouts=4,
                                           pixel_size=pixel_size, progress=False),
        first_read="scores.append((feats @ targets[weights > 0].T).mean().item())")
    assert len(scores) == 2 and image.size == (32, 32)


@pytest.mark.parametrize("drawer", generation.DRAWERS)
def test_draw_with(drawer, monkeypatch):
    monkeypatch.setenv("COURSE_STANDINS", "1")  # one optimisation step (cap_steps), not 200 or 250
    image = runs_through(lambda: generation.draw_with(drawer, "a red star", meta_clip("ResNet"), meta_vqgan(), cutouts=2),
                         first_read=".item())")
    assert image.size == (32, 32)


# ---------------------------------------------------------------- lesson 07: the mini-DALL·E and its judges


def test_sample_codes():
    text = dalle.text_tokens(["a red star"])[0]  # made on the CPU, as sample_images does
    codes = runs_through(lambda: meta_dalle().sample(text, n_samples=2, top_k=8, generator=torch.Generator().manual_seed(0)),
                         first_read=".softmax(dim=-1).cpu()")  # sample_next draws on the CPU...
    assert codes.is_meta and codes.shape == (2, 4, 4)  # ...and each code goes back to the device


def test_encode_decode_images_and_clip_scores(clip_model):
    codes = runs_through(lambda: dalle.encode_images(meta_vqgan(), torch.rand(3, 3, 32, 32), batch_size=2),
                         first_read="quant.shape[3]).cpu())")
    assert codes.shape == (3, 8, 8) and codes.device.type == "cpu"
    images = runs_through(lambda: dalle.decode_images(meta_vqgan(), codes), first_read=".clamp(0, 1).cpu()")
    scores = runs_through(lambda: dalle.clip_scores(clip_model, images, "a red star"), first_read=".squeeze(-1).cpu()")
    assert scores.shape == (3,) and scores.device.type == "cpu"


def test_sample_images_and_generate():
    models = dict(model=meta_dalle(), vqgan=meta_vqgan(), clip_model=meta_clip("ResNet"), device=META)
    stops_at(run_on_meta(lambda: dalle.sample_images("a red star", n_samples=2, **models)), ".softmax(dim=-1).cpu()")
    best, samples = runs_through(lambda: dalle.generate("a red star", n_samples=2, **models),  # sample, decode, re-rank
                                 first_read=".softmax(dim=-1).cpu()")
    assert len(samples) == 2 and best.size == (16, 16)  # 4 x 4 codes, 4 pixels each


def test_evaluate_prompts():
    models = dict(model=meta_dalle(), vqgan=meta_vqgan(), clip_model=meta_clip("ResNet"), device=META)
    summary = runs_through(lambda: dalle.evaluate_prompts([("red", "star")], n_samples=2, progress=False,
                                                          judge=judge.Judge().eval().to(META), **models),
                           first_read=".softmax(dim=-1).cpu()")  # sampling, decoding, CLIP re-ranking, the judges
    assert len(summary["rows"]) == 1 and "best_judge_both" in summary


def test_train_and_evaluate_dalle_on_the_device():
    data = {"codes": torch.zeros(6, 8, 8, dtype=torch.short), "text": dalle.text_tokens(["a red star"] * 6)}
    model, history = runs_through(
        lambda: dalle.train_dalle(meta_vqgan(), device=META, progress=False, data=data, steps=1, batch_size=2, n_val=0,
                                  model_config=dict(d_model=32, n_layers=1, n_heads=2)),
        first_read="history[k].append(out[k].item())")  # after a forward, backward, gradient clipping, AdamW step
    assert len(history["loss"]) == 1 and next(model.parameters()).is_meta
    losses = runs_through(lambda: dalle.evaluate(model, data, batch_size=4), first_read="totals[k] += out[k].item()")
    assert set(losses) == {"text", "image"}


def test_judge():
    model = judge.Judge().eval().to(META)
    images, _ = pictures(2)
    for batch in (images, shapes.to_tensor(images)):  # PIL pictures, a CPU tensor
        said = runs_through(lambda: judge.judge_accuracy(model, batch, [("red", "star")] * 2),
                            first_read="colour.argmax(1).tolist()")
        assert set(said) == {"colour", "shape", "both"}
