"""Does a formgrader override of an autograded score survive a regrade, and does `make reset-overrides` undo it?"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from grading_corpus import ASSIGNMENT, CELL_TIMEOUT_S, MEM_MB
from test_export import make_command
from course_tools import autograde as ag
from course_tools import overrides
from course_tools.gradebook import opened, scores
from course_tools.nbgrader_course import REPO, tool_env

pytestmark = pytest.mark.slow


def run_make(root: Path, target: str, **variables: str) -> str:
    """What `make TARGET ASSIGNMENT=ps0 ...` runs (course_tools.overrides), pointed at ``root``; its output."""
    cmd = make_command(target, "overrides", ASSIGNMENT=ASSIGNMENT, **variables) + ["--root", str(root)]
    proc = subprocess.run(cmd, cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"make {target} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def failed_test_cell(root: Path, student: str) -> tuple[str, float]:
    """("notebook/grade_id", max points) of a test cell ``student`` scored less than full marks on."""
    cells = scores(root, ASSIGNMENT, student).cells
    failing = sorted(k for k, c in cells.items() if c.autograded and (c.score or 0) < c.max_score)
    assert failing, f"expected {student} to fail a test cell, their scores are {cells}"
    return failing[0], cells[failing[0]].max_score


def override(root: Path, student: str, cell: str, manual: float | None = None, extra: float | None = None) -> None:
    """What the formgrader's API saves for a score box (PUT /formgrader/api/grade/<id>)."""
    notebook, grade_id = cell.split("/")
    with opened(root) as gb:
        grade = gb.find_grade(grade_id, notebook, ASSIGNMENT, student)
        grade.manual_score, grade.extra_credit = manual, extra
        grade.needs_manual_grade = False
        gb.db.commit()


def test_make_targets_run_the_module():
    """Do `make overrides` and `make reset-overrides` run course_tools.overrides, listing and clearing?"""
    listing = make_command("overrides", "overrides", ASSIGNMENT=ASSIGNMENT, STUDENT="s", CELL="c")
    clearing = make_command("reset-overrides", "overrides", ASSIGNMENT=ASSIGNMENT)
    assert listing[1:] == ["-m", "course_tools.overrides", ASSIGNMENT, "--list", "--student", "s", "--cell", "c"], listing
    assert clearing[1:] == ["-m", "course_tools.overrides", ASSIGNMENT], clearing


def test_reset_overrides_undoes_full_credit_that_survives_a_regrade(class_copy, capsys):
    """'Full credit' on a failed test survives `make autograde --force`; `make reset-overrides STUDENT=wrong`
    clears it (and only it), and the cell counts its autograded score again."""
    cell, points = failed_test_cell(class_copy, "wrong")
    auto = scores(class_copy, ASSIGNMENT, "wrong").cells[cell].score
    override(class_copy, "wrong", cell, manual=points)  # the TA pressed "Full credit"
    good_cell = sorted(k for k, c in scores(class_copy, ASSIGNMENT, "good").cells.items() if c.autograded)[0]
    override(class_copy, "good", good_cell, extra=1.0)  # another student's extra credit: must stay

    ag.grade_class(class_copy, ASSIGNMENT, 1, students=["wrong"], force=True, env={"DGM_CELL_TIMEOUT": CELL_TIMEOUT_S},
                   mem_mb=MEM_MB, progress=False)
    regraded = scores(class_copy, ASSIGNMENT, "wrong")
    after_regrade = regraded.cells[cell]
    assert (after_regrade.score, after_regrade.manual_score) == (points, points), (
        f"expected the override to survive the regrade (the problem this command solves), got {after_regrade}")

    assert overrides.main([ASSIGNMENT, "--root", str(class_copy), "--list"]) == 0  # what `make overrides` runs
    listed = capsys.readouterr().out
    assert f"wrong {cell}: manual score {points:g} instead of the autograded {auto:g}" in listed, listed
    assert f"good {good_cell}: extra credit 1" in listed, listed

    cleared = run_make(class_copy, "reset-overrides", STUDENT="wrong")
    assert "cleared 1 override(s)" in cleared and f"wrong {cell}" in cleared, cleared
    now = scores(class_copy, ASSIGNMENT, "wrong")
    assert (now.cells[cell].score, now.cells[cell].manual_score) == (auto, None), (
        f"expected {cell} back at its autograded {auto}, got {now.cells[cell]}")
    assert now.code_score == pytest.approx(regraded.code_score - points + (auto or 0)), "expected the total to follow"
    assert [o.student for o in overrides.find(class_copy, ASSIGNMENT)] == ["good"], "expected good's extra credit kept"

    assert [o.cell for o in overrides.reset(class_copy, ASSIGNMENT, cell=good_cell)] == [good_cell]
    assert overrides.find(class_copy, ASSIGNMENT) == [], "expected no override left"


def test_unknown_student_or_cell_is_a_clear_error(graded_class):
    """A typo in STUDENT= or CELL= names what exists instead of clearing nothing silently (nothing changes)."""
    root = graded_class[0]
    with pytest.raises(SystemExit, match="'nobody' has no autograded submission of ps0"):
        overrides.reset(root, ASSIGNMENT, student="nobody")
    with pytest.raises(SystemExit, match="'no_such_cell' is not an autograded test cell of ps0; its test cells are: ps0/"):
        overrides.find(root, ASSIGNMENT, cell="no_such_cell")
