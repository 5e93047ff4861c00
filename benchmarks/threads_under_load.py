"""Training the tiny CLIP on an idle and on a busy CPU, by thread policy.

    python benchmarks/threads_under_load.py [--load 3] [--steps 12]

The load: `--load` other Python processes multiplying matrices with torch's default settings (one
thread per core, OpenMP threads that spin while they wait), like other notebooks on the same laptop.
Each policy trains the tiny CLIP for `--steps` steps of 128 pictures in a fresh interpreter (so that
OMP_WAIT_POLICY takes effect) and prints seconds per step:
  - default: torch's thread count (one per core), OpenMP's default wait policy: what the course did;
  - passive: the same threads, with OMP_WAIT_POLICY=PASSIVE (waiting threads sleep instead of spinning);
  - 1 thread;
  - auto: utils/threads.py's governor (the cores the other programs leave free), what the course does now.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, torch
import utils
from utils import train_clip
data = torch.load(sys.argv[1])
threads = json.loads(sys.argv[2])
model = train_clip.build_tiny_clip(seed=0)
h = train_clip.train(model, data["images"], data["tokens"], data["labels"], epochs=1, batch_size=128,
                     colourless=0.3, progress=False, threads=threads)
print(json.dumps({"seconds_per_step": h["seconds"] / len(h["loss"]), "threads": h["threads"]}))
"""

LOAD = """
import torch
x = torch.randn(384, 384)
while True:
    x = torch.tanh(x @ x)
"""

POLICIES = {"default": (None, {}), "passive": (None, {"OMP_WAIT_POLICY": "PASSIVE"}),
            "1 thread": (1, {}), "auto": ("auto", {})}


def measure(data_file, threads, env):
    run_env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", CHILD, data_file, json.dumps(threads)], cwd=ROOT, check=True,
                         capture_output=True, text=True, env={**run_env, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--load", type=int, default=3, help="how many busy processes make the load")
    parser.add_argument("--steps", type=int, default=12, help="training steps per measurement")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    from utils import train_clip

    with tempfile.TemporaryDirectory() as tmp:
        images, captions, labels = train_clip.render_training_set(128 * args.steps, seed=0, progress=False)
        data_file = os.path.join(tmp, "data.pt")
        torch.save({"images": images, "labels": labels,
                    "tokens": train_clip.tokenize_captions(captions, train_clip.TINY_CONFIG["context_length"])},
                   data_file)
        print(f"{os.cpu_count()} cores; {args.steps} steps of 128 pictures per measurement")
        results = {}
        for situation in ("idle", f"{args.load} busy processes"):
            load = []
            if situation != "idle":
                plain = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
                load = [subprocess.Popen([sys.executable, "-c", LOAD], env=plain) for _ in range(args.load)]
                time.sleep(3)  # let them start
            try:
                for name, (threads, env) in POLICIES.items():
                    r = measure(data_file, threads, env)
                    results[(situation, name)] = r
                    chosen = "" if threads != "auto" else f" (threads over time: {r['threads']})"
                    print(f"{situation:20s} {name:9s} {r['seconds_per_step']:6.2f} s/step{chosen}", flush=True)
            finally:
                for p in load:
                    p.kill()
                    p.wait()


if __name__ == "__main__":
    main()
