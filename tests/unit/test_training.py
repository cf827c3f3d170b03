"""Unit tests of dgm_utils.training: the loop's history against closed forms, clipping, fast mode,
seeding, evaluate_nll and the unit conversions.

Run: DGM_DATA_DIR=/work/shared/data/mnist .venv/bin/python -m pytest tests/unit/test_training.py -q
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dgm_utils import training
from dgm_utils.data import load_mnist
from dgm_utils.training import bits_per_dim, evaluate_nll, nats_per_image, train


class IndependentBernoulli(nn.Module):
    """p(x) = prod_j Bernoulli(x_j; sigmoid(logit_j)); logits start at 0 (NLL = ln 2 nats/dim)."""

    def __init__(self, num_dims: int = 784) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_dims))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, ...) float {0, 1}; returns (B,) log-likelihood in nats, summed over dims."""
        # log Bernoulli(x; sigmoid(l)) = x l - softplus(l); a matmul keeps this fast on 784 dims
        return x.reshape(len(x), -1) @ self.logits - F.softplus(self.logits).sum()


class LossOnly(nn.Module):
    """The same model seen through loss(x) only: mean NLL in nats/dim."""

    def __init__(self, num_dims: int = 784) -> None:
        super().__init__()
        self.inner = IndependentBernoulli(num_dims)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return -self.inner.log_prob(x).mean() / x[0].numel()


class Counting(IndependentBernoulli):
    """Counts the training batches it sees."""

    def __init__(self, num_dims: int) -> None:
        super().__init__(num_dims)
        self.train_batches = 0

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        self.train_batches += int(self.training)
        return super().log_prob(x)


def binary_entropy_nats(p: torch.Tensor) -> torch.Tensor:
    """H(p) = -p ln p - (1 - p) ln(1 - p), with 0 ln 0 = 0."""
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))


def synthetic(n: int, d: int, seed: int) -> torch.Tensor:
    """(n, d) float32 {0, 1} with pixel j on with probability j / d."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g) < torch.linspace(0, 1, d)).float()


# ---------------------------------------------------------------------------- closed forms


def test_mnist_independent_model_reaches_the_entropy_of_the_marginals(mnist_dir):
    """On 1000 thresholded MNIST images, does training start at ln 2, lower the test NLL, and reach the
    closed-form optimum: the mean binary entropy of the pixel marginals, in nats/dim?"""
    x_train = load_mnist("train", binarize="threshold", limit=1000)
    x_test = load_mnist("test", binarize="threshold", limit=200)
    optimum = float(binary_entropy_nats(x_train.reshape(1000, -1).double().mean(0)).mean())
    model = IndependentBernoulli()
    # full batches and a large Adam step: 100 deterministic steps land ~2e-4 nats/dim from the optimum
    history = train(model, x_train, x_test, num_epochs=100, lr=1.0, batch_size=1000, device="cpu", progress=False)
    assert abs(history["test_nll"][0] - math.log(2)) < 1e-6, f"expected ln 2 before training, got {history['test_nll'][0]}"
    best_test = min(history["test_nll"])
    assert best_test < history["test_nll"][0] - 0.3, f"expected the test NLL to fall, got {history['test_nll'][::10]}"
    assert history["test_nll"][1] < history["test_nll"][0], f"expected the first epoch to lower it: {history['test_nll'][:3]}"
    reached = evaluate_nll(model, x_train)
    assert optimum <= reached + 1e-6, f"nothing beats the closed form {optimum:.5f} nats/dim, got {reached:.5f}"
    assert reached - optimum < 1e-3, (
        f"expected the train NLL within 1e-3 nats/dim of the entropy {optimum:.5f} (threshold binarisation), "
        f"got {reached:.5f}"
    )
    # with full batches, train_nll of an epoch is the NLL before its step: it converges to the same value
    assert abs(history["train_nll"][-1] - reached) < 1e-3, f"train_nll {history['train_nll'][-1]} vs {reached}"


def test_train_nll_is_the_per_example_mean_of_the_epoch():
    """With an uneven last batch (4, 4, 2), is train_nll the mean over examples, not over batches?"""

    class MeanOfX(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

        def log_prob(self, x: torch.Tensor) -> torch.Tensor:
            return -(x.sum(1) + 0 * self.w)  # NLL per dim = mean of the row; no parameter moves it

    x = torch.tensor([[1.0]] * 8 + [[10.0]] * 2)
    history = train(MeanOfX(), x, x, num_epochs=1, batch_size=4, device="cpu", progress=False)
    expected = float(x.mean())  # 2.8; the mean of batch means would depend on the shuffle
    assert abs(history["train_nll"][0] - expected) < 1e-6, f"expected {expected}, got {history['train_nll'][0]}"
    assert abs(history["test_nll"][-1] - expected) < 1e-6, f"expected {expected}, got {history['test_nll'][-1]}"


def test_history_contract():
    """Does train return a History: nats/dim, test_nll with num_epochs + 1 entries, one time per epoch?"""
    x = synthetic(64, 8, seed=0)
    history = train(IndependentBernoulli(8), x, x[:16], num_epochs=3, lr=0.05, batch_size=16, device="cpu", progress=False)
    assert history["unit"] == "nats/dim" and history["fast_mode"] is False
    lengths = {k: len(history[k]) for k in ("train_nll", "test_nll", "epoch_time_s")}
    assert lengths == {"train_nll": 3, "test_nll": 4, "epoch_time_s": 3}, f"got {lengths}"
    assert all(t >= 0 for t in history["epoch_time_s"])
    assert all(isinstance(v, float) for v in history["train_nll"] + history["test_nll"])


def test_zero_epochs_and_no_test_data():
    """Does num_epochs=0 only evaluate, test_data=None leave test_nll empty, and a negative count fail?"""
    x = synthetic(32, 8, seed=0)
    history = train(IndependentBernoulli(8), x, x, num_epochs=0, device="cpu", progress=False)
    assert history["train_nll"] == [] and len(history["test_nll"]) == 1
    assert abs(history["test_nll"][0] - math.log(2)) < 1e-6
    history = train(IndependentBernoulli(8), x, None, num_epochs=1, device="cpu", progress=False)
    assert history["test_nll"] == [] and len(history["train_nll"]) == 1
    with pytest.raises(ValueError, match="num_epochs must be >= 0"):
        train(IndependentBernoulli(8), x, num_epochs=-1, device="cpu", progress=False)


# ---------------------------------------------------------------------------- model interfaces


def test_loss_model_trains_exactly_like_log_prob_model():
    """Does a model with loss(x) give the same history as the same model with log_prob(x)?"""
    x = synthetic(200, 16, seed=1)
    kwargs = dict(num_epochs=3, lr=0.05, batch_size=32, device="cpu", seed=5, progress=False)
    a = train(IndependentBernoulli(16), x, x[:50], **kwargs)
    b = train(LossOnly(16), x, x[:50], **kwargs)
    for key in ("train_nll", "test_nll"):
        assert a[key] == pytest.approx(b[key], abs=1e-6), f"{key}: log_prob gave {a[key]}, loss gave {b[key]}"
    assert a["test_nll"][-1] < a["test_nll"][0], "expected training to lower the test NLL"


@pytest.mark.parametrize("bad", ["column", "scalar", "too-many"])
def test_bad_log_prob_shape_raises(bad):
    """Does a log_prob that does not return (B,) raise a ValueError naming the expected shape?"""

    class Bad(IndependentBernoulli):
        def log_prob(self, x):
            out = super().log_prob(x)
            return {"column": out[:, None], "scalar": out.sum(), "too-many": torch.cat([out, out])}[bad]

    x = synthetic(20, 4, seed=0)
    with pytest.raises(ValueError, match=r"must return one value per example, shape \(10,\)"):
        train(Bad(4), x, num_epochs=1, batch_size=10, device="cpu", progress=False)


def test_non_scalar_loss_and_missing_methods_raise():
    """Does a non-scalar loss raise ValueError, and a model with neither method a TypeError?"""

    class VectorLoss(LossOnly):
        def loss(self, x):
            return -self.inner.log_prob(x) / x[0].numel()

    x = synthetic(20, 4, seed=0)
    with pytest.raises(ValueError, match="must return a scalar"):
        train(VectorLoss(4), x, num_epochs=1, device="cpu", progress=False)
    with pytest.raises(TypeError, match="neither log_prob"):
        train(nn.Linear(4, 1), x, num_epochs=1, device="cpu", progress=False)


def test_non_finite_loss_stops_with_advice():
    """Does a NaN NLL stop training with a FloatingPointError that suggests a fix?"""

    class Nan(IndependentBernoulli):
        def log_prob(self, x):
            return super().log_prob(x) * float("nan")

    with pytest.raises(FloatingPointError, match="lower lr or set grad_clip"):
        train(Nan(4), synthetic(20, 4, seed=0), num_epochs=1, device="cpu", progress=False)


def test_iterable_of_batches_is_accepted():
    """Are lists of batches used as they are (one step per batch, no re-batching)?"""
    model = Counting(8)
    batches = [synthetic(5, 8, seed=i) for i in range(3)]
    history = train(model, batches, batches, num_epochs=2, batch_size=100, device="cpu", progress=False)
    assert model.train_batches == 6, f"expected 3 steps x 2 epochs, got {model.train_batches}"
    assert len(history["test_nll"]) == 3


# ---------------------------------------------------------------------------- clipping, fast mode, seeding


GRAD_NORM = 0.5 / 28  # zero logits, all-ones images: d(NLL/dim)/d logit_j = -0.5/784 for 784 pixels


@pytest.mark.parametrize(
    ("grad_clip", "expected_norm"),
    # clip_grad_norm_ scales by max_norm / (norm + 1e-6) when the norm exceeds max_norm
    [(None, GRAD_NORM), (1e-3, 1e-3 * GRAD_NORM / (GRAD_NORM + 1e-6)), (1.0, GRAD_NORM)],
)
def test_grad_clip_bounds_the_step(grad_clip, expected_norm):
    """With SGD(lr=1) and one step, is the parameter change the gradient (norm 0.5/28) clipped to grad_clip?"""
    model = IndependentBernoulli()
    x = torch.ones(8, 784)
    train(model, x, optimizer=torch.optim.SGD(model.parameters(), lr=1.0), grad_clip=grad_clip, num_epochs=1,
          batch_size=8, device="cpu", progress=False)
    step = float(model.logits.detach().norm())
    assert step == pytest.approx(expected_norm, rel=1e-6), f"grad_clip={grad_clip}: expected step {expected_norm}, got {step}"


@pytest.mark.parametrize(
    ("fast", "num_epochs", "max_steps", "epochs", "steps"),
    [(True, 5, None, 2, 20), (True, 5, 5, 2, 5), (True, 1, 50, 1, 20), (False, 3, None, 3, 100), (False, 2, 7, 2, 7)],
)
def test_fast_mode_caps_epochs_and_steps(monkeypatch, fast, num_epochs, max_steps, epochs, steps):
    """Does DGM_FAST=1 cap epochs at 2 and steps at 20 per epoch, while max_steps_per_epoch always applies?"""
    if fast:
        monkeypatch.setenv("DGM_FAST", "1")
    model = Counting(4)
    history = train(model, synthetic(1000, 4, seed=0), num_epochs=num_epochs, batch_size=10,
                    max_steps_per_epoch=max_steps, device="cpu", progress=False)
    assert history["fast_mode"] is fast
    assert len(history["train_nll"]) == epochs, f"expected {epochs} epochs, got {len(history['train_nll'])}"
    assert model.train_batches == epochs * steps, f"expected {epochs} x {steps} steps, got {model.train_batches}"
    assert (training.FAST_MAX_EPOCHS, training.FAST_MAX_STEPS_PER_EPOCH) == (2, 20), "documented caps changed"


class Dropped(IndependentBernoulli):
    """Drops logits at random during training: its loss uses the global torch RNG."""

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        logits = F.dropout(self.logits, p=0.2, training=self.training)
        return x.reshape(len(x), -1) @ logits - F.softplus(logits).sum()


def test_same_seed_same_history_other_seed_other_history():
    """Whatever the global RNG state before, do two runs with the same seed give identical histories and
    weights (shuffling and dropout included), and another seed not?"""

    def run(seed: int, state_before: int) -> tuple[dict, torch.Tensor]:
        torch.manual_seed(0)
        model = Dropped(16)
        with torch.no_grad():
            model.logits.normal_()  # the same random init in every run
        torch.manual_seed(state_before)  # whatever the notebook did before calling train
        history = train(model, synthetic(300, 16, seed=2), synthetic(60, 16, seed=3), num_epochs=3, lr=0.05,
                        batch_size=25, seed=seed, device="cpu", progress=False)
        return history, model.logits.detach().clone()

    (h1, w1), (h2, w2), (h3, _) = run(7, state_before=100), run(7, state_before=200), run(8, state_before=100)
    assert h1["train_nll"] == h2["train_nll"] and h1["test_nll"] == h2["test_nll"], "same seed, different history"
    assert torch.equal(w1, w2), "same seed, different weights"
    assert h1["train_nll"] != h3["train_nll"], "expected another seed to give another run"
    assert h1["test_nll"][0] == h3["test_nll"][0], "the initial evaluation (eval mode, no dropout) must not depend on the seed"


def test_amp_is_ignored_on_cpu():
    """Does amp=True on cpu give exactly the history of amp=False (bfloat16 autocast is cuda-only)?"""
    x = synthetic(100, 8, seed=4)
    kwargs = dict(num_epochs=2, lr=0.05, batch_size=20, device="cpu", progress=False)
    a = train(IndependentBernoulli(8), x, x, amp=True, **kwargs)
    b = train(IndependentBernoulli(8), x, x, amp=False, **kwargs)
    assert a["train_nll"] == b["train_nll"] and a["test_nll"] == b["test_nll"]


def test_forced_unavailable_device_fails_before_training(monkeypatch):
    """Does train() with DGM_DEVICE=cuda on a cuda-less machine raise get_device's clear error?"""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("DGM_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        train(IndependentBernoulli(4), synthetic(10, 4, seed=0), num_epochs=1, progress=False)


# ---------------------------------------------------------------------------- evaluate_nll


def test_evaluate_nll_is_the_exact_per_example_mean():
    """Does evaluate_nll over uneven batches equal -mean(log_prob)/D computed in one go, and keep the mode?"""
    model = IndependentBernoulli(12)
    with torch.no_grad():
        model.logits.copy_(torch.linspace(-2, 2, 12))
    x = synthetic(50, 12, seed=6)
    expected = float(-model.log_prob(x).mean() / 12)
    for batch_size in (7, 50, 512):
        got = evaluate_nll(model, x, batch_size=batch_size)
        assert got == pytest.approx(expected, abs=1e-6), f"batch_size={batch_size}: expected {expected}, got {got}"
    assert evaluate_nll(model, list(x.split(9))) == pytest.approx(expected, abs=1e-6), "list of batches"
    model.train()
    evaluate_nll(model, x)
    assert model.training, "expected train mode restored"
    model.eval()
    evaluate_nll(model, x)
    assert not model.training, "expected eval mode kept"
    with pytest.raises(ValueError, match="no data"):
        evaluate_nll(model, [])


def test_evaluate_nll_prefers_log_prob_over_loss():
    """For a model with both methods, does evaluate_nll use log_prob as its docstring says?"""

    class Regularised(IndependentBernoulli):
        def loss(self, x):  # training objective = NLL + a penalty of 1 nat/dim
            return -self.log_prob(x).mean() / x[0].numel() + 1.0

    model = Regularised(8)
    got = evaluate_nll(model, synthetic(20, 8, seed=0))
    assert got == pytest.approx(math.log(2), abs=1e-6), f"expected the NLL ln 2 nats/dim, got {got}"


# ---------------------------------------------------------------------------- units


def test_unit_conversions():
    """Are bits/dim = nats/dim / ln 2, its inverse, and nats per image = nats/dim x 784 (or num_dims)?"""
    assert bits_per_dim(math.log(2)) == pytest.approx(1.0, abs=1e-15)
    assert bits_per_dim(1.0) == pytest.approx(1.4426950408889634)
    assert training.nats_per_dim_from_bits(bits_per_dim(0.3)) == pytest.approx(0.3)
    assert nats_per_image(0.1) == pytest.approx(78.4)
    assert nats_per_image(2.0, num_dims=3) == pytest.approx(6.0)


# ---------------------------------------------------------------------------- learning-rate schedule


class RecordingSGD(torch.optim.SGD):
    """SGD that records the learning rate of every step it takes."""

    def __init__(self, params, lr: float) -> None:
        super().__init__(params, lr=lr)
        self.lrs: list[float] = []

    def step(self, closure=None):  # type: ignore[override]
        self.lrs.append(self.param_groups[0]["lr"])
        return super().step(closure)


@pytest.mark.parametrize(
    ("fast", "num_epochs", "n", "batch_size", "max_steps", "total"),
    # total steps = epochs x min(ceil(n / batch_size), max_steps), after the fast-mode caps (2 epochs, 20 steps)
    [(False, 3, 95, 10, None, 30), (False, 2, 100, 10, 4, 8), (True, 5, 1000, 10, None, 40)],
)
def test_cosine_schedule_falls_from_lr_to_zero_over_the_whole_run(monkeypatch, fast, num_epochs, n, batch_size,
                                                                  max_steps, total):
    """Is step k's lr = lr * (1 + cos(pi k / T)) / 2 over the run's T steps, and does "constant" keep lr?"""
    if fast:
        monkeypatch.setenv("DGM_FAST", "1")
    x = synthetic(n, 4, seed=0)
    model = IndependentBernoulli(4)
    opt = RecordingSGD(model.parameters(), lr=0.2)
    train(model, x, optimizer=opt, num_epochs=num_epochs, batch_size=batch_size, max_steps_per_epoch=max_steps,
          lr_schedule="cosine", device="cpu", progress=False)
    expected = [0.2 * 0.5 * (1 + math.cos(math.pi * k / total)) for k in range(total)]
    assert opt.lrs == pytest.approx(expected, abs=1e-12), f"expected a half cosine over {total} steps, got {opt.lrs}"
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12), "the run should end at lr 0"

    model = IndependentBernoulli(4)
    opt = RecordingSGD(model.parameters(), lr=0.2)
    train(model, x, optimizer=opt, num_epochs=num_epochs, batch_size=batch_size, max_steps_per_epoch=max_steps,
          device="cpu", progress=False)
    assert opt.lrs == [0.2] * total, "the default schedule must keep lr constant"


def test_cosine_schedule_counts_batches_of_a_sized_iterable_and_refuses_an_unsized_one():
    """A list of batches has a length to plan the schedule over; a generator has none and gets a clear error."""
    batches = [synthetic(8, 4, seed=s) for s in range(5)]
    model = IndependentBernoulli(4)
    opt = RecordingSGD(model.parameters(), lr=1.0)
    train(model, batches, optimizer=opt, num_epochs=2, lr_schedule="cosine", device="cpu", progress=False)
    assert opt.lrs == pytest.approx([0.5 * (1 + math.cos(math.pi * k / 10)) for k in range(10)], abs=1e-12)
    with pytest.raises(ValueError, match="number of batches"):
        train(IndependentBernoulli(4), (b for b in batches), lr_schedule="cosine", device="cpu", progress=False)
    with pytest.raises(ValueError, match="lr_schedule"):
        train(IndependentBernoulli(4), batches, lr_schedule="linear", device="cpu", progress=False)  # type: ignore[arg-type]
