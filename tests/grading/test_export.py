"""Does grades.csv (make export) tell a failed grading from a zero, list missing files for a TA, say when
each submission came against the configured due date, and does canvas.csv follow Canvas's import format?"""

from __future__ import annotations

import csv
import json
import shlex
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

import grading_corpus
from grading_corpus import ABSENT, ASSIGNMENT, CELL_TIMEOUT_S, MEM_MB
from course_tools import autograde as ag
from course_tools import duedates, export
from course_tools.state import Outcome
from course_tools.nbgrader_course import REPO, tool_env

pytestmark = pytest.mark.slow


def make_command(target: str, module: str | None = None, **variables: str) -> list[str]:
    """The course_tools.<module> command (module: the target's name) that `make TARGET` runs, as `make -n`
    prints it, without its env prefix."""
    module = module or target
    out = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO), target,
                          *[f"{k}={v}" for k, v in variables.items()]],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    lines = [line for line in out.splitlines() if f"course_tools.{module}" in line]
    assert len(lines) == 1, f"expected one course_tools.{module} command in `make -n {target}`:\n{out}"
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


def set_config(root: Path, line: str, value: str) -> None:
    """Replace the line ``line`` of root/nbgrader_config.py (it must occur once) by ``value``."""
    config = root / "nbgrader_config.py"
    text = config.read_text()
    assert text.count(line + "\n") == 1, f"expected the line {line!r} once in {config}"
    config.write_text(text.replace(line + "\n", value + "\n"))


def read_canvas(root: Path) -> list[list[str]]:
    with open(root / "canvas.csv", newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


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
    out = Outcome("mallory", "errored", reason='=HYPERLINK("http://x","click")')
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
    good, wrong = summary.students["good"], summary.students["wrong"]
    assert good.needs_manual and any("weights.bin" in n for n in good.notes), good
    assert not any("weights.bin" in n for n in wrong.notes), f"wrong submitted weights.bin: {wrong.notes}"
    assert "good" in summary.needs_manual and "weights.bin" in summary.render(), summary.render()
    rows = run_export(class_copy)
    assert rows["good"]["needs_ta"] == "yes" and "weights.bin" in rows["good"]["grading_reason"], rows["good"]


def test_lateness_columns_and_canvas_csv(class_copy):
    """With a due date and a Canvas id in nbgrader_config.py, one `make export`:
    - grades.csv gives each submission's time (the gradebook's, or timestamp.txt for one nbgrader never saw),
      the due date and how late it came, and the gradebook holds the same due date;
    - canvas.csv has Canvas's student columns, a Points Possible row, one "<assignment> (<Canvas id>)" column,
      the nbgrader id in SIS User ID, an empty cell for an errored student and no spreadsheet formula."""
    from course_tools.gradebook import opened

    # Every corpus submission is stamped 2026-01-01 00:00:00 UTC; due 30 min before, in Berlin's time.
    set_config(class_copy, "c.DueDates.by_assignment = {}",
               f"c.DueDates.by_assignment = {{{ASSIGNMENT!r}: '2026-01-01 00:30:00 Europe/Berlin'}}")
    set_config(class_copy, "c.CanvasExport.assignment_ids = {}", f"c.CanvasExport.assignment_ids = {{{ASSIGNMENT!r}: 4242}}")
    # "missing" errored before nbgrader saw it (no notebook): only its timestamp.txt knows when it came.
    (class_copy / "submitted" / "missing" / ASSIGNMENT / "timestamp.txt").write_text("2025-12-31 12:00:00.000000 UTC")
    with opened(class_copy) as gb:
        gb.update_or_create_student("good", first_name="Ada", last_name="=HYPERLINK(1)")

    rows = run_export(class_copy)
    good = rows["good"]
    assert (good["timestamp"], good["duedate"], good["seconds_late"], good["hours_late"]) == (
        "2026-01-01 00:00:00", "2025-12-31 23:30:00", "1800", "0.50"), good
    assert float(good["score"]) == 3.0, f"expected lateness to leave the score alone, got {good['score']!r}"
    missing = rows["missing"]
    assert (missing["grading_status"], missing["score"]) == ("errored", ""), missing
    assert (missing["timestamp"], missing["seconds_late"], missing["hours_late"]) == (
        "2025-12-31 12:00:00", "0", "0.00"), missing
    absent = rows[ABSENT]
    assert (absent["timestamp"], absent["seconds_late"], absent["hours_late"]) == ("", "", ""), absent
    with opened(class_copy) as gb:
        assert gb.find_assignment(ASSIGNMENT).duedate == datetime(2025, 12, 31, 23, 30), \
            "expected make export to write the configured due date into the gradebook (nbgrader's due date)"

    table = read_canvas(class_copy)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{ASSIGNMENT} (4242)"], table[0]
    assert table[1][0] == "Points Possible" and float(table[1][5]) == float(good["max_score"]) > 0, table[1]
    by_id = {row[2]: row for row in table[2:]}
    assert set(by_id) == set(rows), f"expected one row per student of grades.csv, got {sorted(by_id)}"
    assert by_id["good"][0] == "'=HYPERLINK(1), Ada" and float(by_id["good"][5]) == 3.0, by_id["good"]
    assert by_id["missing"][5] == "", f"expected no score for an errored student, got {by_id['missing']}"
    assert by_id["wrong"][5] != "" and float(by_id["wrong"][5]) == 0.0, by_id["wrong"]
    assert all(len(row) == len(table[0]) for row in table), "expected every row as wide as the header"


def test_canvas_table_without_ids_and_with_the_login_column():
    """Without a Canvas id the column is the assignment's name; the student id can go to SIS Login ID."""
    rows = [{"assignment": "hw1", "student_id": "s1", "score": "2.5", "max_score": "5.0", "first_name": "", "last_name": ""},
            {"assignment": "hw2", "student_id": "s1", "score": "", "max_score": "", "first_name": "", "last_name": ""}]
    table = export.canvas_table(rows, export.CanvasSettings({}, "SIS Login ID"))
    assert table[0][5:] == ["hw1", "hw2"] and table[1] == ["Points Possible", "", "", "", "", "5.0", ""], table[:2]
    assert table[2] == ["s1", "", "", "s1", "", "2.5", ""], table[2]


def test_a_due_date_for_no_assignment_is_refused(tmp_path):
    """A typo in an assignment's name in c.DueDates.by_assignment: a clear error, not a silent 'no due date'."""
    (tmp_path / "solutions" / ASSIGNMENT).mkdir(parents=True)
    (tmp_path / "solutions" / ASSIGNMENT / "ps0.ipynb").write_text("{}")
    (tmp_path / "nbgrader_config.py").write_text((REPO / "nbgrader_config.py").read_text())
    set_config(tmp_path, "c.DueDates.by_assignment = {}", "c.DueDates.by_assignment = {'ps9': '2026-01-01 00:00:00'}")
    with pytest.raises(SystemExit, match="names 'ps9', which is not an assignment of solutions/ \\(ps0\\)"):
        duedates.configured(tmp_path)

