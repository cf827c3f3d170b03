"""Fixtures of the dgm_utils unit tests: a plain environment, real MNIST (or a clear skip),
fake MNIST files in a patched registry, and a local mirror (see unit_fakes.py).

Run: DGM_DATA_DIR=/work/shared/data/mnist .venv/bin/python -m pytest tests/unit -q
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from dgm_utils import data
from unit_fakes import FakeMnist, Mirror, closed_port_url


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts outside fast mode, grading mode and any proxy; tests opt in explicitly.

    `make test` exports DGM_FAST=1; a test that depends on it sets it itself, so the folder gives
    the same results under `make test` and under a bare `pytest tests/unit`.
    """
    for name in ("DGM_FAST", "DGM_DEVICE", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(name, raising=False)
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)  # the local mirror must be reached directly


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run torch ops on one thread: these tensors are small, and two intra-op threads per pytest-xdist
    worker on a busy 2-core machine made a 100-step fit 12x slower (5.0 s vs 0.42 s, load 9)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fake_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMnist]:
    """Fake MNIST in a patched registry; DGM_DATA_DIR=tmp_path/data (empty); no mirror reachable."""
    fake = FakeMnist.build(tmp_path / "data")
    monkeypatch.setenv("DGM_DATA_DIR", str(fake.root))
    fake.set_mirrors(monkeypatch, closed_port_url())
    data._parse_idx_cached.cache_clear()  # parsed arrays are cached per split: never mix fake and real
    yield fake
    data._parse_idx_cached.cache_clear()


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    """A local HTTP mirror on 127.0.0.1, shut down after the test."""
    with Mirror() as server:
        yield server
