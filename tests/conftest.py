"""Shared test configuration.

Notebook fixtures under tests/**/fixtures/ are inputs of tests, never collected as tests
themselves (nbval would otherwise try to execute them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

collect_ignore_glob = ["*fixtures*"]


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder of the real MNIST files (DGM_DATA_DIR). Fails in CI when absent, skips elsewhere."""
    from dgm_utils.data import MNIST_FILES, data_root

    root = data_root()
    if any((d / f).is_file() for d in (root, root / "mnist") for f in MNIST_FILES):
        return root
    message = (
        f"MNIST files not found under DGM_DATA_DIR={os.environ.get('DGM_DATA_DIR', '(unset)')}; "
        "point DGM_DATA_DIR at a folder with the four MNIST .gz files"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
