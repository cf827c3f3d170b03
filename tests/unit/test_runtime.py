"""Unit tests of dgm_utils.runtime: device order, fast mode, grading mode, seeding, a quiet import.

Run: .venv/bin/python -m pytest tests/unit/test_runtime.py -q
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dgm_utils import runtime
from dgm_utils.runtime import fast_or, get_device, grading_mode, is_fast_mode, seed_everything

REPO = Path(__file__).resolve().parents[2]


def _hardware(monkeypatch: pytest.MonkeyPatch, *, cuda: bool, mps: bool) -> dict[str, int]:
    """Pretend that cuda / mps are (un)available; count how often each is asked."""
    calls = {"cuda": 0, "mps": 0}

    def cuda_available() -> bool:
        calls["cuda"] += 1
        return cuda

    def mps_available() -> bool:
        calls["mps"] += 1
        return mps

    monkeypatch.setattr(torch.cuda, "is_available", cuda_available)
    monkeypatch.setattr(torch.backends.mps, "is_available", mps_available)
    return calls


# ---------------------------------------------------------------------------- get_device


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_device_order_is_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    """Does get_device() pick cuda, then mps, then cpu when nothing is forced?"""
    _hardware(monkeypatch, cuda=cuda, mps=mps)
    got = get_device()
    assert got == torch.device(expected), f"cuda={cuda}, mps={mps}: expected {expected}, got {got}"


def test_device_is_chosen_at_call_time(monkeypatch):
    """Does a later call see hardware that changed since the first call (no cached choice)?"""
    calls = _hardware(monkeypatch, cuda=False, mps=False)
    assert get_device() == torch.device("cpu")
    _hardware(monkeypatch, cuda=True, mps=False)
    assert get_device() == torch.device("cuda"), "expected the second call to see cuda appear"
    assert calls["cuda"] == 1, f"expected the first probe to ask cuda once, got {calls}"


@pytest.mark.parametrize("forced", ["cpu", " cpu "])
def test_dgm_device_overrides_available_gpu(monkeypatch, forced):
    """Does DGM_DEVICE=cpu win over an available cuda?"""
    _hardware(monkeypatch, cuda=True, mps=True)
    monkeypatch.setenv("DGM_DEVICE", forced)
    assert get_device() == torch.device("cpu"), f"DGM_DEVICE={forced!r} should give cpu, got {get_device()}"


def test_prefer_argument_overrides_dgm_device(monkeypatch):
    """Does get_device(prefer) win over DGM_DEVICE?"""
    _hardware(monkeypatch, cuda=True, mps=False)
    monkeypatch.setenv("DGM_DEVICE", "cpu")
    assert get_device("cuda:0") == torch.device("cuda:0")


def test_blank_dgm_device_means_auto(monkeypatch):
    """Is an empty or blank DGM_DEVICE treated as unset?"""
    _hardware(monkeypatch, cuda=False, mps=True)
    monkeypatch.setenv("DGM_DEVICE", "   ")
    assert get_device() == torch.device("mps")


def test_forced_cuda_without_cuda_says_so(monkeypatch):
    """Does DGM_DEVICE=cuda on a machine without cuda raise an error naming the fix?"""
    _hardware(monkeypatch, cuda=False, mps=True)
    monkeypatch.setenv("DGM_DEVICE", "cuda:1")
    with pytest.raises(RuntimeError) as info:
        get_device()
    message = str(info.value)
    for needle in ("'cuda:1'", "CUDA is not available", "DGM_DEVICE", "cpu"):
        assert needle in message, f"expected {needle!r} in the error, got: {message}"


def test_forced_mps_without_mps_says_so(monkeypatch):
    """Does get_device('mps') without mps raise an error that names mps and DGM_DEVICE?"""
    _hardware(monkeypatch, cuda=True, mps=False)
    with pytest.raises(RuntimeError, match=r"MPS is not available.*DGM_DEVICE"):
        get_device("mps")


def test_unknown_device_name_names_dgm_device(monkeypatch):
    """Does a misspelt DGM_DEVICE raise an error that names DGM_DEVICE and the bad value?"""
    monkeypatch.setenv("DGM_DEVICE", "gpu")
    with pytest.raises((RuntimeError, ValueError)) as info:
        get_device()
    message = str(info.value)
    assert "DGM_DEVICE" in message and "'gpu'" in message, f"expected DGM_DEVICE and 'gpu' in: {message}"


# ---------------------------------------------------------------------------- fast and grading mode


@pytest.mark.parametrize(
    ("value", "fast"),
    [("1", True), ("true", True), ("TRUE", True), (" yes ", True), ("on", True),
     ("0", False), ("", False), ("false", False), ("no", False), ("2", False)],
)
def test_fast_mode_reads_dgm_fast(monkeypatch, value, fast):
    """Do is_fast_mode() and fast_or() follow DGM_FAST, read at call time?"""
    monkeypatch.setenv("DGM_FAST", value)
    assert is_fast_mode() is fast, f"DGM_FAST={value!r}: expected is_fast_mode() {fast}"
    expected = "small" if fast else "big"
    assert fast_or("big", "small") == expected, f"DGM_FAST={value!r}: expected fast_or to give {expected!r}"


def test_fast_mode_off_when_unset():
    """Is fast mode off when DGM_FAST is unset (the autouse fixture removes it)?"""
    assert not is_fast_mode()
    assert fast_or(20, 1) == 20


def test_fast_or_returns_the_objects_unchanged(monkeypatch):
    """Does fast_or return the very objects given (no copy, no conversion)?"""
    full, fast = [1, 2], {"a": 1}
    assert fast_or(full, fast) is full
    monkeypatch.setenv("DGM_FAST", "1")
    assert fast_or(full, fast) is fast


@pytest.mark.parametrize(
    ("value", "mode"),
    [("validate", "validate"), ("autograde", "autograde"), (" Autograde ", "autograde"),
     ("", None), ("yes", None), ("generate", None)],
)
def test_grading_mode_reads_nbgrader_execution(monkeypatch, value, mode):
    """Does grading_mode() report nbgrader's validate/autograde runs and nothing else?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", value)
    assert grading_mode() == mode, f"NBGRADER_EXECUTION={value!r}: expected {mode!r}, got {grading_mode()!r}"


def test_grading_mode_none_when_unset():
    """Is grading_mode() None outside nbgrader?"""
    assert grading_mode() is None


# ---------------------------------------------------------------------------- seeding


def _draws(generator: torch.Generator) -> tuple:
    return (random.random(), float(np.random.rand()), float(torch.rand(())), float(torch.rand((), generator=generator)))


def test_seed_everything_reproduces_every_rng():
    """Do Python, NumPy, torch and the returned generator repeat their draws after the same seed?"""
    first = _draws(seed_everything(123))
    second = _draws(seed_everything(123))
    assert first == second, f"expected identical draws after seed 123, got {first} and {second}"
    other = _draws(seed_everything(124))
    for name, a, b in zip(("random", "numpy", "torch", "generator"), first, other):
        assert a != b, f"{name}: seeds 123 and 124 gave the same draw {a}"


def test_seed_everything_generator_matches_manual_seed():
    """Is the returned generator a torch.Generator seeded exactly with the seed?"""
    generator = seed_everything(7)
    assert isinstance(generator, torch.Generator)
    assert generator.initial_seed() == 7
    expected = torch.rand(5, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(torch.rand(5, generator=generator), expected)


# ---------------------------------------------------------------------------- a quiet import

# Poison what an import must not touch, import every module, then report what was touched.
_PROBE = r"""
import json, os, random, socket, sys
touched = []

def spy(name, result=None, error=None):
    def fn(*args, **kwargs):
        touched.append(name)
        if error:
            raise error(f"{name} called at import")
        return result
    return fn

class NoSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        touched.append("socket.socket")
        raise OSError("network used at import")

socket.socket = NoSocket
socket.create_connection = spy("socket.create_connection", error=OSError)
socket.getaddrinfo = spy("socket.getaddrinfo", error=OSError)

import numpy as np
import torch
torch.cuda.is_available = spy("torch.cuda.is_available", result=True)
torch.backends.mps.is_available = spy("torch.backends.mps.is_available", result=True)
torch_seed, py_state, np_state = torch.initial_seed(), random.getstate(), np.random.get_state()[1].copy()

import matplotlib
rc_before = dict(matplotlib.rcParams)
import dgm_utils
import dgm_utils.data, dgm_utils.distributions, dgm_utils.plotting, dgm_utils.runtime, dgm_utils.training
rc_changed = sorted(k for k, v in matplotlib.rcParams.items() if k != "backend" and str(rc_before.get(k)) != str(v))

print(json.dumps({
    "touched": touched,
    "torch_seed_changed": torch.initial_seed() != torch_seed,
    "python_rng_changed": random.getstate() != py_state,
    "numpy_rng_changed": bool((np.random.get_state()[1] != np_state).any()),
    "data_dir_created": os.path.exists(os.environ["DGM_DATA_DIR"]),
    "rc_changed": rc_changed,
}))
"""


@pytest.fixture(scope="module")
def import_probe(tmp_path_factory) -> dict:
    """Import dgm_utils in a fresh interpreter with network, devices and seeding spied on."""
    data_dir = tmp_path_factory.mktemp("probe") / "not-created"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DGM_DATA_DIR": str(data_dir), "MPLBACKEND": "Agg",
           "HOME": str(tmp_path_factory.mktemp("home"))}
    result = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"importing dgm_utils failed:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_makes_no_device_choice_and_no_network_call(import_probe):
    """Does importing every dgm_utils module leave devices and sockets alone?"""
    assert import_probe["touched"] == [], f"expected nothing touched at import, got {import_probe['touched']}"


def test_import_does_not_seed(import_probe):
    """Does importing dgm_utils leave the Python, NumPy and torch RNG states as they were?"""
    changed = [k for k in ("torch_seed_changed", "python_rng_changed", "numpy_rng_changed") if import_probe[k]]
    assert not changed, f"expected no RNG touched at import, got {changed}"


def test_import_does_no_file_io_and_no_styling(import_probe):
    """Does importing dgm_utils leave DGM_DATA_DIR uncreated and matplotlib's rcParams unchanged?"""
    assert not import_probe["data_dir_created"], "expected the import not to create DGM_DATA_DIR"
    assert import_probe["rc_changed"] == [], f"expected no rcParams changed, got {import_probe['rc_changed']}"


def test_probe_would_see_a_device_choice():
    """Does the probe itself catch a device choice at import (so the tests above can fail)?"""
    probe = _PROBE.replace("import dgm_utils\n", "import dgm_utils\ndgm_utils.get_device()\n", 1)
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DGM_DATA_DIR": "/nonexistent",
                                 "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr[-3000:]
    touched = json.loads(result.stdout.strip().splitlines()[-1])["touched"]
    assert touched == ["torch.cuda.is_available"], f"expected the spy to record the cuda probe, got {touched}"


def test_runtime_module_has_no_cached_device():
    """Does runtime keep no module-level device (the choice lives only in get_device)?"""
    cached = {k: v for k, v in vars(runtime).items() if isinstance(v, torch.device)}
    assert cached == {}, f"expected no torch.device at module level, got {cached}"


def test_device_of_reads_parameters_then_buffers_else_cpu():
    """Where a model lives: its first parameter's device, a buffer's when it has no parameter, else the CPU."""
    from torch import nn

    from dgm_utils.runtime import device_of

    assert device_of(nn.Linear(2, 1).to("meta")) == torch.device("meta")
    only_buffer = nn.Module()
    only_buffer.register_buffer("table", torch.zeros(3, device="meta"))
    assert device_of(only_buffer) == torch.device("meta")
    assert device_of(nn.Module()) == torch.device("cpu")
    assert device_of(object()) == torch.device("cpu")  # e.g. the clean room's proxy of a model
