"""Does grades.csv (make export) tell a failed grading from a zero, and list missing files for a TA?"""

from __future__ import annotations

import csv
import json
import shlex
import subprocess
from pathlib import Path

import pytest

import grading_corpus
from grading_corpus import ABSENT, ASSIGNMENT, CELL_TIMEOUT_S, MEM_MB
from course_tools import autograde as ag
from course_tools import export
from course_tools.nbgrader_course import REPO, tool_env

pytestmark = pytest.mark.slow


def make_command(target: str, **variables: str) -> list[str]:
    """The course_tools command `make TARGET` runs (as `make -n` prints it), without its env prefix."""
    out = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO), target,
                          *[f"{k}={v}" for k, v in variables.items()]],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    lines = [line for line in out.splitlines() if f"course_tools.{target}" in line]
    assert len(lines) == 1, f"expected one course_tools.{target} command in `make -n {target}`:\n{out}"
    words = shlex.split(lines[0])
    while words and "=" in words[0] and not words[0].startswith("-"):
        words.pop(0)  # PATH=... before the interpreter
    return words


def run_export(root: Path) -> dict[str, dict[str, str]]:
    """`make export`'s command line pointed at ``root``; the rows of ``ps0`` by student."""
    cmd = make_command("export") + ["--root", str(root)]
    proc = subprocess.run(cmd, cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"make export failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    with open(root / "grades.csv", newline="", encoding="utf-8") as f:
        return {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == ASSIGNMENT}


def test_make_export_runs_the_module():
    """Does `make export` run `python -m course_tools.export` (what these tests run)?"""
    assert make_command("export")[1:3] == ["-m", "course_tools.export"], make_command("export")


def test_errored_students_have_no_score_and_a_reason(class_copy):
    """Is every errored student marked errored with its reason and an empty score, never 0.0?"""
    rows = run_export(class_copy)
    errored = {s: e for s, (_, e) in grading_corpus.CORPUS.items() if e.status == "errored"}
    assert errored, "the corpus has no errored submission: this test would check nothing"
    for student in errored:
        row = rows[student]
        assert row["grading_status"] == "errored", f"{student}: expected grading_status errored, got {row}"
        assert row.get("score") == "" and row.get("raw_score") == "", f"{student}: expected an empty score, got {row['score']!r}"
        assert row["grading_reason"], f"{student}: expected a reason a TA can act on, got none"
        assert row["needs_ta"] == "yes", f"{student}: expected needs_ta yes, got {row['needs_ta']!r}"
    assert "missing notebook" in rows["missing"]["grading_reason"], rows["missing"]["grading_reason"]


def test_graded_and_absent_students_keep_their_scores(class_copy):
    """Does a graded student keep its score, and is a student without a submission marked so (score 0)?"""
    rows = run_export(class_copy)
    good, wrong = rows["good"], rows["wrong"]
    assert (good["grading_status"], float(good["score"])) == ("graded", 3.0), good
    assert good["needs_ta"] == "yes" and "clean room" not in good["grading_reason"], good  # ps0's written answer
    assert (wrong["grading_status"], float(wrong["score"])) == ("graded", 0.0), wrong
    absent = rows[ABSENT]
    assert absent["grading_status"] == "no-submission" and float(absent["score"]) == 0.0, absent
    flagged = rows["tamper_run_cell"]
    assert flagged["needs_ta"] == "yes" and "clean room" in flagged["grading_reason"], flagged


def test_a_reason_cannot_be_a_spreadsheet_formula():
    """Is a reason that starts like a formula (=HYPERLINK...) made plain text?"""
    out = ag.Outcome("mallory", "errored", reason='=HYPERLINK("http://x","click")')
    row = export.annotate({"assignment": ASSIGNMENT, "student_id": "mallory", "timestamp": "t",
                           "score": "0.0", "raw_score": "0.0", "first_name": "@SUM(A1)"}, out)
    assert row["grading_reason"].startswith("'=") and row["first_name"].startswith("'@"), row


def test_missing_listed_file_is_flagged_for_a_ta(class_copy):
    """A file collect.json lists (as hw2 lists its checkpoints) but the submission lacks: flagged, by name?"""
    (class_copy / "solutions" / ASSIGNMENT / "collect.json").write_text(
        json.dumps({"notebooks": ["ps0.ipynb"], "files": ["weights.bin"]}))
    (class_copy / "submitted" / "wrong" / ASSIGNMENT / "weights.bin").write_bytes(b"\0" * 16)
    summary = ag.grade_class(class_copy, ASSIGNMENT, 2, students=["good", "wrong"], force=True,
                             env={"DGM_CELL_TIMEOUT": CELL_TIMEOUT_S}, mem_mb=MEM_MB, progress=False)
    good, wrong = summary["students"]["good"], summary["students"]["wrong"]
    assert good["needs_manual"] and any("weights.bin" in n for n in good["notes"]), good
    assert not any("weights.bin" in n for n in wrong["notes"]), f"wrong submitted weights.bin: {wrong['notes']}"
    assert "good" in summary["needs_manual"] and "weights.bin" in summary["text"], summary["text"]
    rows = run_export(class_copy)
    assert rows["good"]["needs_ta"] == "yes" and "weights.bin" in rows["good"]["grading_reason"], rows["good"]
