"""Stand-in models of known behaviour for hw2's tests (registered in the clean room's library).

A test of one task must not depend on another task's student code: a completion test uses a
stand-in model whose conditionals the grader knows, never the student's own LSTM. A stand-in is
an ``nn.Module`` that crosses the clean room by name (``lib_name``, ``lib_params``): the test
builds one here, hands it to a student's function, and the student's process builds its own copy
from the same parameters; the grader computes what it expects from its copy.

    >>> from dgm_utils.cleanroom import standins
    >>> mirror = standins.mirror()                    # p(x_i = 1 | x_<i) = 0.97 if x_{i-392} = 1, else 0.03
    >>> out = complete_bottom_half(mirror, x)         # the student's function, wherever it runs
    >>> calibration(mirror.conditional_logits(flat), flat, start=392)

Also here: ``layer_calls``, a library callable for ``model.apply(...)`` that hooks a model's layers
in the process where the model lives and records their calls (read them with ``lib.probe_records``).
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

import torch
from torch import nn

from . import library
from .library import _register

NUM_PIXELS, SIDE = 784, 28

# Stand-in models by library name. ``library.build`` returns the model itself for these names (see
# the end of this file), so that a student's code can call its methods.
_MODELS: dict[str, Callable[..., nn.Module]] = {}


class StandIn(nn.Module):
    """A model of known conditionals that crosses the clean room by name and parameters."""

    __described__ = True  # wire.encode sends (lib_name, lib_params) instead of the object

    def __init__(self, lib_name: str, **params: Any):
        super().__init__()
        self.lib_name, self.lib_params = lib_name, dict(params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.lib_params.items())
        return f"standins.{self.lib_name}({args})"

    def conditional_logits(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def _probability(name: str, value: Any) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return value


class Mirror(StandIn):
    """p(x_i = 1 | x_<i) = p_same if x_{i-offset} = 1 else 1 - p_same, for i >= offset;
    p_top for i < offset. With offset 392 the bottom half mirrors the top half (97 % of pixels)."""

    def __init__(self, offset: int = 392, p_same: float = 0.97, p_top: float = 0.5):
        offset = int(offset)
        if not 1 <= offset < NUM_PIXELS:
            raise ValueError(f"offset must be in 1..783, got {offset}")
        super().__init__("mirror", offset=offset, p_same=_probability("p_same", p_same),
                         p_top=_probability("p_top", p_top))
        self.offset, self.p_same, self.p_top = offset, float(p_same), float(p_top)

    def conditional_logits(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 784) of 0/1 -> (B, 784) logits (vectorised)."""
        x = x.reshape(-1, NUM_PIXELS).float().cpu()
        same = math.log(self.p_same / (1 - self.p_same))
        logits = torch.full_like(x, math.log(self.p_top / (1 - self.p_top)))
        logits[:, self.offset:] = same * (2 * x[:, : NUM_PIXELS - self.offset] - 1)
        return logits

    @torch.no_grad()
    def sample(self, num_samples: int, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Exact ancestral sampling (torch's generator); ``prefix`` (N, k) fixes the first k pixels.
        Returns float32 (num_samples, 1, 28, 28) of 0/1."""
        x = torch.zeros(num_samples, NUM_PIXELS)
        k = 0 if prefix is None else int(prefix.shape[-1])
        if k:
            x[:, :k] = prefix.reshape(num_samples, k).float().cpu()
        if k < self.offset:
            x[:, k:self.offset] = torch.bernoulli(torch.full((num_samples, self.offset - k), self.p_top))
        # pixels offset apart form chains: a block of `offset` pixels depends only on the block before it
        start = max(k, self.offset)
        while start < NUM_PIXELS:
            stop = min(NUM_PIXELS, start + self.offset)
            parent = x[:, start - self.offset:stop - self.offset]
            x[:, start:stop] = torch.bernoulli(parent * self.p_same + (1 - parent) * (1 - self.p_same))
            start = stop
        return x.reshape(num_samples, 1, SIDE, SIDE)


class Constant(StandIn):
    """p(x_i = 1 | x_<i) = p at every pixel, whatever the context."""

    def __init__(self, p: float = 0.2):
        super().__init__("constant", p=_probability("p", p))
        self.p = float(p)

    def conditional_logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], NUM_PIXELS), math.log(self.p / (1 - self.p)))

    @torch.no_grad()
    def sample(self, num_samples: int, prefix: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.bernoulli(torch.full((num_samples, NUM_PIXELS), self.p))
        if prefix is not None:
            x[:, : prefix.shape[-1]] = prefix.reshape(num_samples, -1).float().cpu()
        return x.reshape(num_samples, 1, SIDE, SIDE)


def _model(name: str, cls: type[StandIn]) -> None:
    _MODELS[name] = cls
    _register(name)(cls)  # known to the library by this name too (its error messages list it)


_model("mirror", Mirror)
_model("constant", Constant)


def mirror(offset: int = 392, p_same: float = 0.97, p_top: float = 0.5) -> Mirror:
    """The mirror stand-in (see Mirror): x_i copies x_{i-offset} with probability p_same."""
    return Mirror(offset=offset, p_same=p_same, p_top=p_top)


def constant(p: float = 0.2) -> Constant:
    """The constant stand-in: p(x_i = 1 | x_<i) = p everywhere."""
    return Constant(p=p)


# --------------------------------------------------------------------------- layer hooks

_RECURRENT = (nn.RNNBase, nn.RNNCellBase)


def _steps(module: nn.Module, inputs: tuple) -> int:
    """Time steps of one call of a recurrent layer (1 for a cell)."""
    x = inputs[0] if inputs else None
    if isinstance(module, nn.RNNCellBase) or not isinstance(x, torch.Tensor):
        return 1
    if x.dim() == 2:  # unbatched (T, features)
        return int(x.shape[0])
    return int(x.shape[1] if getattr(module, "batch_first", False) else x.shape[0])


@_register("layer_calls")
def _layer_calls(probe_id: int, kind: str = "leaf") -> Callable:
    """f(module) for ``model.apply(f)``: hooks each leaf layer (kind "leaf") or each recurrent layer
    (kind "recurrent") of the model to record every call under ``probe_id``: the layer's type and,
    for a recurrent layer, the time steps it ran."""
    if kind not in ("leaf", "recurrent"):
        raise ValueError(f"kind must be 'leaf' or 'recurrent', got {kind!r}")
    pid = int(probe_id)

    def record(module: nn.Module, inputs: tuple, output: Any) -> None:
        entry = {"layer": type(module).__name__}
        if isinstance(module, _RECURRENT):
            entry["steps"] = _steps(module, inputs)
        library._PROBE_RECORDS.setdefault(pid, []).append(entry)

    def install(module: Any) -> None:
        if not isinstance(module, nn.Module):
            return
        if kind == "recurrent" and isinstance(module, _RECURRENT):
            module.register_forward_hook(record)
        elif kind == "leaf" and not list(module.children()):
            module.register_forward_hook(record)

    return install


_probe_ids = random.SystemRandom()


def layer_calls(kind: str = "leaf") -> library.Described:
    """A fresh hook installer: ``model.apply(h)``, run the model, then ``lib.probe_records(h)``."""
    return library.Described("layer_calls", probe_id=_probe_ids.randrange(1, 2**40), kind=kind)


# --------------------------------------------------------------------------- library.build

# library.build wraps every entry in a Described (a callable). A stand-in model must arrive as the
# model itself, so that the student's code can call model.sample(...): build returns it as such.
_library_build = library.build


def _build(name: str, params: dict) -> Any:
    if name in _MODELS:
        return _MODELS[name](**params)
    return _library_build(name, params)


if getattr(library.build, "__module__", "") != __name__:
    library.build = _build
