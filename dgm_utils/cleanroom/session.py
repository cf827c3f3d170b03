"""The grader's side of the clean room: run test cells here, the student's code over there.

    >>> from dgm_utils.cleanroom.session import Session, run_tests
    >>> verdicts = run_tests(harness_cells, student_cells, test_cells, contract_names)

`Session` starts the worker (worker.py) as a child process, optionally wrapped in a sandbox
command, sends it the cells to run, and gives each name the tests use a proxy here: calling a
`RemoteFunction` sends plain arguments and returns plain results; a `RemoteObject` (a model)
answers attribute access with further proxies. Proxies forward no operator: comparing, adding,
printing or truth-testing one does nothing on the other side, so an object whose ``__eq__``
always says True cannot cross. Every reference value, fresh input and pass/fail decision of a
test is computed in this process, where no student code ever ran.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import selectors
import struct
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

from . import library, wire

CALL_TIMEOUT_S = 120.0  # one call of a student function (nbgrader's cell limit)
LOAD_TIMEOUT_S = 300.0  # running every solution cell once
CLOSE_GRACE_S = 0.5  # an honest worker exits at once when its stdin closes (worker.main)
MAX_RESTARTS = 3  # fresh workers after a test crashed or hung one


class StudentCodeError(Exception):
    """A call into the student's code raised; the message is the student's exception."""


class WorkerFailed(StudentCodeError):
    """The student's process died, timed out or broke the protocol."""


@dataclass
class Cell:
    """A notebook code cell: its grade id (or a made-up id) and its source."""

    id: str
    source: str
    points: float = 0.0


@dataclass
class Verdict:
    """The clean-room result of one graded test cell."""

    cell: str
    points: float
    max_points: float
    passed: bool
    message: str = ""
    seconds: float = 0.0


# --------------------------------------------------------------------------- the channel


class Session:
    """A running worker with the student's code loaded (restarted on demand after a crash)."""

    def __init__(self, argv: Sequence[str] | None = None, *, cwd: str | None = None,
                 env: dict[str, str] | None = None, call_timeout_s: float = CALL_TIMEOUT_S,
                 load_timeout_s: float = LOAD_TIMEOUT_S):
        self.argv = list(argv or [sys.executable, "-m", "dgm_utils.cleanroom.worker"])
        self.cwd, self.env, self.call_timeout_s = cwd, env, call_timeout_s
        self.load_timeout_s = load_timeout_s
        self.proc: subprocess.Popen | None = None
        self.deadline: float | None = None  # set per test cell by run_tests
        self.load_errors: dict[str, dict] = {}
        self.generation = 0  # increases at each restart: older Refs are stale

    # --- process
    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=self.cwd, env=self.env)
        self.generation += 1

    def close(self) -> None:
        """End the worker: every answer is in, so nothing it still does can matter. Closing its
        stdin lets an honest worker exit at once; one that does not within a moment is killed."""
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=CLOSE_GRACE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- messages
    def request(self, message: dict, timeout_s: float | None = None) -> Any:
        if self.proc is None or self.proc.poll() is not None:
            raise WorkerFailed("the student's process is not running (it exited or was stopped earlier)")
        limit = timeout_s or self.call_timeout_s
        if self.deadline is not None:
            limit = min(limit, max(0.1, self.deadline - time.monotonic()))
        payload = wire.encode(message, on_object=_ref_of)
        try:
            self.proc.stdin.write(struct.pack(">Q", len(payload)) + payload)
            self.proc.stdin.flush()
            (length,) = struct.unpack(">Q", self._read(8, limit))
            if length > wire.MAX_BYTES:
                raise wire.WireError(f"a reply of {length} bytes is over the {wire.MAX_BYTES}-byte limit")
            reply = wire.loads(self._read(length, limit))
        except (OSError, EOFError, wire.WireError, TimeoutError) as err:
            self.kill()
            raise WorkerFailed(f"the student's process failed: {type(err).__name__}: {err}") from None
        if type(reply) is not dict or not ({"ok", "error"} & set(reply)):
            self.kill()
            raise WorkerFailed("the student's process sent a reply that is not one")
        if "error" in reply:
            err = reply["error"] if type(reply["error"]) is dict else {}
            raise StudentCodeError(f"{err.get('type', 'Error')}: {err.get('message', '')}")
        return self._wrap(reply["ok"])

    def _read(self, n: int, timeout_s: float) -> bytes:
        end = time.monotonic() + timeout_s
        out, fd = bytearray(), self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while len(out) < n:
                left = end - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise TimeoutError(f"no answer within {timeout_s:.0f} s")
                chunk = os.read(fd, min(n - len(out), 1 << 20))
                if not chunk:
                    raise EOFError("the student's process exited")
                out += chunk
        return bytes(out)

    def _wrap(self, value: Any) -> Any:
        if isinstance(value, wire.Ref):
            cls = {"function": RemoteFunction, "class": RemoteClass}.get(value.kind, RemoteObject)
            return cls(self, value)
        if type(value) is list:
            return [self._wrap(v) for v in value]
        if type(value) is tuple:
            return tuple(self._wrap(v) for v in value)
        if type(value) is dict:
            return {k: self._wrap(v) for k, v in value.items()}
        if isinstance(value, wire.DescribedData):
            return library.build(value.name, value.params)
        return value

    # --- the student's code
    def load(self, cells: Sequence[Cell], names: Sequence[str]) -> dict[str, Any]:
        """Run ``cells`` in the worker; return proxies/values of the ``names`` it defined."""
        if self.proc is None:
            self.start()
        reply = self.request({"op": "load", "cells": [{"id": c.id, "source": c.source} for c in cells],
                              "names": list(names)}, timeout_s=self.load_timeout_s)
        self.load_errors = reply["errors"] if type(reply.get("errors")) is dict else {}
        return reply["values"] if type(reply.get("values")) is dict else {}

    def probe_records(self, probe_id: int) -> list[dict]:
        records = self.request({"op": "probe_records", "probe_id": int(probe_id)})
        return [r for r in records if type(r) is dict] if type(records) is list else []

    def get(self, name: str) -> Any:
        """The worker's global ``name`` (e.g. a helper its setup cell imported), as data or proxy."""
        return self.request({"op": "get", "name": str(name)})

    def seed(self, seed: int) -> None:
        """``torch.manual_seed(seed)`` in the student's process."""
        self.request({"op": "seed", "seed": int(seed)})


def _ref_of(value: Any) -> wire.Ref:
    if isinstance(value, Remote):
        return value._ref
    raise wire.WireError(f"a test may only pass plain data, library callables (dgm_utils.cleanroom.lib) or "
                         f"objects of the student's process; got {type(value).__name__}")


class Remote:
    """A handle to an object in the student's process. No operator is forwarded."""

    __slots__ = ("_session", "_ref", "_generation")

    def __init__(self, session: Session, ref: wire.Ref):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_generation", session.generation)

    def _request(self, message: dict) -> Any:
        if self._generation != self._session.generation:
            raise WorkerFailed("this object belonged to a student process that was restarted")
        return self._session.request(message)

    def __repr__(self) -> str:
        return f"<{self._ref.kind} {self._ref.type_name} in the student's process>"

    __hash__ = object.__hash__


class RemoteFunction(Remote):
    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._request({"op": "call", "ref": self._ref, "args": list(args), "kwargs": kwargs})


class RemoteClass(RemoteFunction):
    """Calling it builds an instance in the student's process."""

    __slots__ = ()


class RemoteObject(Remote):
    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._request({"op": "getattr", "ref": self._ref, "name": name})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("objects of the student's process are read-only here")


# --------------------------------------------------------------------------- running tests


def defined_names(cells: Sequence[Cell]) -> list[str]:
    """Top-level names that ``cells`` define (functions, classes, assignments), in order."""
    names: list[str] = []
    for cell in cells:
        try:
            tree = ast.parse(_strip_magics(cell.source))
        except SyntaxError:
            continue
        for node in tree.body:
            targets: list[ast.AST] = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.append(n.id)
    return list(dict.fromkeys(names))


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def run_tests(session: Session, harness: Sequence[Cell], student: Sequence[Cell],
              tests: Sequence[Cell], contract: Sequence[str], *,
              cell_timeout_s: float = CALL_TIMEOUT_S, worker_cells: Sequence[Cell] | None = None,
              progress: bool = False) -> list[Verdict]:
    """Score ``tests`` (cells run here) against the ``student`` cells (run in the worker).

    ``harness``: the course's own setup cells; they run here and, before the student's cells,
    in the worker (``worker_cells`` gives the worker's cells in notebook order instead).
    ``contract``: the names the tests may use from the student's code.
    A test cell passes when it raises nothing; what it prints does not matter.
    """
    namespace: dict[str, Any] = {"__name__": "__grader__"}
    setup_errors = {}
    with _quiet():
        for cell in harness:
            try:
                exec(compile(_strip_magics(cell.source), f"<harness {cell.id}>", "exec"), namespace)
            except Exception as err:  # noqa: BLE001
                setup_errors[cell.id] = f"{type(err).__name__}: {err}"
    if setup_errors:
        raise RuntimeError(f"the course's own setup cells failed in the grader: {setup_errors}")
    program = list(worker_cells) if worker_cells is not None else [*harness, *student]
    restarts_left = MAX_RESTARTS
    try:
        values = session.load(program, contract)
    except StudentCodeError as err:  # the solution cells hang or kill their process: no restarts
        values, restarts_left = {}, 0
        session.load_errors = {"<load>": {"type": "WorkerFailed", "message": str(err)}}
    namespace.update({k: v for k, v in values.items() if k in contract})
    previous = library.remote_records, library.active_session
    library.remote_records, library.active_session = session.probe_records, session
    verdicts = []
    try:
        for test in tests:
            start = time.monotonic()
            session.deadline = start + cell_timeout_s
            if session.proc is None and restarts_left > 0:  # an earlier test killed it: a fresh worker
                restarts_left -= 1
                with contextlib.suppress(StudentCodeError):
                    namespace.update({k: v for k, v in session.load(program, contract).items() if k in contract})
            message = ""
            try:
                with _quiet():
                    exec(compile(test.source, f"<test {test.id}>", "exec"), namespace)
                passed = True
            except Exception as err:  # noqa: BLE001 (any failure of a test is a failed test)
                passed, message = False, f"{type(err).__name__}: {err}"[:2000]
            finally:
                session.deadline = None
            verdicts.append(Verdict(test.id, test.points if passed else 0.0, test.points, passed, message,
                                    time.monotonic() - start))
            if progress:
                print(f"  {test.id:<28} {'pass' if passed else 'FAIL'} {message[:100]}", file=sys.stderr)
    finally:
        library.remote_records, library.active_session = previous
    return verdicts


@contextlib.contextmanager
def _quiet():
    """Tests' own prints and warnings are not part of a verdict."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield
