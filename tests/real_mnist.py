"""The real MNIST files for the tests: found, verified, never downloaded (the mnist_dir fixture)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dgm_utils import data


def require_real_mnist() -> Path:
    """The folder holding the four verified MNIST files, found without any download.

    Skips with the reason when they are absent; fails instead when CI=true, because CI must
    run the oracle tests on real data (point DGM_DATA_DIR at the files, e.g. /work/shared/data/mnist).
    """
    try:
        paths = data.fetch("mnist", download=False)
    except data.DataUnavailableError as exc:
        message = (
            "real MNIST files not available (set DGM_DATA_DIR to a folder holding the four "
            f"MNIST .gz files): {str(exc).splitlines()[0]}"
        )
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(message + " -- CI=true, so this is an error, not a skip")
        pytest.skip(message)
    folders = {p.parent for p in paths.values()}
    assert len(folders) == 1, f"expected the four files in one folder, got {sorted(map(str, folders))}"
    return folders.pop()
