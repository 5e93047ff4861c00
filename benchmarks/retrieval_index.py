"""Exact search vs faiss approximate indexes on 10k / 30k / 100k unit-norm embeddings.

    .venv/bin/python benchmarks/retrieval_index.py [--sizes 10000 30000 100000] [--queries 200]

Data: synthetic clustered unit vectors (utils.index_benchmark.clustered_unit_vectors) in the
tiny CLIP's embedding dimension, not real Shapes embeddings. Exact search is one NumPy float32
matrix product per query plus a top-k partition; the indexes are faiss HNSW (graph) and IVF
(k-means cells). Latency is per single query (the interactive case), median over the queries.
Prints a table and the machine load, and writes the numbers notebook 04 plots to
benchmarks/results/retrieval_index.json. On a busy machine run it with OMP_NUM_THREADS=1: both
exact search (BLAS) and faiss then use one thread, a like-for-like single-core comparison.
"""
import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import utils  # noqa: F401  (compat shims)
from utils.index_benchmark import compare

try:  # the tiny CLIP's embedding size, where the training module defines it
    from utils.train_clip import TINY_CONFIG
    DIM = TINY_CONFIG["embed_dim"]
except ImportError:
    DIM = 128

OUT = Path(__file__).resolve().parent / "results" / "retrieval_index.json"


def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def configs(n):
    # IVF: about 4*sqrt(n) cells (faiss's rule of thumb), searching 16 of them.
    nlist = 1 << max(4, round(2 + 0.5 * (n.bit_length() - 1)))
    return [("hnsw", dict(M=32, ef_construction=80, ef_search=64)),
            ("ivf", dict(nlist=nlist, nprobe=16))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dim", type=int, default=DIM)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    load_before = uptime()
    import faiss
    threads = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, faiss threads {faiss.omp_get_max_threads()}"
    print(f"dim={args.dim}, {args.queries} single queries per point, {os.cpu_count()} CPUs, {threads}; {load_before}")
    rows = []
    header = f"{'n':>7} {'index':<5} {'params':<40} {'build s':>8} {'exact ms':>9} {'approx ms':>10} {'speedup':>8} {'R@10':>6}"
    print(header)
    t0 = time.time()
    for n in args.sizes:
        for kind, params in configs(n):
            r = compare(n, args.dim, n_queries=args.queries, kind=kind, **params)
            rows.append(r)
            p = ",".join(f"{k}={v}" for k, v in params.items())
            print(f"{n:>7} {kind:<5} {p:<40} {r['build_s']:8.2f} {r['exact_query_ms']:9.3f} "
                  f"{r['approx_query_ms']:10.4f} {r['speedup']:7.1f}x {r['recall@10']:6.3f}", flush=True)
    load_after = uptime()
    print(f"total {time.time() - t0:.0f} s; {load_after}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"data": "synthetic clustered unit vectors (1000 clusters)",
                               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {threads}",
                               "load_before": load_before, "load_after": load_after,
                               "rows": rows}, indent=1))
    os.replace(tmp, args.out)  # atomic: the notebook never reads half a file
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
