"""Small known distributions for lectures and assignments: Gaussian mixtures in 1D and 2D.

They expose ``log_prob`` and ``sample`` like ``torch.distributions``, plus ``pdf`` on NumPy
grids for plotting and numerical integration. Log-densities are in nats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


class GaussianMixture:
    """A mixture of K Gaussians in D dimensions with full covariances.

    Args:
        weights: (K,) mixture weights, positive; normalised to sum to 1.
        means: (K, D) component means (a (K,) sequence is read as D = 1).
        covs: (K, D, D) covariances, or (K,) standard deviations when D = 1.
    """

    def __init__(self, weights: Sequence[float], means: Sequence, covs: Sequence) -> None:
        w = torch.as_tensor(weights, dtype=torch.float64)
        mu = torch.as_tensor(means, dtype=torch.float64)
        if mu.ndim == 1:
            mu = mu[:, None]
        cov = torch.as_tensor(covs, dtype=torch.float64)
        if cov.ndim == 1:  # standard deviations of 1D components
            if mu.shape[1] != 1:
                raise ValueError("1D standard deviations given for a mixture with D > 1")
            cov = (cov**2)[:, None, None]
        k, d = mu.shape
        if w.shape != (k,) or cov.shape != (k, d, d):
            raise ValueError(
                f"shapes disagree: weights {tuple(w.shape)}, means {tuple(mu.shape)}, "
                f"covs {tuple(cov.shape)}; expected (K,), (K, D), (K, D, D)"
            )
        if (w <= 0).any():
            raise ValueError("mixture weights must be positive")
        self.weights = w / w.sum()
        self.means = mu
        self.covs = cov
        self._chol = torch.linalg.cholesky(cov)  # raises if a covariance is not positive definite

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-density in nats. x: (N, D), or (N,) when D = 1. Returns (N,), dtype of x."""
        x = torch.as_tensor(x)
        out_dtype = x.dtype if x.is_floating_point() else torch.float64
        xd = x.to(torch.float64)
        if xd.ndim == 1 and self.dim == 1:
            xd = xd[:, None]
        if xd.ndim != 2 or xd.shape[1] != self.dim:
            raise ValueError(f"expected x of shape (N, {self.dim}), got {tuple(x.shape)}")
        diff = xd[:, None, :] - self.means[None]  # (N, K, D)
        # Solve L z = diff for each component: Mahalanobis distance = |z|^2.
        z = torch.linalg.solve_triangular(self._chol[None], diff[..., None], upper=False)[..., 0]
        maha = (z**2).sum(-1)
        log_det = 2 * torch.log(torch.diagonal(self._chol, dim1=-2, dim2=-1)).sum(-1)
        log_comp = -0.5 * (maha + log_det + self.dim * math.log(2 * math.pi))
        return torch.logsumexp(torch.log(self.weights) + log_comp, dim=1).to(out_dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw n samples: (n, D) float64, or (n,) when D = 1."""
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, dtype=torch.float64, generator=generator)
        x = self.means[comp] + (self._chol[comp] @ eps[..., None])[..., 0]
        return x[:, 0] if self.dim == 1 else x

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density on a NumPy array of points: (N,) for D = 1, (..., 2) for D = 2."""
        arr = np.asarray(x, dtype=np.float64)
        flat = arr.reshape(-1) if self.dim == 1 else arr.reshape(-1, self.dim)
        values = torch.exp(self.log_prob(torch.from_numpy(flat))).numpy()
        return values.reshape(arr.shape if self.dim == 1 else arr.shape[:-1])

    def mean(self) -> torch.Tensor:
        """Mixture mean, (D,)."""
        return (self.weights[:, None] * self.means).sum(0)

    def covariance(self) -> torch.Tensor:
        """Mixture covariance, (D, D): E[cov] + Cov[mean] over components."""
        mu = self.mean()
        centred = self.means - mu
        outer = centred[:, :, None] * centred[:, None, :]
        return (self.weights[:, None, None] * (self.covs + outer)).sum(0)


def two_mode_mixture_1d() -> GaussianMixture:
    """The lecture's bimodal target π: 0.5·N(-2, 0.6²) + 0.5·N(2, 0.6²)."""
    return GaussianMixture([0.5, 0.5], [-2.0, 2.0], [0.6, 0.6])


def eight_gaussians_2d(radius: float = 2.0, std: float = 0.2) -> GaussianMixture:
    """Eight equal Gaussians on a circle: a standard 2D toy target."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    means = torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1)
    covs = torch.eye(2, dtype=torch.float64).expand(8, 2, 2) * std**2
    return GaussianMixture(torch.ones(8), means, covs)
