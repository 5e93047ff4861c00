"""Recipe search 1 for the mini-unCLIP decoder: latent diffusion on the tiny VQGAN's 32 x 8 x 8 latents,
epsilon-prediction, several widths / steps / schedules / learning rates; samples for the 24 class prompts
conditioned on the prompt's text embedding, the prior's output, or a real picture's image embedding
("oracle"), at guidance 1, 2, 3, 5. Writes one <run>.pt per run (VQGAN codes of the samples) into $OUT;
judge_samples.py scores them. See README.md for how it was run and what it measured.
"""
import json, math, os, sys, time
import torch, torch.nn.functional as F
sys.path.insert(0, os.getcwd())
from utils import diffusion as D
from utils.dalle import lr_at
from utils.unclip import LatentDecoder, Prior
dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cudnn.benchmark = True
DATA = os.environ.get("SWEEP_DATA", "build/unclip-sweep")
data = torch.load(f"{DATA}/unclip_data.pt", weights_only=False)
cb = data["codebook"].to(dev)                                    # (256, 32)
tr = data["train"]
z = cb[tr["codes"].long().to(dev)].permute(0, 3, 1, 2).contiguous()  # (n, 32, 8, 8)
scale = z.std().item()
x0_all = z / scale
img, txt = tr["img"].float().to(dev), tr["txt"].float().to(dev)
print("scale", scale, "pair cos text-image", (img * txt).sum(1).mean().item(),
      "image-image (random pairs)", (img * img.roll(1, 0)).sum(1).mean().item(), flush=True)
OUT = os.environ.get("OUT", DATA)
results = {"scale": scale}

CAP = int(os.environ.get("SWEEP_MAX_STEPS", 0))  # a smoke test: cap every run's steps


def train_prior(steps=1500, lr=1e-3, bs=256, seed=0):
    torch.manual_seed(seed); p = Prior().to(dev); opt = torch.optim.AdamW(p.parameters(), lr, weight_decay=0.01)
    g = torch.Generator(device=dev).manual_seed(seed)
    for s in range(steps):
        for gr in opt.param_groups: gr["lr"] = lr_at(s, steps, 100, lr)
        i = torch.randint(0, len(img), (bs,), device=dev, generator=g)
        loss = (1 - (p(txt[i]) * img[i]).sum(1)).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    return p.eval(), loss.item()

def train_decoder(width=64, nb=4, bs=128, lr=2e-3, steps=1500, sched="cosine", p_uncond=0.1, seed=0):
    steps = min(steps, CAP) if CAP else steps
    torch.manual_seed(seed)
    S = D.Schedule(D.cosine_betas(1000) if sched == "cosine" else D.linear_betas(1000))
    m = LatentDecoder(width=width, n_blocks=nb).to(dev); opt = torch.optim.AdamW(m.parameters(), lr, weight_decay=0.0)
    g = torch.Generator(device=dev).manual_seed(seed)
    losses = []
    t0 = time.time()
    for s in range(steps):
        for gr in opt.param_groups: gr["lr"] = lr_at(s, steps, 100, lr)
        i = torch.randint(0, len(img), (bs,), device=dev, generator=g)
        x0, e = x0_all[i], img[i]
        drop = torch.rand(bs, device=dev, generator=g) < p_uncond
        e = e.masked_fill(drop[:, None], 0.0)
        t = torch.randint(0, 1000, (bs,), device=dev, generator=g)
        noise = torch.randn(x0.shape, device=dev, generator=g)
        loss = F.mse_loss(m(D.add_noise(S, x0, noise, t), t, e), noise)
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
        losses.append(loss.item())
    return m.eval(), S, losses, time.time() - t0

@torch.no_grad()
def sample(m, S, emb, guidance, steps=25, seed=0):
    n = emb.shape[0]; g = torch.Generator(device=dev).manual_seed(seed)
    x = torch.randn((n, 32, 8, 8), device=dev, generator=g)
    null = torch.zeros(1, emb.shape[1], device=dev)
    fn = lambda x, t: D.guided_eps(m, x, t, emb, guidance, null)
    x = D.sample_ddim(fn, x.shape, S, steps, device=dev, x=x)
    zz = (x * scale).permute(0, 2, 3, 1).reshape(-1, 32)
    return torch.cdist(zz, cb).argmin(1).reshape(n, 8, 8).short().cpu()

prior, ploss = train_prior(); print("prior loss", ploss, flush=True)
pt = data["prompt_txt"].to(dev)
with torch.no_grad(): pe = prior(pt)
# oracle: the image embedding of one real picture of each class (from the trainval split)
lab = torch.cat([data["trainval"]["labels"], data["heldout"]["labels"]])
allimg = torch.cat([data["trainval"]["img"], data["heldout"]["img"]]).float()
oracle = torch.stack([allimg[(lab == k).nonzero()[0, 0]] for k in range(24)]).to(dev)
conds = {"prior": pe, "text": pt, "oracle": oracle}
runs = {
 "A500": dict(steps=500), "A1000": dict(steps=1000), "A1500": dict(steps=1500), "A2500": dict(steps=2500),
 "B1000lin": dict(steps=1000, sched="linear"), "C2000b64": dict(steps=2000, bs=64),
 "D1000w96": dict(steps=1000, width=96), "E1000lr4": dict(steps=1000, lr=4e-3),
 "F1000nb6": dict(steps=1000, nb=6), "G1000pu2": dict(steps=1000, p_uncond=0.2),
}
codes = {}
for name, kw in runs.items():
    m, S, losses, secs = train_decoder(**kw)
    results[name] = {"kw": kw, "secs": secs, "loss_last100": sum(losses[-100:]) / 100}
    for mode, c in conds.items():
        emb = c.repeat_interleave(8, 0)
        for gscale in (1.0, 2.0, 3.0, 5.0):
            codes[f"{name}|{mode}|{gscale}"] = {"codes": sample(m, S, emb, gscale)}
    print(name, results[name], flush=True)
    torch.save({"outs": {k: v for k, v in codes.items() if k.startswith(name + "|")}, "results": results[name]},
               f"{OUT}/{name}.pt")
