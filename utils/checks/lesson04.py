"""Checks for lesson 04 (retrieval): cosine top-k search, the rank of the first match, Recall@k with
the median rank, and precision@k. The references are the library versions in utils/retrieval.py."""
import math
import numbers

import torch
import torch.nn.functional as F

from .. import retrieval
from ._core import Case, Mistake, check, difference

__all__ = ["check_top_k", "check_rank_of_first_match", "check_recall_and_median_rank", "check_precision_at_k"]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _rows(n, d, g, dtype=torch.float32, low=0.2, high=5.0):
    """n random directions with lengths spread between low and high, so un-normalised dot
    products rank differently from cosines."""
    x = F.normalize(torch.randn(n, d, generator=g, dtype=dtype), dim=-1)
    return x * (low + (high - low) * torch.rand(n, 1, generator=g, dtype=dtype))


def _close(got, expected, dtype):
    """difference() with a tight tolerance for float64, so float32 arithmetic shows."""
    if dtype == torch.float64:
        return difference(got, expected, rtol=1e-10, atol=1e-12)
    return difference(got, expected)


def _number_problem(got, expected, what):
    """None when got is a Python (or numpy) real number close to expected."""
    if isinstance(got, torch.Tensor) or isinstance(got, bool) or not isinstance(got, numbers.Real):
        return (f"{what}: expected a Python number, got {type(got).__name__} "
                "(turn a 0-d tensor into a number with .item())")
    if not math.isclose(float(got), expected, rel_tol=1e-6, abs_tol=1e-9):
        return f"{what}: expected {expected:.6g}, got {float(got):.6g}"
    return None


# ---------------------------------------------------------------- exercise 1: cosine top-k


def _top_k_reference(queries, gallery, k):
    scores, indices = retrieval.search(F.normalize(queries, dim=-1), F.normalize(gallery, dim=-1), k)
    return scores, indices


def _top_k_cases():
    g = _gen(4)
    # Exact ties: rows 0 and 2 point the same way (cosine exactly 1 with the first query), and
    # rows 0-2, 4 and 5 are all at cosine 0 from the second query, across the k = 4 boundary.
    tie_gallery = torch.tensor([[2.0, 0, 0], [0, 3, 0], [0.5, 0, 0], [0, 0, 1], [1, 1, 0], [-1, 0, 0]])
    tie_queries = torch.tensor([[3.0, 0, 0], [0, 0, 0.25]])
    # float64 near-tie: row 1 beats row 0 by 2e-11, which float32 arithmetic cannot see.
    near = torch.cat([torch.tensor([[0.6, 0.8, 0.0], [0.6 + 3e-11, 0.8, 0.0]], dtype=torch.float64),
                      _rows(5, 3, g, torch.float64)])
    big, small = _rows(12, 8, g, high=1e3), _rows(4, 8, g, low=1e-3, high=1e-2)
    return [
        Case("Q=3, G=10, D=8, k=4, rows of lengths 0.2-5", (_rows(3, 8, g), _rows(10, 8, g), 4)),
        Case("one query, G=5, D=4, k=2", (_rows(1, 4, g), _rows(5, 4, g), 2)),
        Case("k=1, Q=4, G=6", (_rows(4, 5, g), _rows(6, 5, g), 1)),
        Case("k = G = 6 (the whole gallery, best first)", (_rows(2, 3, g), _rows(6, 3, g), 6)),
        Case("exact ties (equal directions, cosine 0 across the k boundary), k=4", (tie_queries, tie_gallery, 4)),
        Case("float64, Q=2, G=7, near-tie of 2e-11", (torch.tensor([[1.0, 0, 0], [0.3, -1, 2]], dtype=torch.float64), near, 3)),
        Case("float64, Q=5, G=9, D=16, k=5", (_rows(5, 16, g, torch.float64), _rows(9, 16, g, torch.float64), 5)),
        Case("lengths 1e-3 to 1e3, Q=4, G=12, k=3", (small, big, 3)),
    ]


def _top_k_probe(fn, queries, gallery, k):
    """The function's answer and, next to it, the true cosine of each item it returned, so that
    equal scores may come in any order."""
    cos = F.normalize(queries, dim=-1) @ F.normalize(gallery, dim=-1).T  # (Q, G), before fn runs
    out = fn(queries, gallery, k)
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        return {"bad": out}
    scores, indices = out
    if indices.dtype != torch.long or indices.shape != scores.shape or indices.ndim != 2 \
            or (indices.numel() and (indices.min() < 0 or indices.max() >= len(gallery))):
        return {"scores": scores, "indices": indices, "dtype": queries.dtype}
    return {"scores": scores, "indices": indices, "dtype": queries.dtype, "cos_at_indices": cos.gather(1, indices)}


def _repeats(indices):
    """Which rows name some gallery item twice."""
    return [len(set(row)) < len(row) for row in indices.tolist()]


def _top_k_compare(got, expected):
    if "bad" in got:
        return f"expected a pair (scores, indices) of tensors, got {type(got['bad']).__name__}"
    scores, indices, dtype = got["scores"], got["indices"], got["dtype"]
    problem = _close(scores, expected["scores"], dtype)
    if problem:
        return f"scores: {problem}"
    if indices.dtype != torch.long:
        return f"indices: expected dtype torch.int64 (gallery row numbers), got {indices.dtype}"
    if indices.shape != expected["indices"].shape:
        return f"indices: expected shape {tuple(expected['indices'].shape)}, got {tuple(indices.shape)}"
    if "cos_at_indices" not in got or "cos_at_indices" not in expected:
        if "cos_at_indices" not in expected:  # comparing two wrong answers: compare them as they are
            return difference(indices, expected["indices"])
        return "indices: some are not gallery row numbers (0 to G-1)"
    if _repeats(indices) != _repeats(expected["indices"]):
        return "indices: a row names the same gallery item twice"
    problem = _close(got["cos_at_indices"], expected["cos_at_indices"], dtype)
    if problem:
        return f"indices: the items they name do not have the best cosines ({problem})"
    return None


def _dot_product(q, g, k):
    return retrieval.search(q, g, k)


def _worst_first(q, g, k):
    return (F.normalize(q, dim=-1) @ F.normalize(g, dim=-1).T).topk(k, dim=1, largest=False)


def _normalised_wrong_axis(q, g, k):
    return retrieval.search(F.normalize(q, dim=0), F.normalize(g, dim=0), k)


def _gallery_only(q, g, k):
    return retrieval.search(q, F.normalize(g, dim=-1), k)


def _queries_only(q, g, k):
    return retrieval.search(F.normalize(q, dim=-1), g, k)


def _indices_looked_up(q, g, k):
    sim = F.normalize(q, dim=-1) @ F.normalize(g, dim=-1).T
    scores = sim.topk(k, dim=1).values
    # The first gallery item with each score: a tie gives the same item twice.
    indices = (sim[:, None, :] == scores[:, :, None]).int().argmax(dim=-1)
    return scores, indices


TOP_K_MISTAKES = [
    Mistake("dot product, not cosine", "divide every row of queries and of gallery by its length first "
            "(F.normalize(x, dim=-1)); otherwise long gallery vectors win whatever their direction.", _dot_product),
    Mistake("only the gallery normalised", "normalise the queries too: their lengths scale the scores "
            "(the order happens to survive, the values do not).", _gallery_only),
    Mistake("only the queries normalised", "normalise the gallery rows too: a long gallery vector "
            "otherwise outranks a better-aimed short one.", _queries_only),
    Mistake("normalised along the wrong axis", "normalise each row (one vector per row): dim=-1, not dim=0.",
            _normalised_wrong_axis),
    Mistake("worst first", "retrieval wants the largest cosines: topk(k, dim=1) (largest=True is the default), "
            "or sort in descending order.", _worst_first),
    Mistake("indices looked up by score", "take the indices from the same topk (or argsort) call as the scores; "
            "searching the scores again finds the first of two equal scores twice.", _indices_looked_up),
]


def check_top_k(fn):
    """Check fn(queries, gallery, k) -> (scores, indices), both (Q, k), best first.

    queries (Q, D), gallery (G, D): rows of any length (not normalised); scores are cosine
    similarities in the inputs' dtype; indices are gallery rows (torch.long); ties in any order.
    """
    check("top_k", fn, _top_k_reference, _top_k_cases(), TOP_K_MISTAKES, probe=_top_k_probe,
          compare=_top_k_compare,
          hint="compare with a hand computation on two 2-D vectors: cosine = dot product of unit vectors.")


# ---------------------------------------------------------------- exercise 2: rank of the first match


def _rank_cases():
    g = _gen(40)
    owner = torch.tensor([0, 0, 1, 1, 2, 2])  # 3 images, 2 captions each
    s36 = torch.randn(3, 6, generator=g)
    # Ties between a match and non-matches: in row 0 the own caption (column 1) ties with columns
    # 2 and 4 at 0.5; in row 1 both own captions sit at 0.25, tied with column 5.
    ties = torch.tensor([[0.75, 0.5, 0.5, 0.0, 0.5, 0.25],
                         [0.75, 0.5, 0.25, 0.25, 0.0, 0.25],
                         [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])
    # float64: in row 0 a non-match beats the match by 1e-10 (a tie in float32); in row 1 every
    # score is negative, so a match "masked" with 0 would win.
    f64 = torch.tensor([[0.5 + 1e-10, 0.5, -0.2, 0.1],
                        [-0.9, -0.3, -0.5, -0.1]], dtype=torch.float64)
    labels = torch.randint(0, 4, (24,), generator=g)
    labels[:4] = torch.arange(4)                       # every class present
    labels = labels[torch.randperm(24, generator=g)]   # in no particular order
    last = torch.tensor([[0.9, 0.8, 0.7, 0.1]])        # the only match is scored lowest
    return [
        Case("image -> captions: 3 images, 6 captions (2 each)", (s36, torch.arange(3), owner)),
        Case("captions -> images: 6 captions, 3 images", (s36.T.contiguous(), owner, torch.arange(3))),
        Case("one query, its only match scored last (rank = G = 4)", (last, torch.tensor([3]), torch.arange(4))),
        Case("ties between a match and other items", (ties, torch.arange(3), owner)),
        Case("float64 with a 1e-10 near-tie, all scores negative in one row",
             (f64, torch.tensor([0, 1]), torch.tensor([1, 0, 2, 0]))),
        Case("class labels: 5 queries, 24 gallery items, shuffled ids",
             (torch.randn(5, 24, generator=g), torch.tensor([0, 1, 2, 3, 1]), labels)),
    ]


def _rank_compare(got, expected):
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype != expected.dtype:
        return f"expected dtype torch.int64 (ranks are counts), got {got.dtype}"
    return difference(got, expected)


def _zero_based(sim, qid, gid):
    return retrieval.ranks_of_first_match(sim, qid, gid) - 1


def _ties_counted_against(sim, qid, gid):
    match = qid[:, None] == gid[None, :]
    best = sim.masked_fill(~match, float("-inf")).max(dim=1, keepdim=True).values
    return (sim >= best).sum(dim=1)


def _first_in_gallery_order(sim, qid, gid):
    match = qid[:, None] == gid[None, :]
    first = match.int().argmax(dim=1, keepdim=True)  # the lowest-numbered matching item
    return 1 + (sim > sim.gather(1, first)).sum(dim=1)


def _masked_with_zero(sim, qid, gid):
    match = qid[:, None] == gid[None, :]
    best = (sim * match).max(dim=1, keepdim=True).values
    return 1 + (sim > best).sum(dim=1)


def _worst_match(sim, qid, gid):
    match = qid[:, None] == gid[None, :]
    worst = sim.masked_fill(~match, float("inf")).min(dim=1, keepdim=True).values
    return 1 + (sim > worst).sum(dim=1)


def _sort_position(sim, qid, gid):
    order = sim.sort(dim=1, descending=True, stable=True).indices  # ties: lower index first
    match = qid[:, None] == gid[order]
    return 1 + match.int().argmax(dim=1)


RANK_MISTAKES = [
    Mistake("0-based rank", "ranks start at 1: the best item has rank 1, so add 1 to the count of "
            "items scoring higher.", _zero_based),
    Mistake("ties counted against the match", "count only the items scoring strictly higher (>, not >=): "
            "an item tied with the match does not push it down.", _ties_counted_against),
    Mistake("ties broken by position", "a sorted list puts one of two equal scores first; count the items "
            "scoring strictly higher than the match instead, so ties never push it down.", _sort_position),
    Mistake("first match in gallery order", "a query may have several matches (an image has several captions): "
            "take the best-scored one, the maximum of the scores at the matching items.", _first_in_gallery_order),
    Mistake("worst-scored match", "the first match is the best-scored matching item (max), not the lowest.",
            _worst_match),
    Mistake("non-matches masked with 0", "multiplying by the match mask leaves 0 for non-matches, which beats "
            "negative scores: mask them with -inf (masked_fill) before taking the maximum.", _masked_with_zero),
]


def check_rank_of_first_match(fn):
    """Check fn(similarity, query_ids, gallery_ids) -> (Q,) torch.long ranks, 1-based.

    similarity (Q, G); query q matches gallery item j when query_ids[q] == gallery_ids[j]; rank =
    1 + the number of gallery items scoring strictly higher than the best-scored match.
    """
    check("rank_of_first_match", fn, retrieval.ranks_of_first_match, _rank_cases(), RANK_MISTAKES,
          compare=_rank_compare,
          hint="work the first case out by hand: mark the matching columns of each row, take the best of "
               "their scores, count the scores above it.")


# ---------------------------------------------------------------- exercise 3: Recall@k and median rank


def _summary_reference(ranks, ks):
    out = {f"R@{k}": v for k, v in retrieval.recall_at_k(ranks, ks).items()}
    out["median_rank"] = retrieval.median_rank(ranks)
    return out


def _summary_cases():
    g = _gen(400)
    return [
        Case("5 ranks, ks (1, 5, 10)", (torch.tensor([1, 3, 5, 12, 1]), (1, 5, 10))),
        Case("4 ranks (even count: the median lies between two)", (torch.tensor([9, 1, 4, 2]), (1, 2, 4))),
        Case("one query at rank 3, ks (1, 3)", (torch.tensor([3]), (1, 3))),
        Case("6 ranks, every one equal to some k", (torch.tensor([1, 1, 5, 5, 10, 20]), (1, 5, 10))),
        Case("50 ranks between 1 and 40, ks (1, 5, 10, 40)", (torch.randint(1, 41, (50,), generator=g), (1, 5, 10, 40))),
    ]


def _summary_compare(got, expected):
    if not isinstance(got, dict):
        return f"expected a dict like {{'R@1': ..., 'median_rank': ...}}, got {type(got).__name__}"
    if list(got) != list(expected):
        return f"expected the keys {list(expected)} in that order, got {list(got)}"
    for key, value in expected.items():
        problem = _number_problem(got[key], value, key)
        if problem:
            return problem
    return None


def _strictly_within(ranks, ks):
    out = {f"R@{k}": (ranks < k).float().mean().item() for k in ks}
    out["median_rank"] = retrieval.median_rank(ranks)
    return out


def _torch_median(ranks, ks):
    out = _summary_reference(ranks, ks)
    out["median_rank"] = float(ranks.median())
    return out


def _mean_rank(ranks, ks):
    out = _summary_reference(ranks, ks)
    out["median_rank"] = ranks.float().mean().item()
    return out


def _counts(ranks, ks):
    out = {f"R@{k}": float((ranks <= k).sum()) for k in ks}
    out["median_rank"] = retrieval.median_rank(ranks)
    return out


def _percent(ranks, ks):
    out = {key: 100 * v for key, v in _summary_reference(ranks, ks).items()}
    out["median_rank"] = retrieval.median_rank(ranks)
    return out


SUMMARY_MISTAKES = [
    Mistake("strictly within k", "a query whose match has rank exactly k is within the top k: use <=, not <.",
            _strictly_within),
    Mistake("torch.median for an even count", "torch.median returns the lower of the two middle values; the "
            "median of an even count is their mean (np.median does this).", _torch_median),
    Mistake("mean rank instead of median", "sort the ranks and take the middle one (the mean of the two "
            "middle ones for an even count), e.g. np.median: a few hopeless queries must not move it.", _mean_rank),
    Mistake("counts instead of fractions", "Recall@k is a fraction of the queries: divide the count by "
            "the number of queries (or take the mean of the boolean tensor as floats).", _counts),
    Mistake("percentages", "return fractions between 0 and 1, not percentages.", _percent),
]


def check_recall_and_median_rank(fn):
    """Check fn(ranks, ks) -> {'R@k': fraction, ... for each k in ks, 'median_rank': float}.

    ranks: (Q,) torch.long, 1-based, as rank_of_first_match returns them.
    """
    check("recall_and_median_rank", fn, _summary_reference, _summary_cases(), SUMMARY_MISTAKES,
          compare=_summary_compare, hint="for ranks [1, 3, 5, 12, 1]: R@1 = 0.4, R@5 = 0.8, median rank 3.")


# ---------------------------------------------------------------- exercise 4: precision@k


def _precision_cases():
    g = _gen(4000)
    labels = torch.tensor([2, 0, 1, 3, 0, 2, 1, 3, 0, 1, 2, 3])  # 4 classes, 3 items each
    uneven = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2])               # class 2 has fewer than k items
    many = torch.randint(0, 5, (30,), generator=g)
    many[:5] = torch.arange(5)                                    # every class present
    return [
        Case("4 class queries, 12 items, k=3", (torch.randn(4, 12, generator=g), torch.arange(4), labels, 3)),
        Case("one query, k=1", (torch.randn(1, 8, generator=g), torch.tensor([1]), uneven, 1)),
        Case("uneven classes (class 2 has 1 item), k=4", (torch.randn(3, 8, generator=g), torch.arange(3), uneven, 4)),
        Case("float64, k = G = 8", (torch.randn(3, 8, generator=g, dtype=torch.float64), torch.arange(3), uneven, 8)),
        Case("6 queries, 30 items, k=5", (torch.randn(6, 30, generator=g), torch.tensor([0, 1, 2, 3, 4, 0]), many, 5)),
        Case("paired ids (one match each), k=2", (torch.randn(5, 5, generator=g), torch.arange(5), torch.arange(5), 2)),
    ]


def _precision_compare(got, expected):
    return _number_problem(got, expected, "precision@k")


def _hit_rate(sim, qid, gid, k):
    top = sim.topk(k, dim=1).indices
    return (gid[top] == qid[:, None]).any(dim=1).float().mean().item()


def _divided_by_matches(sim, qid, gid, k):
    top = sim.topk(k, dim=1).indices
    hits = (gid[top] == qid[:, None]).sum(dim=1).float()
    return (hits / (gid[None, :] == qid[:, None]).sum(dim=1)).mean().item()


def _lowest_scores(sim, qid, gid, k):
    top = sim.topk(k, dim=1, largest=False).indices
    return (gid[top] == qid[:, None]).float().mean().item()


def _positions_not_ids(sim, qid, gid, k):
    top = sim.topk(k, dim=1).indices
    return (top == qid[:, None]).float().mean().item()


PRECISION_MISTAKES = [
    Mistake("hit rate instead of precision", "count every matching item among the top k and divide by k; "
            "'is there at least one match' is Recall@k's question.", _hit_rate),
    Mistake("divided by the number of matches", "precision divides by k (the results shown); dividing by "
            "the query's number of matches gives recall.", _divided_by_matches),
    Mistake("lowest scores", "the top k are the k largest similarities: topk(k, dim=1).", _lowest_scores),
    Mistake("positions compared with ids", "topk gives gallery positions; look up their ids "
            "(gallery_ids[indices]) and compare those with the query's id.", _positions_not_ids),
]


def check_precision_at_k(fn):
    """Check fn(similarity, query_ids, gallery_ids, k) -> float: the mean over queries of the
    fraction of the k best-scored gallery items whose id equals the query's id."""
    check("precision_at_k", fn, retrieval.precision_at_k, _precision_cases(), PRECISION_MISTAKES,
          compare=_precision_compare,
          hint="for one query whose top 4 hold 3 matches, precision@4 = 0.75.")
