"""Draw the lessons' figures into lessons/figures/: architecture diagrams and small results.

    make figures                                   # all of them
    python scripts/make_figures.py                 # the same
    python scripts/make_figures.py 05_vqgan_reconstructions 01   # one figure, and every figure of lesson 01
    python scripts/make_figures.py --kind diagram --out /tmp/f   # only the diagrams, somewhere else
    python scripts/make_figures.py --list

Every figure is drawn by code so that it can be redrawn when the course changes, and a rerun writes
the same bytes (tests/test_lesson_figures.py checks it for the diagrams): the Agg backend, matplotlib's
built-in style, fixed sizes and dpi, no "Software" tag or date in the PNG, fixed seeds, and one CPU
thread. Diagrams read their numbers from the course's configs (utils.train_clip.TINY_CONFIG,
utils.vqgan.TINY_CONFIG, utils.dalle, utils.generation), never from typed-in copies. Result figures
run the cached tiny models (CPU, inference only, a few seconds each); a model that is not cached yet
is trained first by its loader, exactly as in the notebooks.
"""
import argparse
import functools
import inspect
import io
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display, and the same rasteriser everywhere
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT))

import utils  # noqa: E402,F401  (the compatibility shims, before clip or taming is imported)

OUT_DIR = REPO_ROOT / "lessons" / "figures"
DPI = 120  # about 1,300 px across for the widest figure: sharp on a screen, small on disk

# One colour per kind of thing, the same in every diagram, so a learner reads them at a glance.
COLOURS = {
    "image": "#dbe9ff",   # the image side (blue)
    "text": "#ffe6c7",    # the text side (orange)
    "shared": "#d8f0dc",  # the shared embedding space, outputs (green)
    "model": "#ebe3ff",   # networks that are neither side (violet)
    "loss": "#fbdcdc",    # losses and objectives (red)
    "data": "#f0f0f0",    # plain data (grey)
}
EDGE = "#3a3a3a"
NOTE = "#666666"
RIGHT, WRONG = "#2a9d3a", "#d62728"  # frames of right and wrong answers in result figures

# ---------------------------------------------------------------- the registry

FIGURES = {}  # name -> {"draw": function, "kind": "diagram" or "result", "lesson": "01"}


def figure(lesson, kind):
    """Register a drawing function as figure "<lesson>_<function name>" (its file: <name>.png)."""
    def register(draw):
        FIGURES[f"{lesson}_{draw.__name__}"] = {"draw": draw, "kind": kind, "lesson": lesson}
        return draw
    return register


def command(name):
    return f"python scripts/make_figures.py {name}"


def select(requested=(), kind=None):
    """Figure names for command-line words: a full name, a lesson number ("05"), or nothing for all."""
    names = []
    for word in requested or FIGURES:
        word = Path(word).stem  # "05_vqgan_reconstructions.png" works too
        matches = [n for n in FIGURES if n == word or FIGURES[n]["lesson"] == word]
        if not matches:
            raise SystemExit(f"No figure {word!r}; choose from: {', '.join(FIGURES)} (or a lesson number).")
        names += [n for n in matches if n not in names]
    return [n for n in names if kind is None or FIGURES[n]["kind"] == kind]


def save(fig, path):
    """Agg renders the PNG; Pillow rewrites it as RGB (the alpha channel is all opaque: about 10 % smaller).

    Neither writes a date, and the 'Software' tag (it names the matplotlib version) is left out.
    """
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    Image.open(buffer).convert("RGB").save(path, format="png", optimize=True, dpi=(DPI, DPI))


def make(names, out_dir=OUT_DIR, verbose=True):
    """Draw the named figures into out_dir; returns {name: seconds}.

    The models run on the CPU with one torch thread (restored afterwards): the same numbers on every
    machine, and the tiny models gain nothing from a second thread.
    """
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return draw_all(names, out_dir, verbose)
    finally:
        torch.set_num_threads(threads)


def draw_all(names, out_dir, verbose):
    seconds = {}
    for name in names:
        start = time.perf_counter()
        with matplotlib.rc_context():  # restores the caller's settings afterwards
            plt.rcdefaults()  # matplotlib's own style, not a learner's matplotlibrc
            fig = FIGURES[name]["draw"]()
            fig.text(0.995, 0.006, f"{command(name)}  ·  all figures: make figures", ha="right", va="bottom",
                     fontsize=6.5, color=NOTE)
            path = out_dir / f"{name}.png"
            save(fig, path)
        seconds[name] = time.perf_counter() - start
        if verbose:
            shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
            print(f"{seconds[name]:6.1f} s  {shown}  ({path.stat().st_size // 1024} KB)")
    return seconds


# ---------------------------------------------------------------- drawing helpers (diagrams)


class Box:
    """A drawn box and the middles of its four sides, where arrows start and end."""

    def __init__(self, x, y, w, h):
        self.x, self.y, self.w, self.h = x, y, w, h
        self.left, self.right = (x, y + h / 2), (x + w, y + h / 2)
        self.top, self.bottom = (x + w / 2, y + h), (x + w / 2, y)
        self.centre = (x + w / 2, y + h / 2)


def canvas(width, height, title, subtitle=None):
    """A figure whose data units are inches (x in 0..width, y in 0..height), titled at the top left."""
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    ax.text(0.2, height - 0.2, title, ha="left", va="top", fontsize=12.5, weight="bold")
    if subtitle:
        ax.text(0.2, height - 0.52, subtitle, ha="left", va="top", fontsize=9, color=NOTE)
    return fig, ax


def box(ax, x, y, w, h, text, kind="data", fontsize=9, dashed=False, weight=None):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.08", fc=COLOURS[kind],
                                ec=EDGE, lw=1.1, ls="--" if dashed else "-"))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, weight=weight,
            linespacing=1.3)
    return Box(x, y, w, h)


def arrow(ax, start, end, label=None, curve=0.0, colour=EDGE, dashed=False, fontsize=8, offset=(0, 0.12),
          ha="center"):
    """An arrow from start to end (straight, or bent with curve != 0) with an optional label."""
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.3, shrinkA=0, shrinkB=0,
                                mutation_scale=13, ls="--" if dashed else "-",
                                connectionstyle=f"arc3,rad={curve}"))
    if label:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, label, ha=ha, va="bottom", fontsize=fontsize, color=colour)


def path_arrow(ax, points, label=None, label_at=None, colour=EDGE, dashed=False, fontsize=8):
    """An elbowed arrow through points: lines between them, the head on the last segment."""
    for a, b in zip(points[:-2], points[1:-1]):
        ax.plot([a[0], b[0]], [a[1], b[1]], color=colour, lw=1.3, ls="--" if dashed else "-",
                solid_capstyle="butt")
    arrow(ax, points[-2], points[-1], colour=colour, dashed=dashed)
    if label:
        ax.text(*label_at, label, ha="center", va="center", fontsize=fontsize, color=colour,
                bbox=dict(fc="white", ec="none", pad=1.0))


def token_strip(ax, x, y, cells, cell_w, h, kinds, fontsize=7.5):
    """A row of token cells: cells is a list of labels, kinds their colours (keys of COLOURS)."""
    for i, (label, kind) in enumerate(zip(cells, kinds)):
        ax.add_patch(Rectangle((x + i * cell_w, y), cell_w, h, fc=COLOURS[kind], ec=EDGE, lw=0.8))
        ax.text(x + (i + 0.5) * cell_w, y + h / 2, label, ha="center", va="center", fontsize=fontsize)
    return Box(x, y, cell_w * len(cells), h)


def picture(ax, image, x, y, size, label=None):
    """A small picture (PIL or HxWx3 array) drawn at (x, y) with a given side in inches."""
    ax.imshow(image, extent=(x, x + size, y, y + size), interpolation="nearest", zorder=2)
    ax.add_patch(Rectangle((x, y), size, size, fc="none", ec=EDGE, lw=0.8, zorder=3))
    if label:
        ax.text(x + size / 2, y - 0.06, label, ha="center", va="top", fontsize=7.5, color=NOTE)
    return Box(x, y, size, size)


def shapes_picture(colour="red", shape="star", seed=0, size=32):
    """One Shapes image (deterministic), used as the example input of several diagrams."""
    from utils import shapes

    return shapes.make_image(colour, shape, seed=seed, size=size, size_word="large")


# ---------------------------------------------------------------- drawing helpers (results)


def show(ax, image, title=None, fontsize=8, frame=None):
    """An image in an axis without ticks; frame: a colour for a thick border (right/wrong)."""
    import torch

    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy()
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(frame is not None)
        if frame is not None:
            spine.set_color(frame)
            spine.set_linewidth(3)
    if title is not None:
        ax.set_title(title, fontsize=fontsize, pad=3)


def layout(fig, bottom=0.22):
    """tight_layout that leaves `bottom` inches free for the command line the runner writes there."""
    fig.tight_layout(rect=(0, bottom / fig.get_figheight(), 1, 1))


# The cached tiny models, loaded once per run (a loader trains a model only if it is not cached yet).

@functools.lru_cache(maxsize=None)
def tiny_clip():
    from utils.models import load_clip

    return load_clip("tiny", device="cpu")  # (model, preprocess)


@functools.lru_cache(maxsize=None)
def tiny_vqgan():
    from utils.vqgan import load_vqgan

    return load_vqgan("tiny", device="cpu")


@functools.lru_cache(maxsize=None)
def mini_dalle():
    from utils import dalle

    model, _ = dalle.load_dalle(device="cpu", vqgan=tiny_vqgan(), progress=False)
    return model


def ranked_row(axes, out, prompt):
    """One prompt's samples in a row of axes, best CLIP score first (framed green), the prompt as the row's
    label; returns the order (lessons 07 and 08 draw their samples so)."""
    from utils import shapes

    order = out["scores"].argsort(descending=True, stable=True).tolist()
    for c, i in enumerate(order):
        show(axes[c], out["images"][i], f"{out['scores'][i]:.3f}", fontsize=7.5, frame=RIGHT if c == 0 else None)
    held = " (held out)" if tuple(prompt.split()[-2:]) in shapes.HELDOUT else ""
    axes[0].set_ylabel(f"{' '.join(prompt.split()[-2:])}{held}", fontsize=8.5)
    return order


def class_name(label):
    from utils import shapes

    return " ".join(shapes.CLASSES[int(label)])


# ================================================================ lesson 01


@figure("01", "diagram")
def clip_two_towers():
    """CLIP's two towers, the N x N matrix, and the two softmaxes of the symmetric loss."""
    fig, ax = canvas(12.6, 6.0, "CLIP: two encoders, one matrix, two softmaxes",
                     "Radford et al. (2021). Pair i of the batch (image i, caption i) matches; every other "
                     "pairing in the batch is a negative.")
    n, cell, mx, my = 5, 0.44, 7.75, 1.6          # the matrix: n x n cells, lower left corner (mx, my)
    top, right = my + n * cell, mx + n * cell

    def row_y(r):  # centre of row r (row 0 at the top)
        return my + (n - 0.5 - r) * cell

    def col_x(c):  # centre of column c
        return mx + (c + 0.5) * cell

    # Text tower on top (captions become the columns), image tower below (images become the rows).
    y_t, y_i = 4.3, row_y(2) - 0.375
    t0 = box(ax, 0.2, y_t, 1.45, 0.75, "N captions\n“a red star”, …", "text")
    t1 = box(ax, 2.05, y_t, 1.45, 0.75, "text\nencoder", "text", weight="bold")
    t2 = box(ax, 3.9, y_t, 1.45, 0.75, "L2-normalise\n‖t‖ = 1", "text")
    t3 = box(ax, 5.75, y_t, 0.95, 0.75, "T\nN × D", "text", weight="bold")
    i0 = box(ax, 0.2, y_i, 1.45, 0.75, "N images", "image")
    i1 = box(ax, 2.05, y_i, 1.45, 0.75, "image\nencoder", "image", weight="bold")
    i2 = box(ax, 3.9, y_i, 1.45, 0.75, "L2-normalise\n‖i‖ = 1", "image")
    i3 = box(ax, 5.75, y_i, 0.95, 0.75, "I\nN × D", "image", weight="bold")
    for a, b in ((t0, t1), (t1, t2), (t2, t3), (i0, i1), (i1, i2), (i2, i3)):
        arrow(ax, a.right, b.left)

    # The matrix of scaled cosines; the diagonal holds the matching pairs, the targets.
    for r in range(n):
        for c in range(n):
            ax.add_patch(Rectangle((mx + c * cell, my + (n - 1 - r) * cell), cell, cell,
                                   fc=COLOURS["shared" if r == c else "data"], ec=EDGE, lw=0.8))
        ax.text(mx - 0.08, row_y(r), f"i{r + 1}", ha="right", va="center", fontsize=7.5, color=NOTE)
        ax.text(col_x(r), top + 0.06, f"t{r + 1}", ha="center", va="bottom", fontsize=7.5, color=NOTE)
    ax.text((mx + right) / 2, top + 0.35, "logits = s · I Tᵀ   (N × N)", ha="center", va="bottom", fontsize=9.5,
            weight="bold")
    path_arrow(ax, [t3.right, (col_x(2), t3.right[1]), (col_x(2), top + 0.68)])
    arrow(ax, i3.right, (mx - 0.35, i3.right[1]))
    ax.text(mx - 0.1, my - 0.1, "green diagonal: the targets", ha="right", va="top", fontsize=7.5, color=RIGHT)
    # One row (image 2 against every caption) and one column (caption 4 against every image).
    r, c = 1, 3
    ax.add_patch(Rectangle((mx, my + (n - 1 - r) * cell), n * cell, cell, fc="none", ec="#1f4e99", lw=2.2))
    ax.add_patch(Rectangle((mx + c * cell, my), cell, n * cell, fc="none", ec="#b35900", lw=2.2))
    rows = box(ax, 10.45, row_y(r) - 0.5, 1.95, 1.0, "softmax along each\nrow: image → text\n(target: caption i)",
               "image", fontsize=8.5)
    arrow(ax, (right + 0.05, row_y(r)), rows.left)
    cols = box(ax, col_x(c) - 1.0, 0.2, 2.0, 0.95, "softmax down each\ncolumn: text → image\n(target: image j)",
               "text", fontsize=8.5)
    arrow(ax, (col_x(c), my - 0.02), cols.top)
    loss = box(ax, 10.45, 0.2, 1.95, 1.55, "loss =\n½ (cross-entropy\nof the rows\n+ of the columns)", "loss",
               fontsize=8.5)
    arrow(ax, rows.bottom, loss.top)
    arrow(ax, cols.right, (loss.x, cols.right[1]))
    ax.text(0.2, 1.05, "D: the shared embedding size. s = exp(logit_scale): CLIP's learned temperature,\n"
            "starting at 1/0.07 ≈ 14.3 and clipped at 100. Both softmaxes read the same matrix;\n"
            "each direction is a cross-entropy with the diagonal as the right answer.", fontsize=8, color=NOTE,
            va="top")
    return fig


def toy_batch():
    """The toy batch of notebook 01, section 1: 6 pairs, 16 dims, image and caption = meaning + noise."""
    import torch
    import torch.nn.functional as F

    from utils.settings import set_seed

    set_seed(0)
    N, D = 6, 16
    meaning = torch.randn(N, D)                      # (N, D) what each pair is about
    img_raw = meaning + 0.6 * torch.randn(N, D)      # (N, D) "image encoder output"
    txt_raw = meaning + 0.6 * torch.randn(N, D)      # (N, D) "text encoder output"
    return F.normalize(img_raw, dim=-1), F.normalize(txt_raw, dim=-1)


@figure("01", "result")
def similarity_matrix():
    """The toy batch's cosine matrix and its row and column softmaxes at logit scale 10 (notebook 01)."""
    import numpy as np

    from utils.losses import clip_loss

    img, txt = toy_batch()
    scale = 10.0  # the scale notebook 01 uses in sections 4-6
    sim = img @ txt.T                                # (N, N) cosines
    rows = (scale * sim).softmax(dim=1)              # p(caption j | image i)
    cols = (scale * sim).softmax(dim=0)              # p(image i | caption j)
    n = len(sim)
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 4.1))
    panels = [(sim, "cosine similarity  cos(image i, caption j)", "viridis", -1, 1),
              (rows, f"row softmax at scale {scale:g}: p(caption j | image i)", "Blues", 0, 1),
              (cols, f"column softmax at scale {scale:g}: p(image i | caption j)", "Oranges", 0, 1)]
    for ax, (m, title, cmap, lo, hi) in zip(axes, panels):
        m = m.numpy()
        ax.imshow(m, cmap=cmap, vmin=lo, vmax=hi)
        for i in range(n):
            for j in range(n):
                dark = (m[i, j] - lo) / (hi - lo) > 0.55 if cmap != "viridis" else m[i, j] < 0.3
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7.5,
                        color="white" if dark else "black", weight="bold" if i == j else None)
            ax.add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, fc="none", ec=RIGHT, lw=2))
        ax.set_xticks(range(n), [str(j) for j in range(n)])
        ax.set_yticks(range(n), [str(i) for i in range(n)])
        ax.set_xlabel("caption j")
        ax.set_ylabel("image i")
        ax.set_title(title, fontsize=9)
    i2t = float(np.mean(np.diag(rows.numpy())))
    t2i = float(np.mean(np.diag(cols.numpy())))
    fig.suptitle(f"Notebook 01's toy batch (N = {n}, seed 0): clip_loss at scale {scale:g} = "
                 f"{clip_loss(img, txt, scale).item():.3f}\nmean probability of the right match: "
                 f"{i2t:.2f} along the rows, {t2i:.2f} down the columns (green: the targets)", fontsize=10)
    layout(fig, bottom=0.35)
    return fig


@figure("01", "result")
def loss_vs_logit_scale():
    """Notebook 01, section 7: the loss of the toy batch against the logit scale, and one row's softmax."""
    import math

    import torch

    from utils.losses import clip_loss

    img, txt = toy_batch()
    n = len(img)
    scales = torch.logspace(-1, 2.3, 40)   # 0.1 ... 200, as in the notebook
    losses = [clip_loss(img, txt, s).item() for s in scales]
    sim = img @ txt.T
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].semilogx(scales, losses, "o-", ms=3)
    axes[0].axhline(math.log(n), ls="--", c="grey", label=f"log N = {math.log(n):.2f} (chance)")
    axes[0].set_xlabel("logit scale s")
    axes[0].set_ylabel("clip_loss")
    last = f"{losses[-1]:.3f}" if losses[-1] >= 0.001 else "below 0.001"
    axes[0].set_title(f"loss {losses[0]:.2f} at s = {scales[0]:.1f}, {last} at s = {scales[-1]:.0f}",
                      fontsize=9)
    axes[0].legend(fontsize=8)
    axes[0].grid(alpha=0.3)
    for s in (1, 14.3, 100):
        axes[1].plot(torch.softmax(s * sim[0], dim=0), marker="o", label=f"scale {s:g}")
    axes[1].set_xlabel("caption j")
    axes[1].set_ylabel("p(caption j | image 0)")
    axes[1].set_title("image 0's row: a larger scale sharpens the softmax", fontsize=9)
    axes[1].legend(fontsize=8)
    axes[1].grid(alpha=0.3)
    leads = bool((sim.argmax(dim=1) == torch.arange(n)).all())  # is the match the best caption of every row?
    why = ("the match leads every row, so a sharper softmax only lowers the loss" if leads else
           "some rows prefer a wrong caption, so too sharp a softmax raises the loss again")
    fig.suptitle(f"The temperature, on notebook 01's toy batch (N = {n}): {why}", fontsize=10)
    layout(fig)
    return fig


# ================================================================ lesson 02


@figure("02", "diagram")
def tiny_clip_architecture():
    """The course's tiny CLIP with the sizes of utils.train_clip.TINY_CONFIG (clip.model.CLIP's rules)."""
    import clip

    from utils.train_clip import TINY_CONFIG, build_tiny_clip, count_parameters

    cfg = TINY_CONFIG
    model = build_tiny_clip()  # random weights, only to count parameters (a fraction of a second)
    n_image = count_parameters(model.visual)
    n_words = model.token_embedding.weight.numel()
    n_text = count_parameters(model) - n_image - 1 - n_words  # 1: the temperature
    res, width, D = cfg["image_resolution"], cfg["vision_width"], cfg["embed_dim"]
    # clip.model.ModifiedResNet: a stem of three 3x3 convs (the first with stride 2) and a 2x2 average
    # pool divides the side by 4; stage 1 keeps the grid, stages 2-4 halve it; a bottleneck block puts
    # out 4x its width, and the width doubles per stage. The attention pool has width*32 // 64 heads.
    grids = [res // 4, res // 4, res // 8, res // 16, res // 32]
    chans = [width, width * 4, width * 8, width * 16, width * 32]
    heads = width * 32 // 64
    L, W, layers = cfg["context_length"], cfg["transformer_width"], cfg["transformer_layers"]
    t_heads = W // 64  # clip.model.build_model's rule, which utils.train_clip follows

    fig, ax = canvas(13.4, 6.0, f"The tiny CLIP (utils/train_clip.py: TINY_CONFIG): two towers into one "
                     f"{D}-d space", "clip.model.CLIP unchanged, only smaller: a ResNet image tower with "
                     "attention pooling, and a text transformer over CLIP's own BPE tokens.")
    # Image tower.
    y, h = 3.55, 1.0
    pic = picture(ax, shapes_picture(), 0.25, y + 0.1, 0.8, f"image {res}×{res}")
    stem = box(ax, 1.35, y, 1.75, h, f"stem: 3 convs\n3→{width // 2}→{width // 2}→{width}\n"
               f"+ 2×2 avg-pool", "image", fontsize=8)
    arrow(ax, (pic.right[0] + 0.02, pic.right[1]), stem.left)
    prev = stem
    x = 3.4
    for k in range(1, 5):
        stage = box(ax, x, y, 1.2, h, f"stage {k}\n{chans[k]} ch\n{grids[k]}×{grids[k]} grid", "image",
                    fontsize=8)
        arrow(ax, prev.right, stage.left, f"{grids[k - 1]}×{grids[k - 1]}" if k == 1 else None, fontsize=7)
        prev, x = stage, x + 1.45
    pool = box(ax, x, y, 1.7, h, f"attention pooling\n{heads} heads\n{chans[4]} → {D}", "image", fontsize=8)
    arrow(ax, prev.right, pool.left)
    img_out = box(ax, x + 2.0, y + 0.15, 1.05, 0.7, f"image\nembedding\n{D}-d", "shared", fontsize=8)
    arrow(ax, pool.right, img_out.left)
    ax.text(1.35, y - 0.1, f"image tower: {n_image / 1e6:.2f} M parameters", va="top", fontsize=8, color=NOTE)

    # Text tower: the example caption's real BPE tokens from clip.tokenize.
    caption = "a small red star on the left"
    ids = clip.tokenize([caption], context_length=L)[0].tolist()
    decoder = clip.simple_tokenizer.SimpleTokenizer()
    words = []
    for i in ids:
        if i == 0:
            words.append("0")
        elif i == decoder.encoder["<|startoftext|>"]:
            words.append("SOT")
        elif i == decoder.encoder["<|endoftext|>"]:
            words.append("EOT")
        else:
            words.append(decoder.decode([i]).strip())
    y2 = 1.3
    ax.text(0.25, y2 + 1.25, f"caption: “{caption}”  →  clip.tokenize(…, context_length={L}): "
            f"{L} BPE token ids (SOT, words, EOT, then padding 0)", fontsize=8.5, va="bottom")
    strip = token_strip(ax, 0.25, y2 + 0.72, words, 0.39, 0.38,
                        ["shared" if w == "EOT" else ("data" if w == "0" else "text") for w in words], fontsize=6.3)
    emb = box(ax, 0.25, y2 - 0.45, 2.2, 0.8, f"token embedding\n{cfg['vocab_size']:,} × {W}\n+ positions",
              "text", fontsize=8)
    arrow(ax, (1.35, strip.y), emb.top)
    tf = box(ax, 2.85, y2 - 0.45, 2.6, 0.8, f"{layers}-layer transformer\nwidth {W}, {t_heads} heads, "
             "causal mask", "text", fontsize=8)
    arrow(ax, emb.right, tf.left)
    eot = box(ax, 5.85, y2 - 0.45, 2.3, 0.8, "output at the EOT\nposition (largest id)", "text", fontsize=8)
    arrow(ax, tf.right, eot.left)
    proj = box(ax, 8.55, y2 - 0.45, 1.9, 0.8, f"text projection\n{W} × {D}", "text", fontsize=8)
    arrow(ax, eot.right, proj.left)
    txt_out = box(ax, img_out.x, y2 - 0.4, 1.05, 0.7, f"text\nembedding\n{D}-d", "shared", fontsize=8)
    arrow(ax, proj.right, txt_out.left)
    ax.text(strip.right[0] + 0.2, strip.right[1], f"text tower: {n_text / 1e6:.2f} M trained parameters,\nplus "
            f"the word table's {n_words / 1e6:.1f} M (left at its random start)", va="center", fontsize=8,
            color=NOTE)
    # The two embeddings meet in lesson 01's loss.
    sim = box(ax, 12.05, 2.3, 1.2, 1.2, "cosine\n× s\n(lesson 01's\nloss)", "loss", fontsize=7.5)
    arrow(ax, img_out.right, (sim.x, sim.top[1] - 0.2), curve=-0.2)
    arrow(ax, txt_out.right, (sim.x, sim.y + 0.2), curve=0.2)
    ax.text(0.25, 0.25, "Grid sizes follow clip.model.ModifiedResNet: the stem's stride-2 conv and 2×2 pool give "
            f"{grids[0]}×{grids[0]}; stages 2–4 halve it.\nAt {grids[4]}×{grids[4]} the attention pool has "
            "a single cell to look at, so it acts as a learned projection.", fontsize=8, color=NOTE)
    return fig


@figure("02", "result")
def tiny_clip_similarity():
    """Lesson 01's matrix again, now from the trained tiny CLIP on fresh Shapes images and their captions."""
    import numpy as np

    from utils import retrieval, shapes
    from utils.models import tokenize

    model, preprocess = tiny_clip()
    # Six fresh images (a seed training never used) of six different classes, with their own captions.
    picked, seen = [], set()
    index = 0
    while len(picked) < 6:
        image, caption, label = shapes.sample(2025, index, "all", size=32)  # 32 px: what the model sees
        if label not in seen:
            picked.append((image, caption, label))
            seen.add(label)
        index += 1
    images = [p[0] for p in picked]
    captions = [p[1] for p in picked]
    img = retrieval.embed_images(model, images, preprocess, progress=False)          # (6, D) unit rows
    txt = retrieval.embed_texts(model, captions, tokenize=tokenize, progress=False)  # (6, D)
    sim = (img @ txt.T).numpy()
    scale = min(model.logit_scale.exp().item(), 100.0)  # capped at 100 as in training
    n = len(sim)
    i2t = int((sim.argmax(1) == np.arange(n)).sum())  # images whose best caption is their own
    t2i = int((sim.argmax(0) == np.arange(n)).sum())  # captions whose best image is their own
    fig = plt.figure(figsize=(8.0, 6.2))
    ax = fig.add_axes((0.19, 0.3, 0.6, 0.56))
    im = ax.imshow(sim, cmap="viridis", vmin=-1, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", fontsize=8.5,
                    color="black" if sim[i, j] > 0.3 else "white", weight="bold" if i == j else None)
        ax.add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, fc="none", ec=RIGHT, lw=2))
        thumb = ax.inset_axes((-0.2, 1 - (i + 0.93) / n, 0.17, 0.86 / n))
        show(thumb, images[i])
    ax.set_yticks([])
    ax.set_xticks(range(n), captions, rotation=35, ha="right", fontsize=8)
    ax.set_xlabel("caption j")
    ax.set_ylabel("image i", labelpad=58)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.03, label="cosine")
    fig.suptitle(f"Lesson 01's matrix from the trained tiny CLIP: {n} fresh Shapes images, their own captions\n"
                 f"best caption right for {i2t} of {n} images, best image right for {t2i} of {n} captions;\n"
                 f"learned temperature exp(logit_scale) = {scale:.1f}", fontsize=10)
    return fig


# ================================================================ lesson 03

# The eight prompt templates of notebook 03, section 2 (keep the two lists the same).
ZERO_SHOT_TEMPLATES = [
    "a photo of a {colour} {shape}",
    "a {colour} {shape}",
    "a drawing of a {colour} {shape}",
    "a {shape} that is {colour}",
    "a small {colour} {shape}",
    "a large {colour} {shape}",
    "a {colour} {shape} in the centre",
    "a {colour} {shape} on a black background",
]


@figure("03", "diagram")
def zero_shot_pipeline():
    """Zero-shot classification: sentences become the weights of a linear classifier."""
    from utils import shapes
    from utils.train_clip import TINY_CONFIG

    C, D = len(shapes.CLASSES), TINY_CONFIG["embed_dim"]
    first, last = (f"({', '.join(shapes.CLASSES[i])})" for i in (0, -1))
    fig, ax = canvas(12.5, 5.0, "Zero-shot classification: the text encoder writes the classifier's weights",
                     f"The tiny CLIP on the Shapes world: C = {C} classes (colour × shape), D = {D}. "
                     "No labelled image is used.")
    y1 = 2.95
    c0 = box(ax, 0.2, y1, 1.9, 0.95, f"{C} class names\n{first} …\n{last}", "data", fontsize=8.5)
    c1 = box(ax, 2.5, y1, 2.6, 0.95, "prompt templates\n“a photo of a {colour} {shape}”\n"
             f"(+ {len(ZERO_SHOT_TEMPLATES) - 1} more, averaged)", "text", fontsize=8)
    c2 = box(ax, 5.5, y1, 1.5, 0.95, "text\nencoder", "text", weight="bold")
    c3 = box(ax, 7.4, y1, 2.1, 0.95, f"W: {C} × {D}\none unit row per class\n(normalise, average, normalise)",
             "shared", fontsize=8)
    for a, b in ((c0, c1), (c1, c2), (c2, c3)):
        arrow(ax, a.right, b.left)
    y2 = 1.0
    pic = picture(ax, shapes_picture("green", "star", seed=3), 0.55, y2 + 0.05, 0.85,
                  "a green star (held out)")
    i1 = box(ax, 2.5, y2, 1.5, 0.95, "image\nencoder", "image", weight="bold")
    arrow(ax, (pic.right[0] + 0.02, pic.right[1]), i1.left)
    i2 = box(ax, 4.4, y2, 1.6, 0.95, f"x: {D}-d\nunit vector", "image", fontsize=8.5)
    arrow(ax, i1.right, i2.left)
    i3 = box(ax, 7.4, y2, 2.1, 0.95, f"W x: {C} cosines\n= a bias-free\nnn.Linear({D}, {C})", "shared",
             fontsize=8)
    arrow(ax, i2.right, i3.left)
    arrow(ax, c3.bottom, i3.top, "weights", offset=(0.1, -0.05), ha="left")
    i4 = box(ax, 9.9, y2, 1.2, 0.95, "× s,\nsoftmax", "loss", fontsize=8.5)
    arrow(ax, i3.right, i4.left)
    i5 = box(ax, 11.4, y2, 0.95, 0.95, "argmax:\nclass", "shared", fontsize=8.5, weight="bold")
    arrow(ax, i4.right, i5.left)
    ax.text(0.2, 0.3, "s = exp(logit_scale), the learned temperature: it sharpens the probabilities as in "
            "training and never changes the argmax. A new label set costs C sentences, no retraining.",
            fontsize=8, color=NOTE)
    return fig


@figure("03", "result")
def confusion_matrix():
    """Zero-shot confusion matrix of the tiny CLIP: 400 seen and 400 held-out images (notebook 03, sections 2-3)."""
    import numpy as np
    import torch

    from utils import retrieval, shapes, zeroshot
    from utils.models import tokenize

    model, preprocess = tiny_clip()
    classes = [dict(colour=c, shape=s) for c, s in shapes.CLASSES]
    weights = zeroshot.class_embeddings(model, ZERO_SHOT_TEMPLATES, classes, tokenize=tokenize)   # (24, D)
    head = zeroshot.zero_shot_head(weights, zeroshot.logit_scale(model))
    accuracy, preds, labels = {}, [], []
    for split in ("train", "heldout"):  # notebook 03's fresh images: seed 2024, 400 per split
        items = [shapes.sample(2024, i, split) for i in range(400)]
        feats = retrieval.embed_images(model, [im for im, _, _ in items], preprocess, progress=False)
        y = torch.tensor([label for _, _, label in items])
        p = zeroshot.predict_proba(head, feats).argmax(dim=1)
        accuracy[split] = zeroshot.accuracy(p, y)
        preds.append(p)
        labels.append(y)
    pred, true = torch.cat(preds), torch.cat(labels)
    cm = zeroshot.confusion_matrix(pred, true, len(classes)).numpy()
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    names = [class_name(i) for i in range(len(classes))]
    held = {shapes.class_index(*p) for p in shapes.HELDOUT}
    fig, ax = plt.subplots(figsize=(9.6, 8.6))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=6.5,
                        color="white" if share[i, j] > 0.55 else ("#b00000" if i != j else "black"))
    ax.set_xticks(range(len(names)), names, rotation=70, fontsize=7.5)
    ax.set_yticks(range(len(names)), [f"{n}  (held out)" if i in held else n for i, n in enumerate(names)],
                  fontsize=7.5)
    for i in held:
        ax.get_yticklabels()[i].set_color(WRONG)
        ax.get_yticklabels()[i].set_weight("bold")
        ax.add_patch(Rectangle((-0.5, i - 0.5), len(names), 1, fc="none", ec=WRONG, lw=1.2))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    wrong = (pred != true) & torch.tensor([int(t) in held for t in true])
    kept_colour = sum(shapes.CLASSES[int(t)][0] == shapes.CLASSES[int(p)][0] for t, p in zip(true[wrong], pred[wrong]))
    ax.set_title(f"Zero-shot, {len(ZERO_SHOT_TEMPLATES)}-template ensemble, fresh images (seed 2024, 400 per split):\n"
                 f"seen compositions {accuracy['train']:.1%}, held-out compositions {accuracy['heldout']:.1%} (red rows); "
                 f"held-out mistakes that kept the colour: {kept_colour} of {int(wrong.sum())}.\n"
                 "Shade = share of the row, numbers = counts.", fontsize=9)
    layout(fig)
    return fig


# ================================================================ lesson 04


GALLERY = dict(n=800, seed=4040)  # notebook 04's gallery: shapes.sample(4040, i, "all") for i < 800


@figure("04", "diagram")
def retrieval_index():
    """Retrieval: the gallery is encoded once into an index; each query is one encoder pass and a product."""
    from utils.train_clip import TINY_CONFIG

    D = TINY_CONFIG["embed_dim"]
    fig, ax = canvas(12.5, 5.0, "Text → image retrieval: embed the gallery once, search it many times",
                     f"Notebook 04: a gallery of N = {GALLERY['n']} Shapes images, D = {D} with the tiny CLIP.")
    ax.text(0.2, 3.95, "once, offline", fontsize=9, weight="bold", color=NOTE)
    ax.plot([0.2, 12.3], [2.45, 2.45], ls=":", color=NOTE, lw=1)
    ax.text(0.2, 2.2, "per query, online", fontsize=9, weight="bold", color=NOTE, va="top")
    y1 = 2.8
    g0 = box(ax, 0.2, y1, 1.9, 0.95, "gallery:\nN images", "image")
    g1 = box(ax, 2.5, y1, 2.1, 0.95, "image encoder\n(batched, no_grad)", "image", weight="bold", fontsize=8.5)
    g2 = box(ax, 5.0, y1, 2.6, 0.95, f"index G: N × {D}, unit rows\na matrix (exact), or faiss\n"
             "HNSW / IVF (approximate)", "shared", fontsize=8)
    g3 = box(ax, 8.0, y1, 2.4, 0.95, "cached on disk, keyed by\ndata + preprocessing +\nmodel weights", "data",
             fontsize=8, dashed=True)
    arrow(ax, g0.right, g1.left)
    arrow(ax, g1.right, g2.left)
    arrow(ax, g2.right, g3.left)
    y2 = 0.85
    q0 = box(ax, 0.2, y2, 1.9, 0.95, "query text\n“a green star”", "text")
    q1 = box(ax, 2.5, y2, 2.1, 0.95, "text encoder", "text", weight="bold")
    q2 = box(ax, 5.0, y2, 1.2, 0.95, f"q: {D}-d\nunit", "text")
    q3 = box(ax, 6.6, y2, 1.9, 0.95, "scores = G q\nN cosines\n(N·D multiply-adds)", "shared", fontsize=8)
    q4 = box(ax, 8.9, y2, 1.3, 0.95, "top-K", "loss", weight="bold")
    arrow(ax, q0.right, q1.left)
    arrow(ax, q1.right, q2.left)
    arrow(ax, q2.right, q3.left)
    arrow(ax, q3.right, q4.left)
    path_arrow(ax, [g2.bottom, (g2.bottom[0], 2.05), (q3.top[0], 2.05), q3.top])
    xs = 10.5
    for k, (colour, seed) in enumerate((("green", 1), ("green", 2), ("green", 5))):
        picture(ax, shapes_picture(colour, "star", seed=seed), xs + k * 0.6, y2 + 0.2, 0.52)
    arrow(ax, q4.right, (xs - 0.05, q4.right[1]))
    ax.text(xs + 0.85, y2 + 0.05, "best K images", ha="center", va="top", fontsize=7.5, color=NOTE)
    ax.text(0.2, 0.3, "Image → image search is the same product with an image query; image → text searches a "
            "matrix of caption embeddings. Exact search costs grow linearly with N; an index trades a little "
            "recall for speed.", fontsize=8, color=NOTE)
    return fig


@figure("04", "result")
def retrieval_gallery():
    """Top-5 images of four text queries in notebook 04's gallery (800 images, seed 4040), tiny CLIP."""
    import torch
    from PIL import Image

    from utils import retrieval, shapes
    from utils.models import tokenize

    model, preprocess = tiny_clip()
    N, SEED = GALLERY["n"], GALLERY["seed"]
    items = [shapes.sample(SEED, i, "all") for i in range(N)]
    images = [im for im, _, _ in items]
    labels = [label for _, _, label in items]
    gallery = retrieval.embed_images(model, images, preprocess, progress=False)   # (800, D) unit rows
    queries = ["a photo of a green star", "a large yellow circle", "a small red star",
               "a photo of a blue circle"]
    q = retrieval.embed_texts(model, queries, tokenize=tokenize, progress=False)  # (4, D)
    with torch.no_grad():
        scores, idx = retrieval.search(q, gallery, k=5)                            # (4, 5) each
    k = idx.shape[1]
    res = model.visual.input_resolution
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(7.8, 6.1),
                             gridspec_kw={"width_ratios": [2.2] + [1] * k})
    for r, text in enumerate(queries):
        want = [w for w in shapes.COLOUR_NAMES if w in text.split()] + [w for w in shapes.SHAPES if w in text.split()]
        hits = 0
        for c in range(k):
            i = int(idx[r, c])
            right = list(shapes.CLASSES[labels[i]]) == want
            hits += right
            # Shown at the model's input size (as CLIP's preprocess resizes it): what was searched, and
            # a quarter of the pixels of the 64 px original, which keeps the PNG small.
            show(axes[r, c + 1], images[i].resize((res, res), Image.BICUBIC),
                 f"{scores[r, c]:.2f}\n{class_name(labels[i])}", fontsize=7.5, frame=RIGHT if right else WRONG)
        axes[r, 0].axis("off")
        held = "\n(a pairing never trained on)" if tuple(want) in shapes.HELDOUT else ""
        axes[r, 0].text(0.0, 0.5, f"“{text}”{held}\n{hits} of {k} show a {' '.join(want)}", fontsize=9,
                        va="center", ha="left", transform=axes[r, 0].transAxes)
    fig.suptitle(f"Text → image search, tiny CLIP, notebook 04's gallery ({N} images, seed {SEED}):\n"
                 f"top {k} by cosine (above each image; shown at the model's {res} px); green frame: the query's colour "
                 "and shape",
                 fontsize=10)
    layout(fig)
    return fig


# ================================================================ lesson 05


@figure("05", "diagram")
def vqgan_architecture():
    """The tiny VQGAN with its losses and the patch discriminator (sizes from utils.vqgan.TINY_CONFIG)."""
    from utils import vqgan

    cfg, dd = vqgan.TINY_CONFIG, vqgan.TINY_CONFIG["ddconfig"]
    res, K, e_dim = dd["resolution"], cfg["n_embed"], cfg["embed_dim"]
    factor = 2 ** (len(dd["ch_mult"]) - 1)   # taming halves the grid once per level but the last
    g = res // factor
    train = inspect.signature(vqgan.train_vqgan).parameters
    disc_start, disc_weight = train["disc_start"].default, train["disc_weight"].default
    fig, ax = canvas(13.0, 5.9, "A VQGAN (Esser et al., 2021) as the course builds it: taming's VQModel, tiny",
                     f"utils/vqgan.py: {res}×{res} images, factor {factor}, a {g}×{g} grid of codes from a "
                     f"codebook of {K} vectors of {e_dim} dimensions.")
    y = 3.3
    x_in = picture(ax, shapes_picture("blue", "square", seed=1), 0.25, y + 0.05, 0.9, f"x: 3×{res}×{res}")
    enc = box(ax, 1.5, y, 1.65, 1.0, f"encoder\n{factor}× smaller\n{dd['ch']} channels", "model", fontsize=8.5,
              weight="bold")
    arrow(ax, (x_in.right[0] + 0.02, x_in.right[1]), enc.left)
    z = box(ax, 3.5, y, 1.35, 1.0, f"z: {e_dim}×{g}×{g}\n{g * g} vectors\nof {e_dim} dims", "image", fontsize=8.5)
    arrow(ax, enc.right, z.left)
    q = box(ax, 5.2, y, 2.05, 1.0, f"nearest code\nargmin ‖z − e_k‖²\ncodebook {K} × {e_dim}", "shared",
            fontsize=8.5)
    arrow(ax, z.right, q.left)
    # The grid of code indices: the image as integers.
    gx, gy, cell = 7.6, y + 0.02, 0.12
    for r in range(g):
        for c in range(g):
            ax.add_patch(Rectangle((gx + c * cell, gy + (g - 1 - r) * cell), cell, cell, fc=COLOURS["shared"],
                                   ec=EDGE, lw=0.4))
    ax.text(gx + g * cell / 2, gy + g * cell + 0.05, f"indices {g}×{g}", ha="center", va="bottom", fontsize=7.5)
    arrow(ax, q.right, (gx, q.right[1]))
    zq = box(ax, 8.9, y, 1.3, 1.0, f"z_q: {e_dim}×{g}×{g}\n(straight-\nthrough)", "image", fontsize=8.5)
    arrow(ax, (gx + g * cell, q.right[1]), zq.left)
    dec = box(ax, 10.5, y, 1.3, 1.0, "decoder", "model", fontsize=9, weight="bold")
    arrow(ax, zq.right, dec.left)
    rec = box(ax, 12.05, y + 0.15, 0.8, 0.7, "x̂", "image", fontsize=11)
    arrow(ax, dec.right, rec.left)

    # Losses and the discriminator.
    y2 = 0.75
    ax.text(0.25, y2 + 1.3, "Trained on the sum of three losses:", fontsize=9,
            weight="bold")
    l1 = box(ax, 0.25, y2, 2.85, 1.05, "reconstruction ‖x − x̂‖₁ + ‖x − x̂‖₂²\n(taming: L1 + LPIPS perceptual;\n"
             "the course drops LPIPS: VGG download)", "loss", fontsize=7.8)
    l2 = box(ax, 3.5, y2, 2.85, 1.05, "codebook ‖sg[z] − e‖²\n+ β · commitment ‖z − sg[e]‖²\n(β = 0.25, taming's "
             "placement)", "loss", fontsize=7.8)
    l3 = box(ax, 6.75, y2, 2.45, 1.05, f"adversarial (hinge), from\n{disc_start:.0%} of the steps, adaptive\n"
             f"weight × {disc_weight:g}", "loss", fontsize=7.8)
    for left, right_box in ((l1, l2), (l2, l3)):
        ax.text((left.right[0] + right_box.left[0]) / 2, left.right[1], "+", ha="center", va="center", fontsize=14)
    disc = box(ax, 10.0, y2, 2.6, 1.05, "patch discriminator\n(taming NLayerDiscriminator):\nreal or reconstructed, "
               "per patch", "model", fontsize=7.8)
    path_arrow(ax, [rec.bottom, (rec.bottom[0], 2.45), (11.3, 2.45), disc.top])
    ax.text(rec.bottom[0] - 0.1, 2.55, "x̂ (and real x)", ha="right", fontsize=7.5, color=NOTE)
    arrow(ax, disc.left, l3.right)
    arrow(ax, l2.top, (q.bottom[0], q.bottom[1]), dashed=True, colour=NOTE)
    ax.text(l2.top[0] - 0.1, 2.45, "moves the codes\nand commits z to them", fontsize=7.5, color=NOTE, ha="right")
    ax.text(0.25, 0.3, "The straight-through estimator copies the decoder's gradient from z_q to z, past the argmin "
            "that has none. The discriminator has its own hinge loss and optimiser.", fontsize=8, color=NOTE)
    return fig


@functools.lru_cache(maxsize=None)
def vqgan_evaluation():
    """The tiny VQGAN on its 512 evaluation images (seed EVAL_SEED, all compositions): x, x̂, codes."""
    import torch

    from utils import vqgan

    model = tiny_vqgan()
    x = vqgan.shapes_images(512, seed=vqgan.EVAL_SEED, split="all")     # (512, 3, 32, 32) in [-1, 1]
    recs, codes = [], []
    with torch.no_grad():
        for i in range(0, len(x), 128):                                 # the batches of evaluate_vqgan
            rec, idx = vqgan.reconstruct(model, x[i:i + 128])
            recs.append(rec)
            codes.append(idx)
    return x, torch.cat(recs), torch.cat(codes)


@figure("05", "result")
def vqgan_reconstructions():
    """Fresh images over their tiny-VQGAN reconstructions, with the PSNR of the whole evaluation set."""
    from utils import vqgan

    x, rec, codes = vqgan_evaluation()
    n = 10
    fig, axes = plt.subplots(2, n, figsize=(11, 3.5))
    for j in range(n):
        show(axes[0, j], vqgan.from_vqgan(x[j]))
        show(axes[1, j], vqgan.from_vqgan(rec[j]))
        axes[1, j].set_xlabel(f"{vqgan.psnr(rec[j:j + 1], x[j:j + 1]):.1f} dB", fontsize=8)
    axes[0, 0].set_ylabel("original", fontsize=9)
    axes[1, 0].set_ylabel("reconstructed", fontsize=9)
    model = tiny_vqgan()
    from utils import vq

    usage, perplexity = vq.codebook_usage(codes, model.quantize.n_e)
    fig.suptitle(f"The tiny VQGAN on fresh images (seed {vqgan.EVAL_SEED}): each picture stored as "
                 f"{codes.shape[1]}×{codes.shape[2]} codes of {model.quantize.n_e}.\nPSNR {vqgan.psnr(rec, x):.1f} dB"
                 f" over all {len(x)} evaluation images; codes used {usage:.0%}, perplexity {perplexity:.0f}",
                 fontsize=9.5)
    layout(fig)
    return fig


@figure("05", "result")
def vqgan_single_codes():
    """What one code draws: the 16 most used codes, each decoded as a whole 8x8 grid of itself."""
    import torch

    from utils import vq, vqgan

    model = tiny_vqgan()
    _, _, codes = vqgan_evaluation()
    counts = vq.code_counts(codes, model.quantize.n_e)
    top = counts.argsort(descending=True, stable=True)[:16]
    g = codes.shape[1]
    with torch.no_grad():
        single = vqgan.decode_codes(model, top[:, None, None].expand(-1, g, g))   # (16, 3, 32, 32)
    fig, axes = plt.subplots(2, 8, figsize=(10, 3.9))
    for ax, code, image in zip(axes.flat, top.tolist(), vqgan.from_vqgan(single)):
        show(ax, image, f"code {code}\n{counts[code] / counts.sum():.1%} of cells", fontsize=7.5)
    fig.suptitle(f"What one code draws: the 16 codes the tiny VQGAN uses most (on its {len(codes)} evaluation "
                 f"images),\neach decoded from a grid of {g}×{g} copies of that one code", fontsize=9.5)
    layout(fig)
    return fig


# ================================================================ lesson 06

FRAME_STEPS = 100  # the first 100 of generate's 250 default steps: about 9 s on one busy CPU thread


@figure("06", "diagram")
def vqgan_clip_loop():
    """One step of VQGAN+CLIP (utils.generation.generate) with the tiny defaults."""
    from utils import generation, vqgan

    d = generation.TINY_DEFAULTS
    e_dim = vqgan.TINY_CONFIG["embed_dim"]
    g = d["size"] // 2 ** (len(vqgan.TINY_CONFIG["ddconfig"]["ch_mult"]) - 1)
    fig, ax = canvas(13.0, 5.6, "VQGAN+CLIP: optimise the decoder's input until CLIP agrees with the prompt",
                     f"utils/generation.py, tiny defaults: {d['steps']} steps of Adam (lr {d['lr']}), "
                     f"{d['cutouts']} cutouts per step. Only z learns; both networks are frozen.")
    y = 3.2
    z = box(ax, 0.25, y, 1.45, 1.0, f"latent z\n{e_dim}×{g}×{g}\n(random codes\nat step 0)", "model",
            fontsize=8, weight="bold")
    q = box(ax, 2.0, y, 1.75, 1.0, "quantise:\nnearest code,\nstraight-through", "shared", fontsize=8.5)
    dec = box(ax, 4.05, y, 1.5, 1.0, "VQGAN\ndecoder\n(frozen)", "model", fontsize=8.5)
    img = picture(ax, shapes_picture("red", "star", seed=0), 5.9, y + 0.1, 0.8,
                  f"image {d['size']}×{d['size']}")
    cuts = box(ax, 7.05, y, 1.9, 1.0, f"{d['cutouts']} cutouts\n{d['cut_min']:.0%}–100% crops,\nflips + noise",
               "image", fontsize=8)
    enc = box(ax, 9.25, y, 1.6, 1.0, "CLIP image\nencoder\n(frozen)", "image", fontsize=8.5)
    arrow(ax, z.right, q.left)
    arrow(ax, q.right, dec.left)
    arrow(ax, dec.right, (img.x - 0.02, img.left[1]))
    arrow(ax, (img.right[0] + 0.02, img.right[1]), cuts.left)
    arrow(ax, cuts.right, enc.left)
    emb = box(ax, 11.15, y, 1.6, 1.0, f"{d['cutouts']} unit\nembeddings", "image", fontsize=8.5)
    arrow(ax, enc.right, emb.left)
    y2 = 1.05
    prompt = box(ax, 11.15, 0.15, 1.6, 0.75, "prompt\n“a photo of a\nred star”", "text", fontsize=8)
    tenc = box(ax, 11.15, y2 + 0.125, 1.6, 0.8, "CLIP text\nencoder", "text", fontsize=8.5)
    arrow(ax, prompt.top, tenc.bottom)
    loss = box(ax, 7.05, y2, 3.0, 1.05, "spherical distance θ²/2,\nθ = 2·arcsin(‖a − b‖/2),\nmean over cutouts × "
               "prompt weights", "loss", fontsize=8)
    arrow(ax, emb.bottom, (loss.right[0], loss.top[1] - 0.15), curve=-0.2)
    ax.text(emb.bottom[0] - 0.3, 2.75, "a", fontsize=9, style="italic")
    arrow(ax, tenc.left, loss.right, "b", fontsize=9)
    step = box(ax, 2.0, y2, 3.55, 1.05, "Adam step on z, then clamp z\nto the codebook's per-dimension\nrange",
               "model", fontsize=8)
    arrow(ax, loss.left, step.right, "∂loss/∂z", fontsize=8.5, colour=WRONG)
    path_arrow(ax, [step.left, (z.bottom[0], step.left[1]), z.bottom], colour=WRONG)
    ax.text(z.bottom[0] + 0.08, 2.5, "next step", fontsize=8, color=WRONG)
    ax.text(0.25, 0.3, "The gradient flows back through CLIP, the cutouts, the decoder and the straight-through "
            "quantiser to z. The decoder can only draw what it learned, so CLIP cannot be pleased by pixel noise.",
            fontsize=8, color=NOTE)
    return fig


@figure("06", "result")
def vqgan_clip_frames():
    """Frames of one VQGAN+CLIP run ("a photo of a red star", seed 0) and CLIP's score per step."""
    from utils import generation, pixels

    clip_model, _ = tiny_clip()
    prompt = "a photo of a red star"
    settings = dict(generation.TINY_DEFAULTS, steps=FRAME_STEPS)
    final, hist = generation.generate(prompt, seed=0, clip_model=clip_model, vqgan=tiny_vqgan(), frames_every=10,
                                      progress=False, device="cpu", **settings)
    frames, steps = hist["frames"], hist["frame_steps"]
    fig = plt.figure(figsize=(11, 4.4))
    grid = fig.add_gridspec(2, len(frames), height_ratios=[1, 1.35])
    for j, (frame, step) in enumerate(zip(frames, steps)):
        show(fig.add_subplot(grid[0, j]), frame, f"step {step}", fontsize=8)
    ax = fig.add_subplot(grid[1, :])
    ax.plot(range(1, len(hist["score"]) + 1), hist["score"])
    ax.set_xlabel("step")
    ax.set_ylabel("CLIP cosine to the prompt\n(mean over cutouts)", fontsize=8.5)
    ax.grid(alpha=0.3)
    fig.suptitle(f"VQGAN+CLIP, “{prompt}”, seed 0, tiny CLIP and VQGAN: the first {FRAME_STEPS} of "
                 f"{generation.TINY_DEFAULTS['steps']} default steps.\nCLIP score {hist['score'][0]:.2f} → "
                 f"{hist['score'][-1]:.2f}; dominant colour of the last frame, read from its pixels: "
                 f"{pixels.dominant_colour(final)}", fontsize=9.5)
    layout(fig)
    return fig


# ================================================================ lesson 07


@figure("07", "diagram")
def dalle_token_stream():
    """The mini-DALL·E: one sequence of text and image tokens, a causal transformer, CLIP re-ranking."""
    from utils import dalle, vqgan

    dd = vqgan.TINY_CONFIG["ddconfig"]
    g = dd["resolution"] // 2 ** (len(dd["ch_mult"]) - 1)
    K, n_text = vqgan.TINY_CONFIG["n_embed"], len(dalle.VOCAB)
    m, s = dalle.MODEL_CONFIG, dalle.GENERATE_DEFAULTS
    length = dalle.TEXT_LEN + g * g
    fig, ax = canvas(13.0, 6.3, "A mini-DALL·E (Ramesh et al., 2021): the caption and the picture as one "
                     "sequence of tokens", f"utils/dalle.py: {dalle.TEXT_LEN} text positions (word ids "
                     f"0–{n_text - 1}), then {g}×{g} = {g * g} image tokens (VQGAN code c has id {n_text} + c).")
    # The sequence, with the real word ids of an example caption.
    prompt = "a photo of a red star"
    ids = dalle.encode_text(prompt)
    words = [dalle.VOCAB[i] for i in ids]
    codes = ["c1", "c2", "c3", "c4", "c5", "…", f"c{g * g - 1}", f"c{g * g}"]
    cw, y = 0.62, 3.6
    strip = token_strip(ax, 0.9, y, words + codes, cw, 0.5, ["text"] * len(words) + ["image"] * len(codes),
                        fontsize=7)
    for k, i in enumerate(ids):
        ax.text(0.9 + (k + 0.5) * cw, y - 0.08, str(i), ha="center", va="top", fontsize=6.5, color=NOTE)
    ax.text(0.85, y - 0.08, "id", ha="right", va="top", fontsize=6.5, color=NOTE)
    tx = 0.9 + len(words) * cw
    ax.plot([tx, tx], [y - 0.1, y + 0.62], color=WRONG, lw=2)
    ax.text(0.9, y + 0.62, f"text: <bos>, the caption's words, <pad> ({dalle.TEXT_LEN} tokens)", ha="left",
            va="bottom", fontsize=8.5, color="#a0522d")
    ax.text(tx + 0.05, y + 0.62, f"image: {g * g} codes, row by row", ha="left", va="bottom", fontsize=8.5,
            color="#1f4e99")
    # Where the image tokens come from in training: the VQGAN of lesson 05.
    pic = picture(ax, shapes_picture("red", "star", seed=0), 9.35, 4.45, 0.7)
    enc = box(ax, 10.3, 4.45, 1.55, 0.7, f"VQGAN encoder\n→ {g}×{g} codes", "model", fontsize=7.5)
    arrow(ax, (pic.right[0] + 0.02, pic.right[1]), enc.left)
    arrow(ax, enc.bottom, (enc.bottom[0], y + 0.52))
    ax.text(enc.right[0] + 0.08, enc.right[1], "training\npictures", fontsize=7, color=NOTE, va="center")

    # The transformer, with its causal mask drawn as a lower triangle, and its objective.
    gpt = box(ax, 0.9, 1.7, 6.0, 1.15, f"causal transformer (GPT): {m['n_layers']} blocks, width {m['d_model']}, "
              f"{m['n_heads']} heads\nposition t predicts token t + 1; the mask hides the future",
              "model", fontsize=8.5, weight="bold")
    arrow(ax, (3.9, y - 0.3), gpt.top, f"tokens 1…{length - 1} in, tokens 2…{length} as targets", fontsize=7.5,
          offset=(0.1, -0.1), ha="left")
    mask_x, mask_y, mc = 7.15, 1.55, 0.14
    for r in range(8):
        for c in range(8):
            ax.add_patch(Rectangle((mask_x + c * mc, mask_y + (7 - r) * mc), mc, mc,
                                   fc=COLOURS["model"] if c <= r else "white", ec=EDGE, lw=0.4))
    ax.text(mask_x + 4 * mc, mask_y - 0.05, "the mask: row t sees\ncolumns ≤ t", ha="center", va="top",
            fontsize=7, color=NOTE)
    loss = box(ax, 0.9, 0.5, 6.0, 0.8, f"loss = {dalle.TEXT_WEIGHT:.3g} · text cross-entropy + "
               f"{1 - dalle.TEXT_WEIGHT:.3g} · image cross-entropy\n(DALL·E's 1/8 and 7/8; padding is not scored)",
               "loss", fontsize=8)
    arrow(ax, gpt.bottom, loss.top, "training", fontsize=7.5, offset=(0.1, -0.1), ha="left")
    # Generation: write the codes, decode, re-rank with CLIP.
    gy = 1.25
    s1 = box(ax, 8.55, gy, 1.55, 1.15, f"write {g * g} codes\none at a time\n(temperature {s['temperature']:g},"
             f"\ntop-k {s['top_k']} of {K})", "image", fontsize=7.5)
    s2 = box(ax, 10.3, gy, 1.05, 1.15, f"VQGAN\ndecoder\n× {s['n_samples']}", "model", fontsize=7.8)
    s3 = box(ax, 11.55, gy, 1.3, 1.15, "CLIP\nre-ranking:\nkeep the best", "shared", fontsize=7.8)
    arrow(ax, s1.right, s2.left)
    arrow(ax, s2.right, s3.left)
    path_arrow(ax, [(gpt.right[0], 2.78), (s1.top[0], 2.78), s1.top])
    ax.text(7.15, 2.86, "generation: the caption in, codes out", fontsize=7.5, color=NOTE, va="bottom")
    ax.text(0.25, 0.2, "DALL·E: a dVAE's 32×32 = 1024 tokens from 8192, up to 256 BPE text tokens, 12 billion "
            "parameters, 512 samples re-ranked by CLIP. Same design, smaller numbers.", fontsize=8, color=NOTE)
    return fig


@figure("07", "diagram")
def dalle2_unclip():
    """DALL·E 2 (unCLIP, Ramesh et al., 2022): CLIP text embedding -> prior -> CLIP image embedding -> diffusion."""
    fig, ax = canvas(13.0, 4.1, "DALL·E 2 (unCLIP, Ramesh et al., 2022): generate a CLIP image embedding, "
                     "then decode it", "A frozen CLIP provides both embeddings; the prior and the decoders are "
                     "trained. Lesson 08 builds a small one on the Shapes world.")
    y = 1.85
    cap = box(ax, 0.2, y, 1.6, 1.0, "caption\n“a corgi\nplaying a\ntrumpet”", "text", fontsize=8)
    tenc = box(ax, 2.15, y, 1.6, 1.0, "CLIP text\nencoder\n(frozen)", "text", fontsize=8.5)
    prior = box(ax, 4.45, y, 1.9, 1.0, "prior\n(diffusion or\nautoregressive)", "model", fontsize=8.5,
                weight="bold")
    dec = box(ax, 7.05, y, 2.0, 1.0, "diffusion decoder\n64×64 image\n(conditioned on z_i;\noptionally the caption)", "model",
              fontsize=8, weight="bold")
    up = box(ax, 9.4, y, 1.9, 1.0, "2 diffusion\nupsamplers\n→ 256 → 1024 px", "model", fontsize=8)
    out = box(ax, 11.65, y, 1.15, 1.0, "image\n1024×1024", "image", fontsize=8.5)
    arrow(ax, cap.right, tenc.left)
    arrow(ax, tenc.right, prior.left, "z_t", fontsize=8.5)
    arrow(ax, prior.right, dec.left, "z_i", fontsize=8.5)
    arrow(ax, dec.right, up.left)
    arrow(ax, up.right, out.left)
    ienc = box(ax, 4.45, 0.35, 1.9, 0.85, "CLIP image encoder\n(frozen) of the\ntraining image", "image",
               fontsize=7.8, dashed=True)
    arrow(ax, ienc.top, prior.bottom, "training target for z_i", fontsize=7.5, dashed=True, colour=NOTE,
          offset=(0.1, -0.05), ha="left")
    ax.text(7.05, 1.1, "z_t: CLIP text embedding; z_i: a CLIP image embedding a picture with this caption could "
            "have.\nGoing through z_i gave more diverse images at equal quality, and makes variations of an "
            "image easy\n(encode it with CLIP, decode again).", fontsize=7.8, color=NOTE, va="top")
    return fig


@figure("07", "result")
def mini_dalle_samples():
    """Eight mini-DALL·E samples per prompt, sorted by the tiny CLIP's score (the best is what generate returns)."""
    from utils import dalle
    from utils.pixels import dominant_colour

    clip_model, _ = tiny_clip()
    model, vq = mini_dalle(), tiny_vqgan()
    prompts = ["a photo of a red circle", "a photo of a yellow star", "a photo of a purple square",
               "a photo of a blue circle"]
    n = dalle.GENERATE_DEFAULTS["n_samples"]
    fig, axes = plt.subplots(len(prompts), n, figsize=(9.0, 5.6))
    matches = 0
    for r, prompt in enumerate(prompts):
        out = dalle.sample_images(prompt, seed=0, model=model, vqgan=vq, clip_model=clip_model, device="cpu")
        order = ranked_row(axes[r], out, prompt)
        matches += dominant_colour(out["images"][order[0]]) == prompt.split()[-2]  # judged by pixels, not by CLIP
    s = dalle.GENERATE_DEFAULTS
    fig.suptitle(f"Mini-DALL·E, {n} samples per prompt, seed 0 (temperature {s['temperature']:g}, top-k "
                 f"{s['top_k']}), sorted by the tiny CLIP's cosine to the prompt\n(above each picture); green "
                 f"frame: CLIP's pick, which has the prompt's colour (read from its pixels) for {matches} of "
                 f"{len(prompts)} prompts", fontsize=9.5)
    layout(fig)
    return fig


# ================================================================ lesson 08


@figure("08", "diagram")
def mini_unclip():
    """The mini-unCLIP: what is trained on what (top), and how a sentence becomes pictures (bottom)."""
    from utils import unclip

    s, g = unclip.TRAIN_SETTINGS, unclip.SAMPLE_DEFAULTS
    fig, ax = canvas(13.0, 5.6, "A mini-unCLIP (DALL·E 2 built small): a prior and a diffusion decoder around the "
                     "frozen tiny CLIP", f"utils/unclip.py and utils/diffusion.py: 32×32 Shapes pictures, "
                     f"128-dimensional CLIP embeddings, T = {unclip.T} noise steps (cosine schedule).")
    # Training (top row).
    y = 3.35
    ax.text(0.2, 4.75, "training", fontsize=9.5, weight="bold", color=NOTE)
    pic = picture(ax, shapes_picture("red", "star", seed=0), 0.3, y, 0.9, "a picture")
    ienc = box(ax, 1.55, y + 0.05, 1.45, 0.8, "CLIP image\nencoder (frozen)", "image", fontsize=8)
    arrow(ax, pic.right, ienc.left)
    noisy = box(ax, 3.45, y + 0.05, 1.85, 0.8, "x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε\n(random t, noise ε)", "data", fontsize=7.8)
    dec = box(ax, 5.85, y - 0.05, 1.9, 1.0, f"decoder ε_θ(x_t, t, z_i)\nU-Net {unclip.DECODER_WIDTHS}",
              "model", fontsize=8.2, weight="bold")
    arrow(ax, noisy.right, dec.left)
    path_arrow(ax, [(ienc.top[0], y + 0.85), (ienc.top[0], 4.55), (dec.top[0], 4.55), dec.top],
               f"z_i (zeros {s['p_uncond']:.0%} of the time)", label_at=(4.9, 4.55), fontsize=7.5)
    ax.plot([pic.bottom[0], pic.bottom[0], noisy.bottom[0]], [y - 0.25, y - 0.35, y - 0.35], color=EDGE, lw=1.0)
    arrow(ax, (noisy.bottom[0], y - 0.35), noisy.bottom)
    loss = box(ax, 8.2, y + 0.05, 1.6, 0.8, "loss: ‖ε − ε_θ‖²", "loss", fontsize=8.5)
    arrow(ax, dec.right, loss.left)
    cap = box(ax, 10.3, y + 0.75, 1.3, 0.5, "its caption", "text", fontsize=8)
    prior = box(ax, 10.3, y - 0.35, 2.4, 0.7, "prior: z_t → ẑ_i\nloss: 1 − cos(ẑ_i, z_i)", "model", fontsize=8,
                weight="bold")
    arrow(ax, cap.bottom, (cap.bottom[0], prior.top[1]), "CLIP text encoder → z_t", fontsize=7,
          offset=(0.08, -0.05), ha="left")
    # Generation (bottom row).
    y2 = 0.75
    ax.text(0.2, 2.15, "drawing", fontsize=9.5, weight="bold", color=NOTE)
    prompt = box(ax, 0.3, y2, 1.75, 0.9, "“a photo of a\nred star”", "text", fontsize=8.5)
    tenc = box(ax, 2.4, y2, 1.35, 0.9, "CLIP text\nencoder", "text", fontsize=8)
    pr = box(ax, 4.1, y2, 1.1, 0.9, "prior", "model", fontsize=8.5, weight="bold")
    noise = box(ax, 5.55, y2, 2.5, 0.9, f"{g['n_samples']} noises x_T →\n{g['ddim_steps']} DDIM steps of the decoder,\n"
                f"guidance w = {g['guidance']:g}", "model", fontsize=7.8)
    rank = box(ax, 8.4, y2, 1.8, 0.9, f"{g['n_samples']} pictures,\nre-ranked by CLIP", "shared", fontsize=8)
    arrow(ax, prompt.right, tenc.left)
    arrow(ax, tenc.right, pr.left, "z_t", fontsize=8)
    arrow(ax, pr.right, noise.left, "ẑ_i", fontsize=8)
    arrow(ax, noise.right, rank.left)
    ax.text(10.45, y2 + 0.45, "guidance: ε = ε_∅ + w·(ε_c − ε_∅)\nε_c with ẑ_i, ε_∅ with zeros\n(Ho & Salimans, 2021)",
            fontsize=7.5, color=NOTE, va="center")
    ax.text(0.25, 0.22, "DALL·E 2: OpenAI's CLIP, a diffusion or autoregressive prior, a 64×64 decoder and two "
            "upsamplers to 1024×1024. Same design, smaller numbers.", fontsize=8, color=NOTE)
    return fig


@figure("08", "result")
def mini_unclip_samples():
    """Eight mini-unCLIP samples per prompt, sorted by the tiny CLIP's cosine, and one picture's variations."""
    from utils import unclip

    clip_model, _ = tiny_clip()
    (decoder, prior), _ = unclip.load_unclip(device="cpu", clip_model=clip_model, progress=False)
    prompts = ["a photo of a red circle", "a photo of a yellow star", "a photo of a blue circle"]
    n = unclip.SAMPLE_DEFAULTS["n_samples"]
    fig, axes = plt.subplots(len(prompts), n, figsize=(7.6, 3.9))
    for r, prompt in enumerate(prompts):
        out = unclip.sample_images(prompt, seed=0, decoder=decoder, prior=prior, clip_model=clip_model, device="cpu")
        ranked_row(axes[r], out, prompt)
    g = unclip.SAMPLE_DEFAULTS
    fig.suptitle(f"Mini-unCLIP, {n} samples per prompt, seed 0 (prior, {g['ddim_steps']} DDIM steps, guidance "
                 f"{g['guidance']:g}), sorted by the tiny CLIP's cosine\nto the prompt (above each picture); green "
                 "frame: CLIP's pick, what unclip.generate returns", fontsize=8.5)
    layout(fig)
    return fig


@figure("08", "result")
def three_generators():
    """The course's three text-to-image models on the same four prompts (seed 0), judged by utils/judge.py."""
    from utils import dalle, shapes, unclip
    from utils.generation import generate as vqgan_clip_generate
    from utils.judge import load_judge

    clip_model, _ = tiny_clip()
    vq = tiny_vqgan()
    (decoder, prior), _ = unclip.load_unclip(device="cpu", clip_model=clip_model, progress=False)
    judge = load_judge(progress=False)
    subset = [("red", "circle"), ("blue", "square"), ("yellow", "triangle"), ("purple", "star")]
    drawers = {
        "VQGAN+CLIP (06)": lambda p: vqgan_clip_generate(p, seed=0, progress=False, clip_model=clip_model, vqgan=vq)[0],
        "mini-DALL·E (07)": lambda p: dalle.generate(p, seed=0, model=mini_dalle(), vqgan=vq, clip_model=clip_model,
                                                     device="cpu")[0],
        "mini-unCLIP (08)": lambda p: unclip.generate(p, seed=0, decoder=decoder, prior=prior, clip_model=clip_model,
                                                      device="cpu")[0],
    }
    fig, axes = plt.subplots(len(drawers), len(subset), figsize=(5.6, 5.3))
    for r, (name, draw) in enumerate(drawers.items()):
        for c, (colour, shape) in enumerate(subset):
            image = draw(shapes.PROMPT.format(colour=colour, shape=shape))
            said = judge.predict(shapes.to_tensor([image]))[0]
            show(axes[r, c], image, frame=RIGHT if said == (colour, shape) else WRONG)
            axes[r, c].set_xlabel(f"judge: {said[0]} {said[1]}", fontsize=7, labelpad=2)
        axes[r, 0].set_ylabel(name, fontsize=8)
    for c, (colour, shape) in enumerate(subset):
        axes[0, c].set_title(f"“{colour} {shape}”", fontsize=8)
    fig.suptitle("The same prompts, seed 0: each model's picture (best of 8 by CLIP for 07 and 08);\ngreen frame: "
                 "the independent judge reads the prompt's colour and shape", fontsize=8.5)
    layout(fig)
    return fig


# ---------------------------------------------------------------- command line


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="figure names or lesson numbers (default: all)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default: {OUT_DIR})")
    parser.add_argument("--kind", choices=("diagram", "result"), help="only diagrams or only results")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    args = parser.parse_args(argv)
    # Before torch is imported (make imports it): OpenMP's pool then starts with one thread too.
    os.environ["OMP_NUM_THREADS"] = "1"
    if args.list:
        for name, spec in FIGURES.items():
            print(f"{name:32s} {spec['kind']:8s} {spec['draw'].__doc__.splitlines()[0]}")
        return
    names = select(args.names, args.kind)
    seconds = make(names, args.out)
    print(f"{len(names)} figures in {sum(seconds.values()):.1f} s -> {args.out}")


if __name__ == "__main__":
    main()
