"""utils/model_cache.py: the train-once path every on-demand model of the course takes."""
import torch

from utils import dalle, judge, models, unclip, vqgan
from utils.model_cache import fingerprint, train_once


def test_train_once_trains_when_missing_then_only_loads(tmp_path, capsys):
    calls = []

    def train():
        calls.append(1)
        return torch.nn.Linear(2, 2), {"loss": [1.0]}

    def save(model, path, history):
        torch.save({"state_dict": model.state_dict(), "history": history}, path)

    path = tmp_path / "model.pt"
    assert train_once(path, "the test model", train, save) == path
    assert path.is_file() and calls == [1]
    out = capsys.readouterr().out
    assert "The test model is not cached at" in out and "training it now" in out and "saved it to" in out
    assert train_once(path, "the test model", train, save) == path     # cached: no second training
    assert calls == [1] and capsys.readouterr().out == ""


def test_a_failed_training_leaves_no_file(tmp_path):
    def train():
        raise KeyboardInterrupt  # the learner stopped the cell

    path = tmp_path / "model.pt"
    try:
        train_once(path, "the test model", train, save=lambda *a: None)
    except KeyboardInterrupt:
        pass
    assert not path.exists()


def test_fingerprint_follows_the_weights_but_not_the_loss():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 3))
    net.loss = torch.nn.Linear(2, 2)                      # a loss's own weights (the VQGAN's discriminator)
    before = fingerprint(net)
    with torch.no_grad():
        net.loss.weight.add_(1.0)
    assert fingerprint(net) == before
    with torch.no_grad():
        net[0].weight[0, 0] += 1e-3
    assert fingerprint(net) != before and len(before) == 12


def test_every_trained_model_goes_through_train_once():
    """The five loaders of the course's on-demand models all call the one helper (no private copies)."""
    import inspect

    for loader in (models.ensure_tiny, vqgan.load_vqgan_uncached, dalle.load_dalle, unclip.load_unclip,
                   judge.load_judge):
        assert "train_once(" in inspect.getsource(loader), loader.__qualname__
