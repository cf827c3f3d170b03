"""Test doubles for the dgm_utils unit tests: small IDX files, fake MNIST, a local HTTP mirror.

Nothing here reaches the internet: the mirror is an http.server on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dgm_utils import data

MNIST_NAMES = tuple(data.MNIST_FILES)


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file (big-endian magic 0x0000080N, then N dims) holding ``array``."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = (0x0800 | array.ndim).to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def gz(payload: bytes) -> bytes:
    """Gzip with a fixed mtime, so the same payload always has the same md5."""
    return gzip.compress(payload, mtime=0)


def md5(payload: bytes) -> str:
    return hashlib.md5(payload).hexdigest()


def make_fake_images(n: int, seed: int) -> np.ndarray:
    """(n, 28, 28) uint8 with random grey levels and, in image 0, grey [127, 128, 0, 255] at row 0."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, :4] = [127, 128, 0, 255]  # the 0.5 threshold falls between 127 and 128
    return images


@dataclass
class FakeMnist:
    """Small MNIST-shaped files (28x28 images) whose md5s a patched registry lists."""

    images: dict[str, np.ndarray]  # split -> (N, 28, 28) uint8
    labels: dict[str, np.ndarray]  # split -> (N,) uint8
    files: dict[str, bytes]  # file name -> .gz bytes
    root: Path  # DGM_DATA_DIR

    @classmethod
    def build(cls, root: Path) -> "FakeMnist":
        images = {"train": make_fake_images(12, seed=1), "test": make_fake_images(7, seed=2)}
        labels = {s: (np.arange(len(x)) % 10).astype(np.uint8) for s, x in images.items()}
        files = {
            "train-images-idx3-ubyte.gz": gz(idx_bytes(images["train"])),
            "train-labels-idx1-ubyte.gz": gz(idx_bytes(labels["train"])),
            "t10k-images-idx3-ubyte.gz": gz(idx_bytes(images["test"])),
            "t10k-labels-idx1-ubyte.gz": gz(idx_bytes(labels["test"])),
        }
        return cls(images=images, labels=labels, files=files, root=root)

    def write(self, folder: Path | None = None, names: tuple[str, ...] | None = None) -> Path:
        """Write the files (default: all) into ``folder`` (default: <root>/mnist); return the folder."""
        folder = folder or self.root / "mnist"
        folder.mkdir(parents=True, exist_ok=True)
        for name in names or tuple(self.files):
            (folder / name).write_bytes(self.files[name])
        return folder

    def set_mirrors(self, monkeypatch: pytest.MonkeyPatch, *mirrors: str) -> None:
        """Register "mnist" with the md5s of the current fake bytes and these mirror URLs."""
        spec = data.DatasetSpec(name="mnist", files={n: md5(b) for n, b in self.files.items()}, mirrors=mirrors)
        monkeypatch.setitem(data.DATASETS, "mnist", spec)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connection refused at once, like being offline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


class Mirror:
    """A threaded HTTP server on 127.0.0.1 with routes /<mirror>/<file>.

    routes: mirror name -> {file name -> bytes}; a missing route or file is a 404.
    truncated: mirror names whose responses announce the full length but send half, then close.
    requests: every requested path, in order.
    """

    def __init__(self) -> None:
        self.routes: dict[str, dict[str, bytes]] = {}
        self.truncated: set[str] = set()
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                mirror.requests.append(self.path)
                _, name, file_name = (self.path.split("/", 2) + ["", ""])[:3]
                body = mirror.routes.get(name, {}).get(file_name)
                if body is None:
                    self.send_error(404, "not here")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in mirror.truncated:
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                else:
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}/"

    def __enter__(self) -> "Mirror":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
