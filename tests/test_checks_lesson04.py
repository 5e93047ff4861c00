"""The lesson 04 checks accept right answers (the library's and a learner's own way of writing them)
and reject wrong ones: every named mistake by its name, and further plausible wrong answers."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils import retrieval
from utils.checks import lesson04 as L


def accepted(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out
    assert out.startswith("✔"), out


def rejected(check, fn, name=None):
    with pytest.raises(AssertionError) as info:
        check(fn)
    if name:
        assert name in str(info.value), str(info.value)
    return str(info.value)


def not_written(*args):
    raise NotImplementedError("Your turn: write the body of f")


# ---------------------------------------------------------------- top_k


def top_k_by_argsort(queries, gallery, k):
    """A learner's version: cosines by hand, full descending sort, first k."""
    sim = (queries @ gallery.T) / (queries.norm(dim=1, keepdim=True) * gallery.norm(dim=1)[None, :])
    order = sim.argsort(dim=1, descending=True)[:, :k]
    return sim.gather(1, order), order


def top_k_ties_reversed(queries, gallery, k):
    """Right, but breaks ties the other way round (searches the gallery back to front)."""
    scores, idx = retrieval.search(F.normalize(queries, dim=-1), F.normalize(gallery, dim=-1).flip(0), k)
    return scores, len(gallery) - 1 - idx


def top_k_int32(q, g, k):
    s, i = L._top_k_reference(q, g, k)
    return s, i.int()


def top_k_float32(q, g, k):
    s, i = L._top_k_reference(q.float(), g.float(), k)
    return s.to(q.dtype), i


def top_k_in_place(q, g, k):
    q /= q.norm(dim=1, keepdim=True)
    g /= g.norm(dim=1, keepdim=True)
    return retrieval.search(q, g, k)


def top_k_lists(q, g, k):
    s, i = L._top_k_reference(q, g, k)
    return s.tolist(), i.tolist()


def top_k_one_short(q, g, k):
    s, i = L._top_k_reference(q, g, k)
    return s[:, :-1], i[:, :-1]


def top_k_swapped(q, g, k):
    s, i = L._top_k_reference(q, g, k)
    return i, s


def top_k_indices_only(q, g, k):
    return L._top_k_reference(q, g, k)[1]


def top_k_wrong_dim(q, g, k):
    return (F.normalize(q, dim=-1) @ F.normalize(g, dim=-1).T).topk(min(k, len(q)), dim=0)


def top_k_squared_norm(q, g, k):
    sim = (q @ g.T) / (q.pow(2).sum(1, keepdim=True) * g.pow(2).sum(1)[None, :])
    return sim.topk(k, dim=1)


def test_top_k_accepts_right_answers(capsys):
    for fn in (L._top_k_reference, top_k_by_argsort, top_k_ties_reversed):
        accepted(L.check_top_k, fn, capsys)


@pytest.mark.parametrize("mistake", L.TOP_K_MISTAKES, ids=lambda m: m.name)
def test_top_k_names_its_mistakes(mistake):
    rejected(L.check_top_k, mistake.fn, mistake.name)


@pytest.mark.parametrize("fn", [top_k_int32, top_k_float32, top_k_in_place, top_k_lists, top_k_one_short,
                                top_k_swapped, top_k_indices_only, top_k_wrong_dim, top_k_squared_norm])
def test_top_k_rejects_other_wrong_answers(fn):
    rejected(L.check_top_k, fn)


def test_top_k_messages_say_what_is_wrong():
    assert "int64" in rejected(L.check_top_k, top_k_int32)
    assert "float64" in rejected(L.check_top_k, lambda q, g, k: L._top_k_reference(q.float(), g.float(), k))
    assert "in place" in rejected(L.check_top_k, top_k_in_place)
    assert "pair (scores, indices)" in rejected(L.check_top_k, top_k_indices_only)


# ---------------------------------------------------------------- rank_of_first_match


def ranks_by_loop(similarity, query_ids, gallery_ids):
    """A learner's version: one query at a time."""
    ranks = []
    for row, qid in zip(similarity, query_ids):
        best = row[gallery_ids == qid].max()
        ranks.append(1 + (row > best).sum())
    return torch.stack(ranks)


def ranks_float32(sim, qid, gid):
    return retrieval.ranks_of_first_match(sim.float(), qid, gid)


def ranks_in_place(sim, qid, gid):
    match = qid[:, None] == gid[None, :]
    best = sim.clone().masked_fill_(~match, float("-inf")).max(dim=1, keepdim=True).values
    sim.sub_(best)  # changes the caller's matrix
    return 1 + (sim > 0).sum(dim=1)


def ranks_list(sim, qid, gid):
    return retrieval.ranks_of_first_match(sim, qid, gid).tolist()


def ranks_as_floats(sim, qid, gid):
    return retrieval.ranks_of_first_match(sim, qid, gid).float()


def ranks_wrong_dim(sim, qid, gid):
    match = qid[:, None] == gid[None, :]
    best = sim.masked_fill(~match, float("-inf")).max(dim=1, keepdim=True).values
    return 1 + (sim > best).sum(dim=0)[: len(sim)]


def ranks_diagonal(sim, qid, gid):
    # assumes query i matches gallery item i
    n = min(sim.shape)
    best = sim[torch.arange(len(sim)), torch.arange(len(sim)) % n][:, None]
    return 1 + (sim > best).sum(dim=1)


def test_rank_accepts_right_answers(capsys):
    for fn in (retrieval.ranks_of_first_match, ranks_by_loop):
        accepted(L.check_rank_of_first_match, fn, capsys)


@pytest.mark.parametrize("mistake", L.RANK_MISTAKES, ids=lambda m: m.name)
def test_rank_names_its_mistakes(mistake):
    rejected(L.check_rank_of_first_match, mistake.fn, mistake.name)


@pytest.mark.parametrize("fn", [ranks_float32, ranks_in_place, ranks_list, ranks_as_floats, ranks_wrong_dim,
                                ranks_diagonal])
def test_rank_rejects_other_wrong_answers(fn):
    rejected(L.check_rank_of_first_match, fn)


# ---------------------------------------------------------------- recall_and_median_rank


def summary_numpy(ranks, ks):
    """A learner's version with numpy and Python floats."""
    r = ranks.numpy()
    out = {f"R@{k}": float(np.mean(r <= k)) for k in ks}
    out["median_rank"] = float(np.median(r))
    return out


def summary_tensors(ranks, ks):
    out = {f"R@{k}": (ranks <= k).float().mean() for k in ks}
    out["median_rank"] = torch.tensor(retrieval.median_rank(ranks))
    return out


def summary_int_keys(ranks, ks):
    out = dict(retrieval.recall_at_k(ranks, ks))
    out["median_rank"] = retrieval.median_rank(ranks)
    return out


def summary_no_median(ranks, ks):
    return {f"R@{k}": v for k, v in retrieval.recall_at_k(ranks, ks).items()}


def summary_in_place(ranks, ks):
    ranks.copy_(ranks.sort().values)
    return L._summary_reference(ranks, ks)


def summary_off_by_one(ranks, ks):
    return L._summary_reference(ranks - 1, ks)


def summary_upper_median(ranks, ks):
    out = L._summary_reference(ranks, ks)
    out["median_rank"] = float(ranks.sort().values[len(ranks) // 2])
    return out


def test_summary_accepts_right_answers(capsys):
    for fn in (L._summary_reference, summary_numpy):
        accepted(L.check_recall_and_median_rank, fn, capsys)


@pytest.mark.parametrize("mistake", L.SUMMARY_MISTAKES, ids=lambda m: m.name)
def test_summary_names_its_mistakes(mistake):
    rejected(L.check_recall_and_median_rank, mistake.fn, mistake.name)


@pytest.mark.parametrize("fn", [summary_tensors, summary_int_keys, summary_no_median, summary_in_place,
                                summary_off_by_one, summary_upper_median])
def test_summary_rejects_other_wrong_answers(fn):
    rejected(L.check_recall_and_median_rank, fn)


# ---------------------------------------------------------------- precision_at_k


def precision_by_loop(similarity, query_ids, gallery_ids, k):
    """A learner's version: one query at a time, in Python."""
    fractions = []
    for row, qid in zip(similarity, query_ids):
        top = row.argsort(descending=True)[:k]
        fractions.append(sum(int(gallery_ids[j] == qid) for j in top) / k)
    return sum(fractions) / len(fractions)


def precision_tensor(sim, qid, gid, k):
    top = sim.topk(k, dim=1).indices
    return (gid[top] == qid[:, None]).float().mean()


def precision_k_plus_one(sim, qid, gid, k):
    return retrieval.precision_at_k(sim, qid, gid, min(k + 1, sim.shape[1]))


def precision_in_place(sim, qid, gid, k):
    sim -= sim.max(dim=1, keepdim=True).values  # "harmless" shift, but in place
    return retrieval.precision_at_k(sim, qid, gid, k)


def precision_wrong_dim(sim, qid, gid, k):
    top = sim.topk(min(k, len(sim)), dim=0).indices  # best queries per gallery item
    return (qid[top] == gid[None, :]).float().mean().item()


def precision_first_query_only(sim, qid, gid, k):
    return retrieval.precision_at_k(sim[:1], qid[:1], gid, k)


def test_precision_accepts_right_answers(capsys):
    for fn in (retrieval.precision_at_k, precision_by_loop):
        accepted(L.check_precision_at_k, fn, capsys)


@pytest.mark.parametrize("mistake", L.PRECISION_MISTAKES, ids=lambda m: m.name)
def test_precision_names_its_mistakes(mistake):
    rejected(L.check_precision_at_k, mistake.fn, mistake.name)


@pytest.mark.parametrize("fn", [precision_tensor, precision_k_plus_one, precision_in_place, precision_wrong_dim,
                                precision_first_query_only])
def test_precision_rejects_other_wrong_answers(fn):
    rejected(L.check_precision_at_k, fn)


# ---------------------------------------------------------------- all checks


@pytest.mark.parametrize("check", [L.check_top_k, L.check_rank_of_first_match, L.check_recall_and_median_rank,
                                   L.check_precision_at_k])
def test_not_written_yet_passes_through(check):
    with pytest.raises(NotImplementedError):
        check(not_written)


def test_every_check_names_at_least_two_mistakes():
    for mistakes in (L.TOP_K_MISTAKES, L.RANK_MISTAKES, L.SUMMARY_MISTAKES, L.PRECISION_MISTAKES):
        assert len({m.name for m in mistakes}) == len(mistakes) >= 2
