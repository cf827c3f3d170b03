"""Does train show the time left for the whole run, and on a CPU pick the faster thread count by timing
real steps, leaving torch as it found it?"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dgm_utils import training
from dgm_utils.training import PROBE_STEPS, CpuThreads, train


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(4))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.logits - nn.functional.softplus(self.logits)).sum(1)


class Bar:
    """Records what train asks of tqdm."""

    made: list["Bar"] = []

    def __init__(self, *args, total=None, disable=False, **kwargs):
        self.total, self.disable, self.n, self.postfixes = total, disable, 0, []
        Bar.made.append(self)

    def update(self, n=1):
        self.n += n

    def set_postfix(self, postfix, refresh=True):
        self.postfixes.append(dict(postfix))

    def close(self):
        pass


@pytest.fixture
def bar(monkeypatch):
    import tqdm.auto

    Bar.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    return Bar


def test_one_bar_over_every_step_of_the_run(bar):
    """Is there one bar whose total is epochs x steps (so tqdm's ETA covers the whole run), advanced once per
    step, showing the epoch and the NLLs?"""
    x = (torch.rand(100, 4) < 0.5).float()
    train(Tiny(), x, x[:10], num_epochs=3, batch_size=10, max_steps_per_epoch=4, device="cpu")
    (b,) = bar.made
    assert (b.total, b.n) == (12, 12), (b.total, b.n)
    assert b.postfixes[-1]["epoch"] == "3/3" and {"train", "test", "threads"} <= set(b.postfixes[-1])


def test_unsized_batches_count_without_a_total(bar):
    x = (torch.rand(40, 4) < 0.5).float()
    train(Tiny(), (b for b in x.split(10)), num_epochs=1, device="cpu")
    assert bar.made[0].total is None and bar.made[0].n == 4


def probe(monkeypatch, many_s: float, one_s: float, threads: int = 2) -> CpuThreads:
    """A CpuThreads run through the probe with made-up step times; torch's count observed, never changed for real."""
    state = {"n": threads}
    monkeypatch.setattr(torch, "get_num_threads", lambda: state["n"])
    monkeypatch.setattr(torch, "set_num_threads", lambda n: state.__setitem__("n", n))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    ct = CpuThreads("auto")
    for _ in range(1 + 2 * PROBE_STEPS + 3):
        ct.before_step()
        ct.after_step(one_s if torch.get_num_threads() == 1 else many_s)
    ct.state = state
    return ct


def test_a_busy_machine_trains_on_one_thread(monkeypatch):
    """Two threads 2.4x slower than one (measured beside another torch job: 24 s vs 10 s): does it go on with one,
    and give torch its count back at the end?"""
    ct = probe(monkeypatch, many_s=24.0, one_s=10.0)
    assert ct.count == 1 and ct.state["n"] == 1
    ct.restore()
    assert ct.state["n"] == 2


def test_an_idle_machine_keeps_its_threads(monkeypatch):
    """Two threads faster (idle machine: 1.4 s vs 2.1 s), or one barely faster: does it keep torch's count?"""
    assert probe(monkeypatch, many_s=1.4, one_s=2.1).count == 2
    assert probe(monkeypatch, many_s=1.0, one_s=0.95).count == 2


def test_omp_num_threads_or_an_explicit_count_is_obeyed(monkeypatch):
    state = {"n": 2}
    monkeypatch.setattr(torch, "get_num_threads", lambda: state["n"])
    monkeypatch.setattr(torch, "set_num_threads", lambda n: state.__setitem__("n", n))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    ct = CpuThreads("auto")
    for _ in range(10):
        ct.before_step()
        ct.after_step(100.0 if state["n"] == 2 else 1.0)
    assert ct.count == 2 and state["n"] == 2, "OMP_NUM_THREADS is the user's choice: no probing"
    ct = CpuThreads(3)
    assert state["n"] == 3 and ct.count == 3
    ct.restore()
    assert state["n"] == 2
    with pytest.raises(ValueError, match="cpu_threads"):
        CpuThreads(0)


def test_train_restores_the_thread_count(monkeypatch):
    before = torch.get_num_threads()
    x = (torch.rand(100, 4) < 0.5).float()
    train(Tiny(), x, num_epochs=1, batch_size=10, device="cpu", cpu_threads=1, progress=False)
    assert torch.get_num_threads() == before
    assert CpuThreads(None).count is None
    assert training._known_steps(x, 10, None) == 10 and training._known_steps(iter([x]), 10, 5) == 5
