"""Train one mini-unCLIP decoder variant on this machine's CPU and judge it: does a recipe fit the budget?

    python benchmarks/unclip/cpu_run.py --steps 1500 [--widths 16 32 64] [--patch 2] [--batch 128] [--threads 2] [--ema 0.995]

Data, prior and decoder come from utils.unclip (the tiny CLIP's embeddings, rendered once and cached);
then 8 samples for each of the 24 class prompts (guidance 3, DDIM 25 steps, the prior's embedding and the
text embedding straight in), CLIP re-ranked, judged by utils/judge.py. Prints the training minutes and
the accuracies, as benchmarks/unclip/README.md reports them.
"""
import argparse
import time

import torch

import utils  # noqa: F401
from utils import shapes, unclip
from utils.judge import load_judge
from utils.models import load_clip


def judge_run(images, scores, judge):
    """Best-of-8 (by CLIP) and mean-of-8 colour and shape accuracy over the 24 prompts, and held-out hits."""
    judged = judge.predict(images)
    best = scores.view(24, 8).argmax(1)
    out = {"best_colour": 0, "best_shape": 0, "mean_colour": 0.0, "mean_shape": 0.0, "heldout_both": 0}
    for k, (colour, shape) in enumerate(shapes.CLASSES):
        verdicts = judged[k * 8:(k + 1) * 8]
        pick = verdicts[best[k]]
        out["best_colour"] += pick[0] == colour
        out["best_shape"] += pick[1] == shape
        out["mean_colour"] += sum(c == colour for c, _ in verdicts) / 8
        out["mean_shape"] += sum(s == shape for _, s in verdicts) / 8
        out["heldout_both"] += (colour, shape) in shapes.HELDOUT and pick == (colour, shape)
    return {k: (v / 24 if k != "heldout_both" else v) for k, v in out.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--widths", type=int, nargs=3, default=list(unclip.DECODER_WIDTHS))
    parser.add_argument("--patch", type=int, default=1)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--ema", type=float, default=0.0, help="EMA decay of the decoder's weights (0: none)")
    args = parser.parse_args()
    clip_model, _ = load_clip("tiny", device="cpu")
    t0 = time.perf_counter()
    data = unclip.training_data(clip_model, args.n_train)
    t1 = time.perf_counter()
    prior, _ = unclip.train_prior(data, 1500)
    t2 = time.perf_counter()
    decoder, history = unclip.train_decoder(data, args.steps, args.batch, widths=tuple(args.widths), patch=args.patch,
                                            threads=args.threads, device="cpu", ema_decay=args.ema)
    t3 = time.perf_counter()
    print(f"data {t1 - t0:.0f} s, prior {t2 - t1:.0f} s, decoder {t3 - t2:.0f} s ({(t3 - t2) / args.steps:.3f} s/step), "
          f"mean loss of the last 100 steps {sum(history['decoder_loss'][-100:]) / len(history['decoder_loss'][-100:]):.4f}")
    judge = load_judge(progress=False)
    for use_prior in (True, False):
        images, scores, seconds = [], [], 0.0
        for colour, shape in shapes.CLASSES:
            out = unclip.sample_images(shapes.PROMPT.format(colour=colour, shape=shape), seed=0, use_prior=use_prior,
                                       decoder=decoder, prior=prior, clip_model=clip_model, device="cpu",
                                       threads=args.threads)
            images.append(out["images"])
            scores.append(out["scores"])
            seconds += out["seconds"]
        result = judge_run(torch.cat(images), torch.cat(scores), judge)
        print(("prior   " if use_prior else "no prior"), {k: round(v, 3) for k, v in result.items()},
              f"{seconds / (24 * 8):.3f} s per picture")


if __name__ == "__main__":
    main()
