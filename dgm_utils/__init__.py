"""dgm_utils: the small helper package of the Deep Generative Models course (lecture 1).

Modules
-------
runtime        device choice (cuda > mps > cpu, DGM_DEVICE), fast mode (DGM_FAST), seeding
data           verified, cached MNIST (DGM_DATA_DIR) and DataLoaders
distributions  toy Gaussian mixtures with log_prob / sample / pdf
training       a generic MLE loop that returns its history, NLL evaluation, unit conversions
plotting       sample grids, training curves, 1D/2D densities

Importing the package does no I/O, no network call and no device choice.
"""

from .data import DataUnavailableError, load_mnist, load_mnist_labels, make_loader
from .distributions import GaussianMixture
from .runtime import fast_or, get_device, grading_mode, is_fast_mode, seed_everything
from .training import bits_per_dim, evaluate_nll, nats_per_image, train

__version__ = "0.1.0"

__all__ = [
    "DataUnavailableError",
    "GaussianMixture",
    "bits_per_dim",
    "evaluate_nll",
    "fast_or",
    "get_device",
    "grading_mode",
    "is_fast_mode",
    "load_mnist",
    "load_mnist_labels",
    "make_loader",
    "nats_per_image",
    "seed_everything",
    "train",
]
