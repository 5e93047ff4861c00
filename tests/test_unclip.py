"""The mini-unCLIP's networks (utils/unclip.py): shapes, the identity start of each block, the prior's
unit outputs, and that a decoder learns (its diffusion loss falls on a fixed batch)."""
import torch

from utils import diffusion as D
from utils.unclip import LatentDecoder, PixelDecoder, Prior, ResBlock


def test_decoders_predict_noise_of_their_input_shape():
    t, emb = torch.tensor([0, 999]), torch.randn(2, 128)
    assert PixelDecoder()(torch.randn(2, 3, 32, 32), t, emb).shape == (2, 3, 32, 32)
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
