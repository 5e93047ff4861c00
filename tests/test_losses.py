"""clip_loss against an independent reference: an explicit double loop in float64."""
import math

import pytest
import torch
import torch.nn.functional as F

from utils.losses import clip_loss


def reference_loss(img, txt, scale):
    """Per-row log-softmax written out by hand, in float64, no matrix tricks."""
    img, txt = img.double(), txt.double()
    n = img.shape[0]
    sims = [[scale * torch.dot(img[i], txt[j]) for j in range(n)] for i in range(n)]
    i2t = sum(torch.logsumexp(torch.stack(sims[i]), 0) - sims[i][i] for i in range(n)) / n
    t2i = sum(torch.logsumexp(torch.stack([sims[i][j] for i in range(n)]), 0) - sims[j][j]
              for j in range(n)) / n
    return (i2t + t2i) / 2


def reference_loss_fast(img, txt, scale):
    """Same formula, vectorised, float64 — for batch sizes where the loop is slow."""
    logits = scale * img.double() @ txt.double().t()
    diag = logits.diagonal()
    return ((logits.logsumexp(1) - diag).mean() + (logits.logsumexp(0) - diag).mean()) / 2


def features(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    a = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    b = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    return a, b


@pytest.mark.parametrize("n", [1, 2, 5, 16])
@pytest.mark.parametrize("scale", [1.0, 14.3, 100.0])
def test_matches_loop_reference(n, scale):
    img, txt = features(n, 8, seed=n)
    torch.testing.assert_close(clip_loss(img, txt, scale).double(), reference_loss(img, txt, scale),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n", [1, 3, 64, 257, 512])
@pytest.mark.parametrize("scale", [1.0, 10.0, 100.0])
def test_value_and_gradients_match_reference(n, scale):
    img, txt = features(n, 32, seed=n + 1)
    a = img.clone().requires_grad_()
    b = txt.clone().requires_grad_()
    s = torch.tensor(scale, requires_grad=True)
    loss = clip_loss(a, b, s)
    loss.backward()
    a64 = img.double().requires_grad_()
    b64 = txt.double().requires_grad_()
    s64 = torch.tensor(scale, dtype=torch.float64, requires_grad=True)
    ref = reference_loss_fast(a64, b64, s64)
    ref.backward()
    torch.testing.assert_close(loss.double(), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.grad.double(), a64.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b.grad.double(), b64.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(s.grad.double(), s64.grad, atol=1e-5, rtol=1e-4)


def test_chance_level_is_log_n():
    # Identical features everywhere: every pair is equally likely, so the loss is log N.
    n = 10
    f = F.normalize(torch.ones(n, 4), dim=-1)
    assert clip_loss(f, f, 5.0).item() == pytest.approx(math.log(n), abs=1e-6)


def test_perfect_alignment_goes_to_zero():
    f = torch.eye(6)
    assert clip_loss(f, f, 100.0).item() < 1e-6


def test_symmetric_in_its_arguments():
    img, txt = features(7, 5, seed=0)
    torch.testing.assert_close(clip_loss(img, txt, 3.0), clip_loss(txt, img, 3.0))


def test_mismatched_shapes_name_both():
    with pytest.raises(ValueError, match=r"\(4, 8\).*\(5, 8\)"):
        clip_loss(torch.zeros(4, 8), torch.zeros(5, 8), 1.0)
    with pytest.raises(ValueError, match=r"\(4, 8\).*\(4, 6\)"):
        clip_loss(torch.zeros(4, 8), torch.zeros(4, 6), 1.0)
    with pytest.raises(ValueError, match="N, D"):
        clip_loss(torch.zeros(8), torch.zeros(8), 1.0)
