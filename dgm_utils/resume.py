"""Training that can be stopped and resumed: ``train`` one epoch at a time, saving after each epoch.

For runs longer than one sitting on a slow CPU (lecture 04's LSTM): kill the process whenever you
like, call it again with the same arguments, and it goes on from the last finished epoch.

    >>> history = train_resumable(model, x_train, x_val, state_path="lstm.pt.partial",
    ...                           num_epochs=16, lr=3e-3, lr_decay=0.85, max_steps_per_epoch=500)

The state file holds the model, Adam's moments, the history so far and the settings; resuming with
other settings (anything but ``num_epochs``) is refused, since the result would be neither run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .runtime import get_device, is_fast_mode
from .training import FAST_MAX_EPOCHS, History, evaluate_nll, train

# What a state file is, so that an unrelated file at state_path is refused rather than loaded.
STATE_FORMAT = "dgm_utils.train_resumable/1"


def _epoch_lr(lr: float, lr_decay: float, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based): ``lr * lr_decay**epoch``, whatever ``num_epochs`` is."""
    return lr * lr_decay**epoch


def train_resumable(
    model: nn.Module,
    train_data: torch.Tensor,
    test_data: torch.Tensor | None = None,
    *,
    num_epochs: int,
    lr: float = 1e-3,
    lr_decay: float = 1.0,
    state_path: str | Path | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    test_batch_size: int = 256,
    **train_kwargs: Any,
) -> History:
    """Train ``model`` by maximum likelihood with Adam for ``num_epochs`` epochs, one ``train`` call each.

    Args:
        train_data, test_data: tensors, as for ``train`` (test_data is evaluated before training and
            after every epoch, in nats/dim).
        num_epochs: epochs in all, counting those already in the state file. In fast mode (DGM_FAST=1)
            at most ``FAST_MAX_EPOCHS``, each capped by ``train`` itself.
        lr, lr_decay: epoch ``e`` (0-based) runs at ``lr * lr_decay**e``: the schedule does not depend on
            ``num_epochs``, so a run stopped early is the first epochs of a longer one.
        state_path: where to save the state after each epoch (atomically) and to resume from; None: no saving.
        seed: epoch ``e`` shuffles and seeds with ``seed + e`` (as ``train`` does within one call).
        train_kwargs: passed on to ``train`` (batch_size, max_steps_per_epoch, grad_clip, amp, progress,
            cpu_threads); not ``optimizer``, ``lr_schedule`` or ``num_epochs``.

    Returns:
        History as ``train``'s: ``test_nll[0]`` before training, then one entry per epoch, in nats/dim.

    Raises:
        ValueError: bad arguments, or a state file written with other settings (the message says what
            differs and to delete the file to start afresh).
    """
    if num_epochs < 0:
        raise ValueError(f"num_epochs must be >= 0, got {num_epochs}")
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
    clashing = sorted({"optimizer", "lr_schedule", "num_epochs", "test_data"} & set(train_kwargs))
    if clashing:
        raise ValueError(f"train_resumable sets {clashing} itself; do not pass them")
    fast = is_fast_mode()
    if fast:
        num_epochs = min(num_epochs, FAST_MAX_EPOCHS)
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    settings = {"lr": lr, "lr_decay": lr_decay, "seed": seed, "fast_mode": fast,
                **{k: v for k, v in sorted(train_kwargs.items()) if k not in ("progress", "cpu_threads")}}
    path = Path(state_path) if state_path is not None else None

    history: History
    start = 0
    if path is not None and path.is_file():
        state = torch.load(path, map_location=device, weights_only=False)
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"{path} is not a train_resumable state file. Fix: delete it or pass another state_path")
        if state["settings"] != settings:
            differ = sorted(k for k in set(state["settings"]) | set(settings)
                            if state["settings"].get(k) != settings.get(k))
            raise ValueError(f"{path} was written with other settings ({', '.join(differ)}: "
                             f"{[state['settings'].get(k) for k in differ]} there, {[settings.get(k) for k in differ]} now). "
                             f"Fix: pass the same settings, or delete {path} to start afresh")
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        history, start = state["history"], int(state["epochs_done"])
        if start > num_epochs:
            raise ValueError(f"{path} holds {start} epochs, more than num_epochs = {num_epochs}. "
                             f"Fix: pass num_epochs={start} or more, or delete {path} to start afresh")
    else:
        history = {"train_nll": [], "test_nll": [], "epoch_time_s": [], "unit": "nats/dim", "fast_mode": fast}
        if test_data is not None:
            history["test_nll"].append(evaluate_nll(model, test_data, batch_size=test_batch_size, device=device))

    for epoch in range(start, num_epochs):
        for group in opt.param_groups:
            group["lr"] = _epoch_lr(lr, lr_decay, epoch)
        one = train(model, train_data, None, num_epochs=1, optimizer=opt, seed=seed + epoch, device=device,
                    **train_kwargs)
        history["train_nll"] += one["train_nll"]
        history["epoch_time_s"] += one["epoch_time_s"]
        if test_data is not None:
            history["test_nll"].append(evaluate_nll(model, test_data, batch_size=test_batch_size, device=device))
        if path is not None:
            _save_atomically(path, {
                "format": STATE_FORMAT, "settings": settings, "epochs_done": epoch + 1, "history": history,
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": opt.state_dict(),
            })
    return history


def _save_atomically(path: Path, obj: dict) -> None:
    """torch.save to a temporary file beside ``path``, then rename: a kill mid-save leaves the old state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
