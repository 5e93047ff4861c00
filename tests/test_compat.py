"""The shims of utils/compat.py make both broken upstream imports work."""
import importlib
import sys


def test_import_clip():
    import clip

    assert "ViT-B/32" in clip.available_models()


def test_import_taming_vqmodel():
    from taming.models.vqgan import VQModel

    assert VQModel.__name__ == "VQModel"


def test_lightning_alias_gives_rank_zero_only():
    from pytorch_lightning.utilities.distributed import rank_zero_only
    from pytorch_lightning.utilities.rank_zero import rank_zero_only as real

    assert rank_zero_only is real


def test_alias_only_answers_rank_zero_only():
    alias = sys.modules["pytorch_lightning.utilities.distributed"]
    assert not hasattr(alias, "something_else")


def test_apply_is_idempotent():
    compat = importlib.import_module("utils.compat")
    before = sys.modules["pytorch_lightning.utilities.distributed"]
    compat.apply()
    assert sys.modules["pytorch_lightning.utilities.distributed"] is before
