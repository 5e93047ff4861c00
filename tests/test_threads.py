"""The thread governor: as many torch threads as the cores other programs leave free."""
import pytest
import torch

from utils import threads


class FakeMachine:
    """A machine whose other programs use `others` cores, and whose clock we move by hand."""

    def __init__(self, monkeypatch, n_cores=4):
        self.now, self.busy, self.own, self.others = 100.0, 1000.0, 5.0, 0.0
        monkeypatch.setattr(threads, "cores", lambda: n_cores)
        monkeypatch.setattr(threads, "machine_busy_seconds", lambda: self.busy)
        monkeypatch.setattr(threads.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(threads.time, "process_time", lambda: self.own)
        monkeypatch.setattr(threads.time, "sleep", lambda s: self.advance(s, own=0.0))

    def advance(self, seconds, own):
        """`seconds` pass; we use `own` cores of CPU, the other programs `self.others` cores."""
        self.now += seconds
        self.own += own * seconds
        self.busy += (own + self.others) * seconds


def test_governor_uses_the_cores_others_leave_free(monkeypatch):
    machine = FakeMachine(monkeypatch, n_cores=4)
    before = torch.get_num_threads()
    machine.others = 3.0  # three cores busy elsewhere when training starts
    with threads.ThreadGovernor(max_threads=4, every=5.0) as gov:
        assert torch.get_num_threads() == 1
        machine.others = 0.2
        machine.advance(2.0, own=1.0)
        gov.tick()
        assert torch.get_num_threads() == 1, "no new decision before `every` seconds have passed"
        machine.advance(4.0, own=1.0)
        gov.tick()  # the others went quiet: all four cores (at most max_threads)
        assert torch.get_num_threads() == 4
        machine.others = 1.6
        machine.advance(6.0, own=3.0)
        gov.tick()
        assert torch.get_num_threads() == 2  # 4 - 1.6 = 2.4 free
        assert [n for _, n in gov.history] == [4, 1, 4, 2]
    assert torch.get_num_threads() == before


def test_governor_never_goes_below_one_or_above_its_maximum(monkeypatch):
    machine = FakeMachine(monkeypatch, n_cores=2)
    machine.others = 7.0  # a very busy machine
    with threads.ThreadGovernor(max_threads=2):
        assert torch.get_num_threads() == 1
    machine.others = 0.0
    with threads.ThreadGovernor(max_threads=1):
        assert torch.get_num_threads() == 1


def test_without_proc_stat_the_setting_is_left_alone(monkeypatch):
    monkeypatch.setattr(threads, "machine_busy_seconds", lambda: None)
    with threads.ThreadGovernor(max_threads=2) as gov:
        gov.tick()
        assert torch.get_num_threads() == 2


def test_fixed_thread_counts_and_bad_values():
    before = torch.get_num_threads()
    with threads.training_threads(1) as gov:
        assert torch.get_num_threads() == 1
        gov.tick()
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with threads.training_threads(None):
        assert torch.get_num_threads() == before
    for bad in (0, -1, 1.5, "two"):
        with pytest.raises(ValueError, match="threads must be"):
            threads.training_threads(bad)


def test_reading_the_real_machine():
    busy = threads.machine_busy_seconds()
    assert busy is None or busy > 0
    assert threads.cores() >= 1
