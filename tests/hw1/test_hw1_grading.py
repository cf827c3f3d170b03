"""Do hw1_foundations' tests enforce every clause of every docstring, on every grading run?

The tests of the source notebook are graded the way the course grades them: in the clean room
(dgm_utils.cleanroom), the solution cells in a worker process, the test cells here.

* ``CLAUSES`` lists every clause of every graded function's docstring and the test cell that
  enforces it; docs/hw1_clauses.md is this table (``python tests/hw1/test_hw1_grading.py``
  rewrites it, a test below checks that it is current).
* ``WRONG`` holds, for every clause, answers that violate that clause only. Each must fail the
  clause's test cell on every one of ``DRAWS`` fresh draws (the hidden tests draw new inputs at
  every run, so one run is one trial).
* ``CORRECT`` holds other right answers (loops, torch, ddof=0, other seeds and estimators): they
  must pass every test cell of their tasks on every draw.
* A wrong answer can only cost its own task: each test cell calls only its task's functions
  (checked statically below), and a variant defines only its own cell's names. One full run of
  a group of wrong answers through course_tools.variants checks the exact cells lost.

All draws run in one worker process, reloaded with each variant's cells (a worker start is ~2 s,
a reload a few ms).
"""

from __future__ import annotations

import ast
import copy
import functools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # when run as a script to rewrite the doc
    sys.path.insert(0, str(REPO))

from course_tools.variants import grade_variant, points_by_task  # noqa: E402
from dgm_utils.cleanroom import notebook  # noqa: E402
from dgm_utils.cleanroom.session import Cell, Session, defined_names, run_tests  # noqa: E402

SOURCE = REPO / "solutions" / "hw1_foundations" / "hw1_foundations.ipynb"
RELEASE = REPO / "assignments" / "hw1_foundations" / "hw1_foundations.ipynb"
DOC = REPO / "docs" / "hw1_clauses.md"
DRAWS = 40  # a test that lets a wrong answer through 7 % of the time is caught with probability 1 - 0.93**40 = 95 %
REFERENCE_DRAWS = 10  # the reference solution; the alternatives below get DRAWS each


@functools.cache
def _source_nb() -> dict:
    return json.loads(SOURCE.read_text(encoding="utf-8"))


@functools.cache
def _cells() -> dict[str, str]:
    """grade_id -> source of every code cell of the source notebook (read once)."""
    return notebook.by_id(_source_nb())


def reference_source(grade_id: str) -> str:
    """The reference code of one solution cell of the source notebook."""
    return _cells()[grade_id]


def swap(grade_id: str, *edits: tuple[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(grade_id, the (old, new) edits of its reference code): applied when a test reads Wrong.code."""
    return grade_id, edits


# ----------------------------------------------------------------------------------- the clauses


@dataclass(frozen=True)
class Clause:
    key: str
    function: str
    text: str
    test: str  # the hidden test cell that enforces it on every run
    visible: str = ""  # a visible test cell that also reaches it, if any


C = Clause
CLAUSES = [
    # Task 1: counts
    C("joint.value", "num_params_joint", "K**m - 1 free parameters", "t1_counts_hidden", "t1_counts_visible"),
    C("joint.int", "num_params_joint", "an exact Python int (2**784 - 1 has 237 digits)", "t1_counts_hidden", "t1_counts_visible"),
    C("indep.value", "num_params_independent", "m * (K - 1) free parameters", "t1_counts_hidden", "t1_counts_visible"),
    C("indep.int", "num_params_independent", "an exact Python int", "t1_counts_hidden"),
    C("markov.value", "num_params_markov", "K**d - 1 for the first d variables plus (m - d) K**d (K - 1), for 0 < d < m",
      "t1_counts_hidden", "t1_counts_visible"),
    C("markov.d0", "num_params_markov", "d = 0 is allowed: the independent model", "t1_counts_hidden"),
    C("markov.dm", "num_params_markov", "d = m is allowed: the full joint", "t1_counts_hidden"),
    C("markov.neg", "num_params_markov", "raises for d < 0", "t1_counts_hidden"),
    C("markov.above", "num_params_markov", "raises for d > m", "t1_counts_hidden"),
    C("markov.type", "num_params_markov", "the error raised is a ValueError", "t1_counts_hidden"),
    C("markov.int", "num_params_markov", "an exact Python int", "t1_counts_hidden"),
    C("mlp.value", "num_params_markov_mlp", "weights and biases of every layer", "t1_counts_hidden", "t1_counts_visible"),
    C("mlp.depth", "num_params_markov_mlp", "any number of hidden layers, none included", "t1_counts_hidden"),
    C("mlp.int", "num_params_markov_mlp", "an exact Python int", "t1_counts_hidden"),
    # Task 1: histogram
    C("fit.bins", "fit_histogram", "bins as in pattern_index (the first pixel is the most significant bit)",
      "t1_hist_hidden", "t1_hist_visible"),
    C("fit.mle", "fit_histogram", "entry k = n_k / N at alpha = 0, N the number of patterns (rows)",
      "t1_hist_hidden", "t1_hist_visible"),
    C("fit.alpha", "fit_histogram", "entry k = (n_k + alpha) / (N + alpha 2**D) for alpha > 0", "t1_hist_hidden"),
    C("fit.default", "fit_histogram", "alpha defaults to 0 (the MLE)", "t1_hist_hidden", "t1_hist_visible"),
    C("fit.shape", "fit_histogram", "shape (2**D,): every pattern, empty bins (the last one too) included", "t1_hist_hidden"),
    C("fit.dtype", "fit_histogram", "a float64 NumPy array", "t1_hist_hidden"),
    C("fit.input", "fit_histogram", "x_train of any numeric dtype with values in {0, 1} (float32, uint8, int64)",
      "t1_hist_hidden"),
    C("ll.mean", "histogram_log_likelihood", "the average over the test patterns, not the sum", "t1_hist_hidden",
      "t1_hist_visible"),
    C("ll.nats", "histogram_log_likelihood", "in nats (natural log)", "t1_hist_hidden", "t1_hist_visible"),
    C("ll.inf", "histogram_log_likelihood", "-inf (not an error, not a large finite number) when a test pattern has "
      "probability 0", "t1_hist_hidden", "t1_hist_visible"),
    C("ll.bins", "histogram_log_likelihood", "bins as in pattern_index", "t1_hist_hidden", "t1_hist_visible"),
    C("ll.float", "histogram_log_likelihood", "returns a float", "t1_hist_hidden"),
    # Task 2
    C("mc.mean", "mc_estimate", "the estimate is the sample mean of f(x_i)", "t2_mc_hidden"),
    C("mc.se", "mc_estimate", "the second element is the SE s / sqrt(n) (ddof=1; ddof=0 accepted)", "t2_mc_hidden",
      "t2_mc_visible"),
    C("mc.n", "mc_estimate", "n = x.shape[0], the number of samples, not of numbers in x", "t2_mc_hidden"),
    C("mc.se_of_f", "mc_estimate", "s is the standard deviation of the values f(x_i), not of x", "t2_mc_hidden"),
    C("mc.torch", "mc_estimate", "x and f(x) may be torch tensors", "t2_mc_hidden"),
    C("mc.floats", "mc_estimate", "returns Python floats", "t2_mc_hidden"),
    C("cov.interval", "interval_coverage", "the interval is est +- z * se with est, se from mc_estimate", "t2_coverage_hidden"),
    C("cov.z", "interval_coverage", "uses the argument z", "t2_coverage_hidden"),
    C("cov.fresh", "interval_coverage", "each run uses n fresh samples", "t2_coverage_hidden"),
    C("cov.one_rng", "interval_coverage", "one generator for all runs (not re-created per run)", "t2_coverage_hidden"),
    C("cov.seed_same", "interval_coverage", "the generator is np.random.default_rng(seed): the same seed, the same result",
      "t2_coverage_hidden"),
    C("cov.seed_differs", "interval_coverage", "a different seed gives a different result", "t2_coverage_hidden"),
    C("cov.fraction", "interval_coverage", "returns the fraction of runs, a float in [0, 1]", "t2_coverage_hidden"),
    C("cov.closed", "interval_coverage", "the interval [est - z se, est + z se] is closed", "t2_coverage_hidden"),
    # Task 3
    C("x.mean", "expectation_from_x", "(1/n) sum_i g(x_i)", "t3_hidden", "t3_visible"),
    C("x.float", "expectation_from_x", "returns a float", "t3_hidden"),
    C("y.span", "expectation_from_y_histogram", "num_bins equal-width bins spanning [min y, max y]", "t3_hidden"),
    C("y.density", "expectation_from_y_histogram", "density times width: each bin weighs its fraction of the samples",
      "t3_hidden"),
    C("y.centres", "expectation_from_y_histogram", "each bin is represented by its centre", "t3_hidden", "t3_visible"),
    C("y.last", "expectation_from_y_histogram", "the last bin is closed: the maximum counts, in the last bin",
      "t3_hidden", "t3_visible"),
    C("y.one", "expectation_from_y_histogram", "num_bins = 1 works: the midpoint of [min y, max y]", "t3_hidden"),
    C("y.float", "expectation_from_y_histogram", "returns a float", "t3_hidden"),
    C("q.trapezoid", "expectation_by_quadrature", "the trapezoid rule (not Simpson, not rectangles)", "t3_hidden"),
    C("q.points", "expectation_by_quadrature", "on num_points points", "t3_hidden"),
    C("q.default", "expectation_by_quadrature", "num_points defaults to 4001", "t3_hidden"),
    C("q.grid", "expectation_by_quadrature", "equally spaced points in [lo, hi], both ends included", "t3_hidden"),
    C("q.nats", "expectation_by_quadrature", "p = exp(log_p), log_p in nats", "t3_hidden", "t3_visible"),
    C("q.g", "expectation_by_quadrature", "integrates g(x) p(x), not p(x)", "t3_hidden"),
    C("q.float", "expectation_by_quadrature", "returns a float", "t3_hidden"),
    # Task 4
    C("gen.kl", "f_kl", "u ln u", "t4_generators_hidden", "t4_visible"),
    C("gen.reverse_kl", "f_reverse_kl", "-ln u", "t4_generators_hidden"),
    C("gen.pearson", "f_pearson", "(u - 1)^2", "t4_generators_hidden"),
    C("gen.hellinger", "f_hellinger", "(sqrt(u) - 1)^2, no factor 1/2", "t4_generators_hidden"),
    C("gen.js", "f_js", "(u ln u - (u + 1) ln((u + 1) / 2)) / 2", "t4_generators_hidden"),
    C("gen.gan", "f_gan", "u ln u - (u + 1) ln(u + 1)", "t4_generators_hidden"),
    C("gen.elementwise", "f_*", "elementwise: the output has the shape of u", "t4_generators_hidden"),
    C("gen.float64", "f_*", "a float64 tensor in, a float64 tensor out", "t4_generators_hidden"),
    C("gen.dict", "F_GENERATORS", "maps each of the six keys to its generator", "t4_generators_hidden", "t4_visible"),
    C("disc.formula", "f_divergence_discrete", "sum_k p_k f(pi_k / p_k): the data pi first, weights p, a sum",
      "t4_discrete_hidden"),
    C("disc.tensor_f", "f_divergence_discrete", "f is a generator: it is called on torch tensors", "t4_discrete_hidden",
      "t4_visible"),
    C("disc.inputs", "f_divergence_discrete", "pi, p may be arrays or tensors", "t4_discrete_hidden", "t4_visible"),
    C("disc.float", "f_divergence_discrete", "returns a float (nats)", "t4_discrete_hidden"),
    C("mcdiv.direction", "f_divergence_mc", "the ratio is pi(x) / p(x), x ~ p", "t4_mc_hidden"),
    C("mcdiv.logs", "f_divergence_mc", "log_pi, log_p are log-densities: the ratio is exp(log_pi - log_p)", "t4_mc_hidden"),
    C("mcdiv.se", "f_divergence_mc", "the second element is the SE s / sqrt(n)", "t4_mc_hidden"),
    C("mcdiv.n", "f_divergence_mc", "x is (n, ...): n = x.shape[0] samples", "t4_mc_hidden"),
    C("mcdiv.floats", "f_divergence_mc", "returns floats", "t4_mc_hidden"),
    C("mcdiv.tensor_f", "f_divergence_mc", "f is a generator: it is called on torch tensors", "t4_mc_hidden"),
    # Task 5
    C("fwd.mean", "fit_forward_kl", "mu is the sample mean", "t5_forward_hidden", "t5_visible"),
    C("fwd.std", "fit_forward_kl", "sigma is the sample standard deviation (ddof=0; ddof=1 accepted)", "t5_forward_hidden",
      "t5_visible"),
    C("fwd.inputs", "fit_forward_kl", "x may be an array or a tensor", "t5_forward_hidden"),
    C("fwd.floats", "fit_forward_kl", "returns floats", "t5_forward_hidden"),
    C("rev.minimum", "fit_reverse_kl", "minimises KL(q || pi): within 0.03 nats of the minimum near the start's mode",
      "t5_reverse_hidden", "t5_visible"),
    C("rev.pathwise", "fit_reverse_kl", "reparameterised gradient: log_pi is called on x = mu + sigma * eps carrying the "
      "gradient, and the fit follows that gradient", "t5_reverse_hidden"),
    C("rev.start", "fit_reverse_kl", "starts from mu = mu0, sigma = exp(log_sigma0)", "t5_reverse_hidden"),
    C("rev.sigma", "fit_reverse_kl", "returns sigma, not log sigma", "t5_reverse_hidden"),
    C("rev.adam", "fit_reverse_kl", "Adam with learning rate lr", "t5_reverse_hidden"),
    C("rev.steps", "fit_reverse_kl", "num_steps steps", "t5_reverse_hidden"),
    C("rev.fresh", "fit_reverse_kl", "fresh eps at every step", "t5_reverse_hidden"),
    C("rev.batch", "fit_reverse_kl", "batch_size samples per step: log_pi gets (batch_size,) tensors", "t5_reverse_hidden"),
    C("rev.float32", "fit_reverse_kl", "log_pi gets float32 tensors", "t5_reverse_hidden"),
    C("rev.seed_same", "fit_reverse_kl", "eps from a torch generator seeded with seed: the same seed, the same fit",
      "t5_reverse_hidden"),
    C("rev.seed_differs", "fit_reverse_kl", "a different seed gives a different fit", "t5_reverse_hidden"),
    C("rev.floats", "fit_reverse_kl", "returns (mu, sigma) as floats", "t5_reverse_hidden"),
]
del C
CLAUSE = {c.key: c for c in CLAUSES}
# Clauses of the docstrings that no test can reach, and why.
UNTESTED = {
    "fit_reverse_kl: device=None means get_device()":
        "the grader has only a CPU, where get_device() is the CPU: no answer can tell",
    "the other defaults of fit_reverse_kl (mu0, log_sigma0, num_steps, lr, batch_size, seed) and of "
    "interval_coverage (z, seed)":
        "the def lines are given in the released stub and students do not write them; the visible tests call "
        "fit_reverse_kl with its defaults (alpha = 0 and num_points = 4001 are checked, above)",
}
# Clauses checked on what the student's process reports about the calls of log_pi (lib.value_probe): honest
# code reports truly, but code that forges the records could pass these checks alone. The outcome checks of the
# same cell (the step bounds, the seeds, the decoy and the minimum) come from returned values only.
ADVISORY = ("rev.fresh", "rev.batch", "rev.float32", "rev.steps (one step too many, under a decaying step size)")


# ------------------------------------------------------------------------- plausible wrong answers


@dataclass(frozen=True)
class Wrong:
    clause: str
    description: str
    cell: str  # the solution cell replaced
    edits: tuple[tuple[str, str], ...]  # (old, new) edits of its reference code, each old in it once

    @property
    def code(self) -> str:
        """The reference code of ``cell`` with the edits applied; a stale ``old`` fails the test that reads it
        (not the collection of the whole module)."""
        code = reference_source(self.cell)
        for old, new in self.edits:
            assert code.count(old) == 1, f"{self.cell}: expected {old!r} once in the reference, found {code.count(old)}"
            code = code.replace(old, new)
        return code


def W(clause: str, description: str, variant: tuple[str, tuple[tuple[str, str], ...]]) -> Wrong:
    return Wrong(clause, description, *variant)


_MARKOV = "K**d - 1 + (m - d) * K**d * (K - 1)"
_CHECK = "    if not 0 <= d <= m:\n        raise ValueError"
_MLP = "sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))"
_COUNTS = "counts = np.bincount(pattern_index(x), minlength=2**dim).astype(np.float64)"
_FIT = "return (counts + alpha) / (n + alpha * 2**dim)"
_LL = "return float(np.mean(np.log(probs)))"
_MC = "return float(values.mean()), float(values.std(ddof=1) / math.sqrt(n))"
_COV = "        hits += abs(estimate - true_value) <= z * std_error\n"
_YH = "return float(np.sum(centres * density * widths))"
_Q = "return float(np.trapezoid(g(grid) * np.exp(log_p(grid)), grid))"
_FD = "return float((p * f(pi / p)).sum())"
_FMC = "return float(values.mean()), float(values.std() / math.sqrt(len(values)))"
_EPS = "        eps = torch.randn(batch_size, generator=gen).to(device)\n"
_LOOP = "    for _ in range(num_steps):\n"

WRONG = [
    # --- num_params_joint / num_params_independent
    W("joint.value", "the table's size K**m, without the constraint that it sums to 1",
      swap("t1_counts", ("return K**m - 1", "return K**m"))),
    W("joint.int", "joint count through a float: 2**784 - 1 is not representable",
      swap("t1_counts", ("return K**m - 1", "return int(float(K) ** m - 1)"))),
    W("joint.int", "joint count as a float where it fits, an int only where it must",
      swap("t1_counts", ("return K**m - 1", "return float(K**m - 1) if K**m < 2**53 else K**m - 1"))),
    W("indep.value", "independent model counted with K parameters per variable",
      swap("t1_counts", ("return m * (K - 1)", "return m * K"))),
    W("indep.int", "independent count as a float", swap("t1_counts", ("return m * (K - 1)", "return m * (K - 1.0)"))),
    # --- num_params_markov
    W("markov.value", "Markov count off by one: m - d + 1 conditional tables",
      swap("t1_counts", ("(m - d) * K**d", "(m - d + 1) * K**d"))),
    W("markov.value", "hard-coded for the visible input (784, 2, 1), no exact first d variables elsewhere",
      swap("t1_counts", (f"return {_MARKOV}",
                         "if (m, K, d) == (784, 2, 1):\n        return 1567\n    return m * K**d * (K - 1)"))),
    W("markov.value", "the first d variables as d separate tables of K - 1",
      swap("t1_counts", (f"return {_MARKOV}", "return d * (K - 1) + (m - d) * K**d * (K - 1)"))),
    W("markov.d0", "order d >= 1 demanded", swap("t1_counts", ("if not 0 <= d <= m:", "if not 1 <= d <= m:"))),
    W("markov.dm", "order d < m demanded", swap("t1_counts", ("if not 0 <= d <= m:", "if not 0 <= d < m:"))),
    W("markov.neg", "only d > m is checked", swap("t1_counts", ("if not 0 <= d <= m:", "if d > m:"))),
    W("markov.above", "only d < 0 is checked", swap("t1_counts", ("if not 0 <= d <= m:", "if d < 0:"))),
    W("markov.type", "an assert instead of the ValueError",
      swap("t1_counts", (_CHECK, '    assert 0 <= d <= m, "0 <= d <= m"\n    if False:\n        raise ValueError'))),
    W("markov.type", "an IndexError instead of the ValueError",
      swap("t1_counts", (_CHECK, "    if not 0 <= d <= m:\n        raise IndexError"))),
    W("markov.int", "Markov count in float arithmetic",
      swap("t1_counts", (f"return {_MARKOV}", "return K**d - 1 + (m - d) * K**d * (K - 1.0)"))),
    # --- num_params_markov_mlp
    W("mlp.value", "weights only, no biases",
      swap("t1_counts", (_MLP, "sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))"))),
    W("mlp.value", "biases of the hidden layers only, not of the output layer",
      swap("t1_counts", (_MLP, "sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:])) + sum(sizes[1:-1])"))),
    W("mlp.depth", "written for exactly one hidden layer",
      swap("t1_counts", (_MLP, "(sizes[0] + 1) * sizes[1] + (sizes[-2] + 1) * sizes[-1]"))),
    W("mlp.int", "MLP count as a float", swap("t1_counts", (f"return {_MLP}", f"return float({_MLP})"))),
    # --- fit_histogram
    W("fit.bins", "bins with the first pixel as the least significant bit",
      swap("t1_histogram", ("np.bincount(pattern_index(x), minlength",
                            "np.bincount(x.astype(np.int64) @ (2 ** np.arange(dim)), minlength"))),
    W("fit.mle", "normalised by N * D, the number of pixels, instead of N", swap("t1_histogram", (_FIT, "return (counts + alpha) / (x.size + alpha * 2**dim)"))),
    W("fit.alpha", "smoothing normalised by N + alpha", swap("t1_histogram", (_FIT, "return (counts + alpha) / (n + alpha)"))),
    W("fit.alpha", "smoothing added to the counts, normalised by N only", swap("t1_histogram", (_FIT, "return (counts + alpha) / n"))),
    W("fit.default", "add-one smoothing by default", swap("t1_histogram", ("alpha: float = 0.0", "alpha: float = 1.0"))),
    W("fit.shape", "bincount without minlength: the table stops at the largest pattern seen",
      swap("t1_histogram", (_COUNTS, "counts = np.bincount(pattern_index(x)).astype(np.float64)"))),
    W("fit.dtype", "a float32 table", swap("t1_histogram", (_FIT, "return ((counts + alpha) / (n + alpha * 2**dim)).astype(np.float32)"))),
    W("fit.dtype", "a torch tensor", swap("t1_histogram", (_FIT, "return torch.from_numpy((counts + alpha) / (n + alpha * 2**dim))"))),
    W("fit.input", "bin index from the array as given: float input breaks bincount",
      swap("t1_histogram", (_COUNTS, "counts = np.bincount(x @ (2 ** np.arange(dim - 1, -1, -1)), minlength=2**dim).astype(np.float64)"))),
    # --- histogram_log_likelihood
    W("ll.mean", "the sum instead of the average", swap("t1_histogram", (_LL, "return float(np.sum(np.log(probs)))"))),
    W("ll.nats", "held-out log-likelihood in bits (log2) where nats are asked", swap("t1_histogram", ("np.log(probs)", "np.log2(probs)"))),
    W("ll.inf", "probabilities clipped at 1e-300: finite instead of -inf",
      swap("t1_histogram", (_LL, "return float(np.mean(np.log(np.maximum(probs, 1e-300))))"))),
    W("ll.inf", "an unseen pattern raises",
      swap("t1_histogram", (_LL, 'if (probs == 0).any():\n            raise ValueError("unseen pattern")\n        ' + _LL))),
    W("ll.bins", "looked up with the first pixel as the least significant bit",
      swap("t1_histogram", ("[pattern_index(x_test)]", "[np.asarray(x_test).astype(np.int64) @ (2 ** np.arange(np.shape(x_test)[1]))]"))),
    W("ll.float", "a one-element array", swap("t1_histogram", (_LL, "return np.mean(np.log(probs), keepdims=True)"))),
    # --- mc_estimate
    W("mc.mean", "the median instead of the mean", swap("t2_mc", (_MC, "return float(np.median(values)), float(values.std(ddof=1) / math.sqrt(n))"))),
    W("mc.se", "standard error without the square root: var / n",
      swap("t2_mc", ("values.std(ddof=1) / math.sqrt(n)", "values.var(ddof=1) / n"))),
    W("mc.se", "standard error s / n", swap("t2_mc", ("values.std(ddof=1) / math.sqrt(n)", "values.std(ddof=1) / n"))),
    W("mc.se", "the standard deviation s instead of the standard error", swap("t2_mc", ("values.std(ddof=1) / math.sqrt(n)", "values.std(ddof=1)"))),
    W("mc.n", "standard error with the wrong n: the number of entries of x, not of samples",
      swap("t2_mc", ("n = len(values)", "n = np.size(x)"))),
    W("mc.se_of_f", "the standard error of x instead of f(x)",
      swap("t2_mc", ("float(values.std(ddof=1) / math.sqrt(n))", "float(np.std(np.asarray(x, dtype=np.float64), ddof=1) / math.sqrt(n))"))),
    W("mc.torch", "NumPy methods on f(x): torch's std takes no ddof",
      swap("t2_mc", ("values = np.asarray(f(x), dtype=np.float64).reshape(-1)\n    n = len(values)\n    " + _MC,
                     "values = f(x)\n    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))"))),
    W("mc.floats", "0-d tensors instead of floats",
      swap("t2_mc", ("values = np.asarray(f(x), dtype=np.float64).reshape(-1)\n    n = len(values)\n    " + _MC,
                     "values = torch.as_tensor(f(x), dtype=torch.float64).reshape(-1)\n"
                     "    return values.mean(), values.std() / math.sqrt(len(values))"))),
    # --- interval_coverage
    W("cov.interval", "interval est +- z * s (the sample standard deviation) instead of z * se",
      swap("t2_mc", ("<= z * std_error", "<= z * std_error * math.sqrt(n)"))),
    W("cov.z", "coverage ignores z and always uses 1.96", swap("t2_mc", ("<= z * std_error", "<= 1.96 * std_error"))),
    W("cov.fresh", "one sample drawn once and reused by every run",
      swap("t2_mc", ("    hits = 0\n", "    hits = 0\n    x = sample(n, rng)\n"), ("mc_estimate(f, sample(n, rng))", "mc_estimate(f, x)"))),
    W("cov.one_rng", "the generator re-created from seed in every run",
      swap("t2_mc", ("mc_estimate(f, sample(n, rng))", "mc_estimate(f, sample(n, np.random.default_rng(seed)))"))),
    W("cov.seed_same", "an unseeded generator", swap("t2_mc", ("rng = np.random.default_rng(seed)", "rng = np.random.default_rng()"))),
    W("cov.seed_same", "NumPy's global generator instead of the seeded one",
      swap("t2_mc", ("mc_estimate(f, sample(n, rng))", "mc_estimate(f, sample(n, np.random))"))),
    W("cov.seed_differs", "seed ignored: always 0", swap("t2_mc", ("rng = np.random.default_rng(seed)", "rng = np.random.default_rng(0)"))),
    W("cov.fraction", "the number of runs instead of the fraction", swap("t2_mc", ("return hits / num_runs", "return hits"))),
    W("cov.fraction", "integer division: 0 or 1", swap("t2_mc", ("return hits / num_runs", "return hits // num_runs"))),
    W("cov.closed", "an open interval", swap("t2_mc", ("<= z * std_error", "< z * std_error"))),
    # --- expectation_from_x
    W("x.mean", "g of the mean instead of the mean of g",
      swap("t3_lotus", ("return float(np.mean(np.asarray(g(x), dtype=np.float64)))", "return float(g(np.mean(x)))"))),
    W("x.float", "a 0-d tensor", swap("t3_lotus", ("return float(np.mean(np.asarray(g(x), dtype=np.float64)))",
                                                   "return torch.as_tensor(g(x), dtype=torch.float64).mean()"))),
    # --- expectation_from_y_histogram
    W("y.span", "num_bins edges, hence num_bins - 1 bins",
      swap("t3_lotus", ("bins=num_bins, density=True", "bins=np.linspace(np.min(y), np.max(y), num_bins), density=True"))),
    W("y.span", "bins spanning [0, max y]", swap("t3_lotus", ("bins=num_bins, density=True", "bins=num_bins, range=(0, np.max(y)), density=True"))),
    W("y.density", "histogram expectation without the bin widths", swap("t3_lotus", (_YH, "return float(np.sum(centres * density))"))),
    W("y.density", "counts instead of densities", swap("t3_lotus", ("density=True)", "density=False)"))),
    W("y.centres", "bins represented by their left edges", swap("t3_lotus", (_YH, "return float(np.sum(edges[:-1] * density * widths))"))),
    W("y.last", "own binning with np.digitize: the maximum falls past the last bin and is dropped",
      swap("t3_lotus", ("    density, edges = np.histogram(np.asarray(y, dtype=np.float64), bins=num_bins, density=True)\n",
                        "    y = np.asarray(y, dtype=np.float64)\n    edges = np.linspace(y.min(), y.max(), num_bins + 1)\n"
                        "    counts = np.bincount(np.digitize(y, edges) - 1, minlength=num_bins + 1)[:num_bins]\n"
                        "    density = counts / (len(y) * np.diff(edges))\n"))),
    W("y.one", "at least two bins demanded",
      swap("t3_lotus", ("    density, edges = np.histogram(", '    if num_bins < 2:\n        raise ValueError("need two bins")\n    density, edges = np.histogram('))),
    W("y.float", "a one-element array", swap("t3_lotus", (_YH, "return np.sum(centres * density * widths, keepdims=True)"))),
    # --- expectation_by_quadrature
    W("q.trapezoid", "Simpson's rule",
      swap("t3_lotus", (_Q, "v, h = g(grid) * np.exp(log_p(grid)), grid[1] - grid[0]\n"
                            "    if len(v) % 2 == 0:\n        return float(np.trapezoid(v, grid))\n"
                            "    return float(h / 3 * (v[0] + v[-1] + 4 * v[1:-1:2].sum() + 2 * v[2:-1:2].sum()))"))),
    W("q.trapezoid", "a left Riemann sum", swap("t3_lotus", (_Q, "return float(np.sum((g(grid) * np.exp(log_p(grid)))[:-1]) * (grid[1] - grid[0]))"))),
    W("q.trapezoid", "a midpoint rule on num_points - 1 cells",
      swap("t3_lotus", (_Q, "mid = (grid[:-1] + grid[1:]) / 2\n    return float(np.sum(g(mid) * np.exp(log_p(mid))) * (grid[1] - grid[0]))"))),
    W("q.points", "num_points ignored", swap("t3_lotus", ("grid = np.linspace(lo, hi, num_points)", "grid = np.linspace(lo, hi, 4001)"))),
    W("q.default", "1001 points by default", swap("t3_lotus", ("num_points: int = 4001", "num_points: int = 1001"))),
    W("q.grid", "the right end left out", swap("t3_lotus", ("np.linspace(lo, hi, num_points)", "np.linspace(lo, hi, num_points, endpoint=False)"))),
    W("q.nats", "quadrature integrates g(x) log p(x): exp forgotten", swap("t3_lotus", ("g(grid) * np.exp(log_p(grid))", "g(grid) * log_p(grid)"))),
    W("q.nats", "p = 2**log_p, as if log_p were in bits", swap("t3_lotus", ("np.exp(log_p(grid))", "2.0 ** log_p(grid)"))),
    W("q.g", "integrates p alone", swap("t3_lotus", ("g(grid) * np.exp(log_p(grid))", "np.exp(log_p(grid))"))),
    W("q.float", "a 0-d tensor", swap("t3_lotus", (_Q, "return torch.trapezoid(torch.from_numpy(g(grid) * np.exp(log_p(grid))), torch.from_numpy(grid))"))),
    # --- generators
    W("gen.kl", "KL generator in bits: u log2 u", swap("t4_fdiv", ("return u * torch.log(u)\n", "return u * torch.log2(u)\n"))),
    W("gen.reverse_kl", "reverse-KL generator without the minus sign", swap("t4_fdiv", ("return -torch.log(u)", "return torch.log(u)"))),
    W("gen.pearson", "Neyman's chi-square (u - 1)^2 / u", swap("t4_fdiv", ("return (u - 1) ** 2", "return (u - 1) ** 2 / u"))),
    W("gen.hellinger", "Hellinger with a factor 1/2", swap("t4_fdiv", ("return (torch.sqrt(u) - 1) ** 2", "return 0.5 * (torch.sqrt(u) - 1) ** 2"))),
    W("gen.js", "JS generator without the factor 1/2",
      swap("t4_fdiv", ("return 0.5 * (u * torch.log(u) - (u + 1) * torch.log((u + 1) / 2))",
                       "return u * torch.log(u) - (u + 1) * torch.log((u + 1) / 2)"))),
    W("gen.gan", "GAN generator as 2 f_JS - ln 4 (right at u = 1 only)",
      swap("t4_fdiv", ("return u * torch.log(u) - (u + 1) * torch.log(u + 1)",
                       "return u * torch.log(u) - (u + 1) * torch.log((u + 1) / 2) - math.log(4)"))),
    W("gen.elementwise", "KL generator flattens its input", swap("t4_fdiv", ("return u * torch.log(u)\n", "return (u * torch.log(u)).reshape(-1)\n"))),
    W("gen.float64", "Pearson generator in float32", swap("t4_fdiv", ("return (u - 1) ** 2", "return (u.float() - 1) ** 2"))),
    W("gen.dict", "F_GENERATORS maps 'hellinger' to the Pearson generator",
      swap("t4_fdiv", ('"hellinger": f_hellinger', '"hellinger": f_pearson'))),
    W("gen.dict", "F_GENERATORS spells a key 'reverse-kl'", swap("t4_fdiv", ('"reverse_kl": f_reverse_kl', '"reverse-kl": f_reverse_kl'))),
    # --- f_divergence_discrete
    W("disc.formula", "arguments swapped (model first)", swap("t4_fdiv", (_FD, "return float((pi * f(p / pi)).sum())"))),
    W("disc.formula", "the weights p forgotten", swap("t4_fdiv", (_FD, "return float(f(pi / p).sum())"))),
    W("disc.formula", "the mean over k instead of the sum", swap("t4_fdiv", (_FD, "return float((p * f(pi / p)).mean())"))),
    W("disc.tensor_f", "the generator called on NumPy arrays",
      swap("t4_fdiv", (_FD, "pi, p = pi.numpy(), p.numpy()\n    return float(np.sum(p * np.asarray(f(pi / p))))"))),
    W("disc.inputs", "torch.from_numpy: only arrays accepted",
      swap("t4_fdiv", ("pi = torch.as_tensor(pi, dtype=torch.float64)\n    p = torch.as_tensor(p, dtype=torch.float64)",
                       "pi = torch.from_numpy(pi)\n    p = torch.from_numpy(p)"))),
    W("disc.float", "a 0-d tensor", swap("t4_fdiv", (_FD, "return (p * f(pi / p)).sum()"))),
    # --- f_divergence_mc
    W("mcdiv.direction", "Monte-Carlo f-divergence with the density ratio inverted",
      swap("t4_fdiv", ("torch.exp(log_pi(x) - log_p(x))", "torch.exp(log_p(x) - log_pi(x))"))),
    W("mcdiv.logs", "the ratio of the log-densities", swap("t4_fdiv", ("torch.exp(log_pi(x) - log_p(x))", "log_pi(x) / log_p(x)"))),
    W("mcdiv.se", "standard error s / n", swap("t4_fdiv", (_FMC, "return float(values.mean()), float(values.std() / len(values))"))),
    W("mcdiv.n", "n counted as the number of numbers in x", swap("t4_fdiv", (_FMC, "return float(values.mean()), float(values.std() / math.sqrt(x.numel()))"))),
    W("mcdiv.floats", "0-d tensors", swap("t4_fdiv", (_FMC, "return values.mean(), values.std() / math.sqrt(len(values))"))),
    W("mcdiv.tensor_f", "the generator called on a NumPy array",
      swap("t4_fdiv", ("values = f(torch.exp(log_pi(x) - log_p(x))).double()",
                       "values = torch.as_tensor(f(np.exp((log_pi(x) - log_p(x)).numpy()))).double()"))),
    # --- fit_forward_kl
    W("fwd.mean", "the median instead of the mean", swap("t5_fits", ("return float(x.mean()), float(x.std())", "return float(np.median(x)), float(x.std())"))),
    W("fwd.std", "forward fit returns the variance instead of the standard deviation", swap("t5_fits", ("float(x.std())", "float(x.var())"))),
    W("fwd.inputs", "torch methods: a NumPy array has no .double()",
      swap("t5_fits", ("x = np.asarray(x, dtype=np.float64)\n    return float(x.mean()), float(x.std())",
                       "x = x.double()\n    return float(x.mean()), float(x.std(unbiased=False))"))),
    W("fwd.floats", "0-d tensors", swap("t5_fits", ("x = np.asarray(x, dtype=np.float64)\n    return float(x.mean()), float(x.std())",
                                                    "x = torch.as_tensor(x, dtype=torch.float64)\n    return x.mean(), x.std(unbiased=False)"))),
    # --- fit_reverse_kl
    W("rev.minimum", "the sign of log q flipped: the entropy term pulls sigma to 0",
      swap("t5_fits", ("loss = (log_q - log_pi(x)).mean()", "loss = (-log_q - log_pi(x)).mean()"))),
    W("rev.minimum", "the entropy term forgotten: loss = -E log pi(x), sigma collapses onto the mode",
      swap("t5_fits", ("loss = (log_q - log_pi(x)).mean()", "loss = -log_pi(x).mean()"))),
    W("rev.pathwise", "reverse KL with the stop-gradient on the sample: no pathwise gradient",
      swap("t5_fits", ("x = mu + torch.exp(log_sigma) * eps ", "x = (mu + torch.exp(log_sigma) * eps).detach() "),
           ("log_q = -0.5 * eps**2 - log_sigma - 0.5 * math.log(2 * math.pi)",
            "log_q = torch.distributions.Normal(mu, torch.exp(log_sigma)).log_prob(x)"))),
    W("rev.pathwise", "score-function (REINFORCE) estimator with a baseline, on detached samples",
      swap("t5_fits", ("        loss = (log_q - log_pi(x)).mean()\n",
                       "        x = x.detach()\n        log_q = torch.distributions.Normal(mu, torch.exp(log_sigma)).log_prob(x)\n"
                       "        weight = (log_q - log_pi(x)).detach()\n        loss = ((weight - weight.mean()) * log_q).mean()\n"))),
    W("rev.pathwise", "score-function estimator whose samples still carry the gradient into log_pi",
      swap("t5_fits", ("        loss = (log_q - log_pi(x)).mean()\n",
                       "        log_q = torch.distributions.Normal(mu, torch.exp(log_sigma)).log_prob(x.detach())\n"
                       "        weight = (log_q - log_pi(x)).detach()\n        loss = ((weight - weight.mean()) * log_q).mean()\n"))),
    W("rev.start", "reverse-KL fit hard-coded to the visible target's mode",
      swap("t5_fits", ("    device = get_device() if device is None", "    return 2.0, 0.6\n    device = get_device() if device is None"))),
    W("rev.start", "mu0 ignored: always 0.5", swap("t5_fits", ("torch.tensor(float(mu0)", "torch.tensor(0.5"))),
    W("rev.start", "log_sigma0 ignored: starts at sigma = 1", swap("t5_fits", ("torch.tensor(float(log_sigma0)", "torch.tensor(0.0"))),
    W("rev.sigma", "returns log sigma", swap("t5_fits", ("float(torch.exp(log_sigma.detach()))", "float(log_sigma.detach())"))),
    W("rev.adam", "plain SGD instead of Adam", swap("t5_fits", ("torch.optim.Adam([mu, log_sigma], lr=lr)", "torch.optim.SGD([mu, log_sigma], lr=lr)"))),
    W("rev.adam", "lr ignored: always 0.05", swap("t5_fits", ("torch.optim.Adam([mu, log_sigma], lr=lr)", "torch.optim.Adam([mu, log_sigma], lr=0.05)"))),
    W("rev.steps", "one step too many", swap("t5_fits", (_LOOP, "    for _ in range(num_steps + 1):\n"))),
    W("rev.steps", "one step too few", swap("t5_fits", (_LOOP, "    for _ in range(1, num_steps):\n"))),
    W("rev.fresh", "eps drawn once, before the loop", swap("t5_fits", (_LOOP + _EPS, _EPS.replace("        ", "    ", 1) + _LOOP))),
    W("rev.batch", "batch_size ignored: always 256", swap("t5_fits", ("torch.randn(batch_size, generator=gen)", "torch.randn(256, generator=gen)"))),
    W("rev.float32", "float64 parameters, so log_pi gets float64 samples",
      swap("t5_fits", ("torch.tensor(float(mu0), device", "torch.tensor(float(mu0), dtype=torch.float64, device"),
           ("torch.tensor(float(log_sigma0), device", "torch.tensor(float(log_sigma0), dtype=torch.float64, device"),
           ("torch.randn(batch_size, generator=gen)", "torch.randn(batch_size, generator=gen, dtype=torch.float64)"))),
    W("rev.seed_same", "eps from torch's global generator, never seeded", swap("t5_fits", ("torch.randn(batch_size, generator=gen)", "torch.randn(batch_size)"))),
    W("rev.seed_differs", "seed ignored: always 0", swap("t5_fits", ("torch.Generator().manual_seed(seed)", "torch.Generator().manual_seed(0)"))),
    W("rev.floats", "0-d tensors", swap("t5_fits", ("return float(mu.detach()), float(torch.exp(log_sigma.detach()))",
                                                    "return mu.detach(), torch.exp(log_sigma.detach())"))),
]
del W

# The wrong answers of an older version of this file (before the clean room), kept as they were.
OLD_WRONG = {
    "Markov count off by one: m - d + 1 conditional tables",
    "held-out log-likelihood in bits (log2) where nats are asked",
    "standard error without the square root: var / n",
    "quadrature integrates g(x) log p(x): exp forgotten",
    "KL generator in bits: u log2 u",
    "reverse KL with the stop-gradient on the sample: no pathwise gradient",
    "joint count through a float: 2**784 - 1 is not representable",
    "standard error with the wrong n: the number of entries of x, not of samples",
    "histogram expectation without the bin widths",
    "forward fit returns the variance instead of the standard deviation",
    "hard-coded for the visible input (784, 2, 1), no exact first d variables elsewhere",
    "coverage ignores z and always uses 1.96",
    "Monte-Carlo f-divergence with the density ratio inverted",
    "Hellinger with a factor 1/2",
    "reverse-KL fit hard-coded to the visible target's mode",
    "arguments swapped (model first)",  # was combined with the reverse-KL generator; each is its own case now
}

# ------------------------------------------------------------------------ different correct answers
LOOPED_COUNTS = '''
def num_params_joint(m, K):
    total = 1
    for _ in range(m):
        total *= K
    return total - 1


def num_params_independent(m, K):
    return sum(K - 1 for _ in range(m))


def num_params_markov(m, K, d):
    if d < 0 or d > m:
        raise ValueError("need 0 <= d <= m")
    return sum(K ** min(i, d) * (K - 1) for i in range(m))


def num_params_markov_mlp(layer_sizes):
    net = torch.nn.Sequential(*[torch.nn.Linear(a, b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:])])
    return int(sum(p.numel() for p in net.parameters()))
'''

LOOPED_HISTOGRAM = '''
def fit_histogram(x_train, alpha=0.0):
    rows = [tuple(int(v) for v in row) for row in np.asarray(x_train)]
    dim = len(rows[0])
    counts = {}
    for row in rows:
        k = int("".join(map(str, row)), 2)
        counts[k] = counts.get(k, 0) + 1
    return np.array([(counts.get(k, 0) + alpha) / (len(rows) + alpha * 2**dim) for k in range(2**dim)])


def histogram_log_likelihood(pi, x_test):
    total = 0.0
    for k in pattern_index(x_test):
        if pi[k] == 0:
            return -math.inf
        total += math.log(pi[k])
    return total / len(x_test)
'''

TORCH_MC = '''
def mc_estimate(f, x):
    values = torch.as_tensor(f(x), dtype=torch.float64).reshape(-1)
    return values.mean().item(), (values.std(unbiased=False) / math.sqrt(values.numel())).item()  # ddof=0


def interval_coverage(f, sample, true_value, n, num_runs, z=1.96, seed=0):
    rng = np.random.default_rng(seed)
    values = np.asarray(f(sample(n * num_runs, rng)), dtype=np.float64).reshape(num_runs, n)  # iid: one draw
    est, se = values.mean(axis=1), values.std(axis=1, ddof=1) / np.sqrt(n)
    return float(np.mean(np.abs(est - true_value) <= z * se))
'''

TORCH_LOTUS = '''
def expectation_from_x(g, x):
    return torch.as_tensor(g(x), dtype=torch.float64).mean().item()


def expectation_from_y_histogram(y, num_bins):
    y = torch.as_tensor(y, dtype=torch.float64)
    counts = torch.histc(y, bins=num_bins, min=y.min().item(), max=y.max().item())
    width = (y.max() - y.min()) / num_bins
    centres = y.min() + width * (torch.arange(num_bins, dtype=torch.float64) + 0.5)
    density = counts / (counts.sum() * width)
    return (centres * density * width).sum().item()


def expectation_by_quadrature(g, log_p, lo, hi, num_points=4001):
    x = torch.linspace(lo, hi, num_points, dtype=torch.float64)
    v = torch.as_tensor(g(x.numpy()) * np.exp(log_p(x.numpy())))
    return torch.trapezoid(v, x).item()
'''

XLOGY_FDIV = '''
def f_kl(u):
    return torch.xlogy(u, u)


def f_reverse_kl(u):
    return -torch.log(u)


def f_pearson(u):
    return u * u - 2 * u + 1


def f_hellinger(u):
    return u - 2 * torch.sqrt(u) + 1


def f_js(u):
    return 0.5 * torch.xlogy(u, u) - 0.5 * torch.xlogy(u + 1, (u + 1) / 2)


def f_gan(u):
    return torch.xlogy(u, u) - torch.xlogy(u + 1, u + 1)


F_GENERATORS = dict(kl=f_kl, reverse_kl=f_reverse_kl, pearson=f_pearson, hellinger=f_hellinger, js=f_js, gan=f_gan)


def f_divergence_discrete(f, pi, p):
    total = 0.0
    for a, b in zip(np.asarray(pi, dtype=np.float64), np.asarray(p, dtype=np.float64)):
        total += b * float(f(torch.tensor([a / b], dtype=torch.float64))[0])
    return total


def f_divergence_mc(f, log_pi, log_p, x):
    values = np.asarray(f(torch.exp(log_pi(x) - log_p(x))), dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))
'''

STL_FITS = '''
def fit_forward_kl(x):
    x = torch.as_tensor(x, dtype=torch.float64)
    return x.mean().item(), x.std().item()  # ddof=1: within 1/n of the MLE


def fit_reverse_kl(log_pi, mu0=0.5, log_sigma0=-0.7, num_steps=1000, lr=0.05, batch_size=256, seed=0, device=None):
    # "sticking the landing": log q with stopped parameters, gradient only through the sample; plain Adam
    torch.manual_seed(seed + 1)
    device = get_device() if device is None else torch.device(device)
    mu = torch.tensor(float(mu0), device=device, requires_grad=True)
    log_sigma = torch.tensor(float(log_sigma0), device=device, requires_grad=True)
    opt = torch.optim.Adam([mu, log_sigma], lr=lr)
    for _ in range(num_steps):
        q = torch.distributions.Normal(mu, log_sigma.exp())
        x = q.rsample((batch_size,))
        q_stopped = torch.distributions.Normal(mu.detach(), log_sigma.exp().detach())
        loss = (q_stopped.log_prob(x) - log_pi(x)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return mu.item(), log_sigma.exp().item()
'''

ENTROPY_FIT = '''
def fit_forward_kl(x):
    x = np.asarray(x, dtype=np.float64)
    mu = x.sum() / len(x)
    return float(mu), float(np.sqrt(((x - mu) ** 2).mean()))


def fit_reverse_kl(log_pi, mu0=0.5, log_sigma0=-0.7, num_steps=1000, lr=0.05, batch_size=256, seed=0, device=None):
    # closed-form entropy of q: KL(q || pi) = -H(q) - E_q log pi, with H(q) = log sigma + const
    device = get_device() if device is None else torch.device(device)
    gen = torch.Generator().manual_seed(seed + 777)
    theta = torch.tensor([float(mu0), float(log_sigma0)], device=device, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=lr)
    for _ in range(num_steps):
        eps = torch.randn(batch_size, generator=gen).to(device)
        loss = -theta[1] - log_pi(theta[0] + theta[1].exp() * eps).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return theta[0].item(), theta[1].exp().item()
'''

# A closed interval written out, its own binning with the last bin closed, a hand-written trapezoid.
PLAIN_NUMPY = {
    "t2_mc": swap("t2_mc", ("rng = np.random.default_rng(seed)", "rng = np.random.default_rng(seed + 2024)"),
                  (_COV, "        hits += estimate - z * std_error <= true_value <= estimate + z * std_error\n"))[1],
    "t3_lotus": swap("t3_lotus",
                     ("    density, edges = np.histogram(np.asarray(y, dtype=np.float64), bins=num_bins, density=True)\n"
                      "    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)\n    " + _YH,
                      "    y = np.asarray(y, dtype=np.float64)\n    lo, width = y.min(), (y.max() - y.min()) / num_bins\n"
                      "    index = np.minimum(((y - lo) / width).astype(int), num_bins - 1) if width > 0 else np.zeros(len(y), int)\n"
                      "    return float(np.mean(lo + width * (index + 0.5)))"),
                     (_Q, "v = g(grid) * np.exp(log_p(grid))\n"
                          "    return float((hi - lo) / (num_points - 1) * (v.sum() - (v[0] + v[-1]) / 2))"))[1],
}

CORRECT = {
    "looped_torch_stl": {"t1_counts": LOOPED_COUNTS, "t1_histogram": LOOPED_HISTOGRAM, "t2_mc": TORCH_MC,
                         "t3_lotus": TORCH_LOTUS, "t4_fdiv": XLOGY_FDIV, "t5_fits": STL_FITS},
    "other_seed_entropy": {**PLAIN_NUMPY, "t5_fits": ENTROPY_FIT},
}


# ------------------------------------------------------------------------------------- machinery


def _task(grade_id: str) -> str:
    return grade_id.split("_")[0]


def _student(replacements: dict[str, str]) -> dict:
    """The source notebook with some solution cells replaced (what a student would submit)."""
    nb = copy.deepcopy(_source_nb())
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in replacements:
            cell["source"] = replacements[gid]
    return nb


def _worker_env() -> dict[str, str]:
    """The worker's environment: this one (its DGM_DATA_DIR, see the mnist_dir fixture), one CPU thread, fast mode."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "DGM_FAST": "1", "DGM_DEVICE": "cpu", "MPLBACKEND": "Agg"}


@pytest.fixture(scope="module")
def session(mnist_dir):
    """One worker for every draw of this module (reloaded with each variant's cells)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tests' own torch work is tiny; threads only fight over 2 busy cores
    with Session(cwd=str(SOURCE.parent), env=_worker_env()) as worker:
        yield worker
    torch.set_num_threads(threads)


def _run(session: Session, replacements: dict[str, str], cells: dict[str, int]):
    """Verdicts of test cells run against the source with ``replacements``; ``cells``: grade id -> draws."""
    plan = notebook.plan(_source_nb(), _student(replacements))
    by_id = {t.id: t for t in plan["tests"]}
    tests = [by_id[gid] for gid, draws in cells.items() for _ in range(draws)]
    verdicts = run_tests(session, plan["harness"], [], tests, plan["contract"], worker_cells=plan["worker_cells"],
                         cell_timeout_s=120)
    assert not session.load_errors, f"the variant did not load cleanly: {session.load_errors}"
    return verdicts


def _wrong_id(w: Wrong) -> str:
    return f"{w.clause}:{w.description[:40]}"


# ----------------------------------------------------------------------------------------- tests


def test_every_clause_has_a_test_and_a_wrong_answer():
    """Does every clause name a test cell of the source, and have at least one wrong answer?"""
    cells = set(_cells())
    for clause in CLAUSES:
        assert clause.test in cells and clause.test.endswith("hidden"), f"{clause.key}: no hidden test cell {clause.test}"
        assert not clause.visible or clause.visible in cells, f"{clause.key}: no visible test cell {clause.visible}"
    assert len(CLAUSE) == len(CLAUSES), "two clauses share a key"
    covered = {w.clause for w in WRONG}
    assert covered <= set(CLAUSE), f"wrong answers for unknown clauses: {sorted(covered - set(CLAUSE))}"
    assert not set(CLAUSE) - covered, f"clauses without a wrong answer: {sorted(set(CLAUSE) - covered)}"
    new = [w for w in WRONG if w.description not in OLD_WRONG]
    assert len(new) >= len(CLAUSES), f"{len(new)} new wrong answers for {len(CLAUSES)} clauses"
    assert len({(w.cell, w.code) for w in WRONG}) == len(WRONG), "two wrong answers are the same code"


def test_each_test_cell_calls_only_its_own_tasks_functions():
    """Can a wrong answer for one task cost points in another? Only if a test cell used another task's names."""
    plan = notebook.plan(_source_nb(), _source_nb())
    solutions = notebook.solution_cells(_source_nb())
    owner = {name: _task(gid) for gid, cell in solutions.items() for name in defined_names([cell])}
    for test in plan["tests"]:
        used = {n.id for n in ast.walk(ast.parse(test.source)) if isinstance(n, ast.Name)}
        foreign = {name for name in used if name in owner and owner[name] != _task(test.id)}
        assert not foreign, f"{test.id} uses {sorted(foreign)} of another task"


@pytest.mark.parametrize("wrong", WRONG, ids=_wrong_id)
def test_wrong_answer_fails_its_clauses_test_on_every_draw(session, wrong):
    """Does each wrong answer fail the test cell of the clause it breaks, on every fresh draw?"""
    solutions = notebook.solution_cells(_source_nb())
    others = {n for gid, cell in solutions.items() if gid != wrong.cell for n in defined_names([cell])}
    harness = set(defined_names(notebook.harness_cells(_source_nb())))
    stray = set(defined_names([Cell(wrong.cell, wrong.code)])) & (others | harness)
    assert not stray, f"{wrong.description}: the variant redefines {sorted(stray)} of other cells"
    test = CLAUSE[wrong.clause].test
    verdicts = _run(session, {wrong.cell: wrong.code}, {test: DRAWS})
    passed = [v for v in verdicts if v.passed]
    assert not passed, f"{wrong.description}: passed {test} on {len(passed)} of {DRAWS} fresh draws"


@pytest.mark.parametrize("variant", ["reference", *sorted(CORRECT)])
def test_correct_answers_pass_every_test_of_their_tasks_on_every_draw(session, variant):
    """Do the reference and different correct answers (loops, torch, ddof, seeds, estimators) keep full marks?"""
    replacements = CORRECT.get(variant, {})
    tasks = {_task(gid) for gid in (replacements or notebook.solution_cells(_source_nb()))}
    draws = DRAWS if replacements else REFERENCE_DRAWS
    cells = {c.id: (draws if c.id.endswith("hidden") else 1)
             for c in notebook.test_cells(_source_nb()) if _task(c.id) in tasks}
    failed = [v for v in _run(session, replacements, cells) if not v.passed]
    assert not failed, (f"{variant}: {len(failed)} failed cells, e.g. {failed[0].cell}: {failed[0].message}"
                        if failed else "")


GROUP = [w for w in WRONG if w.description in {
    "Markov count in float arithmetic",
    "a float32 table",
    "an open interval",
    "Simpson's rule",
    "GAN generator as 2 f_JS - ln 4 (right at u = 1 only)",
    "eps drawn once, before the loop",
}]


@pytest.mark.slow
def test_group_of_wrong_answers_loses_exactly_their_cells(mnist_dir):
    """Through course_tools.variants: do six wrong answers (one per solution cell) lose exactly their cells?"""
    assert len({w.cell for w in GROUP}) == len(GROUP) == 6
    scores = grade_variant(SOURCE, {w.cell: w.code for w in GROUP}, env=_worker_env(), timeout=120)
    lost = {gid for gid, (points, max_points) in scores.items() if points < max_points}
    expected = {CLAUSE[w.clause].test for w in GROUP}
    assert lost == expected, f"expected exactly {sorted(expected)} to lose points, got {sorted(lost)}; errors: {scores.errors}"
    assert all(p == 0 for gid, (p, _) in scores.items() if gid in lost), f"partial points: {dict(scores)}"
    assert {t: m - p for t, (p, m) in points_by_task(scores).items()} == {"t1": 5.0, "t2": 2.0, "t3": 3.0, "t4": 2.0, "t5": 3.0}


@pytest.mark.slow
def test_release_stubs_get_no_points(mnist_dir):
    """Do the released stubs, graded by the source's tests through course_tools.variants, score 0 of 29?

    (The source itself scores 29/29: the reference case of the draws test above runs every cell.)
    """
    if not RELEASE.is_file():
        pytest.skip(f"no release at {RELEASE} (nbgrader generate_assignment hw1_foundations)")
    release = {gid: cell.source for gid, cell in notebook.solution_cells(notebook.read(RELEASE)).items()}
    assert release.keys() == set(notebook.solution_cells(_source_nb()))
    scores = grade_variant(SOURCE, release, env=_worker_env(), timeout=120)
    assert scores.total == (0.0, 29.0), f"the release stubs scored {scores.total}: {dict(scores)}"


# ------------------------------------------------------------------------------------ the table


def clause_table_markdown() -> str:
    """docs/hw1_clauses.md, from CLAUSES and WRONG."""
    lines = [
        "# hw1_foundations: every clause of every graded docstring, its test, and answers that break it",
        "",
        "Generated from `tests/hw1/test_hw1_grading.py` (`CLAUSES`, `WRONG`) by "
        "`.venv/bin/python tests/hw1/test_hw1_grading.py`; a test checks that this file is current.",
        "",
        "Each clause is enforced by the hidden test cell named, on every grading run: the cell checks it on fixed",
        "adversarial inputs and on fresh random ones. The tests run in the clean room (`dgm_utils.cleanroom`): the",
        "solution cells in a process of their own, the test cells in the grader. Every wrong answer below breaks",
        f"only its clause, and `tests/hw1/test_hw1_grading.py` checks that it fails that cell on each of {DRAWS} fresh",
        "draws (and that the correct alternatives there pass every cell of their tasks on as many draws). A visible",
        "test that also reaches a clause is named in brackets.",
        "",
        f"{len(CLAUSES)} clauses, {len(WRONG)} wrong answers "
        f"({len([w for w in WRONG if w.description not in OLD_WRONG])} of them new with the clean room).",
        "",
        "| function | clause | test | wrong answers (each breaks only this clause) |",
        "|---|---|---|---|",
    ]
    by_clause: dict[str, list[str]] = {}
    for w in WRONG:
        by_clause.setdefault(w.clause, []).append(w.description)
    for c in CLAUSES:
        test = f"`{c.test}`" + (f" (`{c.visible}`)" if c.visible else "")
        wrongs = "; ".join(by_clause.get(c.key, [])).replace("|", "\\|")
        lines.append(f"| `{c.function}` | {c.text.replace('|', chr(92) + '|')} | {test} | {wrongs} |")
    lines += ["", "Checked only on the records of `lib.value_probe`, which the student's process reports (advisory: "
              "forged records would pass them): " + ", ".join(f"`{key}`" for key in ADVISORY) + ". `rev.pathwise` is "
              "checked on the records too, and on returned values by the decoy log-density; every other check of "
              "`t5_reverse_hidden` uses returned values only.", "", "Not enforced:", ""]
    lines += [f"* {what}: {why}." for what, why in UNTESTED.items()]
    return "\n".join(lines) + "\n"


def test_clause_doc_is_current():
    """Is docs/hw1_clauses.md the table of this file?"""
    assert DOC.is_file() and DOC.read_text(encoding="utf-8") == clause_table_markdown(), (
        "docs/hw1_clauses.md is out of date: run .venv/bin/python tests/hw1/test_hw1_grading.py")


if __name__ == "__main__":
    DOC.write_text(clause_table_markdown(), encoding="utf-8")
    print(f"wrote {DOC.relative_to(REPO)}: {len(CLAUSES)} clauses, {len(WRONG)} wrong answers")
