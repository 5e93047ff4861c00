"""Unit tests of utils/zeroshot.py with a tiny random CLIP and synthetic features."""
import clip
import pytest
import torch
import torch.nn.functional as F

from utils import zeroshot


def tiny_clip(seed=0):
    torch.manual_seed(seed)
    return clip.model.CLIP(embed_dim=32, image_resolution=32, vision_layers=1, vision_width=64,  # ViT heads = width // 64
                          
                           vision_patch_size=8, context_length=16, vocab_size=49408,
                           transformer_width=32, transformer_heads=1, transformer_layers=1).float().eval()


def clustered(n_per_class=20, num_classes=4, dim=16, noise=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(num_classes, dim, generator=g), dim=-1)
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    feats = centres[labels] + noise * torch.randn(len(labels), dim, generator=g)
    return feats, labels, centres


def test_fill_templates_dicts_and_strings():
    out = zeroshot.fill_templates(["a {colour} {shape}", "{shape}!"], [dict(colour="red", shape="star")])
    assert out == [["a red star", "star!"]]
    assert zeroshot.fill_templates("a photo of a {}", ["cat", "dog"]) == [["a photo of a cat"], ["a photo of a dog"]]
    with pytest.raises(ValueError):
        zeroshot.fill_templates([], ["cat"])


def test_ensemble_is_normalised_mean_of_unit_vectors():
    x = torch.randn(3, 5, 8)
    out = zeroshot.ensemble(x)
    expected = F.normalize(F.normalize(x, dim=-1).mean(1), dim=-1)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3))
    # Scaling one template's vector must not change the ensemble: every template counts equally.
    y = x.clone()
    y[:, 2] *= 50
    torch.testing.assert_close(zeroshot.ensemble(y), out)
    with pytest.raises(ValueError):
        zeroshot.ensemble(torch.randn(3, 8))


def test_class_embeddings_single_template_equals_encode_text():
    model = tiny_clip()
    classes = ["cat", "dog", "bird"]
    got = zeroshot.class_embeddings(model, "a photo of a {}", classes)
    with torch.no_grad():
        tokens = clip.tokenize([f"a photo of a {c}" for c in classes], context_length=16)
        want = F.normalize(model.encode_text(tokens).float(), dim=-1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_class_embeddings_ensemble_matches_manual():
    model = tiny_clip()
    templates = ["a {}", "a photo of a {}", "a drawing of a {}"]
    got = zeroshot.class_embeddings(model, templates, ["cat", "dog"])
    singles = torch.stack([zeroshot.class_embeddings(model, t, ["cat", "dog"]) for t in templates], dim=1)
    torch.testing.assert_close(got, zeroshot.ensemble(singles), atol=1e-5, rtol=1e-5)


def test_zero_shot_head_logits_and_probabilities():
    weights = F.normalize(torch.randn(5, 8), dim=-1)
    images = torch.randn(7, 8)
    head = zeroshot.zero_shot_head(weights, scale=10.0)
    logits = head(F.normalize(images, dim=-1))
    torch.testing.assert_close(logits, 10.0 * F.normalize(images, dim=-1) @ weights.T)
    probs = zeroshot.predict_proba(head, images)
    torch.testing.assert_close(probs.sum(1), torch.ones(7))
    assert probs.argmax(1).tolist() == logits.argmax(1).tolist()
    with pytest.raises(ValueError):
        zeroshot.predict_proba(head, torch.randn(7, 9))


def test_logit_scale_reads_and_caps_the_temperature():
    model = tiny_clip()
    assert zeroshot.logit_scale(model) == pytest.approx(1 / 0.07, rel=1e-4)  # CLIP's initial value
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert zeroshot.logit_scale(model) == 100.0


def test_zero_shot_recovers_cluster_centres():
    feats, labels, centres = clustered()
    head = zeroshot.zero_shot_head(centres, scale=100.0)
    assert zeroshot.accuracy(zeroshot.predict_proba(head, feats), labels) > 0.9


def test_few_shot_indices():
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    idx = zeroshot.few_shot_indices(labels, 2, seed=1)
    assert len(idx) == 6 and torch.bincount(labels[idx]).tolist() == [2, 2, 2]
    assert idx.tolist() == zeroshot.few_shot_indices(labels, 2, seed=1).tolist()
    with pytest.raises(ValueError):
        zeroshot.few_shot_indices(labels, 4)


def test_linear_probe_learns_and_is_deterministic():
    feats, labels, _ = clustered(noise=0.5)
    # Fresh points around the same centres: the probe must generalise, not memorise.
    g = torch.Generator().manual_seed(1)
    test_feats, test_labels = feats + 0.2 * torch.randn(feats.shape, generator=g), labels
    p1 = zeroshot.fit_linear_probe(feats, labels, 4)
    p2 = zeroshot.fit_linear_probe(feats, labels, 4)
    torch.testing.assert_close(p1.weight, p2.weight)
    assert zeroshot.accuracy(zeroshot.probe_predict(p1, test_feats), test_labels) > 0.9
    with pytest.raises(ValueError):
        zeroshot.fit_linear_probe(feats, labels, 3)  # label 3 is out of range


def test_accuracy_and_confusion_matrix():
    preds = torch.tensor([0, 1, 1, 2])
    labels = torch.tensor([0, 1, 2, 2])
    assert zeroshot.accuracy(preds, labels) == 0.75
    cm = zeroshot.confusion_matrix(preds, labels, 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert cm.sum() == 4
    scores = F.one_hot(preds, 3).float()
    assert zeroshot.confusion_matrix(scores, labels, 3).tolist() == cm.tolist()
    with pytest.raises(ValueError):
        zeroshot.accuracy(preds, labels[:3])
