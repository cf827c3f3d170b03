"""Do hw1_foundations' hidden tests separate right from wrong answers, task by task?

Each case executes the nbgrader source notebook with some solution cells swapped for a plausible
student answer (course_tools.variants) and checks exactly which test cells lose their points:

* wrong answers lose points on their own task's cells and nowhere else (several wrong answers for
  different tasks share one notebook run, since the tasks are independent);
* different correct answers (looped, torch instead of numpy, ddof=0, another seed, another
  gradient estimator) keep full marks.

Hidden tests draw fresh inputs on every run, so each run here is also a new random trial.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from course_tools.variants import grade_variant, points_by_task

SOURCE = Path(__file__).resolve().parents[2] / "solutions" / "hw1_foundations" / "hw1_foundations.ipynb"
MNIST = Path("/work/shared/data/mnist")


@functools.cache
def _cells() -> dict[str, str]:
    """grade_id -> source of every code cell of the source notebook (read once)."""
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"])
            for c in json.loads(SOURCE.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"}


def reference_source(grade_id: str) -> str:
    """The reference code of one solution cell of the source notebook."""
    return _cells()[grade_id]


def swap(grade_id: str, *edits: tuple[str, str]) -> tuple[str, str]:
    """(grade_id, reference code with each (old, new) edit applied once); a stale `old` is an error."""
    code = reference_source(grade_id)
    for old, new in edits:
        assert code.count(old) == 1, f"{grade_id}: expected {old!r} once in the reference, found {code.count(old)}"
        code = code.replace(old, new)
    return grade_id, code


def _kernel_env() -> dict[str, str]:
    env = {"DGM_FAST": "1"}
    if MNIST.is_dir():
        env["DGM_DATA_DIR"] = str(MNIST)
    return env


# ------------------------------------------------------------------------- plausible wrong answers
# Each entry: (description, (grade_id, code), test cells that must lose their points).
WRONG = {
    "A": [
        ("Markov count off by one: m - d + 1 conditional tables",
         swap("t1_counts", ("(m - d) * K**d", "(m - d + 1) * K**d")), {"t1_counts_visible", "t1_counts_hidden"}),
        ("held-out log-likelihood in bits (log2) where nats are asked",
         swap("t1_histogram", ("np.log(probs)", "np.log2(probs)")), {"t1_hist_visible", "t1_hist_hidden"}),
        ("standard error without the square root: var / n",
         swap("t2_mc", ("values.std(ddof=1) / math.sqrt(n)", "values.var(ddof=1) / n")),
         {"t2_mc_visible", "t2_mc_hidden", "t2_coverage_hidden"}),
        ("quadrature integrates g(x) log p(x): exp forgotten",
         swap("t3_lotus", ("g(grid) * np.exp(log_p(grid))", "g(grid) * log_p(grid)")), {"t3_visible", "t3_hidden"}),
        ("KL generator in bits: u log2 u",
         swap("t4_fdiv", ("return u * torch.log(u)\n", "return u * torch.log2(u)\n")),
         {"t4_visible", "t4_generators_hidden"}),
        ("reverse KL with the stop-gradient on the sample: no pathwise gradient",
         swap("t5_fits", ("x = mu + torch.exp(log_sigma) * eps ", "x = (mu + torch.exp(log_sigma) * eps).detach() "),
              ("log_q = -0.5 * eps**2 - log_sigma - 0.5 * math.log(2 * math.pi)",
               "log_q = torch.distributions.Normal(mu, torch.exp(log_sigma)).log_prob(x)")),
         {"t5_visible", "t5_reverse_hidden"}),
    ],
    "B": [
        ("joint count through a float: 2**784 - 1 is not representable",
         swap("t1_counts", ("return K**m - 1", "return int(float(K) ** m - 1)")),
         {"t1_counts_visible", "t1_counts_hidden"}),
        ("standard error with the wrong n: the number of entries of x, not of samples",
         swap("t2_mc", ("n = len(values)", "n = np.size(x)")), {"t2_mc_hidden"}),
        ("histogram expectation without the bin widths",
         swap("t3_lotus", ("np.sum(centres * density * widths)", "np.sum(centres * density)")), {"t3_hidden"}),
        # The two swaps cancel on KL (sum pi * -log(p/pi) = KL(pi || p)), so the visible test passes:
        # only the hidden tests, which check each function alone, catch them.
        ("f-divergence with its arguments swapped (model first), and the KL generator of the other direction",
         swap("t4_fdiv", ("(p * f(pi / p)).sum()", "(pi * f(p / pi)).sum()"),
              ("return u * torch.log(u)\n", "return -torch.log(u)\n")),
         {"t4_discrete_hidden", "t4_generators_hidden"}),
        ("forward fit returns the variance instead of the standard deviation",
         swap("t5_fits", ("float(x.std())", "float(x.var())")), {"t5_visible", "t5_forward_hidden"}),
    ],
    "C": [
        ("hard-coded Markov count for the visible input (784, 2, 1), no exact first d variables elsewhere",
         swap("t1_counts", ("return K**d - 1 + (m - d) * K**d * (K - 1)",
                            "if (m, K, d) == (784, 2, 1):\n        return 1567\n    return m * K**d * (K - 1)")),
         {"t1_counts_hidden"}),
        ("coverage ignores z and always uses 1.96",
         swap("t2_mc", ("<= z * std_error", "<= 1.96 * std_error")), {"t2_coverage_hidden"}),
        ("Monte-Carlo f-divergence with the density ratio inverted; Hellinger with a factor 1/2",
         swap("t4_fdiv", ("torch.exp(log_pi(x) - log_p(x))", "torch.exp(log_p(x) - log_pi(x))"),
              ("return (torch.sqrt(u) - 1) ** 2", "return 0.5 * (torch.sqrt(u) - 1) ** 2")),
         {"t4_mc_hidden", "t4_generators_hidden"}),
        ("reverse-KL fit hard-coded to the visible target's mode",
         ("t5_fits", reference_source("t5_fits").replace(
             "    device = get_device() if device is None", "    return 2.0, 0.6\n    device = get_device() if device is None")),
         {"t5_reverse_hidden"}),
    ],
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
    if num_points % 2 == 0:
        num_points += 1
    x = np.linspace(lo, hi, num_points)
    h = x[1] - x[0]
    v = g(x) * np.exp(log_p(x))
    return float(h / 3 * (v[0] + v[-1] + 4 * v[1:-1:2].sum() + 2 * v[2:-1:2].sum()))  # Simpson
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

OTHER_SEED_COVERAGE = swap("t2_mc", ("rng = np.random.default_rng(seed)", "rng = np.random.default_rng(seed + 2024)"))

CORRECT = {
    "looped_torch_stl": {"t1_counts": LOOPED_COUNTS, "t1_histogram": LOOPED_HISTOGRAM, "t2_mc": TORCH_MC,
                         "t3_lotus": TORCH_LOTUS, "t4_fdiv": XLOGY_FDIV, "t5_fits": STL_FITS},
    "other_seed_entropy": {OTHER_SEED_COVERAGE[0]: OTHER_SEED_COVERAGE[1], "t5_fits": ENTROPY_FIT},
}


def _grade(replacements: dict[str, str]):
    return grade_variant(SOURCE, replacements, env=_kernel_env(), timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(WRONG))
def test_wrong_answers_lose_points_on_their_task_only(group):
    """Does each plausible wrong answer lose points on its own task's cells, and nowhere else?"""
    cases = WRONG[group]
    replacements: dict[str, str] = {}
    for _, (grade_id, code), _ in cases:
        assert grade_id not in replacements, f"group {group}: two wrong answers for the same cell {grade_id}"
        replacements[grade_id] = code
    scores = _grade(replacements)
    lost = {gid for gid, (points, max_points) in scores.items() if points < max_points}
    expected = set().union(*(cells for _, _, cells in cases))
    for description, _, cells in cases:
        assert cells <= lost, f"{description}: expected {sorted(cells)} to lose points, only {sorted(lost)} did"
        assert len({c.split("_")[0] for c in cells}) == 1, f"{description}: a case must stay within one task"
    assert lost == expected, (
        f"group {group}: expected exactly {sorted(expected)} to lose points, got {sorted(lost)}; "
        f"errors: {scores.errors}")
    untouched = {c.split("_")[0] for c in scores} - {c.split("_")[0] for c in expected}
    by_task = points_by_task(scores)
    for task in untouched:
        assert by_task[task][0] == by_task[task][1], f"task {task} has no wrong answer but lost points: {scores.errors}"


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(CORRECT))
def test_other_correct_answers_get_full_marks(variant):
    """Do different correct implementations (loops, torch, ddof, seeds, estimators) get full marks?"""
    scores = _grade(CORRECT[variant])
    assert scores.total[0] == scores.total[1] == 29.0, (
        f"{variant}: expected 29/29 autograded points, got {scores.total}; errors: {scores.errors}")


# ------------------------------------------------------------------- many fresh draws of the hidden tests
# Hidden tests draw fresh inputs at every grading, so one notebook run above is one trial. Here each
# hidden cell runs many times in-process (the source notebook's cells executed into one namespace) to
# bound the chance that a wrong answer passes by luck, or that a right one fails by luck.
# (With 40 draws, a hidden test that lets a wrong answer through 7 % of the time is caught with
# probability 1 - 0.93**40 = 95 %.)
SOLUTION_CELLS = ("t1_counts", "t1_pattern_index", "t1_histogram", "t2_mc", "t3_lotus", "t4_fdiv", "t5_fits")
DRAWS = {"t5_reverse_hidden": 40, "t2_coverage_hidden": 40}  # slower cells
DEFAULT_DRAWS = 100


def _hidden_outcomes(replacements: dict[str, str], hidden: str, draws: int, monkeypatch) -> list[str]:
    """Run the hidden cell ``hidden`` ``draws`` times against the solution cells (some replaced); the failures."""
    import contextlib
    import io

    import matplotlib

    matplotlib.use("Agg")
    for key, value in _kernel_env().items():
        monkeypatch.setenv(key, value)
    cells = _cells()
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(cells["setup"], namespace)  # noqa: S102
        for gid in SOLUTION_CELLS:
            exec(replacements.get(gid, cells[gid]), namespace)  # noqa: S102
    failures = []
    for _ in range(draws):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(cells[hidden], dict(namespace))  # noqa: S102
        except Exception as err:  # noqa: BLE001 - any error loses the cell's points under nbgrader
            failures.append(f"{type(err).__name__}: {err}")
    return failures


WRONG_HIDDEN = [(description, grade_id, code, hidden) for cases in WRONG.values()
                for description, (grade_id, code), cells in cases for hidden in sorted(cells) if hidden.endswith("hidden")]


@pytest.mark.parametrize(("description", "grade_id", "code", "hidden"), WRONG_HIDDEN,
                         ids=[f"{h}:{d[:40]}" for d, _, _, h in WRONG_HIDDEN])
def test_wrong_answers_fail_their_hidden_test_on_every_draw(description, grade_id, code, hidden, monkeypatch):
    """Does each wrong answer fail its hidden test on every fresh draw, not only on most?"""
    draws = DRAWS.get(hidden, DEFAULT_DRAWS)
    failures = _hidden_outcomes({grade_id: code}, hidden, draws, monkeypatch)
    assert len(failures) == draws, f"{description}: passed {hidden} on {draws - len(failures)} of {draws} fresh draws"


CORRECT_HIDDEN = [(variant, hidden) for variant, replacements in sorted(CORRECT.items())
                  for hidden in sorted(_cells()) if hidden and hidden.endswith("hidden")
                  and hidden.split("_")[0] in {gid.split("_")[0] for gid in replacements}]


@pytest.mark.parametrize(("variant", "hidden"), CORRECT_HIDDEN, ids=[f"{v}:{h}" for v, h in CORRECT_HIDDEN])
def test_correct_answers_pass_their_hidden_tests_on_every_draw(variant, hidden, monkeypatch):
    """Does each correct alternative (and the reference) pass the hidden tests of its tasks on every fresh draw?"""
    draws = DRAWS.get(hidden, DEFAULT_DRAWS)
    failures = _hidden_outcomes(CORRECT[variant], hidden, draws, monkeypatch)
    assert not failures, f"{variant}: failed {hidden} on {len(failures)} of {draws} draws, e.g. {failures[0]}"
