"""Unit tests of utils/index_benchmark.py (small sizes; no timing assertions)."""
import numpy as np
import torch

from utils import index_benchmark, retrieval


def test_clustered_unit_vectors_are_unit_and_deterministic():
    a = index_benchmark.clustered_unit_vectors(500, 16, n_clusters=10, seed=3)
    b = index_benchmark.clustered_unit_vectors(500, 16, n_clusters=10, seed=3)
    assert a.shape == (500, 16) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(a, b)
    # clustered: a point's nearest other point is much closer than a random pair
    sim = a @ a.T
    np.fill_diagonal(sim, -1)
    assert sim.max(axis=1).mean() > 0.8 > abs(float(sim[sim > -1].mean()))


def test_exact_top_k_matches_retrieval_search():
    x = index_benchmark.clustered_unit_vectors(300, 8, n_clusters=5)
    q = x[:7]
    got = index_benchmark.exact_top_k(q, x, 5)
    want = retrieval.search(torch.from_numpy(q), torch.from_numpy(x), k=5)[1].numpy()
    # same sets per row (ties may order differently) and the query itself first
    assert all(set(g) == set(w) for g, w in zip(got, want))
    assert got[:, 0].tolist() == list(range(7))


def test_compare_reports_every_figure():
    r = index_benchmark.compare(2000, 16, n_queries=20, kind="flat")
    assert r["recall@10"] == 1.0
    for key in ("build_s", "exact_query_ms", "approx_query_ms", "speedup"):
        assert r[key] > 0
