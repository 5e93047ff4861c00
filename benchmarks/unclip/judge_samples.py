"""Score the samples of sweep.py, sweep2.py and sweep3.py: decode, CLIP re-rank the best of 8, judge colour and shape (utils/judge.py).

Usage: python benchmarks/unclip/judge_samples.py FOLDER_WITH_RUN_FILES
"""
import sys, glob, torch

from cpu_run import judge_run
import utils
from utils import shapes
from utils.vqgan import load_vqgan
from utils.dalle import decode_images
from utils.models import load_clip, tokenize
from utils.judge import load_judge
from utils.generation import clip_image_features
torch.set_num_threads(1)
vq = load_vqgan("tiny", device="cpu"); clip_model,_ = load_clip("tiny", device="cpu"); judge = load_judge(progress=False)
prompts = [shapes.PROMPT.format(colour=c, shape=s) for c, s in shapes.CLASSES]
with torch.no_grad():
    pt = torch.nn.functional.normalize(clip_model.encode_text(tokenize(prompts, clip_model)).float(), dim=-1)
for f in sorted(glob.glob(sys.argv[1] + "/*.pt")):
    d = torch.load(f, weights_only=False)
    print(f.split("/")[-1], {k: round(v, 3) if isinstance(v, float) else v for k, v in d["results"].items()})
    for key, o in d["outs"].items():
        with torch.no_grad():
            ims = decode_images(vq, o["codes"].long()) if "codes" in o else o["pixels"].float() / 255
            feats = clip_image_features(clip_model, ims)
        r = judge_run(ims, (feats.view(24, 8, -1) * pt[:, None]).sum(-1).reshape(-1), judge)
        print(f"  {key:22s} best col {r['best_colour']:.2f} shape {r['best_shape']:.2f} | mean col {r['mean_colour']:.2f} "
              f"shape {r['mean_shape']:.2f} | heldout both {r['heldout_both']}/4")
