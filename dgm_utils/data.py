"""Data sets: a registry with mirrors and md5s, a verified cache, MNIST, and DataLoaders.

Files are looked up in ``$DGM_DATA_DIR`` (or ``~/.cache/dgm_utils`` when it is unset), checked
against their md5 on every load, and downloaded from the registry's mirrors when missing or
corrupt. A corrupt file is never used: it is replaced, or an error says what to do.

    >>> from dgm_utils.data import load_mnist
    >>> x = load_mnist("train", binarize="threshold")   # float32 {0, 1}, (60000, 1, 28, 28)
    >>> torch.load(lecture_checkpoint("pixel_rnn.pt"))   # lecture 04's demo model, beside it or downloaded

``DGM_DATA_DIR`` may point at the data root (files under ``<root>/mnist/``) or straight at a
folder that holds the four MNIST ``.gz`` files, such as a shared read-only copy.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from .runtime import is_fast_mode

Split = Literal["train", "test"]
Binarize = Literal["threshold", "stochastic"] | None


class DataUnavailableError(RuntimeError):
    """The files of a data set are neither in the cache nor downloadable."""


class ChecksumError(RuntimeError):
    """A file's md5 does not match the registry."""


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: its files with their md5s, and the mirrors that serve them (tried in order).

    ``repo_path``: a folder of the course repository that also serves the files, from GitHub at the
    pinned tag of the installed package (dgm_utils.meta), tried after ``mirrors``.
    """

    name: str
    files: dict[str, str]  # file name -> md5
    mirrors: tuple[str, ...]
    repo_path: str | None = None

    def urls(self) -> tuple[str, ...]:
        """Every mirror, each a URL prefix of the file names (resolved now, not at import)."""
        if self.repo_path is None:
            return self.mirrors
        from .meta import MetadataError, installed

        try:
            repository = installed().raw_url(self.repo_path.rstrip("/") + "/")
        except MetadataError:
            return self.mirrors  # not installed: fetch_file's error names the files to fetch by hand
        return (*self.mirrors, repository)


MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        files=MNIST_FILES,
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
    # Lecture 04's trained demo models (lectures/checkpoints/, made by the notebook in full mode). Beside
    # the notebook in the checkout; elsewhere (Colab) downloaded from the repository at the pinned tag.
    # After retraining them, put their new md5s here (tests/unit/test_data.py compares) and tag a release.
    "lecture_checkpoints": DatasetSpec(
        name="lecture_checkpoints",
        files={
            "markov_mlp.pt": "ea94e40ece421247ee6defe124c0a36d",
            "pixel_rnn.pt": "8f0ad9d105c6cdf3caff7611a53e7a33",
        },
        mirrors=(),
        repo_path="lectures/checkpoints",
    ),
}
LECTURE_CHECKPOINT_DIR = "checkpoints"  # the folder beside lecture 04 (lectures/checkpoints/ in the repository)

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}

# Fast mode (DGM_FAST=1) keeps this many images per split unless a limit is given.
FAST_LIMITS = {"train": 2000, "test": 1000}

# ---------------------------------------------------------------------------- cache & download


def data_root() -> Path:
    """The data root: ``$DGM_DATA_DIR`` if set, else ``$XDG_CACHE_HOME/dgm_utils`` (or ~/.cache)."""
    env = os.environ.get("DGM_DATA_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "dgm_utils"


def md5sum(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex md5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _candidates(spec: DatasetSpec, file_name: str) -> list[Path]:
    root = data_root()
    return [root / spec.name / file_name, root / file_name]


def _download(url: str, dest: Path, md5: str, timeout: float) -> None:
    """Download ``url`` to ``dest`` through a temporary file; keep it only if the md5 matches."""
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "dgm_utils"})
        with urllib.request.urlopen(request, timeout=timeout) as response, os.fdopen(fd, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        got = md5sum(tmp)
        if got != md5:
            raise ChecksumError(f"{url} gave md5 {got}, expected {md5}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_file(dataset: str, file_name: str, *, download: bool = True, timeout: float = 30.0) -> Path:
    """Return the path of a verified copy of one file of a registered data set.

    A copy whose md5 is wrong (partial or corrupt) is never returned: it is replaced by a fresh
    download when the folder is writable. Mirrors are tried in order.

    Raises:
        KeyError: unknown data set or file.
        DataUnavailableError: no valid copy and no mirror could serve one (e.g. offline).
    """
    if dataset not in DATASETS:
        raise KeyError(f"Unknown data set {dataset!r}; registered: {sorted(DATASETS)}")
    spec = DATASETS[dataset]
    if file_name not in spec.files:
        raise KeyError(f"{dataset} has no file {file_name!r}; its files: {sorted(spec.files)}")
    md5 = spec.files[file_name]
    candidates = _candidates(spec, file_name)
    corrupt: list[Path] = []
    for path in candidates:
        if path.is_file():
            if _verified(path, md5):
                return path
            corrupt.append(path)

    target = candidates[0]
    errors: list[str] = [f"{p}: md5 mismatch (corrupt or partial file)" for p in corrupt]
    if download:
        for mirror in spec.urls():
            try:
                _download(mirror + file_name, target, md5, timeout)
            except (OSError, urllib.error.URLError, ChecksumError) as exc:
                errors.append(f"{mirror + file_name}: {exc}")
                continue
            for bad in corrupt:
                if bad != target:
                    try:
                        bad.unlink()
                    except OSError:
                        pass  # read-only copy: it stays unused
            return target
    expected = "\n".join(f"  {name}  (md5 {h})" for name, h in spec.files.items())
    tried = "\n".join(f"  - {e}" for e in errors) or "  - downloads disabled"
    raise DataUnavailableError(
        f"No valid copy of {file_name} ({dataset}).\n"
        f"Looked in: {', '.join(str(p) for p in candidates)}\n"
        f"Problems:\n{tried}\n"
        f"Fix: connect to the internet and retry, or download these files by hand into a folder "
        f"and point DGM_DATA_DIR at it (export DGM_DATA_DIR=/path/to/folder):\n{expected}"
    )


_VERIFIED: dict[tuple[str, int, int, int, int], bool] = {}


def _verified(path: Path, md5: str) -> bool:
    """md5 check, cached within the process per (path, inode, size, mtime, ctime): any rewrite re-checks."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = md5sum(path) == md5
    return _VERIFIED[key]


def lecture_checkpoint(name: str, folder: str | Path = LECTURE_CHECKPOINT_DIR, *, download: bool = True) -> Path | None:
    """The path of lecture 04's checkpoint ``name`` (e.g. "pixel_rnn.pt") for ``torch.load``, or None.

    - ``folder`` (default ``checkpoints``, beside the notebook) exists: it is the instructor's copy
      (the repository's lectures/checkpoints/). Its file is used as it is, and a missing one gives
      None: the notebook trains and saves it (full mode), as docs/instructor.md describes.
    - no such folder (a notebook opened alone, e.g. in Colab): a copy verified by md5 from the cache
      (``DGM_DATA_DIR``), downloaded on first use from the course repository at the pinned tag.

    Raises:
        KeyError: ``name`` is not one of the lecture's checkpoints.
        DataUnavailableError: no folder, no valid cached copy, and no download possible (offline);
            the message says which files to fetch by hand.
    """
    spec = DATASETS["lecture_checkpoints"]
    if name not in spec.files:
        raise KeyError(f"{name!r} is not a lecture checkpoint; they are {sorted(spec.files)}")
    folder = Path(folder)
    if folder.is_dir():
        path = folder / name
        return path if path.is_file() else None
    return fetch_file("lecture_checkpoints", name, download=download)


def fetch(dataset: str, *, download: bool = True) -> dict[str, Path]:
    """Fetch every file of a data set; return file name -> verified path."""
    if dataset not in DATASETS:
        raise KeyError(f"Unknown data set {dataset!r}; registered: {sorted(DATASETS)}")
    return {name: fetch_file(dataset, name, download=download) for name in DATASETS[dataset].files}


# ---------------------------------------------------------------------------- MNIST


def _read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file (big-endian header: magic, dims) into a uint8 array."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {data.size} bytes")
    return data.reshape(shape)


def _check_split(split: str) -> None:
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def _mnist_raw(split: str, what: str) -> np.ndarray:
    """The parsed IDX array of one MNIST file, verified now, parsed once per file version."""
    path = fetch_file("mnist", f"{_SPLIT_PREFIX[split]}-{what}-idx{3 if what == 'images' else 1}-ubyte.gz")
    stat = path.stat()
    return _parse_idx_cached(str(path.resolve()), stat.st_ino, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _parse_idx_cached(path: str, inode: int, mtime_ns: int) -> np.ndarray:
    array = _read_idx(Path(path))
    array.setflags(write=False)
    return array


def _resolve_limit(split: str, limit: int | None | Literal["auto"]) -> int | None:
    if limit == "auto":
        return FAST_LIMITS[split] if is_fast_mode() else None
    if limit is not None and (not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit must be a positive int, None or 'auto', got {limit!r}")
    return limit


def load_mnist(
    split: Split = "train",
    binarize: Binarize = "threshold",
    *,
    seed: int = 0,
    limit: int | None | Literal["auto"] = "auto",
    flatten: bool = False,
) -> torch.Tensor:
    """Load MNIST images.

    Args:
        split: "train" (60,000 images) or "test" (10,000).
        binarize: how to turn grey levels 0..255 into pixels:
            - "threshold" (course default): x = 1 where grey/255 > 0.5, else 0.
            - "stochastic": static stochastic binarisation, the literature protocol: each pixel
              is drawn once as Bernoulli(grey/255) with ``seed``; image i gets the same draw
              whatever ``limit`` is, so the data set is fixed per seed.
            - None: the raw grey levels.
        seed: seed of the stochastic binarisation (ignored otherwise).
        limit: keep the first ``limit`` images. "auto" keeps all, or ``FAST_LIMITS[split]`` in
            fast mode (DGM_FAST=1); None always keeps all.
        flatten: return (N, 784) in raster order (row by row) instead of (N, 1, 28, 28).

    Returns:
        float32 tensor of 0.0/1.0 when binarised, uint8 tensor of 0..255 when ``binarize=None``;
        shape (N, 1, 28, 28), or (N, 784) with ``flatten=True``.
    """
    _check_split(split)
    if binarize not in ("threshold", "stochastic", None):
        raise ValueError(f"binarize must be 'threshold', 'stochastic' or None, got {binarize!r}")
    n = _resolve_limit(split, limit)
    raw = torch.from_numpy(_mnist_raw(split, "images").copy())  # (N, 28, 28) uint8
    if binarize == "stochastic":
        generator = torch.Generator().manual_seed(seed)
        u = torch.rand(raw.shape, generator=generator)  # drawn for the full split: fixed per image
        images = (u < raw.float() / 255.0).float()
    elif binarize == "threshold":
        images = (raw.float() / 255.0 > 0.5).float()
    else:
        images = raw
    images = images[:n] if n is not None else images
    return images.reshape(len(images), 784) if flatten else images.unsqueeze(1)


def load_mnist_labels(split: Split = "train", *, limit: int | None | Literal["auto"] = "auto") -> torch.Tensor:
    """Digit labels 0..9 as int64, shape (N,), aligned with ``load_mnist`` for the same limit."""
    _check_split(split)
    labels = torch.from_numpy(_mnist_raw(split, "labels").astype(np.int64))
    n = _resolve_limit(split, limit)
    return labels[:n] if n is not None else labels


# ---------------------------------------------------------------------------- loaders


def make_loader(
    x: torch.Tensor,
    batch_size: int = 128,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader over the rows of ``x`` that yields plain tensors (not 1-tuples).

    Shuffling is seeded, so two loaders with the same seed give the same batches.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"make_loader expects a torch.Tensor, got {type(x).__name__}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    base = RandomSampler(x, generator=generator) if shuffle else SequentialSampler(x)
    # Index whole batches at once: one tensor gather per batch instead of one call per image.
    return DataLoader(
        TensorDataset(x),
        sampler=BatchSampler(base, batch_size=batch_size, drop_last=drop_last),
        batch_size=None,
        collate_fn=_first,
    )


def _first(batch: tuple[torch.Tensor]) -> torch.Tensor:
    return batch[0]


def copy_to_cache(src_dir: str | Path, dataset: str = "mnist") -> Path:
    """Copy a data set's files from ``src_dir`` into the cache after checking each md5."""
    spec = DATASETS[dataset]
    dest = data_root() / spec.name
    dest.mkdir(parents=True, exist_ok=True)
    for name, md5 in spec.files.items():
        src = Path(src_dir) / name
        if md5sum(src) != md5:
            raise ChecksumError(f"{src} has the wrong md5 (expected {md5}); not copied.")
        shutil.copy2(src, dest / name)
    return dest
