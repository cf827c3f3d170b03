"""hw2's answers for grading tests: the solution notebook's cells, and wrong (or other right) versions of them.

Each wrong answer is the solution cell with a few lines changed (``edit`` fails loudly when the solution no
longer holds the lines, so a variant cannot silently become the solution). Used by test_grading.py
(graded as a submission) and test_reference_checks.py (the same classes run here).
"""

from __future__ import annotations

from pathlib import Path

from dgm_utils.cleanroom import notebook

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "solutions" / "hw2_autoregressive" / "hw2_autoregressive.ipynb"


def solution_source(grade_id: str) -> str:
    """The source of the code cell ``grade_id`` of the solution notebook."""
    return notebook.by_id(notebook.read(NOTEBOOK))[grade_id]


def edit(grade_id: str, *pairs: tuple[str, str]) -> str:
    """The solution cell ``grade_id`` with each ``old`` replaced by ``new`` (``old`` must be there, once)."""
    source = solution_source(grade_id)
    for old, new in pairs:
        found = source.count(old)
        assert found == 1, f"{grade_id} contains {old!r} {found} times, expected once: update this variant"
        source = source.replace(old, new)
    return source


def mlp_window_off_by_one() -> str:
    # The sampler's window is x_{i-d+1..i} (the not yet drawn x_i = 0 in it) instead of x_{i-d..i-1}.
    return edit("t2_mlp_sol", ("window = padded[:, i: i + self.context]", "window = padded[:, i + 1: i + 1 + self.context]"))


def mlp_feeds_probabilities() -> str:
    # The window reads back the probabilities, the output gets the drawn bits.
    return edit(
        "t2_mlp_sol",
        ("        positions = pixel_positions(device)\n        for i in range(k, NUM_PIXELS):",
         "        positions = pixel_positions(device)\n        drawn = padded[:, self.context:].clone()\n"
         "        for i in range(k, NUM_PIXELS):"),
        ("padded[:, self.context + i] = torch.bernoulli(p)",
         "padded[:, self.context + i] = p\n            drawn[:, i] = torch.bernoulli(p)"),
        ("return padded[:, self.context:].reshape(num_samples, 1, SIDE, SIDE)",
         "return drawn.reshape(num_samples, 1, SIDE, SIDE)"),
    )


def mlp_pastes_prefix() -> str:
    # Draws the whole image as if there were no prefix, then pastes the prefix over it.
    return edit(
        "t2_mlp_sol",
        ("for i in range(k, NUM_PIXELS):", "for i in range(NUM_PIXELS):"),
        ("        return padded[:, self.context:].reshape(num_samples, 1, SIDE, SIDE)",
         "        if k:\n            padded[:, self.context: self.context + k] = prefix.reshape(num_samples, k).to(device).float()\n"
         "        return padded[:, self.context:].reshape(num_samples, 1, SIDE, SIDE)"),
    )


def mlp_leaks_on_large_batches() -> str:
    # Causal on batches of up to 392 images (the old check's size); on larger ones (the old score's 500)
    # the window is x_{i-d+1..i}, which holds x_i itself.
    return edit("t2_mlp_sol", ("padded.unfold(1, self.context, 1)[:, :NUM_PIXELS]",
                                "padded.unfold(1, self.context, 1)[:, int(len(x) > 392):NUM_PIXELS + int(len(x) > 392)]"))


def rnn_drops_state() -> str:
    # One step per pixel, but from a fresh state: the LSTM sees x_{i-1} only.
    return edit("t3_rnn_sol", ("out, state = self.lstm(self._inputs(x, i, i + 1), state)",
                                "out, state = self.lstm(self._inputs(x, i, i + 1))"))


def rnn_feeds_probabilities() -> str:
    return edit(
        "t3_rnn_sol",
        ("out, state = self.lstm(self._inputs(x, 0, k + 1))",
         "fed = x.clone()  # what the LSTM reads\n        out, state = self.lstm(self._inputs(fed, 0, k + 1))"),
        ("out, state = self.lstm(self._inputs(x, i, i + 1), state)",
         "out, state = self.lstm(self._inputs(fed, i, i + 1), state)"),
        ("            x[:, i] = torch.bernoulli(torch.sigmoid(self.head(out[:, -1]).squeeze(-1)))",
         "            p = torch.sigmoid(self.head(out[:, -1]).squeeze(-1))\n"
         "            x[:, i] = torch.bernoulli(p)\n            fed[:, i] = p"),
    )


def rnn_pastes_prefix() -> str:
    return edit(
        "t3_rnn_sol",
        ("        if k:\n            x[:, :k] = prefix.reshape(num_samples, k).to(device).float()\n"
         "        out, state = self.lstm(self._inputs(x, 0, k + 1))",
         "        out, state = self.lstm(self._inputs(x, 0, 1))"),
        ("for i in range(k, NUM_PIXELS):\n            if i > k:", "for i in range(NUM_PIXELS):\n            if i > 0:"),
        ("        return x.reshape(num_samples, 1, SIDE, SIDE)",
         "        if k:\n            x[:, :k] = prefix.reshape(num_samples, k).to(device).float()\n"
         "        return x.reshape(num_samples, 1, SIDE, SIDE)"),
    )


GREEDY_COMPLETION = (
    "def complete_bottom_half(model, x):\n"
    "    flat = x.reshape(x.shape[0], -1).float().clone()\n"
    "    flat[:, 392:] = 0\n"
    "    for i in range(392, 784):  # the most likely pixel, given the pixels before it\n"
    "        flat[:, i] = (model.conditional_logits(flat)[:, i] > 0).float()\n"
    "    return flat.reshape(-1, 1, 28, 28)\n"
)
PASTED_COMPLETION = (
    "def complete_bottom_half(model, x):\n"
    "    out = model.sample(x.shape[0]).reshape(x.shape[0], -1).float().cpu()\n"
    "    out[:, :392] = x.reshape(x.shape[0], -1)[:, :392]\n"
    "    return out.reshape(-1, 1, 28, 28)\n"
)
MODEL_FREE_COMPLETION = (
    "def complete_bottom_half(model, x):\n"
    "    flat = x.reshape(x.shape[0], -1).float().clone()\n"
    "    flat[:, 392:] = torch.bernoulli(torch.full_like(flat[:, 392:], float(flat[:, :392].mean())))\n"
    "    return flat.reshape(-1, 1, 28, 28)\n"
)


def rnn_looks_up_test_images() -> str:
    # Memorised the test set: when the first 560 pixels are those of a test image, the rest of that image
    # is predicted with probability 0.99. Causal (those logits read x_<560 only), so only the comparison
    # of test and training images shows it. (560: past the longest prefix the sampler test gives.)
    return edit(
        "t3_rnn_sol",
        ("        out, _ = self.lstm(self._inputs(x, 0, NUM_PIXELS))\n        return self.head(out).squeeze(-1)",
         "        out, _ = self.lstm(self._inputs(x, 0, NUM_PIXELS))\n        logits = self.head(out).squeeze(-1)\n"
         "        if not hasattr(self, 'seen'):\n"
         "            test = load_mnist('test', binarize='threshold', limit=None, flatten=True)\n"
         "            self.seen = {bytes(row[:560].to(torch.uint8).tolist()): row for row in test}\n"
         "        for b in range(len(x)):\n"
         "            row = self.seen.get(bytes(x[b, :560].to(torch.uint8).tolist()))\n"
         "            if row is not None:\n"
         "                logits[b, 560:] = 4.6 * (2 * row[560:].to(logits) - 1)\n"
         "        return logits"),
    )

