"""Unit tests of dgm_utils.resume.train_resumable: a run stopped and resumed equals one uninterrupted run,
the learning-rate schedule, fast mode, and refusals of a state file that does not fit.

Run: .venv/bin/python -m pytest tests/unit/test_resume.py -q
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dgm_utils import resume
from dgm_utils.resume import train_resumable


class Bernoulli(nn.Module):
    """Independent Bernoulli pixels with a small hidden layer, so that Adam's moments matter."""

    def __init__(self, num_dims: int = 8) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, num_dims))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(torch.ones(1, 1)).expand_as(x)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)


def data(n: int = 96, d: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return (torch.rand(n, d, generator=g) < torch.linspace(0.1, 0.9, d)).float()


KW = dict(lr=0.05, lr_decay=0.5, batch_size=16, max_steps_per_epoch=3, device="cpu", progress=False)


def test_stopped_and_resumed_equals_one_run(tmp_path):
    """Do 2 epochs, then 2 more from the state file, give the same weights and history as 4 at once?"""
    x = data()
    whole = Bernoulli()
    h_whole = train_resumable(whole, x, x[:32], num_epochs=4, state_path=tmp_path / "a.partial", **KW)
    part = Bernoulli()
    train_resumable(part, x, x[:32], num_epochs=2, state_path=tmp_path / "b.partial", **KW)
    resumed = Bernoulli()  # a fresh process: nothing but the state file
    h_resumed = train_resumable(resumed, x, x[:32], num_epochs=4, state_path=tmp_path / "b.partial", **KW)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), "resuming changed the weights"
    for key in ("train_nll", "test_nll"):
        assert h_resumed[key] == pytest.approx(h_whole[key], abs=1e-6), f"{key}: {h_resumed[key]} vs {h_whole[key]}"
    assert len(h_resumed["test_nll"]) == 5 and len(h_resumed["train_nll"]) == 4
    assert h_resumed["unit"] == "nats/dim" and h_resumed["fast_mode"] is False
    assert h_resumed["test_nll"][0] == pytest.approx(math.log(2), abs=0.1)
    assert h_resumed["test_nll"][-1] < h_resumed["test_nll"][0], f"expected the NLL to fall: {h_resumed['test_nll']}"
    assert not (tmp_path / "b.partial.tmp").exists(), "the temporary file of the atomic save was left behind"


def test_a_finished_state_trains_no_more(tmp_path, monkeypatch):
    """Called again with the same num_epochs, does it load and return without a single step?"""
    x = data()
    first = train_resumable(Bernoulli(), x, x, num_epochs=2, state_path=tmp_path / "s", **KW)
    monkeypatch.setattr(resume, "train", lambda *a, **k: pytest.fail("trained although the state is complete"))
    model = Bernoulli()
    again = train_resumable(model, x, x, num_epochs=2, state_path=tmp_path / "s", **KW)
    assert again["test_nll"] == first["test_nll"]


def test_learning_rate_follows_the_epoch_not_num_epochs(monkeypatch):
    """Does epoch e run at lr * lr_decay**e, the same in a 2-epoch and a 3-epoch run?"""
    seen = []

    def fake_train(model, train_data, test_data, *, optimizer, **kwargs):
        seen.append(optimizer.param_groups[0]["lr"])
        return {"train_nll": [0.0], "test_nll": [], "epoch_time_s": [0.0], "unit": "nats/dim", "fast_mode": False}

    monkeypatch.setattr(resume, "train", fake_train)
    train_resumable(Bernoulli(), data(), None, num_epochs=3, lr=0.1, lr_decay=0.5, device="cpu")
    assert seen == pytest.approx([0.1, 0.05, 0.025])


def test_other_settings_are_refused_with_the_fix(tmp_path):
    """Resuming with another lr or batch size: refused, naming the setting and the file to delete?"""
    x = data()
    train_resumable(Bernoulli(), x, None, num_epochs=1, state_path=tmp_path / "s", **KW)
    with pytest.raises(ValueError, match=r"batch_size.*Fix:.*delete"):
        train_resumable(Bernoulli(), x, None, num_epochs=2, state_path=tmp_path / "s", **{**KW, "batch_size": 8})
    with pytest.raises(ValueError, match="holds 1 epochs, more than num_epochs = 0"):
        train_resumable(Bernoulli(), x, None, num_epochs=0, state_path=tmp_path / "s", **KW)
    (tmp_path / "other").write_bytes(b"")
    torch.save({"something": 1}, tmp_path / "other")
    with pytest.raises(ValueError, match="not a train_resumable state file"):
        train_resumable(Bernoulli(), x, None, num_epochs=1, state_path=tmp_path / "other", **KW)


def test_bad_arguments():
    x = data()
    with pytest.raises(ValueError, match="lr_decay"):
        train_resumable(Bernoulli(), x, num_epochs=1, lr_decay=0.0, device="cpu")
    with pytest.raises(ValueError, match="optimizer"):
        train_resumable(Bernoulli(), x, num_epochs=1, optimizer=None, device="cpu")
    with pytest.raises(ValueError, match="num_epochs"):
        train_resumable(Bernoulli(), x, num_epochs=-1, device="cpu")


def test_fast_mode_caps_the_epochs(monkeypatch):
    """Under DGM_FAST=1, are at most FAST_MAX_EPOCHS epochs run, and the history marked fast?"""
    monkeypatch.setenv("DGM_FAST", "1")
    history = train_resumable(Bernoulli(), data(), data()[:16], num_epochs=10, device="cpu", progress=False,
                              batch_size=16)
    assert len(history["train_nll"]) == resume.FAST_MAX_EPOCHS and history["fast_mode"] is True
