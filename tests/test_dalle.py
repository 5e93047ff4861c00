"""The mini-DALL·E's parts on small random models: no trained checkpoint is needed."""
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from utils import dalle, shapes, transformer

from small_models import small_clip, small_vqgan  # noqa: E402  (tests/ is on sys.path)


def small_dalle(n_codes=32, grid=8, seed=0):
    torch.manual_seed(seed)
    return dalle.MiniDalle(n_codes=n_codes, grid=grid, d_model=32, n_layers=2, n_heads=2).eval()


# ---------------------------------------------------------------- transformer


def test_causal_mask_is_lower_triangular():
    m = transformer.causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    assert m[2, :3].all() and not m[2, 3:].any()  # row 2 sees 0, 1, 2 and nothing later
    assert torch.equal(m, torch.ones(4, 4).tril().bool())


def test_changing_a_later_token_leaves_earlier_logits_unchanged():
    torch.manual_seed(0)
    gpt = transformer.GPT(vocab_size=20, block_size=12, d_model=32, n_layers=2, n_heads=4).eval()
    a = torch.randint(20, (2, 12))
    b = a.clone()
    b[:, 7] = (a[:, 7] + 1) % 20  # change token 7 only
    la, lb = gpt(a), gpt(b)
    torch.testing.assert_close(la[:, :7], lb[:, :7])  # the past cannot see it
    assert (la[:, 7:] - lb[:, 7:]).abs().amax() > 1e-4  # from position 7 on it matters


def test_attention_matches_pytorch_fused_attention():
    torch.manual_seed(0)
    attn = transformer.CausalSelfAttention(32, 4).eval()
    x = torch.randn(3, 9, 32)
    torch.testing.assert_close(attn(x), transformer.reference_attention(attn, x), rtol=1e-5, atol=1e-5)


def test_bad_heads_and_too_long_sequence():
    with pytest.raises(ValueError, match="divisible"):
        transformer.CausalSelfAttention(30, 4)
    gpt = transformer.GPT(10, block_size=5, d_model=16, n_layers=1, n_heads=2)
    with pytest.raises(ValueError, match="block_size"):
        gpt(torch.zeros(1, 6, dtype=torch.long))


# ---------------------------------------------------------------- text tokens


def test_tokenizer_round_trip_on_shapes_captions():
    for i in range(300):
        _, caption, _ = shapes.sample(7, i, "all", size=8)
        ids = dalle.encode_text(caption)
        assert len(ids) == dalle.TEXT_LEN and ids[0] == dalle.BOS_ID
        assert dalle.decode_text(ids) == caption
    tokens = dalle.text_tokens(["a red star", "A photo of a Blue circle."])
    assert tokens.shape == (2, dalle.TEXT_LEN) and tokens.dtype == torch.long
    assert dalle.decode_text(tokens[1]) == "a photo of a blue circle"


def test_unknown_words_are_one_clear_error():
    with pytest.raises(ValueError, match=r"Unknown word\(s\) 'pink', 'hexagon'") as err:
        dalle.encode_text("a pink hexagon")
    assert "circle" in str(err.value) and str(err.value).count(".") <= 2  # lists the vocabulary
    with pytest.raises(ValueError, match="non-empty"):
        dalle.encode_text("  ")
    with pytest.raises(ValueError, match="at most"):
        dalle.encode_text("a red star " * 4)


# ---------------------------------------------------------------- model and loss


def test_loss_split_adds_up():
    model = small_dalle()
    text = dalle.text_tokens(["a red star", "a small blue circle on the left"])
    codes = torch.randint(32, (2, 8, 8))
    out = model.losses(text, codes)
    torch.testing.assert_close(out["loss"], out["text"] / 8 + 7 * out["image"] / 8)
    half = model.losses(text, codes, text_weight=0.5)
    torch.testing.assert_close(half["loss"], (half["text"] + half["image"]) / 2)
    # The text part is the cross-entropy over real words only (padding left out), by hand:
    text_logits, image_logits = model(text, codes)
    keep = text[:, 1:] != dalle.PAD_ID
    manual = F.cross_entropy(text_logits[keep], text[:, 1:][keep])
    torch.testing.assert_close(out["text"], manual)
    assert image_logits.shape == (2, 64, 32)
    torch.testing.assert_close(out["image"], F.cross_entropy(image_logits.reshape(-1, 32), codes.reshape(-1)))


def test_image_logits_do_not_see_the_code_they_predict():
    model = small_dalle()
    text = dalle.text_tokens(["a red star"])
    codes = torch.randint(32, (1, 8, 8))
    changed = codes.clone()
    changed[0, 2, 3] = (codes[0, 2, 3] + 1) % 32  # code number 2*8+3 = 19 in raster order
    _, a = model(text, codes)
    _, b = model(text, changed)
    torch.testing.assert_close(a[:, :20], b[:, :20])  # logits for codes 0..19 are unchanged
    assert (a[:, 20:] - b[:, 20:]).abs().amax() > 1e-5


def test_top_k_one_is_greedy_and_deterministic():
    model = small_dalle()
    text = dalle.text_tokens(["a green square"])[0]
    a = model.sample(text, 2, top_k=1, generator=torch.Generator().manual_seed(1))
    b = model.sample(text, 2, top_k=1, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and torch.equal(a[0], a[1])
    # the same grid, built by always taking the argmax
    seq = text[None]
    for _ in range(64):
        nxt = model.gpt(seq)[:, -1, model.n_text:].argmax(-1) + model.n_text
        seq = torch.cat([seq, nxt[:, None]], 1)
    assert torch.equal(a[0].flatten(), seq[0, dalle.TEXT_LEN:] - model.n_text)


def test_sampling_is_seeded_and_varies_between_seeds():
    model = small_dalle()
    text = dalle.text_tokens(["a green square"])[0]
    a = model.sample(text, 3, generator=torch.Generator().manual_seed(0))
    b = model.sample(text, 3, generator=torch.Generator().manual_seed(0))
    c = model.sample(text, 3, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 8, 8) and a.min() >= 0 and a.max() < 32
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_top_k_filter_and_sample_next_stay_in_the_top_k():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0, -1.0]])
    kept = dalle.top_k_filter(logits, 2)
    assert torch.isfinite(kept).sum() == 2 and torch.isfinite(kept[0, [1, 3]]).all()
    gen = torch.Generator().manual_seed(0)
    draws = dalle.sample_next(logits.repeat(500, 1), temperature=5.0, top_k=2, generator=gen)
    assert set(draws.tolist()) == {1, 3}
    cold = dalle.sample_next(logits.repeat(200, 1), temperature=0.01, generator=gen)
    assert (cold == 1).all()  # near-zero temperature: the largest logit


@pytest.mark.parametrize("temperature,top_k", [(0, None), (-1.0, None), (float("nan"), None), ("1", None),
                                               (1.0, 0), (1.0, 33), (1.0, 2.5), (1.0, True)])
def test_bad_temperature_or_top_k_is_refused(temperature, top_k):
    model = small_dalle()
    with pytest.raises(ValueError, match="temperature|top_k"):
        model.sample(dalle.text_tokens(["a red star"])[0], 1, temperature, top_k)


# ---------------------------------------------------------------- data, training, checkpoints


def test_codes_are_cached_and_match_the_vqgan(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    vq = small_vqgan()
    data = dalle.shapes_codes(vq, 10, seed=3, split="train", batch_size=4, progress=False)
    assert data["codes"].shape == (10, 8, 8) and data["text"].shape == (10, dalle.TEXT_LEN)
    files = list((tmp_path / "dalle").glob("codes-*.pt"))
    assert len(files) == 1 and not list((tmp_path / "dalle").glob("*.tmp"))
    image, caption, _ = shapes.sample(3, 4, "train", 32)
    assert data["captions"][4] == caption
    assert torch.equal(dalle.encode_images(vq, shapes.to_tensor([image]))[0], data["codes"][4].long())
    again = dalle.shapes_codes(vq, 10, seed=3, split="train", progress=False)  # read from the cache
    assert torch.equal(again["codes"], data["codes"])


def test_fingerprint_follows_the_weights():
    vq = small_vqgan()
    before = dalle.fingerprint(vq)
    assert before == dalle.fingerprint(small_vqgan())
    with torch.no_grad():
        vq.quantize.embedding.weight[0, 0] += 1
    assert dalle.fingerprint(vq) != before


def test_training_lowers_the_loss_and_checkpoint_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    vq = small_vqgan()
    torch.manual_seed(0)
    # A toy data set where the caption decides the picture: the model must learn to read the text.
    text = dalle.text_tokens(["a red star", "a blue circle"] * 16)
    codes = torch.stack([torch.full((8, 8), 3), torch.arange(64).remainder(32).view(8, 8)] * 16)
    data = {"text": text, "codes": codes}
    model, hist = dalle.train_dalle(vq, data=data, progress=False, steps=100, batch_size=16, lr=3e-3, warmup=5, n_val=8,
                                    model_config=dict(d_model=32, n_layers=1, n_heads=2))
    assert hist["image"][-1] < 0.3 * hist["image"][0] and hist["text"][-1] < hist["text"][0]
    assert set(hist["val"]) == {"text", "image"} and hist["seconds"] > 0
    grid = model.sample(text[0], 1, top_k=1)[0]
    assert (grid == 3).float().mean() > 0.9  # "a red star" -> the all-3 grid it was shown
    path = dalle.save_dalle(model, tmp_path / "m.pt", hist)
    again, _ = dalle.read_dalle(path, device="cpu")
    torch.testing.assert_close(again(text[:2], codes[:2])[1], model(text[:2], codes[:2])[1])
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="delete it"):
        dalle.read_dalle(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="Unknown training setting"):
        dalle.train_dalle(vq, data=data, progress=False, stepz=3)


# ---------------------------------------------------------------- generation


def test_generate_returns_the_best_first_and_sorted_scores():
    model, vq, cm = small_dalle(), small_vqgan(), small_clip()
    best, samples = dalle.generate("a photo of a red star", seed=0, n_samples=5, model=model, vqgan=vq,
                                   clip_model=cm, device="cpu")
    assert isinstance(best, Image.Image) and best.size == (32, 32)
    assert len(samples) == 5 and samples[0][0] is best
    scores = [s for _, s in samples]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1
    # the score is CLIP's cosine for that very picture (up to rounding to 8-bit pixels)
    again = dalle.clip_scores(cm, shapes.to_tensor([best]), "a photo of a red star")
    assert abs(again.item() - scores[0]) < 0.02
    raw = dalle.sample_images("a photo of a red star", seed=0, n_samples=5, model=model, vqgan=vq,
                              clip_model=cm, device="cpu")
    assert max(raw["scores"].tolist()) == pytest.approx(scores[0])


def test_generate_is_deterministic_and_checks_its_input():
    model, vq, cm = small_dalle(), small_vqgan(), small_clip()
    kw = dict(n_samples=2, model=model, vqgan=vq, clip_model=cm, device="cpu")
    a, _ = dalle.generate("a red star", seed=4, **kw)
    b, _ = dalle.generate("a red star", seed=4, **kw)
    assert a.tobytes() == b.tobytes()
    with pytest.raises(ValueError, match="Unknown word"):
        dalle.generate("a red dragon", **kw)
    with pytest.raises(ValueError, match="n_samples"):
        dalle.generate("a red star", **dict(kw, n_samples=0))
    with pytest.raises(ValueError, match="codes"):
        dalle.generate("a red star", **dict(kw, vqgan=small_vqgan(n_embed=16)))


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: on a busy CPU two threads mostly wait for each other (see torch_threads)."""
    with dalle.torch_threads(1):
        yield


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with dalle.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
