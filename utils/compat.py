"""Shims for the two known dependency breakages of this field, applied once on `import utils`.

1. openai/CLIP (PyPI: clip-anytorch) does `from pkg_resources import packaging` in clip/clip.py.
   setuptools 81 removed pkg_resources, so `import clip` fails there: requirements pin
   setuptools<81. Newer setuptools 80.x warn about it on every import; we silence that one warning,
   and torch's FutureWarning about `torch.jit.load` that every clip.load(..., jit=False) triggers.
2. taming-transformers (PyPI: taming-transformers-rom1504) imports taming.main, which does
   `from pytorch_lightning.utilities.distributed import rank_zero_only`. That module was removed
   in PyTorch Lightning 1.8 (the function moved to pytorch_lightning.utilities.rank_zero), so
   `from taming.models.vqgan import VQModel` fails with Lightning 2.x. We register a module alias
   before taming is imported.
"""
import sys
import types
import warnings


def silence_pkg_resources_warning():
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


def silence_jit_load_warning():
    """clip.load first tries its file as a TorchScript archive, and torch 2.14 warns on every such try
    (`torch.jit.load` is deprecated) even with jit=False: a pink box under a learner's clip.load cell that
    nothing in the course can act on."""
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=FutureWarning)


def install_lightning_distributed_alias():
    """Register the alias module lazily: Lightning itself is imported only when taming asks."""
    name = "pytorch_lightning.utilities.distributed"
    if name in sys.modules:
        return

    def __getattr__(attr):
        # Only the one name taming uses; anything else (inspect probes __file__ etc.) is absent.
        if attr != "rank_zero_only":
            raise AttributeError(attr)
        from pytorch_lightning.utilities import rank_zero

        return getattr(rank_zero, attr)

    alias = types.ModuleType(name)
    alias.__getattr__ = __getattr__
    sys.modules[name] = alias


def apply():
    silence_pkg_resources_warning()
    silence_jit_load_warning()
    install_lightning_distributed_alias()
