"""Exact search vs a faiss approximate index: build time, single-query latency, Recall@10.

Used by benchmarks/retrieval_index.py (the full sweep) and notebook 04 (one quick point).
The data are synthetic clustered unit vectors: real CLIP embeddings of a gallery also bunch
around a few directions (one per kind of picture), which is what makes indexes both useful
and harder than on uniform random points.
"""
import time

import faiss
import numpy as np

from .retrieval import FaissIndex, recall_vs_exact


def clustered_unit_vectors(n, dim, n_clusters=1000, spread=0.5, seed=0):
    """n unit vectors around n_clusters random centres (float32 numpy, (n, dim)).

    spread: length of the noise vector added to a centre (per coordinate spread / sqrt(dim)),
    so the clusters are equally tight at any dimension.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[rng.integers(n_clusters, size=n)]
    x = x + rng.standard_normal((n, dim)).astype(np.float32) * (spread / np.sqrt(dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_top_k(queries, gallery, k):
    """Top-k indices by one matrix product per call (numpy float32; argpartition then sort)."""
    scores = queries @ gallery.T  # (Q, N)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, axis=1)


def per_query_seconds(fn, queries, repeats=1):
    """Median wall time of fn(one query as a (1, D) array), over all queries (the interactive case)."""
    times = []
    for _ in range(repeats):
        for q in queries:
            t0 = time.perf_counter()
            fn(q[None])
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def compare(n, dim, n_queries=200, k=10, kind="hnsw", seed=0, **index_params):
    """One benchmark point: a dict with build time, per-query latencies, speedup and recall@k."""
    data = clustered_unit_vectors(n + n_queries, dim, seed=seed)
    gallery, queries = data[:n], data[n:]  # queries come from the same clusters, not the gallery
    exact = exact_top_k(queries, gallery, k)

    t0 = time.perf_counter()
    index = FaissIndex(dim, kind=kind, **index_params).build(gallery)
    build_s = time.perf_counter() - t0

    _, approx = index.search(queries, k)
    exact_s = per_query_seconds(lambda q: exact_top_k(q, gallery, k), queries)
    approx_s = per_query_seconds(lambda q: index.search(q, k), queries)
    return {"n": n, "dim": dim, "kind": kind, "params": index_params, "k": k,
            "n_queries": n_queries, "build_s": build_s, "exact_query_ms": exact_s * 1e3,
            "approx_query_ms": approx_s * 1e3, "speedup": exact_s / approx_s,
            f"recall@{k}": recall_vs_exact(approx, exact), "faiss_threads": faiss.omp_get_max_threads()}
