"""Render the 20,000 Shapes training pictures (32 px, uint8) that sweep2.py's pixel runs learn from (it uses the first
12,000: the device machine took at most 64 MiB of data)."""
import os
import torch
from utils import shapes
OUT = os.environ.get("SWEEP_DATA", "build/unclip-sweep"); os.makedirs(OUT, exist_ok=True)
n=20000
x=torch.cat([ (shapes.to_tensor([shapes.sample(0,i,"train",32)[0] for i in range(s,min(n,s+2000))])*255).round().byte() for s in range(0,n,2000)])
torch.save(x, f"{OUT}/pixels.pt"); print(x.shape)
