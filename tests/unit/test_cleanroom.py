"""Does the clean room keep the grader's verdicts out of the student's reach?

The wire format must only ever build plain data; the worker runs the student's cells as plain
Python in a process of its own; proxies forward no operator; a hung, crashing or lying worker
fails its own tests and nothing else.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from dgm_utils.cleanroom import lib, wire
from dgm_utils.cleanroom.session import Cell, Session, StudentCodeError, WorkerFailed, run_tests


def roundtrip(value):
    return wire.loads(wire.encode(value))


@pytest.mark.parametrize("value", [
    None, True, 3, 2**784 - 1, -1.5, float("inf"), "π", [1, (2, 3)], {"a": 1, 2: [None]},
    (np.int64(4), np.float32(0.5)),
])
def test_plain_values_cross_unchanged(value):
    """Do plain values (big ints, inf, tuples, non-str keys) come back equal and of plain types?"""
    got = roundtrip(value)
    assert got == value or (isinstance(value, tuple) and got == tuple(value))


def test_arrays_and_tensors_cross_as_copies():
    """Do arrays and tensors keep dtype, shape and values, tensors as torch tensors?"""
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = torch.randn(2, 784)
    got_a, got_t = roundtrip([a, t])
    assert isinstance(got_a, np.ndarray) and got_a.dtype == np.float32 and np.array_equal(got_a, a)
    assert isinstance(got_t, torch.Tensor) and got_t.dtype == torch.float32 and torch.equal(got_t, t)


def test_subclasses_and_objects_do_not_cross():
    """Is a float subclass whose __eq__ is always True sent as a plain float, and any other object refused?"""
    class Yes(float):
        def __eq__(self, other):
            return True
        __hash__ = float.__hash__

    got = roundtrip(Yes(0.0))
    assert type(got) is float and got != 1.0
    with pytest.raises(wire.WireError):
        wire.encode(object())
    with pytest.raises(wire.WireError):
        wire.encode(lambda x: x)


def test_malformed_messages_are_refused():
    """Are truncated buffers, unknown tags and oversized announcements refused with WireError?"""
    msg = wire.encode([np.zeros(10)])
    with pytest.raises(wire.WireError):
        wire.loads(msg[:-8])
    body = b'{"__t": "pickle", "v": 1}'
    head = b'{"sizes": []}'
    with pytest.raises(wire.WireError):
        wire.loads(struct.pack(">II", len(head), len(body)) + head + body)
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(wire.WireError):
        wire.loads(struct.pack(">II", len(head), len(deep)) + head + deep.encode())


def test_library_callables_cross_by_name_and_work_on_both_types():
    """Does a library callable cross as its name and parameters, and compute on arrays and tensors?"""
    f = lib.mixture_log_density(weights=[0.5, 0.5], means=[-2, 2], sds=[0.6, 0.6])
    got = roundtrip(f)
    assert isinstance(got, wire.DescribedData) and got.name == "mixture_log_density"
    x = np.linspace(-3, 3, 7)
    assert np.allclose(f(x), f(torch.from_numpy(x)).numpy())


STUDENT = Cell("sol", "import numpy as np\n"
               "np.abs = lambda x: 0\n"                      # patches the worker's numpy only
               "def add(a, b):\n    return a + b\n"
               "def boom():\n    raise ValueError('nope')\n"
               "def hang():\n    while True:\n        pass\n"
               "def die():\n    import os\n    os._exit(3)\n"
               "class Box:\n    def __init__(self, v):\n        self.v = v\n    def get(self):\n        return self.v\n"
               "def peek():\n    return sorted(k for k in globals() if k.startswith('_secret'))\n"
               "def noisy():\n    import sys\n    print('x' * 10_000_000)\n    sys.stderr.write('warn\\n')\n    return 1\n")
CONTRACT = ["add", "boom", "hang", "die", "Box", "peek", "noisy"]


def _verdicts(*tests: str, timeout: float = 5.0) -> dict[str, tuple[bool, str]]:
    cells = [Cell(f"t{i}", src, 1.0) for i, src in enumerate(tests)]
    with Session(call_timeout_s=timeout) as session:
        out = run_tests(session, [], [STUDENT], cells, CONTRACT, cell_timeout_s=timeout)
    return {v.cell: (v.passed, v.message) for v in out}


def test_student_calls_return_plain_results_and_patches_stay_there():
    """Do calls return results, does a patched np.abs stay in the worker, and do student globals stay hidden?"""
    got = _verdicts(
        "import numpy as np\nassert add(2, 3) == 5\nassert add(np.ones(2), 1).tolist() == [2.0, 2.0]",
        "import numpy as np\nassert np.abs(-2) == 2",
        "_secret_reference = 41\nassert peek() == []",
    )
    assert all(ok for ok, _ in got.values()), got


def test_errors_timeouts_and_crashes_fail_only_their_own_test():
    """Does a raising, hanging or dying student function fail its test, and the next test still run?"""
    got = _verdicts("boom()", "hang()", "assert add(1, 1) == 2", "die()", "assert add(2, 2) == 4",
                    timeout=3.0)
    assert got["t0"][0] is False and "ValueError: nope" in got["t0"][1]
    assert got["t1"][0] is False and "WorkerFailed" in got["t1"][1]
    assert got["t2"][0] is True, f"a fresh worker should answer after the hang: {got['t2']}"
    assert got["t3"][0] is False
    assert got["t4"][0] is True, f"a fresh worker should answer after the crash: {got['t4']}"


def test_objects_stay_in_the_worker_and_forward_no_operator():
    """Is a student object a read-only handle here, whose ==, bool and arithmetic do nothing remote?"""
    got = _verdicts(
        "from dgm_utils.cleanroom.session import RemoteObject\n"
        "b = Box(3)\nassert isinstance(b, RemoteObject) and b.get() == 3 and b.v == 3",
        "b = Box(3)\nassert (b == b) and not (b == 3)",
        "b = Box(3)\ntry:\n    b + 1\nexcept TypeError:\n    pass\nelse:\n    raise AssertionError('arithmetic forwarded')",
    )
    assert all(ok for ok, _ in got.values()), got


def test_student_output_does_not_reach_the_grader():
    """Do 10 MB of prints and stderr from the student's code leave the verdict and the channel intact?"""
    got = _verdicts("assert noisy() == 1")
    assert got["t0"][0], got


def test_a_lambda_argument_is_a_test_bug_not_a_pass():
    """Does passing a plain lambda to a student function fail loudly (it cannot cross)?"""
    got = _verdicts("add(lambda x: x, 1)")
    assert got["t0"][0] is False and "library callables" in got["t0"][1]


def test_session_reports_load_errors():
    """Does a solution cell that raises at load time show up in load_errors, with the rest still defined?"""
    with Session() as session:
        values = session.load([Cell("a", "raise RuntimeError('at load')"), Cell("b", "def f():\n    return 7")],
                              ["f"])
        assert "a" in session.load_errors and session.load_errors["a"]["type"] == "RuntimeError"
        assert values["f"]() == 7
        with pytest.raises(StudentCodeError):
            session.get("missing_name")


def test_a_dead_worker_is_reported():
    """Does a worker that exits during load give WorkerFailed, not a hang?"""
    with Session() as session:
        with pytest.raises(WorkerFailed):
            session.load([Cell("a", "import os\nos._exit(1)")], [])
