"""Text <-> image retrieval with CLIP embeddings: embed, search, score, and index at scale.

- embed_images / embed_texts: batched, L2-normalised, with a progress bar and an optional
  on-disk cache (the key names the model's weights and the data, so a retrained model or a
  different dataset never reuses stale vectors).
- search: exact top-k by one matrix product (cosine similarity of unit vectors).
- ranks_of_first_match, recall_at_k, median_rank, precision_at_k: retrieval metrics where a
  query and a gallery item "match" when their ids are equal (the image index for paired
  captions, the class index for attribute matches).
- FaissIndex: an approximate (HNSW or IVF) or exact (flat) faiss index over unit vectors.
"""
import hashlib
import re

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import settings

# ---------------------------------------------------------------- embedding


def model_fingerprint(model):
    """A short hash of a model's weights (names, shapes and two sums per tensor).

    Cheap enough for ViT-B/32 and changes whenever the model is retrained, so cached
    embeddings of an old checkpoint are never reused.
    """
    h = hashlib.sha1(type(model).__name__.encode())
    with torch.no_grad():
        for name, t in model.state_dict().items():
            t = t.detach().float()
            h.update(f"{name}{tuple(t.shape)}{t.sum().item():.6e}{t.abs().sum().item():.6e}".encode())
    return h.hexdigest()[:16]


def cache_path(kind, model, data_key, extra=""):
    """Where the embeddings of (model, data) live: cache_dir('embeddings')/<kind>-<hash>.pt."""
    if not isinstance(data_key, str) or not data_key:
        raise ValueError("cache_key must be a non-empty string naming the data exactly (source, split, seed, n).")
    key = hashlib.sha1(f"{kind}|{model_fingerprint(model)}|{data_key}|{extra}".encode()).hexdigest()[:20]
    return settings.cache_dir("embeddings") / f"{kind}-{key}.pt"


def transform_key(preprocess):
    """repr(preprocess) without memory addresses ('<function f at 0x7f...>' -> '<function f>').

    The address changes with every process, so keying on the raw repr made the cache miss after
    every kernel restart: the same model and data wrote a second set of files.
    """
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(preprocess))


def _cached(kind, model, cache_key, extra, compute):
    if cache_key is None:
        return compute()
    path = cache_path(kind, model, cache_key, extra)
    if path.exists():
        return torch.load(path, map_location="cpu")
    out = compute()
    settings.save_atomic(out, path)
    return out


def _image_batches(images, preprocess, batch_size):
    """Yield (B, 3, H, W) tensors from a tensor, a list of PIL images or a dataset of (image, ...)."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise ValueError(f"images tensor has shape {tuple(images.shape)}; pass (N, 3, H, W) already preprocessed.")
        for i in range(0, len(images), batch_size):
            yield images[i:i + batch_size]
        return
    for i in range(0, len(images), batch_size):
        batch = [images[j] for j in range(i, min(i + batch_size, len(images)))]
        # Datasets give (image, caption, label) tuples: the image is the first element.
        batch = [b[0] if isinstance(b, (tuple, list)) else b for b in batch]
        if not isinstance(batch[0], torch.Tensor):
            if preprocess is None:
                raise ValueError("images are not tensors; pass preprocess= (CLIP's transform) to turn them into tensors.")
            batch = [preprocess(b) for b in batch]
        yield torch.stack(batch)


@torch.no_grad()
def embed_images(model, images, preprocess=None, batch_size=128, cache_key=None, progress=True):
    """L2-normalised image embeddings (N, D) on the CPU.

    images: a (N, 3, H, W) tensor already preprocessed, a list of PIL images, or a dataset whose
    items are images or (image, ...) tuples. preprocess: CLIP's transform for PIL images.
    cache_key: a string naming the data exactly (e.g. 'shapes-all-seed3-n600'); with it the
    result is stored in cache_dir('embeddings') and reused for the same model weights.
    """
    if len(images) == 0:
        raise ValueError("images is empty; pass at least one image.")

    def compute():
        model.eval()
        device = settings.model_device(model)
        out = []
        batches = _image_batches(images, preprocess, batch_size)
        total = -(-len(images) // batch_size)
        for x in tqdm(batches, total=total, desc="images", disable=not progress):
            out.append(F.normalize(model.encode_image(x.to(device)).float(), dim=-1).cpu())
        return torch.cat(out)

    return _cached("images", model, cache_key, transform_key(preprocess), compute)


def default_tokenize(texts, model):
    """clip.tokenize with the model's own context length (the tiny CLIP uses 16, ViT-B/32 77)."""
    import clip

    return clip.tokenize(texts, context_length=model.context_length, truncate=True)


@torch.no_grad()
def embed_texts(model, texts, tokenize=None, batch_size=256, cache_key=None, progress=True):
    """L2-normalised text embeddings (N, D) on the CPU; tokenize(texts, model) defaults to clip's."""
    if isinstance(texts, str):
        raise ValueError("texts is one string; pass a list of strings.")
    if len(texts) == 0:
        raise ValueError("texts is empty; pass at least one string.")
    tokenize = tokenize or default_tokenize
    texts = list(texts)

    def compute():
        model.eval()
        device = settings.model_device(model)
        out = []
        starts = range(0, len(texts), batch_size)
        for i in tqdm(starts, desc="texts", disable=not progress or len(starts) < 2):
            tokens = tokenize(texts[i:i + batch_size], model).to(device)
            out.append(F.normalize(model.encode_text(tokens).float(), dim=-1).cpu())
        return torch.cat(out)

    # The texts themselves go into the key too, so a changed prompt list never reuses old vectors.
    return _cached("texts", model, cache_key, hashlib.sha1("\n".join(texts).encode()).hexdigest(), compute)


# ---------------------------------------------------------------- exact search


def _as_tensor(x, name):
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor or numpy array, not {type(x).__name__}.")
    return x


def check_search(queries, gallery, k):
    queries, gallery = _as_tensor(queries, "queries"), _as_tensor(gallery, "gallery")
    if queries.ndim == 1:
        queries = queries[None]
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"queries {tuple(queries.shape)} and gallery {tuple(gallery.shape)} must be (Q, D) and (N, D) with the same D.")
    if not 1 <= k <= len(gallery):
        raise ValueError(f"k={k} must be between 1 and the gallery size {len(gallery)}.")
    return queries, gallery


def search(queries, gallery, k=10):
    """Exact top-k: (scores, indices), both (Q, k), by one (Q, D) @ (D, N) product.

    Rows are unit vectors, so the product is the cosine similarity.
    """
    queries, gallery = check_search(queries, gallery, k)
    scores = queries.to(gallery.dtype) @ gallery.T  # (Q, N)
    return scores.topk(k, dim=1)


# ---------------------------------------------------------------- metrics


def check_ids(similarity, query_ids, gallery_ids):
    similarity = _as_tensor(similarity, "similarity")
    query_ids = torch.as_tensor(query_ids)
    gallery_ids = torch.as_tensor(gallery_ids)
    if similarity.ndim != 2 or similarity.shape != (len(query_ids), len(gallery_ids)):
        raise ValueError(f"similarity {tuple(similarity.shape)} must be (Q, N) = ({len(query_ids)}, {len(gallery_ids)}), one row per query id and one column per gallery id.")
    match = query_ids[:, None] == gallery_ids[None, :]  # (Q, N)
    if not match.any(dim=1).all():
        raise ValueError("some queries have no matching gallery item; every query id must appear among the gallery ids.")
    return similarity, match


def ranks_of_first_match(similarity, query_ids, gallery_ids):
    """1-based rank of the best-scored matching gallery item, per query: (Q,) long.

    A query matches every gallery item with the same id (an image and its 5 captions share the
    image's index). Rank = 1 + how many gallery items score strictly higher than that match.
    """
    similarity, match = check_ids(similarity, query_ids, gallery_ids)
    best_match = similarity.masked_fill(~match, float("-inf")).max(dim=1, keepdim=True).values  # (Q, 1)
    return 1 + (similarity > best_match).sum(dim=1)


def recall_at_k(ranks, ks=(1, 5, 10)):
    """{k: fraction of queries whose first match is within the top k}."""
    ranks = torch.as_tensor(ranks)
    return {k: (ranks <= k).float().mean().item() for k in ks}


def median_rank(ranks):
    # torch.median returns the lower middle value for even counts; numpy's averages them.
    return float(np.median(torch.as_tensor(ranks).numpy()))


def retrieval_metrics(similarity, query_ids, gallery_ids, ks=(1, 5, 10)):
    """Recall@k for each k and the median rank, as one dict ({'R@1': ..., 'median_rank': ...})."""
    ranks = ranks_of_first_match(similarity, query_ids, gallery_ids)
    out = {f"R@{k}": v for k, v in recall_at_k(ranks, ks).items()}
    out["median_rank"] = median_rank(ranks)
    return out


def precision_at_k(similarity, query_ids, gallery_ids, k=10):
    """Mean over queries of the fraction of the top k gallery items whose id matches the query's."""
    similarity, match = check_ids(similarity, query_ids, gallery_ids)
    if not 1 <= k <= similarity.shape[1]:
        raise ValueError(f"k={k} must be between 1 and the gallery size {similarity.shape[1]}.")
    top = similarity.topk(k, dim=1).indices  # (Q, k)
    return match.gather(1, top).float().mean().item()


# ---------------------------------------------------------------- faiss


class FaissIndex:
    """A faiss index over unit vectors, scored by inner product (= cosine similarity).

    kind='hnsw': a graph index (no training; M links per node, ef_search = breadth of the search).
    kind='ivf':  k-means into nlist cells, searches the nprobe nearest cells (needs training data).
    kind='flat': exact search, for reference.
    """

    KINDS = ("hnsw", "ivf", "flat")

    def __init__(self, dim, kind="hnsw", M=32, ef_construction=80, ef_search=64, nlist=1024, nprobe=16):
        import faiss

        if kind not in self.KINDS:
            raise ValueError(f"Unknown index kind {kind!r}; choose one of {', '.join(self.KINDS)}.")
        if dim < 1:
            raise ValueError(f"dim={dim} must be at least 1.")
        self.dim, self.kind = dim, kind
        self.nlist, self.nprobe = nlist, nprobe
        if kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = ef_construction
            self.index.hnsw.efSearch = ef_search
        elif kind == "ivf":
            self.quantizer = faiss.IndexFlatIP(dim)  # kept on self: the IVF index borrows it
            self.index = faiss.IndexIVFFlat(self.quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            self.index.nprobe = nprobe
        else:
            self.index = faiss.IndexFlatIP(dim)

    def _check(self, x, name):
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{name} has shape {x.shape}; the index expects (N, {self.dim}).")
        return np.ascontiguousarray(x, dtype=np.float32)  # faiss wants contiguous float32

    def build(self, vectors):
        """Add (N, D) unit vectors (training the IVF cells on them first). Returns self."""
        x = self._check(vectors, "vectors")
        if self.kind == "ivf" and not self.index.is_trained:
            if len(x) < self.nlist:
                raise ValueError(f"IVF needs at least nlist={self.nlist} vectors to train; got {len(x)}.")
            self.index.train(x)
        self.index.add(x)
        return self

    def __len__(self):
        return self.index.ntotal

    def search(self, queries, k=10):
        """(scores, indices) as numpy arrays of shape (Q, k)."""
        q = self._check(queries, "queries")
        if not 1 <= k <= len(self):
            raise ValueError(f"k={k} must be between 1 and the index size {len(self)}.")
        return self.index.search(q, k)


def build_index(vectors, kind="hnsw", **params):
    """FaissIndex(dim, kind, **params).build(vectors)."""
    vectors = _as_tensor(vectors, "vectors") if not isinstance(vectors, np.ndarray) else vectors
    if vectors.ndim != 2:
        raise ValueError(f"vectors has shape {tuple(vectors.shape)}; pass (N, D).")
    return FaissIndex(vectors.shape[1], kind, **params).build(vectors)


def recall_vs_exact(approx_indices, exact_indices):
    """Recall@k of an approximate search: mean fraction of the exact top-k it also returned."""
    a, e = np.asarray(approx_indices), np.asarray(exact_indices)
    if a.shape != e.shape or a.ndim != 2:
        raise ValueError(f"approx {a.shape} and exact {e.shape} indices must both be (Q, k).")
    return float(np.mean([len(set(x) & set(y)) / e.shape[1] for x, y in zip(a, e)]))
