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
import time
from collections.abc import Iterable
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

    def autocast() -> Any:
        return torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else nullcontext()

    history: History = {
        "train_nll": [],
        "test_nll": [],
        "epoch_time_s": [],
        "unit": "nats/dim",
        "fast_mode": fast,
    }

    def evaluate() -> None:
        if test_data is not None:
            with autocast():
                history["test_nll"].append(evaluate_nll(model, test_data, batch_size=max(batch_size, 256), device=device))

    from tqdm.auto import tqdm

    evaluate()
    bar = tqdm(range(num_epochs), desc="epochs", disable=not progress)
    for epoch in bar:
        model.train()
        start = time.perf_counter()
        total, count = 0.0, 0
        batches = _batches(train_data, batch_size, shuffle=True, seed=seed + epoch)
        for step, x in enumerate(batches):
            if max_steps_per_epoch is not None and step >= max_steps_per_epoch:
                break
            x = x.to(device, non_blocking=True)
            with autocast():
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
        history["train_nll"].append(total / max(count, 1))
        history["epoch_time_s"].append(time.perf_counter() - start)
        evaluate()
        postfix = {"train": f"{history['train_nll'][-1]:.4f}"}
        if history["test_nll"]:
            postfix["test"] = f"{history['test_nll'][-1]:.4f}"
        bar.set_postfix(postfix, refresh=False)
    return history
