"""dgm_utils: the small helper package of the Deep Generative Models course (lecture 1).

Modules
-------
runtime        device choice (cuda > mps > cpu, DGM_DEVICE), fast mode (DGM_FAST), seeding
data           verified, cached MNIST (DGM_DATA_DIR) and DataLoaders
distributions  toy Gaussian mixtures with log_prob / sample / pdf
training       a generic MLE loop that returns its history, NLL evaluation, unit conversions
plotting       sample grids, training curves, 1D/2D densities
submit         one-step submission: check the saved notebook and its files, run the visible tests,
               write the zip for the LMS (``python -m dgm_utils.submit <assignment>``)
meta           the version, the course repository and the pinned tag (from the package metadata)

Importing the package does no I/O, no network call and no device choice. ``dgm_utils.__version__``
is the installed version, read from the package metadata when first asked for.
"""

from .data import DataUnavailableError, load_mnist, load_mnist_labels, make_loader
from .distributions import GaussianMixture
from .runtime import fast_or, get_device, grading_mode, is_fast_mode, seed_everything
from .training import bits_per_dim, evaluate_nll, nats_per_image, train



def __getattr__(name: str) -> str:
    # __version__ comes from the package metadata (pyproject.toml's version), read on first use.
    if name == "__version__":
        from .meta import version

        return version()
    raise AttributeError(f"module 'dgm_utils' has no attribute {name!r}")

__all__ = [
    "__version__",
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
