"""The reference evaluator of autoregressive models of binarised MNIST (assignment hw2).

Grading never trusts a model's own loss code. A model only has to expose

    conditional_logits(x) -> logits
        x:      float32 (B, 784) of 0.0/1.0, pixels in raster order (row by row)
        logits: float32 (B, 784); logits[b, i] = log p(x_i=1 | x_<i) - log p(x_i=0 | x_<i)

and this module computes the NLL from those logits itself, on a fixed test subset, after
checking that the model is *causal*: the conditional at pixel i must not change when any
x_j with j >= i changes. A model that peeks at x_i can reach an NLL near 0; it is caught here.

    >>> from dgm_utils.scoring import score_nll, check_causal
    >>> check_causal(model)                  # raises CausalityError if p(x_i | ...) sees x_{j>=i}
    >>> score_nll(model)                     # nats/dim on the first 2000 test images (threshold 0.5)

Nothing here knows how a model is built; it only calls the documented methods.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

NUM_PIXELS = 784
SIDE = 28
# The fixed test subset: the first SCORE_NUM_IMAGES test images, binarised at 0.5 (threshold).
# 2000 images give a standard error near 0.001 nats/dim, well below the gaps between models.
SCORE_NUM_IMAGES = 2000
# Logits may differ by float32 round-off between batch layouts; a real leak changes them by O(1).
CAUSALITY_ATOL = 1e-3


class ModelContractError(ValueError):
    """A model does not expose ``conditional_logits`` with the documented shapes."""


class CausalityError(AssertionError):
    """A model's conditional at pixel i depends on pixels j >= i."""


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, too large or does not fit the model."""


# ---------------------------------------------------------------------------- data


def score_test_subset(num_images: int = SCORE_NUM_IMAGES) -> torch.Tensor:
    """The fixed scoring data: the first ``num_images`` MNIST test images, binarised at 0.5.

    Returns float32 (num_images, 784) of 0.0/1.0 in raster order. The size does not shrink in
    fast mode (DGM_FAST=1): a grade must not depend on how the notebook was run.
    """
    from .data import load_mnist

    return load_mnist("test", binarize="threshold", limit=num_images, flatten=True)


# ---------------------------------------------------------------------------- logits


def _device_of(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def conditional_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Call ``model.conditional_logits(x)`` in eval mode without gradients and check the result.

    Args:
        x: float32 (B, 784) of 0.0/1.0.
    Returns:
        float32 (B, 784) logits of p(x_i = 1 | x_<i), on the CPU.
    Raises:
        ModelContractError: no such method, wrong shape, or non-finite logits.
    """
    if not hasattr(model, "conditional_logits"):
        raise ModelContractError(
            f"{type(model).__name__} has no method conditional_logits(x) -> (B, 784) logits; "
            "the grader scores models through it."
        )
    was_training = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    try:
        with torch.no_grad():
            logits = model.conditional_logits(x.to(_device_of(model)))
    finally:
        if isinstance(model, nn.Module):
            model.train(was_training)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (x.shape[0], NUM_PIXELS):
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ModelContractError(
            f"conditional_logits must return logits of shape ({x.shape[0]}, {NUM_PIXELS}); got {got}"
        )
    logits = logits.detach().float().cpu()
    if not torch.isfinite(logits).all():
        raise ModelContractError("conditional_logits returned NaN or inf; logits must be finite")
    return logits


# ---------------------------------------------------------------------------- causality


def check_causal(
    model: nn.Module,
    x: torch.Tensor | None = None,
    *,
    num_images: int = 1,
    seed: int = 0,
    atol: float = CAUSALITY_ATOL,
    batch_size: int = 392,
) -> None:
    """Check that p(x_i | ...) depends on x_<i only, at every pixel i.

    For each base image and each i in 0..783, a copy is made whose pixels j >= i are redrawn at
    random, with x_i always flipped. The logits at positions 0..i of the copy must equal those
    of the base image (up to ``atol``).

    Args:
        x: base images, float32 (N, 784) of 0/1; default the first ``num_images`` scoring images.
    Raises:
        CausalityError: naming the first pixel whose conditional saw x_j, j >= i.
    """
    base = (score_test_subset(num_images) if x is None else x.reshape(len(x), -1).float())[:num_images]
    generator = torch.Generator().manual_seed(seed)
    positions = torch.arange(NUM_PIXELS)
    future = positions[None, :] >= positions[:, None]  # row i: True at j >= i
    for image in base:
        base_logits = conditional_logits(model, image[None])[0]
        noise = (torch.rand(NUM_PIXELS, NUM_PIXELS, generator=generator) < 0.5).float()
        perturbed = torch.where(future, noise, image[None, :])
        perturbed[positions, positions] = 1.0 - image  # x_i itself always changes
        for start in range(0, NUM_PIXELS, batch_size):
            rows = positions[start:start + batch_size]
            logits = conditional_logits(model, perturbed[rows])
            diff = (logits - base_logits[None]).abs()
            diff = diff.masked_fill(~(~future[rows] | (positions[None, :] == rows[:, None])), 0.0)
            if (diff > atol).any():
                i, j = (diff > atol).nonzero()[0].tolist()
                raise CausalityError(
                    f"the model is not causal: the logit of p(x_{j} | ...) changed by {diff[i, j]:.3g} "
                    f"when pixels x_{int(rows[i])}.. were changed; p(x_i | x_<i) may use pixels before i only"
                )


# ---------------------------------------------------------------------------- NLL


def _image_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-image NLL in nats (summed over the 784 pixels) of binary x under Bernoulli(logits).

    Private on purpose: hw2 asks students to write this loss themselves (bernoulli_nll).

    logits, x: (B, 784). Returns float32 (B,).
    """
    return F.binary_cross_entropy_with_logits(logits, x.float(), reduction="none").sum(dim=1)


def score_nll(
    model: nn.Module,
    x: torch.Tensor | None = None,
    *,
    batch_size: int = 500,
    check_causality: bool = True,
) -> float:
    """Test NLL of ``model`` in nats/dim, computed here from its conditional logits.

    Args:
        x: float32 (N, 784) of 0/1; default the fixed scoring subset (first 2000 test images,
            binarised at 0.5).
        check_causality: run ``check_causal`` first (a leaky model gets no score).
    Returns:
        mean over images of NLL / 784, in nats/dim.
    """
    if check_causality:
        check_causal(model)
    x = score_test_subset() if x is None else x.reshape(len(x), -1).float()
    total = 0.0
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        total += float(_image_nll(conditional_logits(model, batch), batch).sum())
    return total / (len(x) * NUM_PIXELS)


# ---------------------------------------------------------------------------- samples


def check_samples(model: nn.Module, *, num_samples: int = 8, seed: int = 0) -> torch.Tensor:
    """Check ``model.sample(num_samples)``: binary (N, 1, 28, 28), varied, seeded, from the model.

    - values are 0.0/1.0 and the shape is (num_samples, 1, 28, 28);
    - two calls give different samples (the sampler is random);
    - the same ``torch.manual_seed`` gives the same samples (it uses torch's random generator);
    - a copy of the model with all parameters set to zero (every p = 0.5) gives different
      samples under the same seed (the samples come from the model).

    Returns the first batch of samples. Raises AssertionError with what was expected.
    """
    model.eval()

    def draw() -> torch.Tensor:
        with torch.no_grad():
            out = model.sample(num_samples)
        return out.detach().float().cpu()

    torch.manual_seed(seed)
    first = draw()
    assert tuple(first.shape) == (num_samples, 1, SIDE, SIDE), (
        f"sample({num_samples}) should return shape ({num_samples}, 1, 28, 28), got {tuple(first.shape)}"
    )
    values = set(torch.unique(first).tolist())
    assert values <= {0.0, 1.0}, f"samples should be binary (0.0/1.0), got values {sorted(values)[:5]}"
    second = draw()
    assert not torch.equal(first, second), "two calls of sample() returned identical digits: is it random?"
    torch.manual_seed(seed)
    again = draw()
    assert torch.equal(first, again), (
        "the same torch.manual_seed gave different samples: draw the randomness from torch "
        "(torch.bernoulli / torch.rand), not from numpy or Python's random"
    )
    blank = copy.deepcopy(model)
    with torch.no_grad():
        for p in blank.parameters():
            p.zero_()
    blank.eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        other = blank.sample(num_samples).detach().float().cpu()
    assert not torch.equal(first, other), (
        "a model with all parameters zeroed gave the same samples as the trained one under the same "
        "seed: sample() must draw each pixel from the model's conditional p(x_i | x_<i)"
    )
    return first


# ---------------------------------------------------------------------------- checkpoints


def load_checkpoint(model: nn.Module, path: str | Path, *, max_mb: float) -> nn.Module:
    """Load a ``state_dict`` saved with ``torch.save(model.state_dict(), path)`` into ``model``.

    Loaded on the CPU (``map_location="cpu"``, ``weights_only=True``), so a GPU checkpoint grades
    on a CPU.

    Raises:
        CheckpointError: the file is missing, larger than ``max_mb`` megabytes, unreadable, or
            its tensors do not fit the model; the message says what to submit.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path.name} not found in {path.resolve().parent}: run the training cells, "
            f"then submit {path.name} together with the notebook"
        )
    size_mb = path.stat().st_size / 1e6
    if size_mb > max_mb:
        raise CheckpointError(
            f"checkpoint {path.name} is {size_mb:.1f} MB, over the {max_mb} MB limit: make the model smaller"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as err:  # noqa: BLE001 (any failure means the same thing to the student)
        raise CheckpointError(
            f"checkpoint {path.name} could not be loaded into {type(model).__name__} ({type(err).__name__}: "
            f"{str(err)[:300]}). Save it with torch.save(model.state_dict(), ...) from the model built "
            "with the notebook's hyperparameters, and submit it with the notebook"
        ) from err
    return model
