"""The student's side of the clean room: run the submitted code, answer calls with plain data.

    python -m dgm_utils.cleanroom.worker        (started by a grader; speaks wire.py on stdin/stdout)

The grader first sends the cells to run (the course's own setup cells and the student's
solution cells, in notebook order). They run here as plain Python: no IPython kernel, so no input
transformer, hook, tag or cell magic can change how a later cell runs. Then the grader names
functions, classes and methods to call, with plain arguments, and gets plain results back.
Objects that are not plain data (a model, a function) stay here; the grader holds an opaque Ref.

Everything this process says is untrusted by design: it runs the student's code, which may
rewrite this very module. The grader decides every verdict from the data it receives.
"""

from __future__ import annotations

import inspect
import io
import os
import sys
import traceback
from typing import Any

from . import library, wire

MAX_TRACEBACK = 4000


class _IPythonStub:
    """Enough of get_ipython() for cells that use a line or cell magic: magics do nothing,
    except that a cell magic's body (``%%time``, ``%%capture``) still runs."""

    def __init__(self, namespace: dict):
        self.user_ns = namespace

    def run_line_magic(self, *args: Any, **kwargs: Any) -> None:
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        exec(compile(_transform(cell), "<cell magic>", "exec"), self.user_ns)

    def system(self, *args: Any, **kwargs: Any) -> None:
        return None

    getoutput = system


def _transform(source: str) -> str:
    """IPython syntax (magics, !shell) as plain Python calls on the stub."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    return TransformerManager().transform_cell(source)


class Worker:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        self.namespace["get_ipython"] = lambda: _IPythonStub(self.namespace)
        self.objects: dict[int, Any] = {}

    # --- handles
    def register(self, obj: Any) -> wire.Ref:
        key = id(obj)
        self.objects[key] = obj
        # a model is callable too, but it is an object: only plain routines are "function"
        kind = "class" if isinstance(obj, type) else "function" if inspect.isroutine(obj) else "object"
        return wire.Ref(key, kind, getattr(type(obj), "__name__", "?") if kind != "class" else obj.__name__)

    def resolve(self, value: Any) -> Any:
        """Turn Refs back into our objects and DescribedData into library callables."""
        if isinstance(value, wire.Ref):
            if value.id not in self.objects:
                raise LookupError("unknown handle (the object was not created in this process)")
            return self.objects[value.id]
        if isinstance(value, wire.DescribedData):
            return library.build(value.name, {k: self.resolve(v) for k, v in value.params.items()})
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    # --- requests
    def load(self, cells: list[dict], names: list[str]) -> dict:
        errors = {}
        for cell in cells:
            try:
                code = compile(_transform(cell["source"]), f"<cell {cell['id']}>", "exec")
                exec(code, self.namespace)
            except BaseException as err:  # noqa: BLE001 (a cell's error is data, like in a notebook)
                if isinstance(err, KeyboardInterrupt):
                    raise
                errors[cell["id"]] = _describe(err)
        values = {n: self.namespace[n] for n in names if n in self.namespace}
        return {"errors": errors, "values": values}

    def handle(self, request: dict) -> Any:
        op = request["op"]
        if op == "load":
            return self.load(request["cells"], request["names"])
        if op == "call":
            fn = self.resolve(request["ref"])
            return fn(*self.resolve(request["args"]), **self.resolve(request["kwargs"]))
        if op == "getattr":
            return getattr(self.resolve(request["ref"]), request["name"])
        if op == "get":
            return self.namespace[request["name"]]
        if op == "probe_records":
            return library.local_probe_records(request["probe_id"])
        if op == "seed":
            import torch

            torch.manual_seed(int(request["seed"]))
            return None
        raise ValueError(f"unknown request {op!r}")


def _describe(err: BaseException) -> dict:
    tb = "".join(traceback.format_exception(err))[-MAX_TRACEBACK:]
    return {"type": type(err).__name__, "message": str(err)[:1000], "traceback": tb}


def main() -> int:
    # The channel is a private copy of stdin/stdout; fds 0-2 then point at /dev/null, so that
    # what the student's code prints never mixes with (or floods) the channel.
    chan_in = os.fdopen(os.dup(0), "rb", buffering=0)
    chan_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(), _Sink(), _Sink()
    os.environ.setdefault("MPLBACKEND", "Agg")
    worker = Worker()
    while True:
        try:
            request = wire.recv(chan_in)
        except EOFError:  # the grader is done: leave without the interpreter's slow teardown
            chan_out.flush()
            os._exit(0)
        try:
            reply = {"ok": worker.handle(request)}
        except BaseException as err:  # noqa: BLE001
            if isinstance(err, (KeyboardInterrupt, SystemExit)) and request.get("op") != "call":
                raise
            reply = {"error": _describe(err)}
        try:
            wire.send(chan_out, reply, on_object=worker.register)
        except wire.WireError as err:
            wire.send(chan_out, {"error": _describe(err)})


class _Sink(io.TextIOBase):
    """A text stream that drops what it is given (print, tqdm, warnings)."""

    def write(self, s: str) -> int:
        return len(s)

    def writable(self) -> bool:
        return True


if __name__ == "__main__":
    sys.exit(main())
