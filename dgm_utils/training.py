"""A generic maximum-likelihood training loop, NLL evaluation and unit conversions.

Any ``torch.nn.Module`` works if it has ``log_prob(x) -> (B,)`` (log-likelihood of each example
in nats, summed over its dimensions) or ``loss(x) -> scalar`` (mean NLL in nats/dim to minimise).

    >>> history = train(model, x_train, x_test, num_epochs=10, lr=1e-3)
    >>> history["test_nll"][-1]        # nats/dim, one entry per epoch (plus one before training)

Units: "nats/dim" is the NLL of one example divided by its number of dimensions (784 for MNIST).
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from typing import Any, Literal, TypedDict

import torch
from torch import nn

from .data import make_loader
from .runtime import device_of, get_device, is_fast_mode, seed_everything

LN2 = math.log(2.0)

# Fast mode caps: at most this many epochs and batches per epoch.
FAST_MAX_EPOCHS = 2
FAST_MAX_STEPS_PER_EPOCH = 20


class History(TypedDict):
    """What ``train`` returns. NLLs are in nats/dim; index 0 of test_nll is before training."""

    train_nll: list[float]
    test_nll: list[float]
    epoch_time_s: list[float]
    unit: str
    fast_mode: bool


# ---------------------------------------------------------------------------- units


def bits_per_dim(nats_per_dim: float) -> float:
    """nats/dim -> bits/dim (divide by ln 2)."""
    return nats_per_dim / LN2


def nats_per_dim_from_bits(bits_per_dim_value: float) -> float:
    """bits/dim -> nats/dim (multiply by ln 2)."""
    return bits_per_dim_value * LN2


def nats_per_image(nats_per_dim: float, num_dims: int = 784) -> float:
    """nats/dim -> nats per image (multiply by the number of dimensions)."""
    return nats_per_dim * num_dims


# ---------------------------------------------------------------------------- loss


def _num_dims(x: torch.Tensor) -> int:
    return int(x[0].numel())


def nll_nats_per_dim(model: nn.Module, x: torch.Tensor, *, prefer: str = "loss") -> torch.Tensor:
    """Mean NLL of a batch in nats/dim, from ``model.loss`` if it has one, else ``model.log_prob``.

    ``prefer="log_prob"`` (evaluation) uses log_prob whenever the model has it.
    """
    has_loss, has_log_prob = hasattr(model, "loss"), hasattr(model, "log_prob")
    if not (has_loss or has_log_prob):
        raise TypeError(f"{type(model).__name__} has neither log_prob(x) nor loss(x)")
    if has_loss and (prefer != "log_prob" or not has_log_prob):
        loss = model.loss(x)
        if loss.ndim != 0:
            raise ValueError(f"model.loss must return a scalar, got shape {tuple(loss.shape)}")
        return loss
    log_p = model.log_prob(x)
    if log_p.shape != (x.shape[0],):
        raise ValueError(
            f"{type(model).__name__}.log_prob must return one value per example, shape "
            f"({x.shape[0]},); got {tuple(log_p.shape)}"
        )
    return -log_p.mean() / _num_dims(x)


def _batches(data: torch.Tensor | Iterable, batch_size: int, shuffle: bool, seed: int) -> Iterable:
    if isinstance(data, torch.Tensor):
        return make_loader(data, batch_size, shuffle=shuffle, seed=seed)
    return data


@torch.no_grad()
def evaluate_nll(
    model: nn.Module,
    data: torch.Tensor | Iterable[torch.Tensor],
    *,
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> float:
    """Mean NLL over ``data`` in nats/dim (every example weighted equally).

    Uses ``model.log_prob`` when present (exact per-example average), else ``model.loss``.
    """
    device = torch.device(device) if device is not None else device_of(model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for x in _batches(data, batch_size, shuffle=False, seed=0):
            x = x.to(device)
            total += float(nll_nats_per_dim(model, x, prefer="log_prob")) * x.shape[0]
            count += x.shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate_nll got no data")
    return total / count


# ---------------------------------------------------------------------------- training


def _steps_per_epoch(data: torch.Tensor | Iterable, batch_size: int, max_steps: int | None) -> int:
    if isinstance(data, torch.Tensor):
        steps = math.ceil(len(data) / batch_size)
    else:
        try:
            steps = len(data)  # type: ignore[arg-type]
        except TypeError:
            raise ValueError("lr_schedule='cosine' needs the number of batches: pass a tensor or a sized iterable") from None
    return steps if max_steps is None else min(steps, max_steps)


def _cosine_factor(step: int, total: int) -> float:
    """The learning-rate factor of step ``step`` of ``total``: 1 at the start, 0 at the end, half a cosine between."""
    progress = min(step, total) / total
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _cosine_schedule(opt: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(opt, functools.partial(_cosine_factor, total=max(total_steps, 1)))


def train(
    model: nn.Module,
    train_data: torch.Tensor | Iterable[torch.Tensor],
    test_data: torch.Tensor | Iterable[torch.Tensor] | None = None,
    *,
    num_epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 128,
    optimizer: torch.optim.Optimizer | None = None,
    grad_clip: float | None = None,
    device: torch.device | str | None = None,
    amp: bool = False,
    seed: int = 0,
    max_steps_per_epoch: int | None = None,
    lr_schedule: Literal["constant", "cosine"] = "constant",
    progress: bool = True,
    cpu_threads: int | Literal["auto"] | None = "auto",
) -> History:
    """Train ``model`` by maximum likelihood with Adam (or ``optimizer``); return the history.

    Args:
        train_data, test_data: tensors (batched here, shuffled with ``seed``) or iterables of
            batches. Tensors are moved to ``device`` batch by batch; put them there beforehand
            to keep a whole data set on the GPU.
        grad_clip: clip the global gradient norm to this value.
        device: where to train; default ``get_device()`` (cuda, then mps, then cpu).
        amp: bfloat16 autocast on cuda (ignored elsewhere).
        max_steps_per_epoch: stop each epoch after this many batches.
        lr_schedule: "constant", or "cosine": the learning rate falls from ``lr`` to 0 along a
            half cosine over all the steps of the run (the fast-mode caps included).
        progress: a progress bar over all the steps of the run, with the estimated time left
            (tqdm's) and the epoch, the last training and test NLL and the CPU thread count.
        cpu_threads: torch's intra-op threads while training on the CPU (restored afterwards).
            "auto": when torch would use more than one and ``OMP_NUM_THREADS`` does not say, time
            ``PROBE_STEPS`` training steps with torch's count, as many with one thread, and train on
            with the faster (beside another multi-threaded job two threads fight for the cores: an
            LSTM step took 24 s with 2 threads against 10 s with 1; on an idle machine 1.4 s against
            2.1 s, docs in README "Training on a CPU"). An int: that many. None: leave torch as it is.

    In fast mode (DGM_FAST=1) epochs are capped at ``FAST_MAX_EPOCHS`` and batches per epoch at
    ``FAST_MAX_STEPS_PER_EPOCH``.

    Returns:
        History with per-epoch ``train_nll`` (mean over the epoch's batches) and ``test_nll``
        (entry 0 before training, then after each epoch), both in nats/dim.
    """
    if num_epochs < 0:
        raise ValueError(f"num_epochs must be >= 0, got {num_epochs}")
    if lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
    fast = is_fast_mode()
    if fast:
        num_epochs = min(num_epochs, FAST_MAX_EPOCHS)
        max_steps_per_epoch = min(max_steps_per_epoch or FAST_MAX_STEPS_PER_EPOCH, FAST_MAX_STEPS_PER_EPOCH)
    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    model.to(device)
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = None
    if lr_schedule == "cosine":
        scheduler = _cosine_schedule(opt, num_epochs * _steps_per_epoch(train_data, batch_size, max_steps_per_epoch))
    use_amp = amp and device.type == "cuda"
    test_batch_size = max(batch_size, 256)
    history: History = {"train_nll": [], "test_nll": [], "epoch_time_s": [], "unit": "nats/dim", "fast_mode": fast}
    threads = CpuThreads(cpu_threads if device.type == "cpu" else None)
    try:
        if test_data is not None:
            history["test_nll"].append(_test_nll(model, test_data, test_batch_size, device, use_amp))
        _fit(model, train_data, test_data, history, opt, scheduler, threads, num_epochs=num_epochs,
             batch_size=batch_size, test_batch_size=test_batch_size, device=device, use_amp=use_amp,
             grad_clip=grad_clip, max_steps=max_steps_per_epoch, seed=seed, progress=progress)
    finally:
        threads.restore()
    return history


def _fit(model: nn.Module, train_data: Any, test_data: Any, history: History, opt: torch.optim.Optimizer,
         scheduler: Any, threads: "CpuThreads", *, num_epochs: int, batch_size: int, test_batch_size: int,
         device: torch.device, use_amp: bool, grad_clip: float | None, max_steps: int | None, seed: int,
         progress: bool) -> None:
    """The epochs of ``train``, with one progress bar over all their steps (tqdm estimates the time left)."""
    from tqdm.auto import tqdm

    steps = _known_steps(train_data, batch_size, max_steps)
    total = num_epochs * steps if steps is not None else None
    bar = tqdm(total=total, desc="training", unit="step", disable=not progress or num_epochs == 0)
    postfix: dict[str, str] = {}

    def on_step(seconds: float) -> None:
        threads.after_step(seconds)
        if threads.count is not None:
            postfix["threads"] = str(threads.count)
        bar.set_postfix(postfix, refresh=False)
        bar.update(1)

    try:
        for epoch in range(num_epochs):
            postfix["epoch"] = f"{epoch + 1}/{num_epochs}"
            start = time.perf_counter()
            batches = _batches(train_data, batch_size, shuffle=True, seed=seed + epoch)
            history["train_nll"].append(_train_epoch(model, batches, opt, scheduler, device=device, use_amp=use_amp,
                                                     grad_clip=grad_clip, max_steps=max_steps, epoch=epoch,
                                                     before_step=threads.before_step, on_step=on_step))
            history["epoch_time_s"].append(time.perf_counter() - start)
            postfix["train"] = f"{history['train_nll'][-1]:.4f}"
            if test_data is not None:
                history["test_nll"].append(_test_nll(model, test_data, test_batch_size, device, use_amp))
                postfix["test"] = f"{history['test_nll'][-1]:.4f}"
            bar.set_postfix(postfix)
    finally:
        bar.close()


def _known_steps(data: torch.Tensor | Iterable, batch_size: int, max_steps: int | None) -> int | None:
    """Batches per epoch, or None for an iterable without a length (the bar then counts without a total)."""
    try:
        return _steps_per_epoch(data, batch_size, max_steps)
    except ValueError:
        return max_steps


# Steps timed with torch's own thread count, then as many with one thread (after one warm-up step).
PROBE_STEPS = 2


class CpuThreads:
    """torch's intra-op thread count while training on a CPU: fixed, or chosen by timing steps.

    With "auto" (and more than one thread, and no OMP_NUM_THREADS), step 0 warms up, steps 1..PROBE_STEPS
    run with torch's count and the next PROBE_STEPS with one thread; the run goes on with the faster
    (one thread only if it is at least 10 % faster). Every probe step is a real training step.
    """

    def __init__(self, setting: int | Literal["auto"] | None):
        self.original = torch.get_num_threads()
        self.count: int | None = None  # the count in force (None: not managed, e.g. on a GPU)
        self._probe: dict[int, list[float]] | None = None
        self._step = 0
        if setting is None:
            return
        if setting == "auto":
            self.count = self.original
            if self.original > 1 and not os.environ.get("OMP_NUM_THREADS", "").strip():
                self._probe = {self.original: [], 1: []}
            return
        if not isinstance(setting, int) or isinstance(setting, bool) or setting < 1:
            raise ValueError(f"cpu_threads must be a positive int, 'auto' or None, got {setting!r}")
        self.count = setting
        torch.set_num_threads(setting)

    def before_step(self) -> None:
        if self._probe is not None and self._step == 1 + PROBE_STEPS:
            torch.set_num_threads(1)

    def after_step(self, seconds: float) -> None:
        probe, step = self._probe, self._step
        self._step += 1
        if probe is None or step == 0:
            return
        probe[self.original if step <= PROBE_STEPS else 1].append(seconds)
        if len(probe[1]) == PROBE_STEPS:
            many, one = (sum(probe[k]) / PROBE_STEPS for k in (self.original, 1))
            self.count = 1 if one < 0.9 * many else self.original
            torch.set_num_threads(self.count)
            self._probe = None

    def restore(self) -> None:
        if self.count is not None:
            torch.set_num_threads(self.original)


def _autocast(use_amp: bool) -> Any:
    """bfloat16 autocast on cuda when ``use_amp``, else nothing."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else nullcontext()


def _test_nll(model: nn.Module, data: torch.Tensor | Iterable, batch_size: int, device: torch.device,
              use_amp: bool) -> float:
    """Mean NLL of ``data`` in nats/dim, under the training run's autocast."""
    with _autocast(use_amp):
        return evaluate_nll(model, data, batch_size=batch_size, device=device)


def _train_epoch(model: nn.Module, batches: Iterable[torch.Tensor], opt: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None, *, device: torch.device, use_amp: bool,
                 grad_clip: float | None, max_steps: int | None, epoch: int,
                 before_step: Callable[[], None] | None = None,
                 on_step: Callable[[float], None] | None = None) -> float:
    """One pass of optimisation steps over ``batches`` (at most ``max_steps``); the mean training NLL of
    its images in nats/dim. Raises FloatingPointError on a non-finite loss, naming the step.
    ``before_step()`` and ``on_step(seconds)`` are called around each step."""
    model.train()
    total, count = 0.0, 0
    for step, x in enumerate(batches):
        if max_steps is not None and step >= max_steps:
            break
        if before_step is not None:
            before_step()
        start = time.perf_counter()
        x = x.to(device, non_blocking=True)
        with _autocast(use_amp):
            loss = nll_nats_per_dim(model, x)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"NLL became {float(loss.detach())} at epoch {epoch}, step {step}: lower lr or set grad_clip"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        if scheduler is not None:
            scheduler.step()
        total += float(loss.detach()) * x.shape[0]
        count += x.shape[0]
        if on_step is not None:
            on_step(time.perf_counter() - start)
    return total / max(count, 1)
