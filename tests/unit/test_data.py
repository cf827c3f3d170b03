"""Unit tests of dgm_utils.data: the real MNIST files and their md5s, load_mnist, labels, loaders,
and the verified download cache (against a local mirror on 127.0.0.1, never the internet).

Run: DGM_DATA_DIR=/work/shared/data/mnist .venv/bin/python -m pytest tests/unit/test_data.py -q
"""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from real_mnist import require_real_mnist
from unit_fakes import MNIST_NAMES, closed_port_url, gz, idx_bytes, md5
from dgm_utils import data
from dgm_utils.data import DataUnavailableError, load_mnist, load_mnist_labels, make_loader

# The published md5s of the four MNIST files (yann.lecun.com; the same in torchvision's registry).
PUBLISHED_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Digit counts of the standard splits (LeCun et al.), and their first ten labels.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FIRST_LABELS = {"train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]}
SIZES = {"train": 60000, "test": 10000}


def _raw_idx_images(path: Path) -> np.ndarray:
    """Independent IDX reader for the oracle: 16-byte header, then N*28*28 bytes in file order."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    assert int.from_bytes(raw[:4], "big") == 0x0803, "expected the IDX magic of a 3D unsigned-byte array"
    return np.frombuffer(raw, dtype=np.uint8, offset=16)


# ============================================================================ real MNIST


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_real_data_skips_but_fails_under_ci(fake_mnist, mirror, monkeypatch, ci, outcome):
    """Without real files, do the real-data tests skip with the fix in the message, but fail when CI=true,
    and never try a download?"""
    mirror.routes["good"] = fake_mnist.files
    fake_mnist.set_mirrors(monkeypatch, mirror.url("good"))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome) as info:
        require_real_mnist()
    assert "DGM_DATA_DIR" in str(info.value.msg), f"expected the message to name DGM_DATA_DIR: {info.value.msg}"
    assert mirror.requests == [], f"expected no download attempt, got {mirror.requests}"


def test_real_files_have_the_published_md5s(mnist_dir):
    """Do the four real files, and the registry, carry the published MNIST md5s?"""
    assert data.MNIST_FILES == PUBLISHED_MD5, "expected the registry to list exactly the published md5s"
    for name, expected in PUBLISHED_MD5.items():
        got = data.md5sum(mnist_dir / name)
        assert got == expected, f"{mnist_dir / name}: expected md5 {expected}, got {got}"


@pytest.mark.parametrize("split", ["train", "test"])
def test_real_shapes_dtypes_and_ranges(mnist_dir, split):
    """Does load_mnist give the documented shape, dtype and values for each binarisation?"""
    n = SIZES[split]
    raw = load_mnist(split, binarize=None, limit=None)
    assert raw.shape == (n, 1, 28, 28) and raw.dtype == torch.uint8, f"raw: got {raw.shape} {raw.dtype}"
    assert int(raw.min()) == 0 and int(raw.max()) == 255, f"raw grey levels: got {int(raw.min())}..{int(raw.max())}"
    # the train split is large: check one binarisation there, both on test
    for binarize in ("threshold",) if split == "train" else ("threshold", "stochastic"):
        x = load_mnist(split, binarize=binarize, limit=None, flatten=True)
        assert x.shape == (n, 784) and x.dtype == torch.float32, f"{binarize}: got {x.shape} {x.dtype}"
        ones = int(x.eq(1).sum())
        assert ones + int(x.eq(0).sum()) == x.numel(), f"{binarize}: expected only 0.0 and 1.0 pixels"
        density = ones / x.numel()
        # about 13% of MNIST pixels are "on": an inverted image (1 - x) or an all-zero array is not
        assert 0.10 < density < 0.16, f"{binarize}: expected ~13% ones, got {density:.3f}"


def test_real_raster_order(mnist_dir):
    """Is flatten=True the row-by-row reshape of the image, in the byte order of the IDX file?"""
    images = load_mnist("test", binarize=None, limit=None)
    flat = load_mnist("test", binarize=None, limit=None, flatten=True)
    torch.testing.assert_close(flat, images.reshape(len(images), 784), rtol=0, atol=0)
    file_bytes = _raw_idx_images(mnist_dir / "t10k-images-idx3-ubyte.gz").reshape(-1, 784)
    for i in (0, 1, 9999):
        assert np.array_equal(flat[i].numpy(), file_bytes[i]), f"image {i}: not the file's bytes in raster order"
    # and the (1, 28, 28) image is those bytes row by row: (H, W), not (W, H)
    assert np.array_equal(images[0, 0].numpy(), file_bytes[0].reshape(28, 28)), "expected (H, W) = rows first"


def test_real_threshold_is_half(mnist_dir):
    """Is 'threshold' exactly grey/255 > 0.5, i.e. grey >= 128, on every test pixel?"""
    raw = load_mnist("test", binarize=None, limit=None)
    x = load_mnist("test", binarize="threshold", limit=None)
    expected = (raw >= 128).float()
    mismatches = int((x != expected).sum())
    assert mismatches == 0, f"expected x == (grey >= 128) everywhere, {mismatches} pixels differ"


def test_real_stochastic_is_fixed_per_image(mnist_dir):
    """Does image i get the same stochastic draw whatever the limit and the global RNG state?"""
    torch.manual_seed(1)
    full = load_mnist("test", binarize="stochastic", seed=0, limit=None)
    torch.manual_seed(2)
    head = load_mnist("test", binarize="stochastic", seed=0, limit=50)
    assert torch.equal(head, full[:50]), "expected limit=50 to give the first 50 images of the full draw"
    again = load_mnist("test", binarize="stochastic", seed=0, limit=None)
    assert torch.equal(again, full), "expected the same seed to give the same data set"
    other = load_mnist("test", binarize="stochastic", seed=1, limit=None)
    frac = float((other != full).float().mean())
    assert frac > 0.01, f"expected seeds 0 and 1 to differ on many pixels, got {frac:.4%}"


def test_real_stochastic_matches_grey_levels(mnist_dir):
    """Is each pixel Bernoulli(grey/255): 0 and 255 deterministic, frequencies within 5 standard errors?"""
    raw = load_mnist("test", binarize=None, limit=None).reshape(-1).long()
    x = load_mnist("test", binarize="stochastic", seed=0, limit=None).reshape(-1)
    assert bool((x[raw == 0] == 0).all()), "expected grey 0 to give 0 always"
    assert bool((x[raw == 255] == 1).all()), "expected grey 255 to give 1 always"
    p = raw.double() / 255.0
    mean_expected, se = float(p.mean()), float((p * (1 - p)).sum().sqrt() / len(p))
    mean_got = float(x.double().mean())
    assert abs(mean_got - mean_expected) < 5 * se, f"mean: expected {mean_expected:.5f} ± {5 * se:.5f}, got {mean_got:.5f}"
    for lo, hi in [(1, 64), (64, 128), (128, 192), (192, 255)]:  # grey-level bands
        band = (raw >= lo) & (raw < hi)
        pb, xb = p[band], x[band].double()
        se_b = float((pb * (1 - pb)).sum().sqrt() / len(pb))
        assert abs(float(xb.mean() - pb.mean())) < 5 * se_b, (
            f"grey {lo}..{hi - 1}: expected frequency {float(pb.mean()):.4f} ± {5 * se_b:.4f}, got {float(xb.mean()):.4f}"
        )


def test_real_labels(mnist_dir):
    """Are the labels int64 (N,), with the standard first labels and digit counts?"""
    for split, counts in (("train", TRAIN_COUNTS), ("test", TEST_COUNTS)):
        y = load_mnist_labels(split, limit=None)
        assert y.shape == (SIZES[split],) and y.dtype == torch.int64, f"{split}: got {y.shape} {y.dtype}"
        assert y[:10].tolist() == FIRST_LABELS[split], f"{split}: first labels {y[:10].tolist()}"
        got = torch.bincount(y, minlength=10).tolist()
        assert got == counts, f"{split}: expected digit counts {counts}, got {got}"
        assert load_mnist_labels(split, limit=7).tolist() == y[:7].tolist()


@pytest.mark.parametrize("fast", [False, True])
def test_real_fast_mode_limits(mnist_dir, monkeypatch, fast):
    """Does limit='auto' keep 2000/1000 images in fast mode and all otherwise, and do explicit limits win?"""
    if fast:
        monkeypatch.setenv("DGM_FAST", "1")
    expected = {"train": 2000, "test": 1000} if fast else SIZES
    for split in ("train", "test"):
        assert len(load_mnist(split, binarize=None)) == expected[split], f"{split}, fast={fast}"
        assert len(load_mnist_labels(split)) == expected[split], f"{split} labels, fast={fast}"
        assert len(load_mnist(split, binarize=None, limit=None)) == SIZES[split], "limit=None must keep all"
        assert len(load_mnist(split, binarize=None, limit=5)) == 5, "an explicit limit must win"
    assert data.FAST_LIMITS == {"train": 2000, "test": 1000}, f"documented fast limits changed: {data.FAST_LIMITS}"


# ============================================================================ load_mnist on fake files


def test_fake_threshold_boundary_and_order(fake_mnist):
    """On hand-made images: grey 127 -> 0, grey 128 -> 1, image order and pixel order kept."""
    fake_mnist.write()
    x = load_mnist("train", binarize="threshold", limit=None)
    assert x[0, 0, 0, :4].tolist() == [0.0, 1.0, 0.0, 1.0], f"grey [127, 128, 0, 255] gave {x[0, 0, 0, :4].tolist()}"
    raw = load_mnist("train", binarize=None, limit=None)
    assert np.array_equal(raw[:, 0].numpy(), fake_mnist.images["train"]), "raw images differ from the file"
    labels = load_mnist_labels("test", limit=None)
    assert labels.tolist() == fake_mnist.labels["test"].tolist() and labels.dtype == torch.int64


def test_fake_limit_larger_than_split(fake_mnist):
    """Does a limit beyond the split size return the whole split?"""
    fake_mnist.write()
    assert len(load_mnist("test", limit=10_000)) == len(fake_mnist.images["test"])


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"split": "valid"}, "split must be 'train' or 'test'"),
        ({"split": "Train"}, "split must be 'train' or 'test'"),
        ({"binarize": "otsu"}, "binarize must be"),
        ({"binarize": True}, "binarize must be"),
        ({"limit": 0}, "limit must be a positive int"),
        ({"limit": -3}, "limit must be a positive int"),
        ({"limit": 2.5}, "limit must be a positive int"),
        ({"limit": "all"}, "limit must be a positive int"),
    ],
)
def test_bad_arguments_raise_clear_errors(fake_mnist, kwargs, pattern):
    """Do an unknown split, binarisation or limit raise a ValueError that says what is allowed?"""
    fake_mnist.write()
    with pytest.raises(ValueError, match=pattern):
        load_mnist(**kwargs)


def test_bad_label_arguments(fake_mnist):
    """Does load_mnist_labels reject a bad split and a bad limit?"""
    fake_mnist.write()
    with pytest.raises(ValueError, match="split"):
        load_mnist_labels("val")
    with pytest.raises(ValueError, match="limit"):
        load_mnist_labels("train", limit=0)


def test_malformed_idx_files_are_rejected(fake_mnist, monkeypatch):
    """Does a file with the right md5 but a wrong IDX header raise a ValueError naming the problem?"""
    bad_magic = gz(b"\x00\x00\x0d\x03" + idx_bytes(fake_mnist.images["train"])[4:])  # 0x0d: float, not ubyte
    short = gz(idx_bytes(fake_mnist.images["test"])[:-10])
    fake_mnist.files["train-images-idx3-ubyte.gz"] = bad_magic
    fake_mnist.files["t10k-images-idx3-ubyte.gz"] = short
    fake_mnist.set_mirrors(monkeypatch, closed_port_url())
    fake_mnist.write()
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        load_mnist("train")
    with pytest.raises(ValueError, match="header says"):
        load_mnist("test")


# ============================================================================ make_loader


def test_loader_sequential_batches():
    """Without shuffling, are the batches the rows in order, last one short, as plain tensors?"""
    x = torch.arange(30, dtype=torch.uint8).reshape(10, 3)
    batches = list(make_loader(x, batch_size=4, shuffle=False))
    assert [type(b) for b in batches] == [torch.Tensor] * 3, f"expected 3 tensors, got {[type(b) for b in batches]}"
    assert [tuple(b.shape) for b in batches] == [(4, 3), (4, 3), (2, 3)]
    assert torch.equal(torch.cat(batches), x) and batches[0].dtype == torch.uint8
    assert [len(b) for b in make_loader(x, batch_size=4, shuffle=False, drop_last=True)] == [4, 4]


def test_loader_shuffles_with_a_seed():
    """Is a shuffled epoch a permutation of the rows, the same for the same seed, another for another seed?"""
    x = torch.arange(200).reshape(100, 2)

    def epoch(seed: int) -> torch.Tensor:
        return torch.cat(list(make_loader(x, batch_size=16, shuffle=True, seed=seed)))

    first = epoch(0)
    assert torch.equal(first[:, 0].sort().values, x[:, 0]), "expected every row exactly once"
    assert torch.equal(first[:, 1], first[:, 0] + 1), "expected whole rows to move together"
    assert not torch.equal(first, x), "expected a shuffled order"
    assert torch.equal(epoch(0), first), "expected the same seed to give the same order"
    assert not torch.equal(epoch(1), first), "expected another seed to give another order"


def test_loader_rejects_bad_input():
    """Does make_loader reject a NumPy array and a non-positive batch size with clear errors?"""
    with pytest.raises(TypeError, match="expects a torch.Tensor"):
        make_loader(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch_size must be positive"):
        make_loader(torch.zeros(4, 2), batch_size=0)


# ============================================================================ cache and download


def test_data_root(monkeypatch, tmp_path):
    """Is the root DGM_DATA_DIR (with ~ expanded), else $XDG_CACHE_HOME/dgm_utils, else ~/.cache/dgm_utils?"""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DGM_DATA_DIR", "~/mnist-here")
    assert data.data_root() == tmp_path / "mnist-here"
    monkeypatch.delenv("DGM_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.data_root() == tmp_path / "xdg" / "dgm_utils"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.data_root() == tmp_path / ".cache" / "dgm_utils"


def test_download_tries_mirrors_in_order(fake_mnist, mirror, monkeypatch):
    """First mirror 404, second good: is each file fetched from the second, cached and verified?"""
    mirror.routes["good"] = fake_mnist.files
    fake_mnist.set_mirrors(monkeypatch, mirror.url("gone"), mirror.url("good"))
    paths = data.fetch("mnist")
    for name in MNIST_NAMES:
        assert paths[name] == fake_mnist.root / "mnist" / name, f"{name}: cached at {paths[name]}"
        assert paths[name].read_bytes() == fake_mnist.files[name], f"{name}: cached bytes differ"
    assert mirror.requests == [p for n in MNIST_NAMES for p in (f"/gone/{n}", f"/good/{n}")], mirror.requests
    leftovers = sorted(p.name for p in (fake_mnist.root / "mnist").iterdir() if p.name not in MNIST_NAMES)
    assert leftovers == [], f"expected no temporary files left, got {leftovers}"
    raw = load_mnist("train", binarize=None, limit=None)
    assert np.array_equal(raw[:, 0].numpy(), fake_mnist.images["train"]), "downloaded images do not load back"


def test_valid_cache_needs_no_network(fake_mnist, mirror, monkeypatch):
    """Are verified files, in <root>/mnist/ or flat in the root, used without any request?"""
    mirror.routes["good"] = fake_mnist.files
    fake_mnist.set_mirrors(monkeypatch, mirror.url("good"))
    fake_mnist.write(names=MNIST_NAMES[:2])
    fake_mnist.write(folder=fake_mnist.root, names=MNIST_NAMES[2:])  # the shared-folder layout
    paths = data.fetch("mnist")
    assert mirror.requests == [], f"expected no download, got {mirror.requests}"
    assert paths[MNIST_NAMES[3]] == fake_mnist.root / MNIST_NAMES[3]


@pytest.mark.parametrize("damage", ["partial", "flipped byte", "empty"])
def test_corrupt_cached_file_is_replaced(fake_mnist, mirror, monkeypatch, damage):
    """Is a partial or corrupt cached file detected, never returned, and replaced by a good download?"""
    name = "t10k-images-idx3-ubyte.gz"
    good = fake_mnist.files[name]
    bad = {"partial": good[: len(good) // 2], "flipped byte": good[:-5] + bytes([good[-5] ^ 0xFF]) + good[-4:],
           "empty": b""}[damage]
    mirror.routes["good"] = fake_mnist.files
    fake_mnist.set_mirrors(monkeypatch, mirror.url("good"))
    target = fake_mnist.root / "mnist" / name
    target.parent.mkdir(parents=True)
    target.write_bytes(bad)
    assert data.fetch_file("mnist", name) == target
    assert target.read_bytes() == good, f"{damage}: expected the cached file replaced by the good bytes"
    assert data.fetch_file("mnist", name) == target, "expected the fresh copy to be used"
    assert mirror.requests == [f"/good/{name}"], f"expected one download, then the cache: {mirror.requests}"


def test_file_corrupted_in_place_is_never_used(fake_mnist, mirror, monkeypatch):
    """Is a verified file that is later corrupted in place (same size, same mtime) detected and replaced?"""
    name = "t10k-labels-idx1-ubyte.gz"
    good = fake_mnist.files[name]
    mirror.routes["good"] = fake_mnist.files
    fake_mnist.set_mirrors(monkeypatch, mirror.url("good"))
    target = fake_mnist.write(names=(name,)) / name
    assert data.fetch_file("mnist", name) == target and mirror.requests == []
    stat = target.stat()
    time.sleep(0.02)  # so that a fix keyed on ctime or inode sees the rewrite even on coarse clocks
    target.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    data.fetch_file("mnist", name)
    assert target.read_bytes() == good, "expected the corrupted copy to be detected and downloaded again"


def test_corrupt_flat_copy_is_replaced_and_removed(fake_mnist, mirror, monkeypatch):
    """Is a corrupt file in the flat layout removed once a good copy is in <root>/mnist/?"""
    name = "train-labels-idx1-ubyte.gz"
    mirror.routes["good"] = fake_mnist.files
    fake_mnist.set_mirrors(monkeypatch, mirror.url("good"))
    flat = fake_mnist.root / name
    flat.parent.mkdir(parents=True)
    flat.write_bytes(b"not a gzip file")
    path = data.fetch_file("mnist", name)
    assert path == fake_mnist.root / "mnist" / name and path.read_bytes() == fake_mnist.files[name]
    assert not flat.exists(), "expected the corrupt flat copy to be removed"


def test_wrong_bytes_from_a_mirror_are_rejected(fake_mnist, mirror, monkeypatch):
    """Is a mirror that serves wrong bytes skipped, and its file never left in the cache?"""
    name = "train-images-idx3-ubyte.gz"
    mirror.routes["evil"] = {n: b"\x1f\x8b" + b"x" * (len(b) - 2) for n, b in fake_mnist.files.items()}
    mirror.routes["good"] = fake_mnist.files
    fake_mnist.set_mirrors(monkeypatch, mirror.url("evil"), mirror.url("good"))
    path = data.fetch_file("mnist", name)
    assert path.read_bytes() == fake_mnist.files[name] and mirror.requests == [f"/evil/{name}", f"/good/{name}"]

    fake_mnist.set_mirrors(monkeypatch, mirror.url("evil"))
    other = "t10k-images-idx3-ubyte.gz"
    with pytest.raises(DataUnavailableError) as info:
        data.fetch_file("mnist", other)
    assert "md5" in str(info.value), f"expected the md5 mismatch in the error, got: {info.value}"
    left = sorted(p.name for p in (fake_mnist.root / "mnist").iterdir())
    assert left == [name], f"expected only the good file in the cache, got {left}"


def test_truncated_transfer_is_rejected(fake_mnist, mirror, monkeypatch):
    """Is a download cut off mid-way (Content-Length not met) rejected and the next mirror used?"""
    name = "train-images-idx3-ubyte.gz"
    mirror.routes["flaky"] = mirror.routes["good"] = fake_mnist.files
    mirror.truncated.add("flaky")
    fake_mnist.set_mirrors(monkeypatch, mirror.url("flaky"), mirror.url("good"))
    path = data.fetch_file("mnist", name)
    assert path.read_bytes() == fake_mnist.files[name], "expected the full file from the second mirror"
    assert mirror.requests == [f"/flaky/{name}", f"/good/{name}"], mirror.requests
    assert sorted(p.name for p in path.parent.iterdir()) == [name], "expected no partial file left"


def test_offline_without_files_names_the_fix(fake_mnist, monkeypatch):
    """Offline with no files: does load_mnist raise DataUnavailableError naming DGM_DATA_DIR and the files?"""
    fake_mnist.set_mirrors(monkeypatch, closed_port_url(), closed_port_url())
    with pytest.raises(DataUnavailableError) as info:
        load_mnist("train")
    message = str(info.value)
    for needle in ("DGM_DATA_DIR", str(fake_mnist.root), *MNIST_NAMES, "127.0.0.1"):
        assert needle in message, f"expected {needle!r} in the error, got:\n{message}"
    assert not any(fake_mnist.root.rglob("*.gz*")), "expected no file written while offline"


def test_download_disabled_makes_no_request(fake_mnist, mirror, monkeypatch):
    """With download=False and no files, is DataUnavailableError raised without touching a mirror?"""
    mirror.routes["good"] = fake_mnist.files
    fake_mnist.set_mirrors(monkeypatch, mirror.url("good"))
    with pytest.raises(DataUnavailableError, match="downloads disabled"):
        data.fetch_file("mnist", MNIST_NAMES[0], download=False)
    assert mirror.requests == []


def test_unknown_dataset_or_file_is_a_key_error(fake_mnist):
    """Do an unknown data set or file raise KeyError listing what is registered?"""
    with pytest.raises(KeyError, match="registered: \\['lecture_checkpoints', 'mnist'\\]"):
        data.fetch_file("cifar10", "data_batch_1")
    with pytest.raises(KeyError, match="registered"):
        data.fetch("cifar10")
    with pytest.raises(KeyError, match="train-images-idx3-ubyte.gz"):
        data.fetch_file("mnist", "train-images.gz")


def test_copy_to_cache(fake_mnist, tmp_path):
    """Does copy_to_cache copy verified files into <root>/mnist/ and refuse a file with a wrong md5?"""
    src = fake_mnist.write(folder=tmp_path / "usb")
    dest = data.copy_to_cache(src)
    assert dest == fake_mnist.root / "mnist"
    for name in MNIST_NAMES:
        assert (dest / name).read_bytes() == fake_mnist.files[name], f"{name}: copy differs"

    (src / MNIST_NAMES[0]).write_bytes(b"corrupt")
    (dest / MNIST_NAMES[0]).unlink()
    with pytest.raises(data.ChecksumError, match="wrong md5"):
        data.copy_to_cache(src)
    assert not (dest / MNIST_NAMES[0]).exists(), "expected the corrupt file not copied"


def test_fake_md5_fixture_is_consistent(fake_mnist):
    """Does the patched registry hold the md5s of the fake bytes (so the tests above test something)?"""
    spec = data.DATASETS["mnist"]
    assert spec.files == {n: md5(b) for n, b in fake_mnist.files.items()}
    assert set(spec.files.values()).isdisjoint(PUBLISHED_MD5.values()), "fake files must not look real"
