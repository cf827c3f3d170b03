"""Does hw2's grading give points for the right things, and take them for the right mistakes?

Each test executes the nbgrader *source* notebook in grading mode (``NBGRADER_EXECUTION=autograde``)
with some solution cells swapped for another answer (``course_tools.variants``), next to the
committed reference checkpoints under the file names a student submits, and reads the points of
every test cell. One nbgrader round trip (generate, submit, autograde) checks that the real tool
agrees: the solution with its checkpoints gets full marks, the release gets zero.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from course_tools.variants import grade_variant

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIR = REPO / "solutions" / "hw2_autoregressive"
NOTEBOOK = SOURCE_DIR / "hw2_autoregressive.ipynb"
REFERENCE = SOURCE_DIR / "reference"
CHECKPOINTS = ("markov_mlp_state.bin", "rnn_state.bin")  # the names the notebook loads when graded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _solution_source(grade_id: str) -> str:
    for cell in json.loads(NOTEBOOK.read_text())["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            return "".join(cell["source"])
    raise KeyError(grade_id)


def _edit(grade_id: str, *pairs: tuple[str, str]) -> str:
    """The solution cell ``grade_id`` with each ``old`` replaced by ``new`` (``old`` must be there)."""
    source = _solution_source(grade_id)
    for old, new in pairs:
        assert old in source, f"{grade_id} no longer contains {old!r}: update this variant"
        source = source.replace(old, new)
    return source


def _grade(tmp_path: Path, replacements: dict[str, str], *, checkpoints: bool = True):
    work = tmp_path / "hw2_autoregressive"
    work.mkdir()
    shutil.copy(NOTEBOOK, work)
    if checkpoints:
        for name in CHECKPOINTS:
            shutil.copy(REFERENCE / name, work / name)
    return grade_variant(NOTEBOOK, replacements, workdir=work, env={"DGM_FAST": "1"})


def _lost(scores) -> dict[str, str]:
    return {gid: scores.errors.get(gid, "") for gid, (p, m) in scores.items() if p < m}


@pytest.fixture(autouse=True)
def _needs_data_and_checkpoints(mnist_dir):
    for name in CHECKPOINTS:
        assert (REFERENCE / name).is_file(), f"reference checkpoint {REFERENCE / name} is missing (make hw2-reference)"


# ---------------------------------------------------------------------------- right answers


def test_solution_with_reference_checkpoints_gets_full_marks(tmp_path):
    """Does the solution, graded with the reference checkpoints, pass every test cell?"""
    scores = _grade(tmp_path, {})
    assert not _lost(scores), f"the solution lost points: {_lost(scores)}"
    assert scores.total[1] == 22, f"expected 22 points in all, the notebook has {scores.total[1]}"


ALTERNATIVES = {
    "t1_data_sol": (
        "def load_binarized_mnist(split):\n"
        "    grey = load_mnist(split, binarize=None).float() / 255.0\n"
        "    return (grey > 0.5).float().reshape(len(grey), 28 * 28)\n"
        "x_train = load_binarized_mnist('train')\nx_test = load_binarized_mnist('test')\n"
        "x_curve = x_test[:200]\n"
    ),
    "t1_nll_sol": (
        "def bernoulli_nll(logits, x):\n"
        "    return (F.softplus(logits) - x * logits).sum() / x.numel()\n"
    ),
}


def _alternative_mlp() -> str:
    # Windows stacked from d shifted copies (a loop over the context, not over pixels);
    # sampling with torch.rand < p instead of torch.bernoulli.
    return _edit(
        "t2_mlp_sol",
        ("        windows = padded.unfold(1, self.context, 1)[:, :NUM_PIXELS]  # (B, 784, d): x_{i-d..i-1}\n",
         "        windows = torch.stack([padded[:, k:k + NUM_PIXELS] for k in range(self.context)], dim=-1)\n"),
        ("padded[:, self.context + i] = torch.bernoulli(p)",
         "padded[:, self.context + i] = (torch.rand(p.shape, device=p.device) < p).float()"),
    )


def _alternative_rnn() -> str:
    # log_prob through torch.distributions; the same LSTM weights.
    return _edit(
        "t3_rnn_sol",
        ("        return -F.binary_cross_entropy_with_logits(self.conditional_logits(x), x, reduction=\"none\").sum(dim=1)",
         "        return torch.distributions.Bernoulli(logits=self.conditional_logits(x)).log_prob(x).sum(-1)"),
    )


def test_alternative_correct_answers_get_full_marks(tmp_path):
    """Do other correct implementations (stacked windows, softplus NLL, distributions.Bernoulli) get full marks?"""
    replacements = {
        **ALTERNATIVES,
        "t2_mlp_sol": _alternative_mlp(),
        "t3_rnn_sol": _alternative_rnn(),
        "t4_completion_sol": (
            "def complete_bottom_half(model, x):\n"
            "    flat = x.reshape(len(x), -1)\n"
            "    return model.sample(len(x), prefix=flat[:, :392]).cpu().float().reshape(-1, 1, 28, 28)\n"
        ),
        "t5_table_sol": (
            "def comparison_table(nll_nats_per_dim):\n"
            "    return {k: {'nats/image': v * 28 * 28, 'bits/dim': v / math.log(2), 'nats/dim': v}\n"
            "            for k, v in nll_nats_per_dim.items()}\n"
        ),
    }
    scores = _grade(tmp_path, replacements)
    assert not _lost(scores), f"correct alternatives lost points: {_lost(scores)}"


# ---------------------------------------------------------------------------- wrong answers


def test_bits_noncausal_mask_and_model_free_rnn_sampler_lose_on_their_tasks(tmp_path):
    """Do NLL in bits (1b), a window that includes x_i (2) and an RNN sampler ignoring the model (3) lose exactly there?"""
    replacements = {
        "t1_nll_sol": _edit("t1_nll_sol", ('reduction="mean")', 'reduction="mean") / math.log(2)')),
        # The window of pixel i is x_{i-d+1..i}: it contains x_i, so the model is not causal.
        "t2_mlp_sol": _edit("t2_mlp_sol", ("padded.unfold(1, self.context, 1)[:, :NUM_PIXELS]",
                                           "padded.unfold(1, self.context, 1)[:, 1:NUM_PIXELS + 1]")),
        "t3_rnn_sol": _edit("t3_rnn_sol", (
            "x[:, i] = torch.bernoulli(torch.sigmoid(self.head(out[:, -1]).squeeze(-1)))",
            "x[:, i] = torch.bernoulli(torch.full_like(x[:, i], 0.2))")),
    }
    scores = _grade(tmp_path, replacements)
    lost = _lost(scores)
    assert set(lost) == {"t1_nll", "t2_mlp_contract", "t2_mlp_nll", "t3_rnn_sample"}, f"lost: {lost}"
    assert "bits would give" in lost["t1_nll"]
    assert "not causal" in lost["t2_mlp_nll"], lost["t2_mlp_nll"]
    assert "zeroed" in lost["t3_rnn_sample"], lost["t3_rnn_sample"]


def test_sum_instead_of_mean_and_model_free_mlp_sampler_lose_on_their_tasks(tmp_path):
    """Do a summed NLL (1b), an MLP sampler ignoring the model (2) and a missing x784 (5) lose exactly there?"""
    replacements = {
        "t1_nll_sol": _edit("t1_nll_sol", ('reduction="mean")', 'reduction="sum")')),
        "t2_mlp_sol": _edit("t2_mlp_sol", ("padded[:, self.context + i] = torch.bernoulli(p)",
                                           "padded[:, self.context + i] = torch.bernoulli(torch.full_like(p, 0.2))")),
        "t5_table_sol": _edit("t5_table_sol", ('"nats/image": nats_per_image(nll)', '"nats/image": nll')),
    }
    scores = _grade(tmp_path, replacements)
    lost = _lost(scores)
    assert set(lost) == {"t1_nll", "t2_mlp_sample", "t5_table"}, f"lost: {lost}"
    assert "a sum" in lost["t1_nll"]


def test_missing_checkpoints_fail_only_the_nll_tests_and_say_what_to_submit(tmp_path):
    """Without the .bin files, are only the two NLL tests failed, with a message naming the file to submit?"""
    scores = _grade(tmp_path, {}, checkpoints=False)
    lost = _lost(scores)
    assert set(lost) == {"t2_mlp_nll", "t3_rnn_nll"}, f"lost: {lost}"
    assert "submit markov_mlp_state.bin" in lost["t2_mlp_nll"], lost["t2_mlp_nll"]
    assert "submit rnn_state.bin" in lost["t3_rnn_nll"], lost["t3_rnn_nll"]
