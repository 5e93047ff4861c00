"""Recipe search 3 (prepared, not run yet): pixel decoders cheaper per step than search 2's winner
((16, 32, 64), batch 128, 5,000 epsilon steps), to find one that trains within minutes on a 2-core CPU:
narrower U-Nets, 2 x 2 patches (utils.unclip.PixelDecoder(patch=2)), smaller batches, and timesteps drawn
from a logit-normal instead of uniformly (Esser et al., 2024, for rectified flows; here an experiment).
Pair each run's accuracy (judge_samples.py) with its CPU cost per step (cpu_step_time.py).
"""
import search

RUNS = {
 "base5000": dict(steps=5000),
 "narrow5000": dict(steps=5000, pw=(8, 16, 32)),
 "patch2wide5000": dict(steps=5000, pw=(32, 64, 128), patch=2),
 "patch2_5000": dict(steps=5000, patch=2),
 "b64_5000": dict(steps=5000, bs=64),
 "lognorm2500": dict(steps=2500, tsample="logit-normal"),
 "b32_8000": dict(steps=8000, bs=32),
}

if __name__ == "__main__":
    search.run_all(RUNS, modes=("text",), guidances=(3.0,))
