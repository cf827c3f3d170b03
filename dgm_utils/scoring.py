"""The reference evaluator of autoregressive models of binarised MNIST (assignment hw2).

Grading never trusts a model's own loss code. A model only has to expose

    conditional_logits(x) -> logits
        x:      float32 (B, 784) of 0.0/1.0, pixels in raster order (row by row)
        logits: float32 (B, 784); logits[b, i] = log p(x_i=1 | x_<i) - log p(x_i=0 | x_<i)

and this module computes every number from those logits itself: the NLL, whether the model is
*causal* (the conditional at pixel i must not change when any x_j with j >= i changes; a model
that peeks at x_i can reach an NLL near 0), and whether ``sample`` draws from these conditionals.

    >>> from dgm_utils.scoring import score_nll, check_causal, check_samples
    >>> check_causal(model)                  # raises CausalityError if p(x_i | ...) sees x_{j>=i}
    >>> score_nll(model)                     # nats/dim on the first 2000 test images (threshold 0.5)
    >>> check_samples(model)                 # binary, random, seeded, drawn from the model's conditionals
    >>> graded_nll(model)                    # what the grader runs: fresh test images, and a memorisation check

Nothing here knows how a model is built; it only calls the documented methods. The model may live
in this process or be a proxy of one in the clean room's student process (dgm_utils.cleanroom):
only plain tensors go to it and come back, and nothing here iterates its parameters or copies it.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .runtime import device_of

NUM_PIXELS = 784
SIDE = 28

# hw2's submission, defined here once: the notebook's setup cell imports these (and its text states
# them, checked by tests/hw2/test_contract_facts.py), the hidden tests read them from there, make
# collect reads the files and the size cap (solutions/hw2_autoregressive/collect.json names these),
# and the benchmark reads the pass marks.
HW2_CHECKPOINTS = {"MarkovMLP": "markov_mlp_state.bin", "PixelLSTM": "rnn_state.bin"}  # model class -> file
HW2_CHECKPOINT_FILES = tuple(HW2_CHECKPOINTS.values())
CHECKPOINT_LIMIT_MB = 2.0  # per checkpoint file, MB = 10**6 bytes
# Test NLL a model must beat, nats/dim (natural log, mean over the 784 pixels), MNIST binarised at 0.5
# (threshold), on 2000 test images drawn at grading time (graded_nll). How they were set: the notebook's
# last section and benchmarks/hw2_results.md.
HW2_PASS_MARKS = {"MarkovMLP": 0.110, "PixelLSTM": 0.090}
# The fixed subset of score_nll's default: the first SCORE_NUM_IMAGES test images, binarised at 0.5
# (threshold). 2000 images give a standard error near 0.0006 nats/dim, well below the gaps between models.
# graded_nll draws as many from all 10,000 at grading time instead.
SCORE_NUM_IMAGES = 2000
# Logits may differ by float32 round-off between batch layouts; a real leak changes them by O(1).
CAUSALITY_ATOL = 1e-3
# graded_nll's batch sizes, drawn at grading time: one large batch (a model must not change on large
# batches, where the old grader scored and never checked), the others in the CPU-friendly range.
GRADING_LARGE_BATCH = (600, 1000)
GRADING_BATCH_SIZES = (64, 320)
# Images scored twice, in different batches: their logits must agree (batch independence).
REPEATED_IMAGES = 64

# Sampler calibration (sampler_calibration). For samples S drawn by the sampler and p_i = sigmoid of the
# model's own logits at S, each statistic is a sum of martingale differences, ~N(0, 1) when every s_i ~
# Bernoulli(p_i) given s_<i. Measured on the reference samplers (the solution's MarkovMLP and PixelLSTM
# with the reference checkpoints; 64 samples, without a prefix and after prefixes of 280..500 test-digit
# pixels; 100 seeds each: 1200 values): mean -0.03, sd 0.99, largest |value| 3.9, 0.25 % beyond 3
# (N(0, 1): 0.27 %). A correct sampler passes 6 except with probability ~2e-9 per statistic. The wrong
# samplers of the misjudged answers, on the same trained models (3 seeds each), reach at least: window
# off by one 77, window one pixel too far back 280, probabilities fed back 46 (MLP) and 40 (LSTM), state
# dropped 104, prefix pasted over a whole sample 24 (MLP) and 37 (LSTM), the last on the boundary row.
# On an untrained model they hardly show (|value| < 3): the grader uses the submitted, trained one.
CALIBRATION_Z_MAX = 6.0
BOUNDARY_PIXELS = SIDE  # the boundary statistic: the first row of pixels drawn after a prefix

# Memorisation (graded_nll): the test-minus-training NLL, adjusted for how hard the drawn images are
# (_memorisation_gap, with a 4-neighbour counting model fitted on other training images as control).
# Reference models over 3000 draws of 2000 test + 2000 training images: Markov MLP mean +0.00025, sd
# 0.00024 (0.1 % quantile -0.00046, lowest -0.00066); LSTM mean +0.00027, sd 0.00031 (0.1 % quantile
# -0.00076, lowest -0.00093) nats/dim; their standardised gaps never went below -2.7. (The raw test-minus-
# training NLLs are -0.0005 and -0.0004: MNIST's test digits are a little easier.) On all 10,000 test
# images other models that never saw them: independent baseline +0.0021, two hand-made chains -0.0000,
# a 2-neighbour counting model -0.0007. Flagged: below -MEMORISATION_MARGIN (5.7 sd under the LSTM
# reference's mean) and more than MEMORISATION_Z standard errors below 0. The reference LSTM fine-tuned
# on the 2000 test images of one draw (tests/hw2/fixtures) reaches -0.0021, 6.1 standard errors, on that
# draw: flagged.
MEMORISATION_MARGIN = 0.0015  # nats/dim
MEMORISATION_Z = 5.0


class ModelContractError(ValueError):
    """A model does not expose ``conditional_logits`` with the documented shapes."""


class CausalityError(AssertionError):
    """A model's conditional at pixel i depends on pixels j >= i."""


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, too large or does not fit the model."""


class SamplerError(AssertionError):
    """``sample`` does not draw from the model's own conditionals (or breaks its contract)."""


class MemorisationError(AssertionError):
    """The model is much better on the test images than on training images: a TA must clear it."""


# ---------------------------------------------------------------------------- data


def score_test_subset(num_images: int = SCORE_NUM_IMAGES) -> torch.Tensor:
    """The fixed scoring data: the first ``num_images`` MNIST test images, binarised at 0.5.

    Returns float32 (num_images, 784) of 0.0/1.0 in raster order. The size does not shrink in
    fast mode (DGM_FAST=1): a grade must not depend on how the notebook was run.
    """
    from .data import load_mnist

    return load_mnist("test", binarize="threshold", limit=num_images, flatten=True)


def _split_grey(split: str) -> torch.Tensor:
    """All grey levels of ``split``, uint8 (N, 784) (all of them, in fast mode too)."""
    from .data import load_mnist

    return load_mnist(split, binarize=None, limit=None, flatten=True)


def _threshold(grey: torch.Tensor) -> torch.Tensor:
    """The course's binarisation, as load_mnist(binarize="threshold"): 1 where grey/255 > 0.5."""
    return (grey.float() / 255.0 > 0.5).float()


# ---------------------------------------------------------------------------- talking to a model


def _is_remote(model: Any) -> bool:
    """True for a proxy of a model in the clean room's student process."""
    from .cleanroom.session import Remote

    return isinstance(model, Remote)


def _attribute(model: Any, name: str) -> Any:
    """``model.name``, or None when it has none (a proxy raises its own error type for that)."""
    try:
        return getattr(model, name)
    except Exception:  # noqa: BLE001 (AttributeError here, StudentCodeError through a proxy)
        return None


@contextlib.contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """Eval mode and no autograd where ``model`` runs, both put back afterwards.

    Here: ``model.eval()`` and ``torch.no_grad()``. For a proxy, the same in the student's process
    (its ``torch.set_grad_enabled``), so that teacher-forcing 2000 images builds no graph there.
    """
    was_training = _attribute(model, "training")
    if was_training is not None and callable(_attribute(model, "eval")):
        model.eval()
    remote_torch = None
    if _is_remote(model):
        from .cleanroom import library

        with contextlib.suppress(Exception):
            remote_torch = library.student_side("torch")
            remote_torch.set_grad_enabled(False)
    try:
        with torch.no_grad():
            yield
    finally:
        if remote_torch is not None:
            with contextlib.suppress(Exception):
                remote_torch.set_grad_enabled(True)
        if was_training is True and callable(_attribute(model, "train")):
            model.train(True)


def _logits(model: Any, x: torch.Tensor) -> torch.Tensor:
    """``model.conditional_logits(x)`` checked: float32 (B, 784), finite, on the CPU."""
    method = _attribute(model, "conditional_logits")
    if not callable(method):
        name = type(model).__name__ if not _is_remote(model) else model._ref.type_name
        raise ModelContractError(
            f"{name} has no method conditional_logits(x) -> (B, 784) logits; the grader scores models through it."
        )
    logits = method(x.to(device_of(model)))  # a proxy takes and returns CPU tensors
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (x.shape[0], NUM_PIXELS):
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ModelContractError(
            f"conditional_logits must return logits of shape ({x.shape[0]}, {NUM_PIXELS}); got {got}"
        )
    logits = logits.detach().float().cpu()
    if not torch.isfinite(logits).all():
        raise ModelContractError("conditional_logits returned NaN or inf; logits must be finite")
    return logits


def conditional_logits(model: Any, x: torch.Tensor) -> torch.Tensor:
    """Call ``model.conditional_logits(x)`` in eval mode without gradients and check the result.

    Args:
        x: float32 (B, 784) of 0.0/1.0.
    Returns:
        float32 (B, 784) logits of p(x_i = 1 | x_<i), on the CPU.
    Raises:
        ModelContractError: no such method, wrong shape, or non-finite logits.
    """
    with evaluating(model):
        return _logits(model, x)


def _batched_logits(model: Any, x: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """Logits of all rows of ``x``, in consecutive batches of the given sizes (cycled)."""
    out, start, k = [], 0, 0
    while start < len(x):
        size = int(sizes[k % len(sizes)])
        out.append(_logits(model, x[start:start + size]))
        start, k = start + size, k + 1
    return torch.cat(out) if out else torch.zeros(0, NUM_PIXELS)


# ---------------------------------------------------------------------------- causality


def _perturbations(base: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each base image and each pixel i: a copy whose pixels j > i are redrawn at random and
    whose x_i is flipped. Returns the rows (N * 784, 784), each row's base image and its i."""
    positions = torch.arange(NUM_PIXELS)
    future = positions[None, :] >= positions[:, None]  # row i: True at j >= i
    rows = []
    for image in base:
        noise = (torch.rand(NUM_PIXELS, NUM_PIXELS, generator=generator) < 0.5).float()
        perturbed = torch.where(future, noise, image[None, :])
        perturbed[positions, positions] = 1.0 - image  # x_i itself always changes
        rows.append(perturbed)
    image_of = torch.arange(len(base)).repeat_interleave(NUM_PIXELS)
    return torch.cat(rows), image_of, positions.repeat(len(base))


def _check_unchanged(logits: torch.Tensor, base_logits: torch.Tensor, start: torch.Tensor, atol: float) -> None:
    """Logits of perturbed rows (changed from pixel ``start`` on) must equal the base's at j <= start."""
    positions = torch.arange(NUM_PIXELS)
    diff = (logits - base_logits).abs().masked_fill(positions[None, :] > start[:, None], 0.0)
    bad = diff > atol
    if bad.any():
        r, j = bad.nonzero()[0].tolist()
        raise CausalityError(
            f"the model is not causal: the logit of p(x_{j} | ...) changed by {diff[r, j]:.3g} "
            f"when pixels x_{int(start[r])}.. were changed; p(x_i | x_<i) may use pixels before i only"
        )


def check_causal(
    model: Any,
    x: torch.Tensor | None = None,
    *,
    num_images: int = 1,
    seed: int = 0,
    atol: float = CAUSALITY_ATOL,
    batch_size: int = 392,
    batch_sizes: Sequence[int] | None = None,
) -> None:
    """Check that p(x_i | ...) depends on x_<i only, at every pixel i.

    For each base image and each i in 0..783, a copy is made whose pixels j >= i are redrawn at
    random, with x_i always flipped. The logits at positions 0..i of the copy must equal those
    of the base image (up to ``atol``).

    Args:
        x: base images, float32 (N, 784) of 0/1; default the first ``num_images`` scoring images.
        batch_size: the copies go to the model in batches of this size ...
        batch_sizes: ... or of these sizes in turn (a model must not change with the batch size).
    Raises:
        CausalityError: naming the first pixel whose conditional saw x_j, j >= i.
    """
    base = (score_test_subset(num_images) if x is None else x.reshape(len(x), -1).float())[:num_images]
    generator = torch.Generator().manual_seed(seed)
    rows, image_of, start = _perturbations(base, generator)
    sizes = list(batch_sizes) if batch_sizes else [batch_size]
    with evaluating(model):
        base_logits = _logits(model, base)
        logits = _batched_logits(model, rows, sizes)
    _check_unchanged(logits, base_logits[image_of], start, atol)


# ---------------------------------------------------------------------------- NLL


def _image_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-image NLL in nats (summed over the 784 pixels) of binary x under Bernoulli(logits).

    Private on purpose: hw2 asks students to write this loss themselves (bernoulli_nll).

    logits, x: (B, 784). Returns float32 (B,).
    """
    return F.binary_cross_entropy_with_logits(logits, x.float(), reduction="none").sum(dim=1)


def score_nll(
    model: Any,
    x: torch.Tensor | None = None,
    *,
    batch_size: int = 500,
    check_causality: bool = True,
) -> float:
    """Test NLL of ``model`` in nats/dim, computed here from its conditional logits.

    Args:
        x: float32 (N, 784) of 0/1; default the fixed scoring subset (first 2000 test images,
            binarised at 0.5).
        check_causality: run ``check_causal`` first, in batches of ``batch_size`` and of 392
            (a leaky model gets no score).
    Returns:
        mean over images of NLL / 784, in nats/dim.
    """
    if check_causality:
        check_causal(model, batch_sizes=[batch_size, 392])
    x = score_test_subset() if x is None else x.reshape(len(x), -1).float()
    with evaluating(model):
        logits = _batched_logits(model, x, [batch_size])
    return float(_image_nll(logits, x).sum()) / (len(x) * NUM_PIXELS)


@dataclass(frozen=True)
class GradedNLL:
    """What graded_nll measured. NLLs in nats/dim (natural log, mean over 784 pixels), threshold binarisation."""

    test_nll: float  # on num_images test images drawn at grading time
    train_nll: float  # on as many training images, drawn with them
    memorisation_gap: float  # test minus training NLL, adjusted for the images' difficulty
    memorisation_se: float  # its standard error, from the same images
    num_images: int
    seed: int
    batch_sizes: tuple[int, ...]


# The control of _memorisation_gap: a counting model of p(x_i = 1 | its causal neighbours), fitted on
# the first CONTROL_IMAGES training images; graded_nll draws its training images from the others.
CONTROL_IMAGES = 10_000
_NEIGHBOURS = ((0, -1), (-1, -1), (-1, 0), (-1, 1))  # (row, column) offsets: left, up-left, up, up-right


def _neighbour_context(x: torch.Tensor) -> torch.Tensor:
    """The context of each pixel of binary x (N, 784): its 4 causal neighbours as a 4-bit number
    (a neighbour off the image counts as 0). Returns int64 (N, 784) in 0..15."""
    x = x.reshape(-1, SIDE, SIDE).long()
    context = torch.zeros_like(x)
    for dr, dc in _NEIGHBOURS:
        shifted = torch.zeros_like(x)
        rows, cols = slice(max(0, -dr), SIDE), slice(max(0, -dc), SIDE - max(0, dc))
        shifted[:, rows, cols] = x[:, max(0, -dr) + dr:SIDE + dr, max(0, -dc) + dc:SIDE - max(0, dc) + dc]
        context = 2 * context + shifted
    return context.reshape(-1, NUM_PIXELS)


@functools.lru_cache(maxsize=1)
def _context_counts() -> torch.Tensor:
    """Logits of the control: p(x_i = 1 | context) per pixel and context, add-one smoothed counts over
    the first CONTROL_IMAGES training images (threshold 0.5). Returns (16, 784). It saw no test image."""
    x = _threshold(_split_grey("train")[:CONTROL_IMAGES])
    cell = (_neighbour_context(x) * NUM_PIXELS + torch.arange(NUM_PIXELS)).reshape(-1)
    size = 2 ** len(_NEIGHBOURS) * NUM_PIXELS
    total = torch.bincount(cell, minlength=size).double()
    ones = torch.bincount(cell, weights=x.reshape(-1).double(), minlength=size)
    return torch.logit((ones + 1) / (total + 2)).float().reshape(-1, NUM_PIXELS)


def _memorisation_gap(nll: torch.Tensor, control: torch.Tensor, is_test: torch.Tensor) -> tuple[float, float]:
    """Mean test-minus-training NLL (nats/dim) after regressing out a control, and its standard error.

    The control is each image's NLL under a counting model fitted on other training images
    (_context_counts): hard digits are hard for every model, so the residuals vary much less than
    the NLLs (sd of the gap 0.0003 instead of 0.0007 nats/dim for the reference models on 2000 +
    2000 images) and a smaller memorisation shows. Returns (gap, standard error), both nats/dim.
    """
    y, c = nll.double(), control.double()
    beta = float(((y - y.mean()) * (c - c.mean())).sum() / ((c - c.mean()) ** 2).sum().clamp_min(1e-12))
    residual = y - beta * c
    test, train = residual[is_test], residual[~is_test]
    se = math.sqrt(float(test.var()) / len(test) + float(train.var()) / len(train))
    return float(test.mean() - train.mean()) / NUM_PIXELS, se / NUM_PIXELS


def graded_nll(
    model: Any,
    *,
    num_images: int = SCORE_NUM_IMAGES,
    seed: int | None = None,
    margin: float = MEMORISATION_MARGIN,
    atol: float = CAUSALITY_ATOL,
) -> GradedNLL:
    """The grader's NLL: on test images drawn now, checked for causality and memorisation.

    1. ``num_images`` test images (of 10,000) and as many training images (of the 50,000 the
       control was not fitted on) are drawn with ``seed`` (from the OS when None), binarised at 0.5.
    2. One drawn test image gives 784 perturbed copies (as in check_causal), and 64 drawn images
       are repeated. All rows are shuffled together and sent in batches whose sizes are drawn
       too (one of 600..1000 rows, the others of 64..320), so every batch the NLL comes from is
       a batch where causality is checked, and the model sees no batch that looks like a check.
    3. Causality: every copy's logits at j <= i must equal the base image's. Batch independence:
       a repeated image's logits must not change with its batch.
    4. Memorisation: a model much better on the test images than on the training images (the
       difficulty-adjusted gap of ``_memorisation_gap`` below ``-margin`` nats/dim and more than
       MEMORISATION_Z standard errors below 0) was trained on test images.

    Raises:
        CausalityError, ModelContractError, MemorisationError (whose message says a TA must clear it).
    """
    seed = int(np.random.SeedSequence().entropy % 2**32) if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    test_grey, train_grey = _split_grey("test"), _split_grey("train")
    test_idx = torch.from_numpy(rng.choice(len(test_grey), num_images, replace=False))
    # training images the control was not fitted on
    train_idx = torch.from_numpy(CONTROL_IMAGES + rng.choice(len(train_grey) - CONTROL_IMAGES, num_images, replace=False))
    x_test, x_train = _threshold(test_grey[test_idx]), _threshold(train_grey[train_idx])

    base = x_test[:1]
    perturbed, _, start = _perturbations(base, generator)
    repeats = min(REPEATED_IMAGES, num_images)
    rows = torch.cat([x_test, x_train, perturbed, x_test[:repeats]])
    order = torch.from_numpy(rng.permutation(len(rows)))
    large, sizes = int(rng.integers(GRADING_LARGE_BATCH[0], GRADING_LARGE_BATCH[1] + 1)), []
    while large + sum(sizes) < len(rows):
        sizes.append(int(rng.integers(GRADING_BATCH_SIZES[0], GRADING_BATCH_SIZES[1] + 1)))
    # the large batch anywhere but last (the last one takes the rows that are left, so it is cut short)
    sizes.insert(int(rng.integers(0, max(1, len(sizes)))), large)
    sizes = [int(s) for s in np.diff(np.minimum(np.cumsum([0, *sizes]), len(rows))) if s > 0]
    with evaluating(model):
        shuffled = _batched_logits(model, rows[order], sizes)
    logits = torch.empty_like(shuffled)
    logits[order] = shuffled

    n = num_images
    test_logits, train_logits = logits[:n], logits[n:2 * n]
    copy_logits, repeat_logits = logits[2 * n:2 * n + len(perturbed)], logits[2 * n + len(perturbed):]
    _check_unchanged(copy_logits, test_logits[:1].expand(len(perturbed), -1), start, atol)
    moved = (repeat_logits - test_logits[:repeats]).abs().max() if repeats else torch.tensor(0.0)
    if float(moved) > atol:
        raise ModelContractError(
            f"the logits of an image changed by {float(moved):.3g} with the other images in its batch: "
            "p(x_i | x_<i) must depend on that image alone (is a BatchNorm or a batch statistic used in eval mode?)"
        )

    nll = torch.cat([_image_nll(test_logits, x_test), _image_nll(train_logits, x_train)])
    both = torch.cat([x_test, x_train])
    control = _image_nll(_context_counts().gather(0, _neighbour_context(both)), both)
    is_test = torch.arange(2 * n) < n
    gap, se = _memorisation_gap(nll, control, is_test)
    report = GradedNLL(float(nll[:n].mean()) / NUM_PIXELS, float(nll[n:].mean()) / NUM_PIXELS, gap, se, n, seed,
                       tuple(sizes))
    if gap < -margin and gap < -MEMORISATION_Z * se:
        raise MemorisationError(
            f"flagged for a TA: the model is much better on the test images than on training images "
            f"(test {report.test_nll:.4f}, training {report.train_nll:.4f} nats/dim, {n} images each; "
            f"difficulty-adjusted gap {gap:+.4f} +- {se:.4f} nats/dim, while models trained on the training set "
            f"only stay above -{margin} and within {MEMORISATION_Z:g} standard errors of 0). Was it trained or "
            f"tuned on test images? No NLL points until a TA has cleared it (seed {seed})."
        )
    return report


# ---------------------------------------------------------------------------- samples


def calibration(logits: torch.Tensor, samples: torch.Tensor, *, start: int = 0, stop: int = NUM_PIXELS) -> dict[str, float]:
    """How well binary ``samples`` follow the Bernoulli conditionals ``logits`` computed on them.

    Over the pixels start..stop-1 of every sample, with p_i = sigmoid(logit_i):

        z    = sum (s_i - p_i) / sqrt(sum p_i (1 - p_i))                       (too many / too few ones)
        z_ll = (sum log p(s_i) + sum H(p_i)) / sqrt(sum Var log p(s_i))        (too likely / too unlikely)

    Both are sums of martingale differences, so ~N(0, 1) when each s_i was drawn from p_i given the
    pixels before it: a sampler that draws from other conditionals shows as a large |z| or |z_ll|.
    Returns {"z": ..., "z_ll": ..., "pixels": number of pixels used}.
    """
    logit = logits[:, start:stop].double()
    s = samples.reshape(len(samples), -1)[:, start:stop].double()
    p = torch.sigmoid(logit)
    var = p * (1 - p)
    # log p(s) + H(p) = (s - p) * logit: centred, with variance p (1 - p) logit^2
    z = float((s - p).sum() / var.sum().clamp_min(1e-12).sqrt())
    z_ll = float(((s - p) * logit).sum() / (var * logit**2).sum().clamp_min(1e-12).sqrt())
    return {"z": z, "z_ll": z_ll, "pixels": int(s.numel())}


def _seed_where_it_runs(seed: int) -> None:
    """``torch.manual_seed(seed)`` where the model's code runs (the student's process in the clean room)."""
    from .cleanroom import library

    library.seed_student(int(seed))


def _draw(model: Any, num_samples: int, prefix: torch.Tensor | None = None) -> torch.Tensor:
    """``model.sample(num_samples[, prefix=prefix])`` checked: binary (num_samples, 784), prefix kept."""
    out = model.sample(num_samples) if prefix is None else model.sample(num_samples, prefix=prefix)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (num_samples, 1, SIDE, SIDE):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SamplerError(f"sample({num_samples}) should return shape ({num_samples}, 1, 28, 28), got {got}")
    flat = out.detach().float().cpu().reshape(num_samples, NUM_PIXELS)
    values = set(torch.unique(flat).tolist())
    if not values <= {0.0, 1.0}:
        raise SamplerError(f"samples should be binary (0.0/1.0), got values {sorted(values)[:5]}")
    if prefix is not None and not torch.equal(flat[:, :prefix.shape[1]], prefix):
        raise SamplerError("sample(prefix=...) must keep the given first pixels unchanged")
    return flat


def _check_calibrated(model: Any, flat: torch.Tensor, k: int, seed: int, z_max: float,
                      check_causality: bool = True) -> dict[str, float]:
    if check_causality:  # a leaky conditional_logits defines no conditionals to sample from
        try:
            check_causal(model, flat[:1])
        except CausalityError as err:
            raise SamplerError(f"samples are judged against conditional_logits, which is not causal: {err}") from None
    logits = _logits(model, flat)
    stats = {key: v for key, v in calibration(logits, flat, start=k).items() if key != "pixels"}
    if k:
        edge = calibration(logits, flat, start=k, stop=min(NUM_PIXELS, k + BOUNDARY_PIXELS))
        stats.update(z_boundary=edge["z"], z_ll_boundary=edge["z_ll"])
    worst = max(stats, key=lambda key: abs(stats[key]))
    if abs(stats[worst]) > z_max:
        where = f"after a prefix of {k} pixels" if k else "without a prefix"
        raise SamplerError(
            f"the samples ({where}) do not follow the model's own conditionals p(x_i | x_<i): {worst} = "
            f"{stats[worst]:+.1f}, while a sampler that draws each pixel from them stays within +-{z_max:g} "
            f"(all: {', '.join(f'{key} {v:+.1f}' for key, v in stats.items())}; {len(flat)} samples, seed {seed}). "
            "Draw pixel i from sigmoid(logit_i) given the pixels before it (the prefix, then the bits drawn), "
            "and feed back the drawn bits"
        )
    return stats


def sampler_calibration(
    model: Any,
    num_samples: int = 64,
    *,
    prefix: torch.Tensor | None = None,
    seed: int = 0,
    z_max: float = CALIBRATION_Z_MAX,
    check_causality: bool = True,
) -> dict[str, float]:
    """Check that ``model.sample`` draws from the model's own conditionals.

    Seeds torch where the model runs, draws ``model.sample(num_samples[, prefix=prefix])``, asks the
    model for its conditional logits on those samples and computes ``calibration`` over the drawn
    pixels (after the prefix), and over the first row drawn after a prefix (the boundary, where a
    sampler that ignores the prefix shows most). Each |statistic| must stay below ``z_max``.

    Args:
        prefix: float (num_samples, k) of 0/1, the given first k pixels (kept unchanged).
        check_causality: first check that conditional_logits is causal (check_causal on the first
            sample): a leaky one defines no conditionals, and fails here whatever the sampler.
    Returns:
        the statistics: {"z", "z_ll"} (and {"z_boundary", "z_ll_boundary"} with a prefix).
    Raises:
        SamplerError: wrong shape, non-binary values, prefix not kept, or a statistic over ``z_max``.
    """
    given = None if prefix is None else prefix.reshape(num_samples, -1).float()
    with evaluating(model):
        _seed_where_it_runs(seed)
        flat = _draw(model, num_samples, given)
        return _check_calibrated(model, flat, 0 if given is None else given.shape[1], seed, z_max, check_causality)


def check_samples(model: Any, *, num_samples: int = 8, seed: int = 0) -> torch.Tensor:
    """Check ``model.sample(num_samples)``: binary (N, 1, 28, 28), varied, seeded, from the model.

    - values are 0.0/1.0 and the shape is (num_samples, 1, 28, 28);
    - two calls give different samples (the sampler is random);
    - the same ``torch.manual_seed`` gives the same samples (it uses torch's random generator);
    - the samples follow the model's own conditionals (``sampler_calibration``: |z|, |z_ll| < 6), which
      conditional_logits defines only if it is causal (checked first).

    Returns the first batch of samples. Raises SamplerError (an AssertionError) with what was expected.
    """
    with evaluating(model):
        _seed_where_it_runs(seed)
        first = _draw(model, num_samples)
        second = _draw(model, num_samples)
        if torch.equal(first, second):
            raise SamplerError("two calls of sample() returned identical digits: is it random?")
        _seed_where_it_runs(seed)
        if not torch.equal(first, _draw(model, num_samples)):
            raise SamplerError(
                "the same torch.manual_seed gave different samples: draw the randomness from torch "
                "(torch.bernoulli / torch.rand), not from numpy or Python's random"
            )
        _check_calibrated(model, first, 0, seed, CALIBRATION_Z_MAX)
    return first.reshape(num_samples, 1, SIDE, SIDE)


# ---------------------------------------------------------------------------- log_prob


def check_log_prob(model: Any, x: torch.Tensor, *, one_pass: str, max_layer_calls: int = 50) -> None:
    """Check ``model.log_prob(x)``: one value per image, computed in one pass, in nats.

    - the shape is (N,) for x of shape (N, 784);
    - the model's layers are called at most ``max_layer_calls`` times (all 784 pixels at once, not
      one call per pixel; ``one_pass`` says how, in the model's terms);
    - the values are the sum over pixels of log p(x_i | x_<i) in nats, from the model's own
      ``conditional_logits`` (within 1e-3).

    Raises an AssertionError that says what was expected and what came instead.
    """
    from .cleanroom import library, standins

    calls = standins.layer_calls("leaf")  # records each call of each layer of the model, where it runs
    model.apply(calls)
    log_p = model.log_prob(x)
    num_calls = len(library.probe_records(calls))
    assert tuple(log_p.shape) == (len(x),), (
        f"log_prob should return one value per image, shape ({len(x)},); got {tuple(log_p.shape)}")
    assert num_calls <= max_layer_calls, f"log_prob called layers {num_calls} times: {one_pass}"
    expected = -F.binary_cross_entropy_with_logits(model.conditional_logits(x), x, reduction="none").sum(1)
    assert torch.allclose(log_p, expected, atol=1e-3), (
        f"log_prob should be the sum over pixels of log p(x_i | x_<i) in nats: expected {expected[:3].tolist()}, "
        f"got {log_p[:3].tolist()}")


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
