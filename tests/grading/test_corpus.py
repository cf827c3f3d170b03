"""Does every bad submission get its stated outcome, while the rest of the class is graded?

The corpus (grading_corpus.py) is graded once as one class, sandboxed, 2 processes at a time;
these tests read the outcome of each student and probe the limits one by one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import grading_corpus
from grading_corpus import ABSENT, ASSIGNMENT, CELL_TIMEOUT_S, MEM_MB
from course_tools import autograde as ag
from course_tools.gradebook import scores
from course_tools.nbgrader_course import tool_env

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("student", sorted(grading_corpus.CORPUS))
def test_outcome(graded_class, student):
    """Does this submission get the status, autograded score and note the corpus states?"""
    _, summary = graded_class
    expected = grading_corpus.CORPUS[student][1]
    got = summary.students[student]
    assert got.status == expected.status, (
        f"{student}: expected status {expected.status!r}, got {got.status!r} ({got.reason})")
    assert got.score == expected.score, f"{student}: expected {expected.score} points, got {got.score}"
    assert got.needs_manual == expected.needs_manual, (
        f"{student}: expected needs_manual={expected.needs_manual}, got {got.needs_manual}")
    text = " ".join([got.reason, *got.notes])
    assert expected.note in text, f"{student}: expected a note containing {expected.note!r}, got {text!r}"


def test_summary_counts(graded_class):
    """Does the summary count graded, errored, timed-out and absent students, and list who needs a TA?"""
    root, summary = graded_class
    want = {"graded": 0, "errored": 0, "timed-out": 0}
    for _, exp in grading_corpus.CORPUS.values():
        want[exp.status] += 1
    want["no-submission"] = 1
    assert summary.counts == want, f"expected counts {want}, got {summary.counts}"
    assert summary.no_submission == [ABSENT], f"expected [{ABSENT!r}] without submission, got {summary.no_submission}"
    errored = {s for s, (_, e) in grading_corpus.CORPUS.items() if e.status != "graded"}
    assert errored <= set(summary.needs_manual), f"errored students missing from needs_manual: {errored - set(summary.needs_manual)}"
    assert summary.per_task["ps0/test_square_hidden"], "expected a score distribution for the hidden test"
    md = (root / "exports" / "grading" / ASSIGNMENT / "summary.md").read_text()
    assert "| errored |" in md and "os_exit" in md, f"summary.md lacks the errored row or os_exit:\n{md}"


def _output_text(root: Path, student: str) -> str:
    nb = json.loads((root / "autograded" / student / ASSIGNMENT / "ps0.ipynb").read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []))


def test_sandbox_hid_files_and_network(graded_class):
    """Did the sandboxed kernel fail to read solutions/, the gradebook, other students and /etc/shadow, and to connect anywhere?"""
    root, _ = graded_class
    secrets = _output_text(root, "read_secrets")
    assert "nothing readable []" in secrets, f"expected the probe to read nothing, it printed: {secrets[:500]}"
    net = _output_text(root, "network")
    assert "no network []" in net, f"expected no connection to succeed, the probe printed: {net[:500]}"


def test_probes_catch_a_leak_without_sandbox(class_copy):
    """Can the isolation probes fail? Without the sandbox both must reach their targets and score 3."""
    summary = ag.grade_class(class_copy, ASSIGNMENT, 2, students=["read_secrets", "network"], force=True,
                             use_sandbox=False, env={"DGM_CELL_TIMEOUT": CELL_TIMEOUT_S}, progress=False)
    for student in ("read_secrets", "network"):
        got = summary.students[student]
        assert got.score == 3, f"{student} without sandbox: expected 3 points (leak reached), got {got.score}"
    assert "LEAKED" in _output_text(class_copy, "read_secrets")


def test_huge_output_is_cut(graded_class):
    """Are 30,000 printed lines cut to a small autograded notebook (LimitOutput)?"""
    root, _ = graded_class
    size = (root / "autograded" / "huge_output" / ASSIGNMENT / "ps0.ipynb").stat().st_size
    assert size < 500_000, f"expected the autograded notebook under 500 kB, got {size} bytes"


def test_wall_limit_times_out_and_kills(class_copy):
    """Does a submission over the per-notebook wall limit end as timed-out, with its processes gone?"""
    import psutil
    summary = ag.grade_class(class_copy, ASSIGNMENT, 1, students=["infinite_loop"], force=True, wall_s=4,
                             env={"DGM_CELL_TIMEOUT": "60"}, progress=False)
    got = summary.students["infinite_loop"]
    assert got.status == "timed-out", f"expected timed-out, got {got.status} ({got.reason})"
    assert summary.counts["timed-out"] == 1, f"expected 1 timed-out in counts, got {summary.counts}"
    time.sleep(1)
    mine = str(class_copy)
    left = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if mine in " ".join(p.info["cmdline"] or []) or p.cwd().startswith(mine):
                left.append(p.info["cmdline"])
        except psutil.Error:
            continue
    assert not left, f"expected no process of this class left running, found {left}"


@pytest.mark.parametrize("one_core", [False, True], ids=["slot-of-all-cores", "slot-of-one-core"])
def test_clean_room_runs_beside_the_kernel_on_a_slot_of_two_cores(class_copy, one_core):
    """With JOBS=1 on two cores or more, does a job's clean room finish while its kernel is still busy
    (it needs nothing the kernel writes)? With a core per job, does it wait for nbgrader, as before
    (side by side there gains nothing and doubles the job's peak memory)?

    The student added a cell that sleeps: it runs in the kernel only. The clean room's line must
    come first in the job's log on the two-core slot (on the old, sequential job it came after
    nbgrader's) and after it on the one-core slot."""
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        pytest.skip("needs two cores")
    nb_path = class_copy / "submitted" / "good" / ASSIGNMENT / "ps0.ipynb"
    nb = json.loads(nb_path.read_text())
    nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                        "source": "import time\ntime.sleep(8)\n"})
    nb_path.write_text(json.dumps(nb))
    summary = ag.grade_class(class_copy, ASSIGNMENT, cores if one_core else 1, students=["good"], force=True,
                             env={"DGM_CELL_TIMEOUT": "30"}, mem_mb=MEM_MB, progress=False)
    got = summary.students["good"]
    assert got.status == "graded" and got.score == got.max_score > 0, (
        f"expected good graded with full marks, got {got.status} {got.score}/{got.max_score} ({got.reason})")
    log = (class_copy / "exports" / "grading" / ASSIGNMENT / "logs" / "good.log").read_text()
    clean, kernel = log.find("gradejob: clean room ps0.ipynb"), log.find("gradejob: nbgrader autograde exit 0")
    assert clean >= 0 and kernel >= 0, f"expected both lines in the job log, got:\n{log[-2000:]}"
    if one_core:
        assert kernel < clean, f"expected the clean room after nbgrader on a one-core slot, got:\n{log[-2000:]}"
    else:
        assert clean < kernel, f"expected the clean room's line before nbgrader's in the job log, got:\n{log[-2000:]}"


def test_rerun_is_idempotent(class_copy):
    """Does a second run regrade nobody and give the same summary?"""
    state = class_copy / "exports" / "grading" / ASSIGNMENT / "state"
    before = {p.name: p.stat().st_mtime_ns for p in state.glob("*.json")}
    first = json.loads((class_copy / "exports" / "grading" / ASSIGNMENT / "summary.json").read_text())
    summary = ag.grade_class(class_copy, ASSIGNMENT, 2, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in state.glob("*.json")}
    assert after == before, f"expected no record rewritten, changed: {[k for k in after if after[k] != before.get(k)]}"
    assert summary.counts == first["counts"], f"expected {first['counts']}, got {summary.counts}"


def test_killed_grader_finishes_on_rerun(class_copy):
    """After the grader is killed mid-run, does a re-run grade the rest and agree with the gradebook?"""
    env = tool_env({"DGM_CELL_TIMEOUT": CELL_TIMEOUT_S})
    cmd = [sys.executable, "-m", "course_tools.autograde", ASSIGNMENT, "--root", str(class_copy), "--force",
           "--jobs", "1", "--student", "good", "--student", "wrong", "--mem-mb", str(MEM_MB)]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state = class_copy / "exports" / "grading" / ASSIGNMENT / "state"
    deadline = time.monotonic() + 60
    while (state / "good.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # nbgrader is now mid-way through the first student
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1)  # its nbgrader children die with it (PR_SET_PDEATHSIG), their kernels with them
    import psutil

    orphans = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
               if str(class_copy) in " ".join(p.info["cmdline"] or []) and "autograde" in (p.info["cmdline"] or [])]
    assert not orphans, f"expected the killed grader's nbgrader processes gone, found {orphans}"
    missing = [s for s in ("good", "wrong") if not (state / f"{s}.json").exists()]
    assert missing, "expected the kill to leave at least one student without a record"
    summary = ag.grade_class(class_copy, ASSIGNMENT, 2, env={"DGM_CELL_TIMEOUT": CELL_TIMEOUT_S}, progress=False)
    for student, points in (("good", 3), ("wrong", 0)):
        got = summary.students[student]
        assert (got.status, got.score) == ("graded", points), f"{student}: expected graded {points}, got {got}"
        in_db = scores(class_copy, ASSIGNMENT, student).code_score
        assert in_db == points, f"{student}: gradebook says {in_db}, expected {points}"
