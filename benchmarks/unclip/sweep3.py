"""Recipe search 3 (prepared, not run yet): pixel decoders cheaper per step than search 2's winner
((16, 32, 64), batch 128, 5,000 epsilon steps), to find one that trains within minutes on a 2-core CPU:
narrower U-Nets, 2 x 2 patches (utils.unclip.PixelDecoder(patch=2)), smaller batches, and timesteps drawn
from a logit-normal instead of uniformly (Esser et al., 2024, for rectified flows; here an experiment).
Pair each run's accuracy (judge_samples.py) with its CPU cost per step (cpu_step_time.py).
"""
import json, math, os, sys, time
import torch, torch.nn.functional as F
sys.path.insert(0, os.getcwd())
from utils import diffusion as D
from utils.unclip import LatentDecoder, PixelDecoder
dev = "cuda" if torch.cuda.is_available() else "cpu"
DATA = os.environ.get("SWEEP_DATA", "build/unclip-sweep")
data = torch.load(f"{DATA}/unclip_data.pt", weights_only=False)
pix = torch.load(f"{DATA}/pixels.pt", weights_only=False)             # (n, 3, 32, 32) uint8 train images
cb = data["codebook"].to(dev)
tr = data["train"]
z = cb[tr["codes"].long().to(dev)].permute(0, 3, 1, 2).contiguous()
scale = z.std().item()
N = len(pix)
lat_all = (z / scale)[:N]
pix_all = pix.to(dev).float() / 127.5 - 1
img, txt = tr["img"][:N].float().to(dev), tr["txt"][:N].float().to(dev)
OUT = os.environ.get("OUT", DATA)

CAP = int(os.environ.get("SWEEP_MAX_STEPS", 0))  # a smoke test: cap every run's steps


def lr_at(step, steps, warmup, lr):
    if step < warmup: return lr * (step + 1) / warmup
    p = (step - warmup) / max(1, steps - warmup); return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))

def train(space="pixel", pred="eps", steps=1500, bs=128, lr=2e-3, width=64, pw=(16, 32, 64), seed=0, p_uncond=0.1,
          patch=1, tsample="uniform"):
    steps = min(steps, CAP) if CAP else steps
    torch.manual_seed(seed)
    S = D.Schedule(D.cosine_betas(1000))
    m = (LatentDecoder(width=width) if space == "latent" else PixelDecoder(pw, patch=patch)).to(dev)
    X = lat_all if space == "latent" else pix_all
    opt = torch.optim.AdamW(m.parameters(), lr, weight_decay=0.0)
    g = torch.Generator(device=dev).manual_seed(seed); t0 = time.time(); losses = []
    ab = S.alphas_cumprod.to(dev)
    for s in range(steps):
        for gr in opt.param_groups: gr["lr"] = lr_at(s, steps, 100, lr)
        i = torch.randint(0, len(img), (bs,), device=dev, generator=g)
        x0, e = X[i], img[i].masked_fill((torch.rand(bs, device=dev, generator=g) < p_uncond)[:, None], 0.0)
        if tsample == "logit-normal":   # more steps at middle noise levels, where the shape is decided
            t = (torch.sigmoid(torch.randn(bs, device=dev, generator=g)) * 1000).long().clamp(0, 999)
        else:
            t = torch.randint(0, 1000, (bs,), device=dev, generator=g)
        noise = torch.randn(x0.shape, device=dev, generator=g)
        xt = D.add_noise(S, x0, noise, t); out = m(xt, t, e)
        if pred == "eps":
            loss = F.mse_loss(out, noise)
        else:  # x0-prediction, weighted by min(SNR, 5) (min-SNR-5 of Hang et al. 2023, in x0 form)
            snr = ab[t] / (1 - ab[t]); w = snr.clamp(max=5.0)
            loss = (w.view(-1, 1, 1, 1) * (out - x0) ** 2).mean()
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
        losses.append(loss.item())
    return m.eval(), S, losses, time.time() - t0

@torch.no_grad()
def sample(m, S, space, pred, emb, guidance, steps=25, seed=0):
    n = emb.shape[0]; g = torch.Generator(device=dev).manual_seed(seed)
    shape = (n, 32, 8, 8) if space == "latent" else (n, 3, 32, 32)
    x = torch.randn(shape, device=dev, generator=g); null = torch.zeros(1, emb.shape[1], device=dev)
    def model_eps(x, t, c):
        out = m(x, t, c)
        if pred == "eps": return out
        ab = S.abar(t, x); return (x - ab.sqrt() * out) / (1 - ab).sqrt()
    fn = lambda x, t: D.guided_eps(model_eps, x, t, emb, guidance, null)
    x = D.sample_ddim(fn, shape, S, steps, device=dev, x=x)
    if space == "latent":
        zz = (x * scale).permute(0, 2, 3, 1).reshape(-1, 32)
        return {"codes": torch.cdist(zz, cb).argmin(1).reshape(n, 8, 8).short().cpu()}
    return {"pixels": ((x.clamp(-1, 1) + 1) * 127.5).round().byte().cpu()}

lab = torch.cat([data["trainval"]["labels"], data["heldout"]["labels"]])
allimg = torch.cat([data["trainval"]["img"], data["heldout"]["img"]]).float()
oracle = torch.stack([allimg[(lab == k).nonzero()[0, 0]] for k in range(24)]).to(dev)
conds = {"text": data["prompt_txt"].to(dev)}
runs = {
 "base5000": dict(steps=5000),
 "narrow5000": dict(steps=5000, pw=(8, 16, 32)),
 "patch2wide5000": dict(steps=5000, pw=(32, 64, 128), patch=2),
 "patch2_5000": dict(steps=5000, patch=2),
 "b64_5000": dict(steps=5000, bs=64),
 "lognorm2500": dict(steps=2500, tsample="logit-normal"),
 "b32_8000": dict(steps=8000, bs=32),
}
res, outs = {}, {}
for name, kw in runs.items():
    m, S, losses, secs = train(**kw)
    res[name] = {"kw": kw, "secs": secs, "loss_last100": sum(losses[-100:]) / 100, "params": sum(p.numel() for p in m.parameters())}
    for mode, c in conds.items():
        for gs in (3.0,):
            outs[f"{name}|{mode}|{gs}"] = sample(m, S, kw.get("space", "pixel"), kw.get("pred", "eps"), c.repeat_interleave(8, 0), gs)
    print(name, res[name], flush=True)
    torch.save({"outs": {k: v for k, v in outs.items() if k.startswith(name + "|")}, "results": res[name]}, f"{OUT}/{name}.pt")
