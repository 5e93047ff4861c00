"""The mini-unCLIP's networks (utils/unclip.py): shapes, the identity start of each block, the prior's
unit outputs, and that a decoder learns (its diffusion loss falls on a fixed batch)."""
import torch

from utils import diffusion as D
from utils.unclip import LatentDecoder, PixelDecoder, Prior, ResBlock


def test_decoders_predict_noise_of_their_input_shape():
    t, emb = torch.tensor([0, 999]), torch.randn(2, 128)
    assert PixelDecoder()(torch.randn(2, 3, 32, 32), t, emb).shape == (2, 3, 32, 32)
    assert PixelDecoder(patch=2)(torch.randn(2, 3, 32, 32), t, emb).shape == (2, 3, 32, 32)
    assert LatentDecoder()(torch.randn(2, 32, 8, 8), t, emb).shape == (2, 32, 8, 8)


def test_each_block_starts_as_the_identity_and_the_prior_outputs_unit_vectors():
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(ResBlock(16, 8)(x, torch.randn(2, 8)), x)
    out = Prior()(torch.nn.functional.normalize(torch.randn(5, 128), dim=-1))
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(5))


def test_a_decoder_learns_a_fixed_batch():
    torch.manual_seed(0)
    model, schedule = PixelDecoder(), D.Schedule(D.cosine_betas(1000))
    x0 = torch.rand(8, 3, 32, 32) * 2 - 1
    emb = torch.nn.functional.normalize(torch.randn(8, 128), dim=-1)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    def loss_now(seed):
        with torch.no_grad():
            return D.diffusion_loss(model, schedule, x0, torch.Generator().manual_seed(seed), emb=emb).item()
    before = sum(loss_now(s) for s in range(4)) / 4
    gen = torch.Generator().manual_seed(1)
    for _ in range(60):
        loss = D.diffusion_loss(model, schedule, x0, gen, emb=emb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = sum(loss_now(s) for s in range(4)) / 4
    assert after < 0.7 * before, (before, after)


# ---------------------------------------------------------------- the pipeline, on a small random CLIP

import pytest  # noqa: E402

from tests.small_models import small_clip  # noqa: E402
from utils import unclip  # noqa: E402

SMALL = dict(n_train=64, steps=3, batch_size=8, prior_steps=3, prior_batch=16, threads=1)


@pytest.fixture
def trained(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    clip_model = small_clip()
    (decoder, prior), history = unclip.train_unclip(clip_model, progress=False, device="cpu", **SMALL)
    return clip_model, decoder, prior, history, tmp_path


def test_training_caches_its_data_and_checkpoints_round_trip(trained):
    clip_model, decoder, prior, history, tmp = trained
    assert len(history["decoder_loss"]) == 3 and len(history["prior_loss"]) == 3
    assert len(list((tmp / "unclip").glob("data-*.pt"))) == 1            # rendered and embedded once
    path = unclip.save_unclip(decoder, prior, unclip.unclip_path(clip_model), history)
    (d2, p2), h2 = unclip.read_unclip(path, device="cpu")
    x, t, e = torch.randn(2, 3, 32, 32), torch.tensor([3, 700]), torch.randn(2, 32)
    torch.testing.assert_close(d2(x, t, e), decoder(x, t, e))
    assert h2["settings"]["steps"] == 3
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="delete it"):
        unclip.read_unclip(path)


def test_generate_returns_the_best_first_is_seeded_and_checks_its_prompt(trained):
    clip_model, decoder, prior, _, _ = trained
    kw = dict(decoder=decoder, prior=prior, clip_model=clip_model, device="cpu", ddim_steps=3, n_samples=4)
    best, samples = unclip.generate("a photo of a red star", seed=1, **kw)
    scores = [s for _, s in samples]
    assert len(samples) == 4 and scores == sorted(scores, reverse=True) and samples[0][0] is best
    assert best.size == (32, 32)
    again = unclip.sample_images("a photo of a red star", seed=1, **kw)["images"]
    torch.testing.assert_close(again, unclip.sample_images("a photo of a red star", seed=1, **kw)["images"])
    with pytest.raises(ValueError, match="Unknown word"):
        unclip.generate("a photo of a red dragon", **kw)
    with pytest.raises(ValueError, match="guidance must be"):
        unclip.generate("a red star", guidance=-1, **kw)
    with pytest.raises(ValueError, match="Unknown training setting"):
        unclip.train_unclip(clip_model, progress=False, stepz=3)


def test_slerp_stays_on_the_sphere_and_hits_both_ends():
    a, b = torch.nn.functional.normalize(torch.randn(2, 16), dim=-1)
    for w in (0.0, 0.3, 1.0):
        assert abs(unclip.slerp(a, b, w).norm().item() - 1) < 1e-5
    torch.testing.assert_close(unclip.slerp(a, b, 0.0), a)
    torch.testing.assert_close(unclip.slerp(a, b, 1.0), b)


def test_ema_returns_averaged_weights_that_need_no_gradient(trained):
    clip_model, *_ = trained
    data = unclip.training_data(clip_model, 64, progress=False)
    plain, _ = unclip.train_decoder(data, steps=3, batch_size=8, threads=1, device="cpu", progress=False)
    averaged, _ = unclip.train_decoder(data, steps=3, batch_size=8, threads=1, device="cpu", progress=False,
                                       ema_decay=0.9)
    differ = [not torch.equal(a, b) for a, b in zip(plain.state_dict().values(), averaged.state_dict().values())]
    assert any(differ) and not any(p.requires_grad for p in averaged.parameters())


def test_the_two_recipes_have_their_own_files_and_an_unknown_one_is_refused(trained):
    clip_model, *_ = trained
    quick, long = unclip.unclip_path(clip_model), unclip.unclip_path(clip_model, recipe="long")
    assert quick != long and "-long-" in long.name and quick.parent == long.parent
    assert unclip.RECIPES["long"]["steps"] > unclip.RECIPES["quick"]["steps"]
    with pytest.raises(ValueError, match="Unknown mini-unCLIP recipe 'slow'; choose 'quick' or 'long'"):
        unclip.load_unclip(clip_model=clip_model, recipe="slow")


def test_evaluate_prompts_grades_every_prompt_with_the_judge(trained):
    clip_model, decoder, prior, _, _ = trained

    class Judge:  # says every picture is a red circle
        def predict(self, images):
            return [("red", "circle")] * len(images)

    result = unclip.evaluate_prompts([("red", "circle"), ("blue", "star")], n_samples=3, ddim_steps=2, decoder=decoder,
                                     prior=prior, clip_model=clip_model, device="cpu", judge=Judge(), progress=False)
    assert [r["prompt"] for r in result["rows"]] == ["a photo of a red circle", "a photo of a blue star"]
    assert result["best_judge_both"] == 0.5 and result["mean_judge_shape"] == 0.5
    assert 0 < result["diversity"] and result["seconds_per_image"] > 0
