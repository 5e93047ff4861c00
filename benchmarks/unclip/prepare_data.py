"""Data for the recipe searches: for Shapes pictures of the train split (seed 0, the mini-DALL·E's 20,000) and
two small evaluation sets, the tiny VQGAN's codes (cached by utils.dalle), the tiny CLIP's image and text
embeddings; and the text embeddings of the 24 class prompts. Writes $SWEEP_DATA/unclip_data.pt (about 14 MB)."""
import os, time, torch
import utils
from utils import dalle, shapes
from utils.vqgan import load_vqgan
from utils.models import load_clip, tokenize
from utils.generation import clip_image_features
OUT = os.environ.get("SWEEP_DATA", "build/unclip-sweep"); os.makedirs(OUT, exist_ok=True)
t0=time.time()
vq=load_vqgan("tiny", device="cpu"); clip_model,_=load_clip("tiny", device="cpu")
out={}
for split,seed,n in [("train",0,20000),("heldout",4321,512),("trainval",4321,512)]:
    sp = "train" if split=="trainval" else split
    d=dalle.shapes_codes(vq, n, seed, sp, progress=False)
    imgs=[]
    for s in range(0,n,1000):
        imgs.append(shapes.to_tensor([shapes.sample(seed,i,sp,32)[0] for i in range(s,min(n,s+1000))]))
    imgs=torch.cat(imgs)
    with torch.no_grad():
        ie=torch.cat([clip_image_features(clip_model, imgs[i:i+500]) for i in range(0,n,500)])
        te=torch.cat([torch.nn.functional.normalize(clip_model.encode_text(tokenize(d["captions"][i:i+500], clip_model)).float(),dim=-1) for i in range(0,n,500)])
    out[split]=dict(codes=d["codes"], labels=d["labels"], captions=d["captions"], img=ie.half(), txt=te.half())
    print(split, time.time()-t0, flush=True)
prompts=[shapes.PROMPT.format(colour=c,shape=s) for c,s in shapes.CLASSES]
with torch.no_grad():
    out["prompts"]=prompts
    out["prompt_txt"]=torch.nn.functional.normalize(clip_model.encode_text(tokenize(prompts, clip_model)).float(),dim=-1)
out["codebook"]=vq.quantize.embedding.weight.detach().clone()
torch.save(out, f"{OUT}/unclip_data.pt")
print("done", time.time()-t0)
