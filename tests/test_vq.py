"""utils/vq.py: vector quantisation from scratch equals taming's VectorQuantizer2."""
import pytest
import torch

import utils  # noqa: F401  (shims before taming)
from taming.modules.vqvae.quantize import VectorQuantizer2

from utils import vq


def taming_quantizer(n_codes=16, dim=4, seed=0):
    torch.manual_seed(seed)
    q = VectorQuantizer2(n_codes, dim, beta=0.25)
    q.embedding.weight.data.normal_()  # spread the codes so every test input has a clear nearest one
    return q


@pytest.mark.parametrize("legacy", [True, False])
def test_quantize_equals_taming(legacy):
    q = taming_quantizer()
    q.legacy = legacy
    z = torch.randn(3, 4, 5, 6, generator=torch.Generator().manual_seed(1))
    zq_ref, loss_ref, (_, _, idx_ref) = q(z)
    zq, loss, idx = vq.quantize(z, q.embedding.weight, beta=0.25, legacy=legacy)
    torch.testing.assert_close(zq, zq_ref)
    torch.testing.assert_close(loss, loss_ref)
    assert idx.shape == (3, 5, 6)
    assert torch.equal(idx.flatten(), idx_ref.flatten())


def test_gradients_equal_taming():
    """Same gradients on z (through the STE) and on the codebook, for taming's legacy beta placement."""
    q = taming_quantizer()
    z1 = torch.randn(2, 4, 3, 3, requires_grad=True)
    z2 = z1.detach().clone().requires_grad_(True)
    codebook = q.embedding.weight.detach().clone().requires_grad_(True)
    zq_ref, loss_ref, _ = q(z1)
    (zq_ref.square().sum() + loss_ref).backward()
    zq, loss, _ = vq.quantize(z2, codebook)
    (zq.square().sum() + loss).backward()
    torch.testing.assert_close(z2.grad, z1.grad)
    torch.testing.assert_close(codebook.grad, q.embedding.weight.grad)


def test_straight_through_gradient_is_identity():
    codebook = torch.randn(8, 2)
    z = torch.randn(10, 2, requires_grad=True)
    zq, _, idx = vq.quantize(z, codebook)
    torch.testing.assert_close(zq, codebook[idx])  # forward: the nearest code
    (zq * torch.arange(2.0)).sum().backward()
    torch.testing.assert_close(z.grad, torch.arange(2.0).expand(10, 2))  # backward: identity


def test_nearest_code_matches_brute_force():
    codebook, z = torch.randn(32, 3), torch.randn(100, 3)
    brute = ((z[:, None] - codebook[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(vq.nearest_code(z, codebook), brute)


def test_usage_and_perplexity():
    usage, ppl = vq.codebook_usage(torch.tensor([0, 1, 2, 3]), 8)
    assert usage == 0.5 and ppl == pytest.approx(4.0)
    usage, ppl = vq.codebook_usage(torch.zeros(10, dtype=torch.long), 8)
    assert usage == 0.125 and ppl == pytest.approx(1.0)


def test_restart_dead_codes_moves_only_dead_codes():
    codebook = torch.zeros(4, 2)
    z = torch.ones(5, 2) * 3
    counts = torch.tensor([2, 0, 1, 0])
    assert vq.restart_dead_codes(codebook, z, counts) == 2
    assert codebook[[1, 3]].eq(3).all() and codebook[[0, 2]].eq(0).all()


def test_kmeans_finds_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    found = vq.kmeans(x, 3, generator=g)
    dist = torch.cdist(centres, found).min(1).values
    assert dist.max() < 0.2


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="channels"):
        vq.quantize(torch.randn(5, 3), torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        vq.quantize(torch.randn(5), torch.randn(4, 2))
