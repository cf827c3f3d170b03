"""Unit tests of dgm_utils.plotting on the Agg backend: each function returns a Figure whose artists,
labels and data are what was asked for; show_samples accepts its documented shapes and rejects others.

Run: .venv/bin/python -m pytest tests/unit/test_plotting.py -q
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dgm_utils import plotting  # noqa: E402
from dgm_utils.distributions import eight_gaussians_2d, two_mode_mixture_1d  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every figure and restore rcParams after each test."""
    with matplotlib.rc_context():
        yield
    plt.close("all")


def _grid(fig: Figure) -> np.ndarray:
    images = fig.axes[0].get_images()
    assert len(images) == 1, f"expected one image on the axes, got {len(images)}"
    return np.asarray(images[0].get_array())


def _tile(grid: np.ndarray, index: int, ncol: int, h: int = 28, w: int = 28) -> np.ndarray:
    """The tile of image ``index`` in a grid with a 1-pixel border around every (h, w) image."""
    r, c = divmod(index, ncol)
    return grid[r * (h + 2) + 1: r * (h + 2) + 1 + h, c * (w + 2) + 1: c * (w + 2) + 1 + w]


# ---------------------------------------------------------------------------- show_samples


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return (torch.rand(n, 28, 28, generator=torch.Generator().manual_seed(seed)) > 0.5).float()


@pytest.mark.parametrize(
    "layout",
    ["(N, 784)", "(N, 28, 28)", "(N, 1, 28, 28)", "numpy (N, 784)", "uint8 0..255", "numpy float64 0..255"],
)
def test_show_samples_accepts_documented_shapes(layout):
    """Does every documented layout give the same grid, image i at row i // nrow, column i % nrow?"""
    x = _images(10)
    given = {
        "(N, 784)": x.reshape(10, 784),
        "(N, 28, 28)": x,
        "(N, 1, 28, 28)": x[:, None],
        "numpy (N, 784)": x.reshape(10, 784).numpy(),
        "uint8 0..255": (x * 255).to(torch.uint8)[:, None],
        "numpy float64 0..255": (x * 255).double().numpy(),
    }[layout]
    fig = plotting.show_samples(given, nrow=4, title="samples")
    assert isinstance(fig, Figure)
    grid = _grid(fig)
    assert grid.shape == (3 * 30, 4 * 30), f"10 images, 4 per row: expected a (90, 120) grid, got {grid.shape}"
    for i in (0, 3, 4, 9):
        assert np.array_equal(_tile(grid, i, 4), x[i].numpy()), f"{layout}: image {i} is not at its place"
    assert fig.axes[0].get_title() == "samples" and not fig.axes[0].axison


def test_show_samples_fewer_than_a_row_and_non_square_images():
    """Do 3 images with nrow=8 make one row of 3, and (N, H, W) with H != W keep its shape?"""
    assert _grid(plotting.show_samples(_images(3), nrow=8)).shape == (30, 90)
    wide = torch.rand(2, 5, 9)
    grid = _grid(plotting.show_samples(wide, nrow=2))
    assert grid.shape == (7, 22), f"expected (7, 22), got {grid.shape}"
    np.testing.assert_allclose(_tile(grid, 1, 2, 5, 9), wide[1].numpy())


def test_show_samples_draws_on_a_given_axes():
    """Given ax=, does show_samples draw there and return that axes' figure?"""
    fig, (left, right) = plt.subplots(1, 2)
    assert plotting.show_samples(_images(4), ax=right) is fig
    assert len(right.get_images()) == 1 and len(left.get_images()) == 0


@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        (torch.zeros(4, 783), "cannot reshape 783 pixels into a square"),
        (torch.zeros(4, 3, 28, 28), "expected one channel"),
        (torch.zeros(784), r"expected \(N, D\), \(N, H, W\) or \(N, 1, H, W\)"),
        (torch.zeros(2, 1, 1, 28, 28), r"expected \(N, D\), \(N, H, W\) or \(N, 1, H, W\)"),
    ],
    ids=["not-square", "rgb", "1d", "5d"],
)
def test_show_samples_rejects_bad_shapes(bad, pattern):
    """Do non-square rows, several channels and wrong ranks raise a ValueError naming the accepted shapes?"""
    with pytest.raises(ValueError, match=pattern):
        plotting.show_samples(bad)


@pytest.mark.parametrize("case", ["empty", "nrow=0"])
def test_show_samples_rejects_empty_input_clearly(case):
    """Do an empty batch and nrow=0 raise a ValueError instead of a ZeroDivisionError?"""
    args = (torch.zeros(0, 784), 8) if case == "empty" else (torch.zeros(4, 784), 0)
    with pytest.raises(ValueError):
        plotting.show_samples(args[0], nrow=args[1])


# ---------------------------------------------------------------------------- training curves


HISTORY = {"train_nll": [0.30, 0.20, 0.15], "test_nll": [0.69, 0.31, 0.22, 0.18], "unit": "nats/dim"}


def test_training_curves_of_one_history():
    """Are train (epochs 1..3) and test (epochs 0..3, 0 before training) drawn in nats/dim, with bits/dim opposite?"""
    fig = plotting.plot_training_curves(HISTORY)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"train", "test"}, f"expected lines 'train' and 'test', got {sorted(lines)}"
    assert list(lines["train"].get_xdata()) == [1, 2, 3] and list(lines["train"].get_ydata()) == HISTORY["train_nll"]
    assert list(lines["test"].get_xdata()) == [0, 1, 2, 3] and list(lines["test"].get_ydata()) == HISTORY["test_nll"]
    assert lines["test"].get_color() == lines["train"].get_color(), "expected train and test of a run in one colour"
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "NLL (nats/dim)"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["train", "test"]
    secondary = [child for child in ax.child_axes if child.get_ylabel() == "bits/dim"]
    assert len(secondary) == 1, "expected a secondary y axis labelled bits/dim"


def test_training_curves_bits_axis_converts_nats():
    """Does the bits/dim axis put ln 2 nats/dim at 1 bit/dim?"""
    fig = plotting.plot_training_curves(HISTORY)
    ax = fig.axes[0]
    secondary = next(child for child in ax.child_axes if child.get_ylabel() == "bits/dim")
    fig.canvas.draw()
    lo, hi = ax.get_ylim()
    lo_bits, hi_bits = secondary.get_ylim()
    assert lo_bits == pytest.approx(lo / math.log(2)) and hi_bits == pytest.approx(hi / math.log(2)), (
        f"nats/dim limits {lo, hi} should map to {lo / math.log(2), hi / math.log(2)} bits/dim, got {lo_bits, hi_bits}"
    )


def test_training_curves_of_several_runs():
    """Does a mapping name -> History label each run and give each its own colour?"""
    other = {"train_nll": [0.5, 0.4], "test_nll": [0.6, 0.45, 0.41]}
    fig = plotting.plot_training_curves({"small": HISTORY, "big": other}, title="compare")
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["small train", "small test", "big train", "big test"], labels
    colours = {line.get_label(): line.get_color() for line in ax.get_lines()}
    assert colours["small train"] != colours["big train"]
    assert ax.get_title() == "compare"


def test_training_curves_test_only_history():
    """With only test_nll (train(num_epochs=0): one evaluation before training), is it drawn at epoch 0?"""
    fig = plotting.plot_training_curves({"train_nll": [], "test_nll": [0.7]})
    (line,) = fig.axes[0].get_lines()
    assert list(line.get_xdata()) == [0] and line.get_label() == "test"


# ---------------------------------------------------------------------------- densities


def test_density_1d_curve_and_histogram():
    """Is the curve p(grid) on xlim, and the sample histogram normalised with the requested bins?"""
    mixture = two_mode_mixture_1d()
    samples = mixture.sample(2000, generator=torch.Generator().manual_seed(0))
    fig = plotting.plot_density_1d(mixture.pdf, samples, xlim=(-4.0, 4.0), bins=40, title="π")
    ax = fig.axes[0]
    (line,) = ax.get_lines()
    xs = np.asarray(line.get_xdata())
    assert xs[0] == -4.0 and xs[-1] == 4.0
    np.testing.assert_allclose(line.get_ydata(), mixture.pdf(xs), rtol=1e-12)
    bars = ax.patches
    assert len(bars) == 40, f"expected 40 bars, got {len(bars)}"
    area = sum(bar.get_width() * bar.get_height() for bar in bars)
    assert area == pytest.approx(1.0, abs=1e-9), f"expected a density histogram (area 1), got area {area}"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["samples", "p(x)"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("x", "density", "π")


def test_density_1d_several_curves_without_samples():
    """Does a mapping name -> density draw one labelled curve each and no histogram?"""
    mixture = two_mode_mixture_1d()
    fig = plotting.plot_density_1d({"target": mixture.pdf, "model": lambda x: np.exp(-x**2 / 2) / np.sqrt(2 * np.pi)})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["target", "model"] and not ax.patches


def test_density_2d_contours_and_samples():
    """Is the density contoured on [-lim, lim]² from an (R, R, 2) grid, with the samples scattered on top?"""
    mixture = eight_gaussians_2d()
    seen_shapes = []

    def density(points: np.ndarray) -> np.ndarray:
        seen_shapes.append(points.shape)
        return mixture.pdf(points)

    samples = mixture.sample(300, generator=torch.Generator().manual_seed(0))
    fig = plotting.plot_density_2d(density, samples, lim=3.0, resolution=50, title="8 Gaussians")
    ax = fig.axes[0]
    assert seen_shapes == [(50, 50, 2)], f"expected one call on a (50, 50, 2) grid, got {seen_shapes}"
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 1 and np.allclose(scatters[0].get_offsets(), samples.numpy()), "samples not scattered"
    assert len(ax.collections) >= 2, "expected a filled contour under the scatter"
    assert ax.get_xlim() == (-3.0, 3.0) and ax.get_ylim() == (-3.0, 3.0)
    assert ax.get_title() == "8 Gaussians" and ax.get_aspect() == 1.0


def test_density_2d_without_samples_has_no_scatter():
    """Without samples, is there a contour but no scatter and no legend?"""
    fig = plotting.plot_density_2d(eight_gaussians_2d().pdf, resolution=20)
    ax = fig.axes[0]
    assert not [c for c in ax.collections if isinstance(c, PathCollection)] and ax.get_legend() is None


# ---------------------------------------------------------------------------- style


def test_lecture_style_sets_the_projector_rcparams():
    """Does use_lecture_style() set every projector rcParam over whatever was there?"""
    plt.rcParams.update({"font.size": 7, "lines.linewidth": 0.5, "axes.grid": False})
    plotting.use_lecture_style()
    for key, value in plotting.LECTURE_RC.items():
        assert plt.rcParams[key] == value, f"{key}: expected {value}, got {plt.rcParams[key]}"
