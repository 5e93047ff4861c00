"""Train once, then load from the cache: the one path every model the course trains on demand takes.

The tiny CLIP (lesson 02), the tiny VQGAN (05), the mini-DALL·E (07), the mini-unCLIP (08) and the
Shapes judge are each trained the first time a notebook asks for them and saved under .cache/. Each
file's name carries what decides its contents (the recipe's version, the seed and, for a model built on
another one, that model's `fingerprint`), so a changed recipe or a retrained CLIP or VQGAN gets a new
file instead of a stale one. utils/course_models.py lists them all for `make models` and `make pack`.

    path = train_once(path, "the mini-DALL·E", train=lambda: train_dalle(vqgan), save=save_dalle)
    model, history = read_dalle(path)
"""
import hashlib
import time
from pathlib import Path


def fingerprint(model):
    """A short hash of a model's weights (the loss's own weights left out, as the VQGAN's discriminator):
    files made from a model carry it in their names, so a retrained model never meets files of the old one."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if not name.startswith("loss."):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def train_once(path, what, train, save, how_long=""):
    """The path of a cached model, training and saving it first if the file is missing.

    train() -> (model, history); save(model, path, history) writes the file (atomically, see
    utils.settings.save_atomic, so a second notebook never reads half a file). how_long: a hint
    for the learner waiting, e.g. " (about 5 min on a 2-core CPU)".
    """
    path = Path(path)
    if not path.is_file():
        print(f"{what[0].upper() + what[1:]} is not cached at {path}: training it now{how_long}.")
        start = time.perf_counter()
        model, history = train()
        save(model, path, history)
        print(f"Trained {what} in {time.perf_counter() - start:.0f} s and saved it to {path}.")
    return path
