"""What sweep2.py and sweep3.py share: the prepared data (prepare_data.py, prepare_pixels.py), training one
decoder run, sampling the 24 class prompts from it, and the loop that writes one <run>.pt per run into $OUT
(judge_samples.py scores them). Each sweep only lists its runs.
"""
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.getcwd())  # run from the repository root; on a GPU machine utils/ is not installed
from utils import diffusion as D  # noqa: E402
from utils.dalle import lr_at  # noqa: E402
from utils.unclip import LatentDecoder, PixelDecoder  # noqa: E402

dev = "cuda" if torch.cuda.is_available() else "cpu"
DATA = os.environ.get("SWEEP_DATA", "build/unclip-sweep")
OUT = os.environ.get("OUT", DATA)
CAP = int(os.environ.get("SWEEP_MAX_STEPS", 0))  # a smoke test: cap every run's steps


def load():
    """Training latents and pixels (the first len(pixels) pictures), CLIP embeddings, codebook, and the conditions
    to sample with: the prompts' text embeddings and one real picture's image embedding per class ("oracle")."""
    data = torch.load(f"{DATA}/unclip_data.pt", weights_only=False)
    pix = torch.load(f"{DATA}/pixels.pt", weights_only=False)             # (n, 3, 32, 32) uint8 train images
    cb = data["codebook"].to(dev)
    tr = data["train"]
    z = cb[tr["codes"].long().to(dev)].permute(0, 3, 1, 2).contiguous()
    scale = z.std().item()
    n = len(pix)
    lab = torch.cat([data["trainval"]["labels"], data["heldout"]["labels"]])
    allimg = torch.cat([data["trainval"]["img"], data["heldout"]["img"]]).float()
    oracle = torch.stack([allimg[(lab == k).nonzero()[0, 0]] for k in range(24)]).to(dev)
    return {"latent": (z / scale)[:n], "pixel": pix.to(dev).float() / 127.5 - 1, "img": tr["img"][:n].float().to(dev),
            "codebook": cb, "scale": scale, "conds": {"text": data["prompt_txt"].to(dev), "oracle": oracle}}


def train(d, space="pixel", pred="eps", steps=1500, bs=128, lr=2e-3, width=64, pw=(16, 32, 64), seed=0,
          p_uncond=0.1, patch=1, tsample="uniform"):
    steps = min(steps, CAP) if CAP else steps
    torch.manual_seed(seed)
    S = D.Schedule(D.cosine_betas(1000))
    m = (LatentDecoder(width=width) if space == "latent" else PixelDecoder(pw, patch=patch)).to(dev)
    X, img = d[space], d["img"]
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
def sample(d, m, S, space, pred, emb, guidance, steps=25, seed=0):
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
        zz = (x * d["scale"]).permute(0, 2, 3, 1).reshape(-1, 32)
        return {"codes": torch.cdist(zz, d["codebook"]).argmin(1).reshape(n, 8, 8).short().cpu()}
    return {"pixels": ((x.clamp(-1, 1) + 1) * 127.5).round().byte().cpu()}


def run_all(runs, modes, guidances):
    """Train each run, sample 8 pictures per prompt for each condition and guidance, save <run>.pt."""
    d = load()
    for name, kw in runs.items():
        m, S, losses, secs = train(d, **kw)
        result = {"kw": kw, "secs": secs, "loss_last100": sum(losses[-100:]) / len(losses[-100:]),
                  "params": sum(p.numel() for p in m.parameters())}
        outs = {f"{name}|{mode}|{gs}": sample(d, m, S, kw.get("space", "pixel"), kw.get("pred", "eps"),
                                              d["conds"][mode].repeat_interleave(8, 0), gs)
                for mode in modes for gs in guidances}
        print(name, result, flush=True)
        torch.save({"outs": outs, "results": result}, f"{OUT}/{name}.pt")
