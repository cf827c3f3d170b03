"""Does hw2's grading give points for the right things, and take them for the right mistakes?

Each test grades the nbgrader *source* notebook's test cells (visible and hidden) against a copy
whose solution cells are swapped for another answer (``course_tools.variants.grade_variant``), next
to the committed reference checkpoints under the file names a student submits, and reads the points
of every test cell. The wrong answers below are the ones a hidden corpus of 27 plausible answers
showed the earlier tests misjudged (samplers that do not draw from the model's own conditionals,
completions that ignore the top half, a model that leaks on large batches only, a model that has
memorised test images); each now loses exactly its task's points. One nbgrader round trip
(tests/hw2/test_release.py) checks that the real tool agrees.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from course_tools.collect import load_spec
from course_tools.variants import grade_variant
from hw2_variants import (GREEDY_COMPLETION, MODEL_FREE_COMPLETION, PASTED_COMPLETION, edit, mlp_feeds_probabilities,
                          mlp_leaks_on_large_batches, mlp_pastes_prefix, mlp_window_off_by_one, rnn_drops_state,
                          rnn_feeds_probabilities, rnn_looks_up_test_images, rnn_pastes_prefix)

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIR = REPO / "solutions" / "hw2_autoregressive"
NOTEBOOK = SOURCE_DIR / "hw2_autoregressive.ipynb"
REFERENCE = SOURCE_DIR / "reference"
CHECKPOINTS = load_spec(REPO, "hw2_autoregressive").files  # the names the notebook loads when graded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _grade(tmp_path: Path, replacements: dict[str, str], *, checkpoints: bool = True,
           submitted: dict[str, Path] | None = None):
    """Grade the variant beside the reference checkpoints (or none); ``submitted`` replaces some of them."""
    work = tmp_path / "hw2_autoregressive"
    work.mkdir()
    shutil.copy(NOTEBOOK, work)
    if checkpoints:
        for name in CHECKPOINTS:
            shutil.copy((submitted or {}).get(name, REFERENCE / name), work / name)
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
    ),
    "t1_nll_sol": (
        "def bernoulli_nll(logits, x):\n"
        "    return (F.softplus(logits) - x * logits).sum() / x.numel()\n"
    ),
}


def _alternative_mlp() -> str:
    # Windows stacked from d shifted copies (a loop over the context, not over pixels);
    # sampling with torch.rand < p instead of torch.bernoulli.
    return edit(
        "t2_mlp_sol",
        ("        windows = padded.unfold(1, self.context, 1)[:, :NUM_PIXELS]  # (B, 784, d): x_{i-d..i-1}\n",
         "        windows = torch.stack([padded[:, k:k + NUM_PIXELS] for k in range(self.context)], dim=-1)\n"),
        ("padded[:, self.context + i] = torch.bernoulli(p)",
         "padded[:, self.context + i] = (torch.rand(p.shape, device=p.device) < p).float()"),
    )


def _alternative_rnn() -> str:
    # log_prob through torch.distributions; the same LSTM weights.
    return edit(
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
    """Do NLL in bits (1b), a window that includes x_i (2) and an RNN sampler ignoring the model (3) lose only in their tasks?"""
    replacements = {
        "t1_nll_sol": edit("t1_nll_sol", ('reduction="mean")', 'reduction="mean") / math.log(2)')),
        # The window of pixel i is x_{i-d+1..i}: it contains x_i, so the model is not causal.
        "t2_mlp_sol": edit("t2_mlp_sol", ("padded.unfold(1, self.context, 1)[:, :NUM_PIXELS]",
                                           "padded.unfold(1, self.context, 1)[:, 1:NUM_PIXELS + 1]")),
        "t3_rnn_sol": edit("t3_rnn_sol", (
            "x[:, i] = torch.bernoulli(torch.sigmoid(self.head(out[:, -1]).squeeze(-1)))",
            "x[:, i] = torch.bernoulli(torch.full_like(x[:, i], 0.2))")),
    }
    scores = _grade(tmp_path, replacements)
    lost = _lost(scores)
    # The leaky window costs the sampler test too: samples are judged against conditional_logits, which
    # then defines no conditionals (the message says so).
    assert set(lost) == {"t1_nll", "t2_mlp_contract", "t2_mlp_sample", "t2_mlp_nll", "t3_rnn_sample"}, f"lost: {lost}"
    assert "bits would give" in lost["t1_nll"]
    assert "not causal" in lost["t2_mlp_nll"] and "not causal" in lost["t2_mlp_sample"], lost
    assert "own conditionals" in lost["t3_rnn_sample"], lost["t3_rnn_sample"]


def test_sum_instead_of_mean_and_model_free_mlp_sampler_lose_on_their_tasks(tmp_path):
    """Do a summed NLL (1b), an MLP sampler ignoring the model (2) and a missing x784 (5) lose exactly there?"""
    replacements = {
        "t1_nll_sol": edit("t1_nll_sol", ('reduction="mean")', 'reduction="sum")')),
        "t2_mlp_sol": edit("t2_mlp_sol", ("padded[:, self.context + i] = torch.bernoulli(p)",
                                           "padded[:, self.context + i] = torch.bernoulli(torch.full_like(p, 0.2))")),
        "t5_table_sol": edit("t5_table_sol", ('"nats/image": nats_per_image(nll)', '"nats/image": nll')),
    }
    scores = _grade(tmp_path, replacements)
    lost = _lost(scores)
    assert set(lost) == {"t1_nll", "t2_mlp_sample", "t5_table"}, f"lost: {lost}"
    assert "a sum" in lost["t1_nll"]


def test_missing_checkpoints_fail_the_tests_of_the_trained_models_and_say_what_to_submit(tmp_path):
    """Without the .bin files, are only the NLL and sampler tests failed, each naming the file to submit?

    The sampler tests check sampling on the trained model: on an untrained one, whose conditionals
    hardly depend on the context, the wrong samplers below pass (tests/hw2/test_reference_checks.py).
    """
    scores = _grade(tmp_path, {}, checkpoints=False)
    lost = _lost(scores)
    assert set(lost) == {"t2_mlp_sample", "t2_mlp_nll", "t3_rnn_sample", "t3_rnn_nll"}, f"lost: {lost}"
    for gid in ("t2_mlp_sample", "t2_mlp_nll"):
        assert f"submit {CHECKPOINTS[0]}" in lost[gid], lost[gid]
    for gid in ("t3_rnn_sample", "t3_rnn_nll"):
        assert f"submit {CHECKPOINTS[1]}" in lost[gid], lost[gid]


# ---------------------------------------------------------------------------- misjudged before


@pytest.mark.parametrize("mlp, rnn, completion", [
    (mlp_window_off_by_one, rnn_drops_state, GREEDY_COMPLETION),
    (mlp_feeds_probabilities, rnn_feeds_probabilities, PASTED_COMPLETION),
    (mlp_pastes_prefix, rnn_pastes_prefix, MODEL_FREE_COMPLETION),
], ids=["window-state-greedy", "probabilities-pasted", "pasted-prefix-model-free"])
def test_samplers_and_completions_that_ignore_the_models_conditionals_lose_on_their_tasks(tmp_path, mlp, rnn, completion):
    """Does each sampler that does not draw from its model's conditionals, and each such completion, lose its task?"""
    scores = _grade(tmp_path, {"t2_mlp_sol": mlp(), "t3_rnn_sol": rnn(), "t4_completion_sol": completion})
    lost = _lost(scores)
    assert set(lost) == {"t2_mlp_sample", "t3_rnn_sample", "t4_completion"}, f"lost: {lost}"
    for gid in ("t2_mlp_sample", "t3_rnn_sample"):
        assert "own conditionals" in lost[gid], lost[gid]
    assert "does not follow" in lost["t4_completion"] or "same completion" in lost["t4_completion"], lost["t4_completion"]


def test_a_leak_on_large_batches_and_a_model_that_memorised_the_test_set_get_no_nll_points(tmp_path):
    """Do a Markov MLP that leaks on large batches only, and an LSTM that looks up test images, lose their NLL points?

    (A fine-tune of the reference LSTM on the images it is scored on is flagged too:
    tests/hw2/test_reference_checks.py.)
    """
    scores = _grade(tmp_path, {"t2_mlp_sol": mlp_leaks_on_large_batches(), "t3_rnn_sol": rnn_looks_up_test_images()})
    lost = _lost(scores)
    assert set(lost) == {"t2_mlp_nll", "t3_rnn_nll"}, f"lost: {lost}"
    assert "not causal" in lost["t2_mlp_nll"], lost["t2_mlp_nll"]
    assert "TA" in lost["t3_rnn_nll"] and "test images" in lost["t3_rnn_nll"], lost["t3_rnn_nll"]
