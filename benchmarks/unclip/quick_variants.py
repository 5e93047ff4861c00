"""Two changes to the quick recipe's decoder training, alone and together, on this machine's CPU.

    python benchmarks/unclip/quick_variants.py --name plain
    python benchmarks/unclip/quick_variants.py --emb-scale 11.3 --name scaled       # embedding x sqrt(128)
    python benchmarks/unclip/quick_variants.py --gamma 5 --name minsnr5             # Min-SNR-5 loss weights
    python benchmarks/unclip/quick_variants.py --gamma 5 --emb-scale 11.3 --name both

The loop of utils.unclip.train_decoder written out (2,000 steps of 32, learning rate 2e-3, EMA 0.995, the
condition dropped 10 % of the time; the timestep drawn as floor(1000 u)), so that the loss weights and the
embedding's scale can be varied; then utils.unclip.sample_images (guidance 5, DDIM 25) on the 20 seen
prompts x seeds 0, 1, 2 and the 4 held-out ones, judged by utils/judge.py. Prints one line per conditioning
(prior / text embedding straight in). benchmarks/unclip/README.md has the figures (about 9 minutes a run).
"""
import argparse
import copy
import time

import torch

import utils  # noqa: F401
from utils import diffusion, shapes, unclip
from utils.dalle import lr_at
from utils.judge import evaluate_generator, load_judge
from utils.models import load_clip

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--steps", type=int, default=2000)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--ema", type=float, default=0.995)
p.add_argument("--gamma", type=float, default=0, help="Min-SNR-gamma weights of the epsilon loss (0: none)")
p.add_argument("--emb-scale", type=float, default=1.0, help="multiply the unit CLIP embedding by this")
p.add_argument("--name", default="run")
a = p.parse_args()
torch.set_num_threads(2)
clip_model, _ = load_clip("tiny", device="cpu")
data = unclip.training_data(clip_model, 20000, progress=False)
prior, _ = unclip.train_prior(data, 1500)
torch.manual_seed(0)
sched = unclip.noise_schedule()
snr = sched.alphas_cumprod / (1 - sched.alphas_cumprod)


class Scaled(unclip.PixelDecoder):
    def forward(self, x, t, emb):
        return super().forward(x, t, emb * a.emb_scale)


model = Scaled(unclip.DECODER_WIDTHS, emb_dim=128, scale_emb=False).train()
opt = torch.optim.AdamW(model.parameters(), a.lr, weight_decay=0.0)
ema = copy.deepcopy(model).eval().requires_grad_(False)
gen = torch.Generator().manual_seed(0)
losses, t0 = [], time.time()
for step in range(a.steps):
    for g in opt.param_groups:
        g["lr"] = lr_at(step, a.steps, 100, a.lr)
    i = torch.randint(len(data["pixels"]), (a.batch,), generator=gen)
    x0 = data["pixels"][i].float() / 127.5 - 1
    drop = torch.rand(a.batch, generator=gen) < 0.1
    emb = data["image_emb"][i].float().masked_fill(drop[:, None], 0.0)
    t = (torch.rand(a.batch, generator=gen) * 1000).long().clamp(0, 999)
    noise = torch.randn(x0.shape, generator=gen)
    pred = model(diffusion.add_noise(sched, x0, noise, t), t, emb)
    per = ((pred - noise) ** 2).mean(dim=(1, 2, 3))
    w = (snr[t].clamp(max=a.gamma) / snr[t]) if a.gamma else torch.ones_like(per)
    loss = (w * per).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    d = min(a.ema, (1 + step) / (10 + step)) if a.ema else 0
    with torch.no_grad():
        for e, q in zip(ema.parameters(), model.parameters()):
            e.lerp_(q, 1 - d) if a.ema else e.copy_(q)
    losses.append(per.mean().item())
secs = time.time() - t0
decoder = ema.eval()
judge = load_judge(progress=False)
seen = [c for c in shapes.CLASSES if c not in shapes.HELDOUT]
for use_prior in (True, False):
    def draw(prompt, seed):
        return unclip.sample_images(prompt, seed, 8, 5.0, 25, use_prior, decoder, prior, clip_model, "cpu", threads=2)
    r = evaluate_generator(draw, seen, (0, 1, 2), judge, progress=False)
    h = evaluate_generator(draw, shapes.HELDOUT, (0, 1, 2), judge, progress=False)
    print(f"{a.name:28s} prior={use_prior!s:5} train {secs:.0f} s loss {sum(losses[-100:]) / 100:.4f} | best c/s/b "
          f"{r['best_judge_colour']:.0%} {r['best_judge_shape']:.0%} {r['best_judge_both']:.0%} | mean "
          f"{r['mean_judge_colour']:.0%} {r['mean_judge_shape']:.0%} | held-out both {h['best_judge_both']:.0%}", flush=True)
