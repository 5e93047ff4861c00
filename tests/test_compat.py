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


def test_clip_load_shows_no_warning_after_import_utils(tmp_path):
    """Notebook 02 calls clip.load itself; a learner must not see torch's jit deprecation under it."""
    import subprocess
    import sys

    code = ("import warnings, torch, utils, clip\n"
            "from tests.small_models import small_clip\n"
            f"torch.save(small_clip().state_dict(), {str(tmp_path / 'c.pt')!r})\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('default')\n"
            "    utils.compat.apply()\n"
            f"    clip.load({str(tmp_path / 'c.pt')!r}, device='cpu', jit=False)\n"
            "print([str(w.message)[:80] for w in caught if 'jit' in str(w.message)])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=__import__("pathlib").Path(__file__).parents[1], env={**__import__("os").environ,
                                                                                   "OMP_NUM_THREADS": "1"})
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
