"""Small random models shared by the tests: shaped like the course's tiny ones, but fast to build."""
import clip
import torch
from taming.models.vqgan import VQModel

DUMMY_LOSS = {"target": "taming.modules.losses.vqperceptual.DummyLoss"}


def small_vqgan(n_embed=32, ch_mult=(1, 2, 2)):
    """32 px in, factor 4 out: an 8x8 grid of codes, like the tiny VQGAN but random and smaller."""
    dd = dict(double_z=False, z_channels=8, resolution=32, in_channels=3, out_ch=3, ch=32,
              ch_mult=list(ch_mult), num_res_blocks=1, attn_resolutions=[], dropout=0.0)
    torch.manual_seed(0)
    return VQModel(dd, DUMMY_LOSS, n_embed=n_embed, embed_dim=8).eval()


def small_clip():
    """A one-layer clip.model.CLIP at 32 px with context length 16 (random weights)."""
    torch.manual_seed(0)
    return clip.model.CLIP(embed_dim=32, image_resolution=32, vision_layers=1, vision_width=64,
                           vision_patch_size=8, context_length=16, vocab_size=49408,
                           transformer_width=64, transformer_heads=1, transformer_layers=1).float().eval()
