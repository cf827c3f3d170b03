"""Callables a test may hand to a student's function, rebuilt by name on the student's side.

A test that calls ``mc_estimate(f, x)`` or ``fit_reverse_kl(log_pi)`` passes a function. Code
cannot cross the clean room's channel, so tests build these arguments from this fixed library:

    >>> from dgm_utils.cleanroom import lib
    >>> log_pi = lib.mixture_log_density(weights=[0.5, 0.5], means=[-2, 2], sds=[0.6, 0.6])
    >>> log_pi(torch.zeros(3))            # callable here, in the test's own process
    >>> fit_reverse_kl(log_pi)            # and sent by name + parameters to the student's

Each entry works on NumPy arrays and on torch tensors (keeping autograd), so the same object
serves a test that runs in the notebook's kernel and one that runs in the grader. A ``probe``
wraps another entry and records how it was called (shape, dtype, whether the argument carried a
gradient); ``probe_records`` reads those records back wherever the call happened. Records from
the student's process are what that process *says*: a grader treats them as advisory.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import random
import warnings
from typing import Any, Callable

import numpy as np

_BUILDERS: dict[str, Callable[..., Callable]] = {}
# Records of probes called in *this* process, by probe id.
_PROBE_RECORDS: dict[int, list[dict]] = {}
# Set by the grader while it runs tests: reads the records of a probe called in the worker.
remote_records: Callable[[int], list[dict]] | None = None
# Set by the grader while it runs tests: the Session of the student's process.
active_session: Any = None


class Described:
    """A library callable: ``name`` and plain ``params`` are all that cross the wire."""

    __described__ = True

    def __init__(self, name: str, **params: Any):
        if name not in _BUILDERS:
            raise KeyError(f"no library callable {name!r}; known: {sorted(_BUILDERS)}")
        self.lib_name, self.lib_params = name, params
        self._fn = _BUILDERS[name](**params)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(*args, **kwargs)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.lib_params.items())
        return f"lib.{self.lib_name}({args})"


def build(name: str, params: dict) -> Any:
    """The object a DescribedData names (the student's side calls this on every argument)."""
    return Described(name, **params)


def _register(name: str):
    def deco(builder: Callable[..., Callable]) -> Callable[..., Described]:
        _BUILDERS[name] = builder

        def make(**params: Any) -> Described:
            return Described(name, **params)

        make.__name__, make.__doc__ = name, builder.__doc__
        return make

    return deco


def _lib(x: Any):
    """torch for tensors, numpy otherwise."""
    if type(x).__module__.startswith("torch"):
        import torch

        return torch
    return np


# --------------------------------------------------------------------------- functions of x


@_register("identity")
def _identity() -> Callable:
    """f(x) = x."""
    return lambda x: x


@_register("power")
def _power(k: int = 2) -> Callable:
    """f(x) = x ** k."""
    return lambda x: x**k


@_register("exp_linear")
def _exp_linear(a: float = 1.0) -> Callable:
    """f(x) = exp(a x)."""
    return lambda x: _lib(x).exp(a * x)


@_register("ones_like")
def _ones_like() -> Callable:
    """f(x) = 1 (same shape and type as x)."""
    return lambda x: _lib(x).ones_like(x)


@_register("columns_product_plus")
def _columns_product_plus(i: int = 0, j: int = 1, k: int = 2) -> Callable:
    """f(x) = x[:, i] * x[:, j] + x[:, k] for x of shape (n, d)."""
    return lambda x: x[:, i] * x[:, j] + x[:, k]


@_register("gaussian_log_density")
def _gaussian_log_density(mu: float = 0.0, sd: float = 1.0) -> Callable:
    """log N(x; mu, sd^2) in nats, elementwise."""
    const = math.log(sd * math.sqrt(2 * math.pi))
    return lambda x: -0.5 * ((x - mu) / sd) ** 2 - const


@_register("mixture_log_density")
def _mixture_log_density(weights: list, means: list, sds: list) -> Callable:
    """log sum_k w_k N(x; m_k, s_k^2) in nats, elementwise (stable; keeps autograd on tensors)."""
    if not len(weights) == len(means) == len(sds) or not weights:
        raise ValueError("weights, means and sds must have the same, non-zero length")
    terms = [(math.log(w), float(m), float(s)) for w, m, s in zip(weights, means, sds)]

    def log_density(x):
        lib = _lib(x)
        parts = [lw - 0.5 * ((x - m) / s) ** 2 - math.log(s * math.sqrt(2 * math.pi)) for lw, m, s in terms]
        top = parts[0]
        for p in parts[1:]:
            top = lib.maximum(top, p)
        total = sum(lib.exp(p - top) for p in parts)
        return top + lib.log(total)

    return log_density


@_register("normal_sampler")
def _normal_sampler(mu: float = 0.0, sd: float = 1.0) -> Callable:
    """sample(n, rng) -> mu + sd * rng.standard_normal(n), rng a numpy Generator."""
    return lambda n, rng: mu + sd * rng.standard_normal(n)


_GENERATORS = {
    "kl": lambda u, L: u * L.log(u),
    "reverse_kl": lambda u, L: -L.log(u),
    "pearson": lambda u, L: (u - 1) ** 2,
    "hellinger": lambda u, L: (L.sqrt(u) - 1) ** 2,
    "js": lambda u, L: 0.5 * (u * L.log(u) - (u + 1) * L.log((u + 1) / 2)),
    "gan": lambda u, L: u * L.log(u) - (u + 1) * L.log(u + 1),
}


@_register("f_generator")
def _f_generator(kind: str) -> Callable:
    """The f-divergence generator ``kind`` (kl, reverse_kl, pearson, hellinger, js, gan)."""
    if kind not in _GENERATORS:
        raise ValueError(f"unknown generator {kind!r}; known: {sorted(_GENERATORS)}")
    gen = _GENERATORS[kind]
    return lambda u: gen(u, _lib(u))


# --------------------------------------------------------------------------- probes

_probe_ids = itertools.count(random.SystemRandom().randrange(1, 2**40))


@_register("probe")
def _probe(inner: str, inner_params: dict, probe_id: int) -> Callable:
    """``inner`` (a library callable) that records each call under ``probe_id``."""
    fn = Described(inner, **inner_params)

    def probed(*args: Any, **kwargs: Any):
        x = args[0] if args else None
        _PROBE_RECORDS.setdefault(probe_id, []).append({
            "type": type(x).__module__.split(".")[0] + "." + type(x).__name__,
            "shape": list(getattr(x, "shape", ())),
            "dtype": str(getattr(x, "dtype", "")),
            "requires_grad": bool(getattr(x, "requires_grad", False)),
        })
        return fn(*args, **kwargs)

    return probed


def probe(inner: Described) -> Described:
    """``inner`` wrapped so that its calls are recorded (read them with ``probe_records``)."""
    return Described("probe", inner=inner.lib_name, inner_params=dict(inner.lib_params),
                     probe_id=next(_probe_ids))


def probe_records(p: Described) -> list[dict]:
    """How ``p`` was called: here, or in the student's process when a grader is running tests."""
    pid = int(p.lib_params["probe_id"])
    local = _PROBE_RECORDS.get(pid, [])
    if remote_records is not None:
        return local + list(remote_records(pid))
    return list(local)


@_register("value_probe")
def _value_probe(inner: str, inner_params: dict, probe_id: int) -> Callable:
    """``probe`` that also records ``sum``, the float64 sum of the argument's values (a fingerprint
    that tells one batch from another)."""
    fn = Described("probe", inner=inner, inner_params=inner_params, probe_id=probe_id)

    def probed(*args: Any, **kwargs: Any):
        out = fn(*args, **kwargs)
        x = args[0] if args else None
        try:
            total = float(x.detach().double().sum()) if hasattr(x, "detach") else float(np.sum(x, dtype=np.float64))
        except (TypeError, ValueError):
            total = float("nan")
        _PROBE_RECORDS[probe_id][-1]["sum"] = total
        return out

    return probed


def value_probe(inner: Described) -> Described:
    """``probe`` whose records also hold ``sum`` (the sum of the argument's values)."""
    return Described("value_probe", inner=inner.lib_name, inner_params=dict(inner.lib_params),
                     probe_id=next(_probe_ids))

def local_probe_records(probe_id: int) -> list[dict]:
    """Records of ``probe_id`` kept in this process (the worker answers the grader with these)."""
    return list(_PROBE_RECORDS.get(int(probe_id), []))


# --------------------------------------------------------------------------- more functions of x


@_register("iid_gaussian_log_density")
def _iid_gaussian_log_density(mu: float = 0.0, sd: float = 1.0) -> Callable:
    """log density (nats) of each row of x (n, ...) with iid N(mu, sd^2) entries: (n, ...) -> (n,)."""
    elementwise = Described("gaussian_log_density", mu=mu, sd=sd)

    def log_density(x):
        v = elementwise(x)
        return v.reshape(v.shape[0], -1).sum(1)

    return log_density


@_register("tensor_only")
def _tensor_only(inner: str, inner_params: dict) -> Callable:
    """``inner`` (a library callable) that raises TypeError unless its argument is a torch tensor."""
    fn = Described(inner, **inner_params)

    def strict(x, *args: Any, **kwargs: Any):
        if not type(x).__module__.startswith("torch"):
            raise TypeError(f"this function takes a torch tensor (see the docstring), got {type(x).__name__}")
        return fn(x, *args, **kwargs)

    return strict


def tensor_only(inner: Described) -> Described:
    """``inner`` that accepts torch tensors only (for arguments the contract types as tensor -> tensor)."""
    return Described("tensor_only", inner=inner.lib_name, inner_params=dict(inner.lib_params))


@_register("gradient_from")
def _gradient_from(value: dict, gradient: dict) -> Callable:
    """A log-density with the *values* of one library callable and the *gradient* of another.

    On a torch tensor x it returns value(x) with the autograd gradient of gradient(x)
    (``v.detach() + g - g.detach()``); on anything else, value(x). A reparameterised (pathwise)
    estimator uses only the gradient through x and follows ``gradient``; an estimator built on
    the values alone (score function / REINFORCE, finite differences) follows ``value``.
    """
    v_fn = Described(value["name"], **value["params"])
    g_fn = Described(gradient["name"], **gradient["params"])

    def log_density(x):
        v = v_fn(x)
        if not type(x).__module__.startswith("torch"):
            return v
        g = g_fn(x)
        return v.detach() + (g - g.detach())

    return log_density


def gradient_from(value: Described, gradient: Described) -> Described:
    """Values of ``value``, autograd gradient of ``gradient`` (see ``_gradient_from``)."""
    return Described("gradient_from", value={"name": value.lib_name, "params": dict(value.lib_params)},
                     gradient={"name": gradient.lib_name, "params": dict(gradient.lib_params)})


# Convenience names for tests: lib.power(k=2), lib.f_generator(kind="kl"), ...
identity = _identity
power = _power
exp_linear = _exp_linear
ones_like = _ones_like
columns_product_plus = _columns_product_plus
gaussian_log_density = _gaussian_log_density
mixture_log_density = _mixture_log_density
normal_sampler = _normal_sampler
f_generator = _f_generator
iid_gaussian_log_density = _iid_gaussian_log_density


def fresh_rng() -> tuple[int, np.random.Generator]:
    """(seed, numpy Generator seeded with it): a fresh draw for a hidden test, and the seed to report."""
    seed = fresh_seed()
    return seed, np.random.default_rng(seed)


@contextlib.contextmanager
def quiet():
    """Drop the warnings and stderr of the enclosed code.

    Inside the notebook's kernel nbgrader scores any stderr output of a test cell as a failure,
    so a hidden test that calls student code (which may warn) runs it under ``with lib.quiet():``.
    The clean room ignores a test's output anyway.
    """
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


# --- what hidden tests assert, said once: each takes ``what``, the words that open the message --------


def expect_float(value: Any, what: str) -> None:
    """Assert that ``value`` is a float (Python's or NumPy's), not an array, tensor or int."""
    assert isinstance(value, (float, np.floating)), f"{what}: expected a float, got {type(value).__name__}"


def expect_close(got: float, want: float, what: str, *, rel: float = 1e-5) -> None:
    """Assert ``|got - want| <= rel * (1 + |want|)``: equal up to float round-off of sums."""
    assert abs(got - want) <= rel * (1 + abs(want)), f"{what}: expected {want:.6g}, got {got:.6g}"


def expect_either_ddof(got: float, want: float, n: int, what: str) -> None:
    """Assert a standard deviation (or error) equal to ``want`` up to the choice of ddof.

    ddof = 0 and ddof = 1 differ by a factor sqrt(n / (n - 1)) < 1 + 1/n: both are right answers.
    """
    assert abs(got / want - 1) < 2 / n, f"{what}: expected {want:.6g} (with n = {n}), got {got:.6g}"


def moments(values: Any, *, ddof: int) -> tuple[int, float, float]:
    """(n, mean, standard deviation) of ``values`` by exact sums (math.fsum): a hidden test's reference,
    computed apart from any library the student's code could use."""
    vals = [float(v) for v in values]
    n = len(vals)
    mean = math.fsum(vals) / n
    return n, mean, math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - ddof))


def exception_name(fn: Callable, *args: Any, **kwargs: Any) -> str | None:
    """The class name of the exception that ``fn(*args, **kwargs)`` raises, or None if it returns.

    The same on a function of this process (a real exception) and on one of the student's
    process, whose exception reaches the grader as a StudentCodeError naming its type; a crash
    or timeout of the student's process is "WorkerFailed".
    """
    from .session import StudentCodeError, WorkerFailed

    try:
        fn(*args, **kwargs)
    except WorkerFailed:
        return "WorkerFailed"
    except StudentCodeError as err:
        return str(err).split(":", 1)[0]
    except Exception as err:  # noqa: BLE001 (the point is to name it)
        return type(err).__name__
    return None


def fresh_seed() -> int:
    """A seed drawn from the OS at call time: hidden tests use it so no draw is predictable."""
    return int(np.random.SeedSequence().entropy % 2**32)


def student_side(name: str) -> Any:
    """The student's process's global ``name``: through the clean room when a grader runs the
    tests, else the notebook's own global (a test cell running in the kernel).

    Use it for the course's helpers that must act *there*, e.g. ``load_checkpoint`` filling a
    model that lives in the student's process.
    """
    if active_session is not None:
        return active_session.get(name)
    import __main__

    return getattr(__main__, name)


def seed_student(seed: int) -> None:
    """``torch.manual_seed(seed)`` where the student's code runs."""
    if active_session is not None:
        active_session.seed(seed)
    else:
        import torch

        torch.manual_seed(seed)


def in_clean_room() -> bool:
    """True while a grader runs this test against the student's process (not in the kernel)."""
    return active_session is not None


from . import standins  # noqa: E402,F401  (registers the stand-in models of hw2)
