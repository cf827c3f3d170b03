"""Shared test configuration.

Notebook fixtures under tests/**/fixtures/ are inputs of tests, never collected as tests
themselves (nbval would otherwise try to execute them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from real_mnist import require_real_mnist

REPO = Path(__file__).resolve().parent.parent

collect_ignore_glob = ["*fixtures*"]


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder of the four verified real MNIST files (DGM_DATA_DIR); skips, or fails under CI=true, without them."""
    return require_real_mnist()
