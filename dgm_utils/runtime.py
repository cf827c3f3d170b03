"""Where and how fast to run: device choice, fast mode, grading mode and seeding.

Nothing here runs at import. Every choice is made when a function is called, so a notebook
opened on a laptop, on a GPU box or inside CI behaves right without edits.

Environment variables
---------------------
DGM_DEVICE
    Force a device ("cpu", "cuda", "cuda:1", "mps"). Unset: cuda, then mps, then cpu.
DGM_FAST
    "1" shrinks epochs and data so that every notebook runs on a CPU in CI in minutes.
NBGRADER_EXECUTION
    Set by nbgrader to "validate" or "autograde" while it executes a notebook.
"""

from __future__ import annotations

import os
import random
import time
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}

# When this process first imported dgm_utils (a notebook's setup cell, early in a Run All): a notebook
# saved before then cannot show this kernel's run (dgm_utils.submit checks it). Only a clock read.
IMPORTED_AT = time.time()


def get_device(prefer: str | None = None) -> torch.device:
    """Return the device to compute on, chosen now (not at import).

    Order: ``prefer`` if given, else ``$DGM_DEVICE`` if set, else cuda, then mps, then cpu.
    A requested device that is not available raises a ``RuntimeError`` that says so.
    """
    name = prefer or os.environ.get("DGM_DEVICE", "").strip()
    if name:
        try:
            device = torch.device(name)
        except RuntimeError as exc:
            source = "get_device(prefer=...)" if prefer else "DGM_DEVICE"
            raise RuntimeError(
                f"{source}={name!r} is not a device name: use 'cpu', 'cuda', 'cuda:N' or 'mps'."
            ) from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {name!r} was requested (argument or DGM_DEVICE) but CUDA is not "
                "available here. Unset DGM_DEVICE or set it to 'cpu'."
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(
                f"Device {name!r} was requested but MPS is not available here. "
                "Unset DGM_DEVICE or set it to 'cpu'."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_of(model: object) -> torch.device:
    """Where ``model`` lives: the device of its first parameter or buffer; the CPU for a module
    without any, or for anything that is not a torch module (e.g. the clean room's proxy of one)."""
    if isinstance(model, torch.nn.Module):
        for tensor in [*model.parameters(), *model.buffers()]:
            return tensor.device
    return torch.device("cpu")


def is_fast_mode() -> bool:
    """True when ``DGM_FAST`` asks for the small CI-sized run."""
    return os.environ.get("DGM_FAST", "").strip().lower() in _TRUE


def fast_or(full: T, fast: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise.

    This is the one place notebooks read fast mode, e.g. ``num_epochs = fast_or(20, 1)``.
    """
    return fast if is_fast_mode() else full


def grading_mode() -> str | None:
    """Return "validate" or "autograde" while nbgrader executes the notebook, else None."""
    value = os.environ.get("NBGRADER_EXECUTION", "").strip().lower()
    return value if value in {"validate", "autograde"} else None


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a torch.Generator with that seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
