"""Unit tests of utils/retrieval.py with a tiny random CLIP and synthetic unit vectors."""
import clip
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from utils import retrieval


def tiny_clip(seed=0):
    torch.manual_seed(seed)
    return clip.model.CLIP(embed_dim=32, image_resolution=32, vision_layers=1, vision_width=64,
                           vision_patch_size=8, context_length=16, vocab_size=49408,
                           transformer_width=32, transformer_heads=1, transformer_layers=1).float().eval()


def unit(n, d, seed=0):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def to_tensor(im):
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)


def test_embed_images_batches_agree_and_are_unit(tmp_path, monkeypatch):
    model = tiny_clip()
    x = torch.rand(10, 3, 32, 32)
    a = retrieval.embed_images(model, x, batch_size=3, progress=False)
    b = retrieval.embed_images(model, x, batch_size=10, progress=False)
    assert a.shape == (10, 32)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(10))
    with torch.no_grad():
        torch.testing.assert_close(a, F.normalize(model.encode_image(x), dim=-1), atol=1e-5, rtol=1e-5)


def test_embed_images_from_pil_and_dataset_tuples():
    model = tiny_clip()
    ims = [Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)) for i in range(4)]
    from_pil = retrieval.embed_images(model, ims, preprocess=to_tensor, progress=False)
    from_tuples = retrieval.embed_images(model, [(im, "caption", 0) for im in ims], preprocess=to_tensor, progress=False)
    torch.testing.assert_close(from_pil, from_tuples)
    with pytest.raises(ValueError, match="preprocess"):
        retrieval.embed_images(model, ims, progress=False)
    with pytest.raises(ValueError):
        retrieval.embed_images(model, torch.rand(3, 32, 32), progress=False)


def test_embedding_cache_reuses_and_keys_on_model_and_data(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    model = tiny_clip()
    x = torch.rand(4, 3, 32, 32)
    first = retrieval.embed_images(model, x, cache_key="rand-4", progress=False)
    files = list((tmp_path / "embeddings").glob("images-*.pt"))
    assert len(files) == 1 and not list((tmp_path / "embeddings").glob("*.tmp"))
    # Same key, same model: the cached tensor comes back even for different pixels (the key names the data).
    again = retrieval.embed_images(model, torch.zeros(4, 3, 32, 32), cache_key="rand-4", progress=False)
    torch.testing.assert_close(again, first)
    # A different model (other weights) must not reuse the file.
    other = retrieval.embed_images(tiny_clip(seed=1), x, cache_key="rand-4", progress=False)
    assert not torch.allclose(other, first)
    assert len(list((tmp_path / "embeddings").glob("images-*.pt"))) == 2
    # Texts: a changed list gets a new file even under the same key.
    retrieval.embed_texts(model, ["a red star"], cache_key="t", progress=False)
    retrieval.embed_texts(model, ["a blue star"], cache_key="t", progress=False)
    assert len(list((tmp_path / "embeddings").glob("texts-*.pt"))) == 2
    with pytest.raises(ValueError):
        retrieval.embed_images(model, x, cache_key="", progress=False)


def test_embed_texts_matches_encode_text():
    model = tiny_clip()
    texts = ["a red circle", "a blue star", "a green square"]
    got = retrieval.embed_texts(model, texts, batch_size=2, progress=False)
    with torch.no_grad():
        want = F.normalize(model.encode_text(clip.tokenize(texts, context_length=16)), dim=-1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        retrieval.embed_texts(model, "a red circle")


def test_search_is_exact_top_k():
    g, q = unit(50, 8), unit(5, 8, seed=1)
    scores, idx = retrieval.search(q, g, k=3)
    full = q @ g.T
    assert idx.tolist() == full.argsort(dim=1, descending=True)[:, :3].tolist()
    torch.testing.assert_close(scores, full.gather(1, idx))
    # a gallery item retrieves itself first
    assert retrieval.search(g[7], g, k=1)[1].item() == 7
    with pytest.raises(ValueError, match="k=51"):
        retrieval.search(q, g, k=51)
    with pytest.raises(ValueError):
        retrieval.search(unit(5, 7), g, k=3)


def test_ranks_with_several_captions_per_image():
    # 2 images, 4 captions: captions 0,1 belong to image 0; captions 2,3 to image 1.
    sim = torch.tensor([[0.1, 0.9, 0.5, 0.2],   # image 0: its caption 1 is best -> rank 1
                        [0.8, 0.3, 0.1, 0.6]])  # image 1: best own caption (0.6) beaten by 0.8 -> rank 2
    caption_owner = torch.tensor([0, 0, 1, 1])
    ranks = retrieval.ranks_of_first_match(sim, torch.arange(2), caption_owner)
    assert ranks.tolist() == [1, 2]
    # text -> image: transpose, each caption's query id is its owner image
    t2i = retrieval.ranks_of_first_match(sim.T, caption_owner, torch.arange(2))
    assert t2i.tolist() == [2, 1, 2, 1]  # caption 0: 0.8 for image 1 beats 0.1; caption 2: 0.5 beats 0.1
    assert retrieval.recall_at_k(t2i, ks=(1, 2)) == {1: 0.5, 2: 1.0}
    assert retrieval.median_rank(t2i) == 1.5
    m = retrieval.retrieval_metrics(sim.T, caption_owner, torch.arange(2), ks=(1,))
    assert m == {"R@1": 0.5, "median_rank": 1.5}
    with pytest.raises(ValueError):
        retrieval.ranks_of_first_match(sim, torch.arange(3), caption_owner)
    with pytest.raises(ValueError, match="no matching"):
        retrieval.ranks_of_first_match(sim, torch.tensor([0, 5]), caption_owner)


def test_perfect_and_random_retrieval():
    x = unit(100, 16)
    ids = torch.arange(100)
    assert retrieval.retrieval_metrics(x @ x.T, ids, ids)["R@1"] == 1.0
    rand = retrieval.retrieval_metrics(x @ unit(100, 16, seed=2).T, ids, ids)
    assert rand["R@1"] < 0.1 and rand["median_rank"] > 20


def test_precision_at_k():
    sim = torch.tensor([[0.9, 0.8, 0.1, 0.7], [0.1, 0.95, 0.9, 0.3]])
    gallery_class = torch.tensor([0, 0, 1, 1])
    # query 0 (class 0): top-2 = items 0, 1, both class 0; query 1 (class 1): items 1, 2, one match
    assert retrieval.precision_at_k(sim, [0, 1], gallery_class, k=2) == pytest.approx(0.75)
    assert retrieval.precision_at_k(sim, [0, 1], gallery_class, k=3) == pytest.approx((2 / 3 + 2 / 3) / 2)
    with pytest.raises(ValueError):
        retrieval.precision_at_k(sim, [0, 1], gallery_class, k=5)


@pytest.mark.parametrize("kind, params", [("flat", {}), ("hnsw", {"ef_search": 64}), ("ivf", {"nlist": 16, "nprobe": 8})])
def test_faiss_index_agrees_with_exact_search(kind, params):
    g = unit(2000, 16)
    q = unit(20, 16, seed=3)
    index = retrieval.build_index(g, kind=kind, **params)
    assert len(index) == 2000
    scores, idx = index.search(q, k=10)
    exact_scores, exact_idx = retrieval.search(q, g, k=10)
    recall = retrieval.recall_vs_exact(idx, exact_idx.numpy())
    assert recall == 1.0 if kind == "flat" else recall > 0.9
    if kind == "flat":
        np.testing.assert_allclose(scores, exact_scores.numpy(), atol=1e-5)


def test_faiss_index_bad_input():
    with pytest.raises(ValueError, match="kind"):
        retrieval.FaissIndex(8, kind="lsh")
    index = retrieval.build_index(unit(20, 8), kind="flat")
    with pytest.raises(ValueError, match="k=21"):
        index.search(unit(1, 8), k=21)
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        index.search(unit(1, 9), k=1)
    with pytest.raises(ValueError, match="nlist"):
        retrieval.build_index(unit(20, 8), kind="ivf", nlist=64)


def test_recall_vs_exact():
    assert retrieval.recall_vs_exact([[1, 2], [3, 4]], [[2, 1], [3, 5]]) == 0.75
    with pytest.raises(ValueError):
        retrieval.recall_vs_exact([[1, 2]], [[1, 2, 3]])


def test_embedding_cache_key_survives_a_restart_and_a_reload(tmp_path):
    """A model trained in one process and the same weights loaded from disk in another share one key.

    Two fresh interpreters stand for "before" and "after a kernel restart": the first saves a model and
    keys it with CLIP's transform, the second loads the file with the course's load_clip (which keeps the
    saved fp32 weights on a CPU; clip.load alone rounds them to fp16) and keys it the same way.
    """
    import subprocess
    import sys

    weights = tmp_path / "clip.pt"
    key = ("from utils import retrieval; "
           "print(retrieval.cache_path('images', model, 'shapes-n8', retrieval.transform_key(preprocess)).name)")
    trained = ("import utils, torch, clip; from tests.small_models import small_clip; model = small_clip(); "
               f"torch.save(model.state_dict(), {str(weights)!r}); preprocess = clip.clip._transform(32); ")
    reloaded = f"from utils.models import load_clip; model, preprocess = load_clip({str(weights)!r}, device='cpu'); "
    env = {**__import__("os").environ, "COURSE_CACHE": str(tmp_path), "OMP_NUM_THREADS": "1"}
    names = [subprocess.run([sys.executable, "-c", code + key], capture_output=True, text=True, check=True,
                            env=env, cwd=__import__("pathlib").Path(__file__).parents[1]).stdout.split()[-1]
             for code in (trained, reloaded)]
    assert names[0] == names[1], f"trained and reloaded weights got different cache files: {names}"
    assert retrieval.transform_key(clip.clip._transform(32)) == retrieval.transform_key(clip.clip._transform(32))
    assert " at 0x" not in retrieval.transform_key(clip.clip._transform(32))
