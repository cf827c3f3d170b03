"""The clean room's wire format: plain data only, framed, bounded, no pickle.

Both sides of the channel between a grader and the process that runs a student's code use it.
A message is a 4-byte big-endian header length, a UTF-8 JSON header, then the raw buffers of
the arrays and tensors it carries. What can cross:

    None, bool, int (any size), float (inf and nan too), str, list, tuple, dict (any plain keys),
    numpy arrays and torch tensors of plain dtypes (bool, ints, floats),
    Ref: an opaque handle to an object that stays in the process that owns it (a function,
         a model), and Described: a callable from the fixed library (library.py), by name.

``loads`` is the trust boundary: it only ever builds the plain types above (never a subclass,
never code), checks every size against the buffer, and refuses a message over ``MAX_BYTES``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

import numpy as np

MAX_BYTES = 256 * 2**20  # one message; the largest legitimate one (a batch of logits) is ~6 MB
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000
DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")


class WireError(ValueError):
    """A message that is not plain data, too large, or malformed."""


@dataclass(frozen=True)
class Ref:
    """A handle to an object kept by the other side: ``kind`` is function, class or object."""

    id: int
    kind: str
    type_name: str = ""


@dataclass(frozen=True)
class DescribedData:
    """A library callable as it crosses the wire: its name and plain parameters."""

    name: str
    params: dict


# --------------------------------------------------------------------------- encode


def encode(value: Any, *, on_object: Callable[[Any], Ref] | None = None) -> bytes:
    """``value`` as one framed message. Objects that are not plain data go through ``on_object``
    (which registers them and returns a Ref); without it they raise ``WireError``."""
    blobs: list[bytes] = []

    def enc(v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("nested too deeply")
        if v is None:
            return None
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, str):
            return str(v)
        if isinstance(v, (int, np.integer)):
            return {"__t": "int", "v": str(int(v))} if abs(int(v)) >= 2**53 else int(v)
        if isinstance(v, (float, np.floating)):
            return {"__t": "float", "v": repr(float(v))}
        if isinstance(v, Ref):
            return {"__t": "ref", "id": v.id, "kind": v.kind, "type": v.type_name}
        if getattr(type(v), "__described__", False) is True:  # library.Described and stand-ins
            return {"__t": "lib", "name": str(v.lib_name), "params": enc(dict(v.lib_params), depth + 1)}
        if isinstance(v, np.ndarray) and v.dtype.name in DTYPES:
            data = np.ascontiguousarray(v)
            blobs.append(data.tobytes())
            return {"__t": "nd", "dtype": data.dtype.name, "shape": list(data.shape), "blob": len(blobs) - 1}
        torch = _torch()
        if torch is not None and isinstance(v, torch.Tensor):
            t = v.detach()
            name = str(t.dtype).removeprefix("torch.")
            if name == "bfloat16":
                t, name = t.float(), "float32"
            if name in DTYPES and t.layout == torch.strided:
                blobs.append(t.cpu().contiguous().numpy().tobytes())
                return {"__t": "pt", "dtype": name, "shape": list(t.shape), "blob": len(blobs) - 1,
                        "grad": bool(v.requires_grad)}
        if isinstance(v, (list, tuple)) and type(v) in (list, tuple):
            items = [enc(x, depth + 1) for x in v]
            return items if isinstance(v, list) else {"__t": "tuple", "items": items}
        if type(v) is dict:
            return {"__t": "dict", "items": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        if on_object is not None:
            return enc(on_object(v), depth + 1)
        raise WireError(f"cannot send a {type(v).__name__}: only plain data, arrays, tensors and library callables")

    header = json.dumps(enc(value, 0), allow_nan=False).encode()
    sizes = [len(b) for b in blobs]
    head = json.dumps({"sizes": sizes}).encode()
    return b"".join([struct.pack(">II", len(head), len(header)), head, header, *blobs])


# --------------------------------------------------------------------------- decode


def loads(message: bytes) -> Any:
    """The plain value in ``message`` (arrays as numpy copies, tensors as torch tensors).

    Raises WireError for anything that is not plain data, too large or inconsistent.
    """
    if len(message) > MAX_BYTES:
        raise WireError(f"message of {len(message)} bytes is over the {MAX_BYTES}-byte limit")
    try:
        head_len, body_len = struct.unpack(">II", message[:8])
        head = json.loads(message[8:8 + head_len])
        body = json.loads(message[8 + head_len:8 + head_len + body_len])
    except (struct.error, ValueError, UnicodeDecodeError, RecursionError) as err:
        raise WireError(f"malformed message: {err}") from None
    sizes = head.get("sizes") if isinstance(head, dict) else None
    if not isinstance(sizes, list) or not all(type(s) is int and s >= 0 for s in sizes):
        raise WireError("malformed message: bad buffer table")
    offsets, pos = [], 8 + head_len + body_len
    for size in sizes:
        offsets.append((pos, pos + size))
        pos += size
    if pos != len(message):
        raise WireError("malformed message: buffers do not add up")
    view, count = memoryview(message), [0]

    def dec(v: Any, depth: int) -> Any:
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise WireError("message too deep or with too many items")
        if v is None or type(v) in (bool, int, str):
            return v
        if type(v) is float:
            return float(v)
        if type(v) is list:
            return [dec(x, depth + 1) for x in v]
        if type(v) is not dict:
            raise WireError(f"unexpected {type(v).__name__}")
        tag = v.get("__t")
        if tag == "int":
            return int(str(v["v"]))
        if tag == "float":
            return float(str(v["v"]))
        if tag == "tuple":
            return tuple(dec(x, depth + 1) for x in _list(v["items"]))
        if tag == "dict":
            out = {}
            for pair in _list(v["items"]):
                key, val = _list(pair)
                key = dec(key, depth + 1)
                if not isinstance(key, (str, int, float, bool, type(None))):
                    raise WireError("dict keys must be plain scalars")
                out[key] = dec(val, depth + 1)
            return out
        if tag == "ref":
            return Ref(int(v["id"]), str(v["kind"]), str(v.get("type", "")))
        if tag == "lib":
            params = dec(v["params"], depth + 1)
            if type(params) is not dict:
                raise WireError("library parameters must be a dict")
            return DescribedData(str(v["name"]), params)
        if tag in ("nd", "pt"):
            return _array(v, offsets, view, as_tensor=tag == "pt")
        raise WireError(f"unknown tag {tag!r}")

    try:
        return dec(body, 0)
    except (KeyError, TypeError, ValueError, RecursionError) as err:
        if isinstance(err, WireError):
            raise
        raise WireError(f"malformed message: {type(err).__name__}: {err}") from None


def _list(v: Any) -> list:
    if type(v) is not list:
        raise WireError("expected a list")
    return v


def _array(v: dict, offsets: list[tuple[int, int]], view: memoryview, *, as_tensor: bool):
    dtype, shape, index = v.get("dtype"), v.get("shape"), v.get("blob")
    if dtype not in DTYPES or type(index) is not int or not 0 <= index < len(offsets):
        raise WireError("bad array header")
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape) or len(shape) > 8:
        raise WireError("bad array shape")
    start, end = offsets[index]
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count * np.dtype(dtype).itemsize != end - start:
        raise WireError("array size does not match its buffer")
    arr = np.frombuffer(view[start:end], dtype=np.dtype(dtype)).reshape(shape).copy()
    torch = _torch() if as_tensor else None
    if torch is None:
        return arr
    t = torch.from_numpy(arr)
    return t.requires_grad_(True) if v.get("grad") is True and t.is_floating_point() else t


# --------------------------------------------------------------------------- framing


def send(stream: BinaryIO, value: Any, *, on_object: Callable[[Any], Ref] | None = None) -> None:
    """Write one message to ``stream`` (length-prefixed) and flush."""
    payload = encode(value, on_object=on_object)
    stream.write(struct.pack(">Q", len(payload)) + payload)
    stream.flush()


def read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(stream: BinaryIO) -> Any:
    """Read one message from ``stream``; WireError if it announces more than MAX_BYTES."""
    (length,) = struct.unpack(">Q", read_exact(stream, 8))
    if length > MAX_BYTES:
        raise WireError(f"a message of {length} bytes is over the {MAX_BYTES}-byte limit")
    return loads(read_exact(stream, length))


def _torch():
    try:
        import torch
    except ImportError:  # the wire works without torch (arrays stay numpy)
        return None
    return torch
