"""Does hw2's notebook say and use the submission facts defined once in dgm_utils.scoring?

The checkpoint names, their size cap and the pass marks are defined in dgm_utils.scoring. The
setup cell imports them (and the hidden tests read them from there); the notebook's text and
comments state them for the student. A number or a file name in the text that drifts from the
source fails here, with the place it is written.
"""

from __future__ import annotations

import json
import re

import pytest

from dgm_utils.cleanroom import notebook
from dgm_utils.scoring import CHECKPOINT_LIMIT_MB, HW2_CHECKPOINT_FILES, HW2_CHECKPOINTS, HW2_PASS_MARKS
from hw2_variants import NOTEBOOK

CELLS = json.loads(NOTEBOOK.read_text())["cells"]
TEXT = [(i, "".join(c["source"])) for i, c in enumerate(CELLS)]
SETUP = notebook.by_id(notebook.read(NOTEBOOK))["setup"]
MARK_NAMES = {"MLP_PASS_MARK": "MarkovMLP", "RNN_PASS_MARK": "PixelLSTM"}


def setup_namespace() -> dict:
    namespace: dict = {}
    exec(compile(SETUP, f"{NOTEBOOK.name}:setup", "exec"), namespace)  # noqa: S102
    return namespace


def test_setup_cell_reads_the_facts_from_dgm_utils():
    """Do MLP_FILE, RNN_FILE, CHECKPOINT_LIMIT_MB and the two pass marks of the setup cell equal dgm_utils.scoring's?"""
    ns = setup_namespace()
    got = {"files": (ns["MLP_FILE"], ns["RNN_FILE"]), "limit": ns["CHECKPOINT_LIMIT_MB"],
           "marks": {MARK_NAMES[k]: ns[k] for k in MARK_NAMES}}
    want = {"files": (HW2_CHECKPOINTS["MarkovMLP"], HW2_CHECKPOINTS["PixelLSTM"]), "limit": CHECKPOINT_LIMIT_MB,
            "marks": HW2_PASS_MARKS}
    assert got == want, f"expected {want}, the setup cell has {got}"


def test_setup_cell_writes_no_fact_of_its_own():
    """Is none of the facts assigned a literal in the setup cell (a second definition)?"""
    found = re.findall(r"^(MLP_FILE.*=\s*\"|CHECKPOINT_LIMIT_MB\s*=\s*[0-9]|\w+_PASS_MARK\s*=\s*[0-9]).*$", SETUP, re.M)
    assert not found, f"the setup cell defines a fact itself: {found}; import it from dgm_utils.scoring"


def test_every_checkpoint_name_in_the_notebook_is_a_real_one():
    """Is every *.bin name the notebook mentions one of the files the grader loads, and is each mentioned?"""
    named = {(i, m) for i, t in TEXT for m in re.findall(r"\b[\w.-]+\.bin\b", t)}
    wrong = sorted((i, m) for i, m in named if m not in HW2_CHECKPOINT_FILES)
    assert not wrong, f"cells mention checkpoint names the grader does not load: {wrong} (expected {HW2_CHECKPOINT_FILES})"
    assert {m for _, m in named} == set(HW2_CHECKPOINT_FILES), f"the notebook never names {set(HW2_CHECKPOINT_FILES) - {m for _, m in named}}"


@pytest.mark.parametrize("name", sorted(MARK_NAMES))
def test_pass_marks_stated_in_the_notebook_are_the_real_ones(name):
    """Does every "MLP_PASS_MARK = x" / "RNN_PASS_MARK = x" and every "< x" of the marks table state the real mark?"""
    mark = HW2_PASS_MARKS[MARK_NAMES[name]]
    stated = [(i, float(v)) for i, t in TEXT for v in re.findall(rf"\b{name}\s*=\s*([0-9]+\.[0-9]+)", t)]
    row = "Markov MLP" if name == "MLP_PASS_MARK" else "LSTM"
    stated += [(i, float(v)) for i, t in TEXT if CELLS[i]["cell_type"] == "markdown"
               for line in t.splitlines() if line.startswith(f"| {row}") for v in re.findall(r"< ([0-9]+\.[0-9]+)", line)]
    assert stated, f"the notebook never states {name} ({mark} nats/dim)"
    wrong = [(i, v) for i, v in stated if v != mark]
    assert not wrong, f"{name} is {mark} nats/dim (dgm_utils.scoring), the notebook states {wrong} (cell, value)"


def test_checkpoint_limit_stated_in_the_notebook_is_the_real_one():
    """Does every "N MB" the notebook gives as a checkpoint limit equal CHECKPOINT_LIMIT_MB?"""
    stated = [(i, float(v)) for i, t in TEXT for line in t.splitlines() if re.search(r"limit|at most|cap", line, re.I)
              and re.search(r"checkpoint|\.bin|file", line, re.I) for v in re.findall(r"\b([0-9]+(?:\.[0-9]+)?) ?MB\b", line)]
    assert stated, "the notebook never states the checkpoint size limit"
    wrong = [(i, v) for i, v in stated if v != CHECKPOINT_LIMIT_MB]
    assert not wrong, f"the checkpoint limit is {CHECKPOINT_LIMIT_MB} MB, the notebook states {wrong} (cell, value)"
