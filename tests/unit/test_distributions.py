"""Unit tests of dgm_utils.distributions against torch.distributions, closed forms and quadrature.

Run: .venv/bin/python -m pytest tests/unit/test_distributions.py -q
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import distributions as td

from dgm_utils.distributions import GaussianMixture, eight_gaussians_2d, two_mode_mixture_1d


def _oracle(weights, means, covs) -> td.MixtureSameFamily:
    """The same mixture built from torch.distributions (float64)."""
    w = torch.as_tensor(weights, dtype=torch.float64)
    mu = torch.as_tensor(means, dtype=torch.float64)
    cov = torch.as_tensor(covs, dtype=torch.float64)
    return td.MixtureSameFamily(td.Categorical(probs=w / w.sum()), td.MultivariateNormal(mu, covariance_matrix=cov))


def _random_spd(k: int, d: int, generator: torch.Generator) -> torch.Tensor:
    a = torch.randn(k, d, d, generator=generator, dtype=torch.float64)
    return a @ a.transpose(-1, -2) + 0.3 * torch.eye(d, dtype=torch.float64)


# ---------------------------------------------------------------------------- log_prob oracles


def test_log_prob_1d_matches_torch():
    """Does a 1D mixture given by standard deviations match MixtureSameFamily(Normal) in nats?"""
    weights, means, stds = [0.2, 0.5, 0.3], [-3.0, 0.5, 4.0], [0.4, 1.0, 2.5]
    mixture = GaussianMixture(weights, means, stds)
    oracle = td.MixtureSameFamily(td.Categorical(probs=torch.tensor(weights, dtype=torch.float64)),
                                  td.Normal(torch.tensor(means, dtype=torch.float64), torch.tensor(stds, dtype=torch.float64)))
    x = torch.linspace(-12, 15, 1001, dtype=torch.float64)
    torch.testing.assert_close(mixture.log_prob(x), oracle.log_prob(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mixture.log_prob(x[:, None]), oracle.log_prob(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d", [2, 3])
def test_log_prob_full_covariance_matches_torch(d):
    """Does a mixture with full (correlated) covariances match MixtureSameFamily(MultivariateNormal)?"""
    generator = torch.Generator().manual_seed(d)
    k = 4
    weights = torch.rand(k, generator=generator, dtype=torch.float64) + 0.1
    means = 3 * torch.randn(k, d, generator=generator, dtype=torch.float64)
    covs = _random_spd(k, d, generator)
    assert float(covs[0, 0, 1].abs()) > 0.05, "the oracle needs correlated components"
    mixture = GaussianMixture(weights, means, covs)
    x = 4 * torch.randn(500, d, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(mixture.log_prob(x), _oracle(weights, means, covs).log_prob(x), rtol=1e-10, atol=1e-10)


def test_weights_are_normalised():
    """Do unnormalised weights [1, 3] give the same density as [0.25, 0.75]?"""
    x = torch.linspace(-4, 4, 50, dtype=torch.float64)
    a = GaussianMixture([1.0, 3.0], [-1.0, 1.0], [0.5, 0.7])
    b = GaussianMixture([0.25, 0.75], [-1.0, 1.0], [0.5, 0.7])
    torch.testing.assert_close(a.log_prob(x), b.log_prob(x), rtol=0, atol=1e-14)
    torch.testing.assert_close(a.weights, torch.tensor([0.25, 0.75], dtype=torch.float64))


def test_log_prob_dtype_follows_input():
    """Does log_prob return float32 for float32 input and float64 for integer input, shape (N,)?"""
    mixture = two_mode_mixture_1d()
    out32 = mixture.log_prob(torch.zeros(5, dtype=torch.float32))
    assert out32.dtype == torch.float32 and out32.shape == (5,), f"got {out32.dtype} {tuple(out32.shape)}"
    out_int = mixture.log_prob(torch.arange(3))
    assert out_int.dtype == torch.float64 and out_int.shape == (3,), f"got {out_int.dtype} {tuple(out_int.shape)}"


def test_log_prob_is_stable_far_in_the_tails():
    """Is log_prob finite and exact far from every mode (logsumexp, not log of a sum of exps)?"""
    mixture = GaussianMixture([0.5, 0.5], [-2.0, 2.0], [0.6, 0.6])
    x = torch.tensor([60.0], dtype=torch.float64)
    # far right, the right component dominates: log(0.5) + log N(60; 2, 0.36)
    expected = math.log(0.5) - 0.5 * ((60 - 2) / 0.6) ** 2 - math.log(0.6 * math.sqrt(2 * math.pi))
    got = float(mixture.log_prob(x))
    assert math.isfinite(got) and abs(got - expected) < 1e-9, f"expected {expected}, got {got}"


# ---------------------------------------------------------------------------- pdf


def test_pdf_1d_integrates_to_one():
    """Does the pdf of the lecture's 1D mixture integrate to 1 on [-10, 10]?"""
    grid = np.linspace(-10, 10, 20001)
    p = two_mode_mixture_1d().pdf(grid)
    assert p.shape == grid.shape and (p >= 0).all()
    integral = np.trapezoid(p, grid)
    assert abs(integral - 1) < 1e-6, f"expected ∫p = 1, got {integral}"


def test_pdf_2d_integrates_to_one_on_a_grid():
    """Does the pdf of eight Gaussians, evaluated on an (H, W, 2) grid, give (H, W) that integrates to 1?"""
    xs = np.linspace(-4, 4, 401)
    xx, yy = np.meshgrid(xs, xs)
    p = eight_gaussians_2d().pdf(np.stack([xx, yy], axis=-1))
    assert p.shape == (401, 401), f"expected (401, 401), got {p.shape}"
    integral = np.trapezoid(np.trapezoid(p, xs, axis=1), xs)
    assert abs(integral - 1) < 1e-3, f"expected ∫∫p = 1, got {integral}"


def test_pdf_agrees_with_log_prob():
    """Is pdf(x) exactly exp(log_prob(x)) point by point?"""
    mixture = eight_gaussians_2d()
    points = np.array([[2.0, 0.0], [0.0, 0.0], [1.4, 1.4]])
    expected = torch.exp(mixture.log_prob(torch.from_numpy(points))).numpy()
    np.testing.assert_allclose(mixture.pdf(points), expected, rtol=1e-12)


# ---------------------------------------------------------------------------- sampling and moments


def test_closed_form_moments():
    """Are mean() and covariance() the closed forms: 0 and 0.36 + 4 for the 1D mixture; 0 and 2.04·I for eight Gaussians?"""
    m1 = two_mode_mixture_1d()
    torch.testing.assert_close(m1.mean(), torch.zeros(1, dtype=torch.float64))
    torch.testing.assert_close(m1.covariance(), torch.tensor([[0.36 + 4.0]], dtype=torch.float64))
    m2 = eight_gaussians_2d(radius=2.0, std=0.2)
    torch.testing.assert_close(m2.mean(), torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(m2.covariance(), (0.04 + 2.0) * torch.eye(2, dtype=torch.float64), atol=1e-12, rtol=0)
    means = m2.means.norm(dim=1)
    torch.testing.assert_close(means, torch.full((8,), 2.0, dtype=torch.float64))


@pytest.mark.parametrize(
    "mixture",
    [
        GaussianMixture([0.2, 0.8], [-5.0, 3.0], [0.5, 2.0]),
        GaussianMixture([0.3, 0.7], [[-2.0, 1.0], [2.0, -1.0]],
                        [[[1.0, 0.8], [0.8, 1.0]], [[0.5, -0.2], [-0.2, 0.3]]]),
    ],
    ids=["1d", "2d-correlated"],
)
def test_sample_moments_match_within_standard_errors(mixture):
    """Are the sample mean and covariance of 200k draws within 5 standard errors of mean() and covariance()?"""
    n = 200_000
    x = mixture.sample(n, generator=torch.Generator().manual_seed(0))
    d = mixture.dim
    assert x.dtype == torch.float64 and x.shape == ((n,) if d == 1 else (n, d)), f"got {x.dtype} {tuple(x.shape)}"
    x = x.reshape(n, d)
    mean, cov = mixture.mean(), mixture.covariance()
    se_mean = (torch.diagonal(cov) / n).sqrt()
    z_mean = (x.mean(0) - mean) / se_mean
    assert bool((z_mean.abs() < 5).all()), f"mean: expected {mean.tolist()}, got {x.mean(0).tolist()} (z={z_mean.tolist()})"
    centred = x - mean
    products = centred[:, :, None] * centred[:, None, :]  # (n, d, d); their mean estimates the covariance
    z_cov = (products.mean(0) - cov) / (products.std(0) / math.sqrt(n))
    assert bool((z_cov.abs() < 5).all()), f"covariance: expected {cov.tolist()}, got {products.mean(0).tolist()}"


def test_sample_component_frequencies():
    """Do well-separated components receive their weight's share of samples (within 5 standard errors)?"""
    n = 50_000
    x = GaussianMixture([0.2, 0.8], [-10.0, 10.0], [1.0, 1.0]).sample(n, generator=torch.Generator().manual_seed(1))
    share = float((x < 0).double().mean())
    se = math.sqrt(0.2 * 0.8 / n)
    assert abs(share - 0.2) < 5 * se, f"expected 20% ± {5 * se:.4f} on the left, got {share:.4f}"


def test_sample_is_reproducible_with_a_generator():
    """Do two generators with the same seed give the same samples, and another seed others?"""
    mixture = eight_gaussians_2d()
    a = mixture.sample(100, generator=torch.Generator().manual_seed(3))
    b = mixture.sample(100, generator=torch.Generator().manual_seed(3))
    c = mixture.sample(100, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b), "expected equal samples for equal seeds"
    assert not torch.equal(a, c), "expected different samples for different seeds"


def test_samples_have_high_density_under_the_model():
    """Is the mean log_prob of samples the closed form -log 8 - log(2πσ²) - 1 nats (minus the entropy), and noise far below?"""
    mixture = eight_gaussians_2d()
    samples = mixture.sample(5000, generator=torch.Generator().manual_seed(0))
    noise = 4 * torch.rand(5000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 2
    # each component: -log(8) - log(2π σ²) - 1 = differential cross-entropy of a sample, in nats
    expected = -math.log(8) - math.log(2 * math.pi * 0.04) - 1.0
    got = float(mixture.log_prob(samples).mean())
    assert abs(got - expected) < 0.05, f"expected mean log_prob {expected:.3f} nats, got {got:.3f}"
    assert float(mixture.log_prob(noise).mean()) < expected - 2, "uniform noise should be much less likely"


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "error", "pattern"),
    [
        (([0.5, 0.5], [0.0, 1.0, 2.0], [1.0, 1.0, 1.0]), ValueError, "shapes disagree"),
        (([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [1.0, 1.0]), ValueError, "1D standard deviations"),
        (([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], torch.eye(3).expand(2, 3, 3)), ValueError, "shapes disagree"),
        (([1.0, -0.5], [0.0, 1.0], [1.0, 1.0]), ValueError, "weights must be positive"),
        (([1.0, 0.0], [0.0, 1.0], [1.0, 1.0]), ValueError, "weights must be positive"),
        (([1.0], [[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]]), torch.linalg.LinAlgError, "positive-definite"),
    ],
    ids=["k-mismatch", "stds-for-2d", "cov-dim", "negative-weight", "zero-weight", "not-pd"],
)
def test_bad_parameters_raise(args, error, pattern):
    """Do mismatched shapes, non-positive weights and a non-PD covariance raise clear errors?"""
    with pytest.raises(error, match=pattern):
        GaussianMixture(*args)


@pytest.mark.parametrize("shape", [(5, 3), (5,), (5, 2, 1), ()])
def test_log_prob_rejects_wrong_shapes(shape):
    """Does a 2D mixture reject x that is not (N, 2), naming the expected shape?"""
    with pytest.raises(ValueError, match=r"expected x of shape \(N, 2\)"):
        eight_gaussians_2d().log_prob(torch.zeros(shape))


def test_1d_log_prob_rejects_2_columns():
    """Does a 1D mixture reject (N, 2) points?"""
    with pytest.raises(ValueError, match=r"\(N, 1\)"):
        two_mode_mixture_1d().log_prob(torch.zeros(4, 2))
