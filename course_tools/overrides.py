"""The formgrader's overrides of autograded scores: list them, and clear them so the autograder's counts.

    python -m course_tools.overrides hw1_foundations [--student S] [--cell C] --list   # make overrides
    python -m course_tools.overrides hw1_foundations [--student S] [--cell C]          # make reset-overrides

In the formgrader a TA can type a score into a test cell's box, press "Full credit" on it, or give
extra credit. nbgrader keeps these in the gradebook (Grade.manual_score, Grade.extra_credit) and
a regrade leaves them alone: autograde rewrites only Grade.auto_score, and a cell's score is its
manual score whenever one is set. So an override stays after its cause is gone (a test fixed, a
submission replaced); the formgrader undoes one only by emptying its box, one submission at a
time, and lists none. Clearing does what the formgrader's save does with empty boxes (manual score
and extra credit None; the cell needs a manual grade only if it has no autograded score either),
on autograded test cells only: a written answer's manual score is its grade, changed in the
formgrader itself. With ``--comments`` the TA's comment on those cells goes too.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from course_tools import gradebook
from course_tools.nbgrader_course import REPO


@dataclass(frozen=True)
class Override:
    """A TA's override of one autograded test cell of one submission (points)."""

    student: str
    cell: str  # "notebook/grade_id"
    auto_score: float | None  # what the autograder gave
    manual_score: float | None  # the TA's score, which counts instead (None: none)
    extra_credit: float | None  # added on top (None or 0: none)
    max_score: float
    comment: str  # the TA's comment on the cell ("" if none)

    def describe(self) -> str:
        """One line for a TA: who, which cell, and what counts now against what the autograder gave."""
        parts = []
        if self.manual_score is not None:
            parts.append(f"manual score {self.manual_score:g} instead of the autograded {_points(self.auto_score)}")
        if self.extra_credit:
            parts.append(f"extra credit {self.extra_credit:g}")
        note = f' (comment: "{self.comment[:80]}")' if self.comment else ""
        return f"{self.student} {self.cell}: {', '.join(parts)} of {self.max_score:g}{note}"


def _points(score: float | None) -> str:
    return "none" if score is None else f"{score:g}"


def _overridden(grade) -> bool:
    return grade.manual_score is not None or bool(grade.extra_credit)


def _matches(cell: str | None, notebook: str, grade_id: str) -> bool:
    return cell is None or cell in (grade_id, f"{notebook}/{grade_id}")


def _grades(gb, assignment: str, student: str | None, cell: str | None):
    """(student, notebook, Grade, its Comment or None) of every autograded test cell asked for.

    Raises SystemExit naming what exists when ``assignment``, ``student`` or ``cell`` names nothing.
    """
    from nbgrader.api import MissingEntry

    try:
        target = gb.find_assignment(assignment)
    except MissingEntry:
        names = ", ".join(sorted(a.name for a in gb.assignments)) or "none"
        raise SystemExit(f"{assignment!r} is not in the gradebook (assignments: {names}): run `make release`.") from None
    submissions = sorted(target.submissions, key=lambda s: s.student.id)
    if student is not None:
        submissions = [s for s in submissions if s.student.id == student]
        if not submissions:
            raise SystemExit(f"{student!r} has no autograded submission of {assignment}: nothing to reset "
                             "(run `make autograde` first, or check the id).")
    test_cells = {f"{nb.name}/{c.name}" for nb in target.notebooks for c in nb.grade_cells if c.cell_type == "code"}
    if cell is not None and not any(_matches(cell, *name.split("/", 1)) for name in test_cells):
        raise SystemExit(f"{cell!r} is not an autograded test cell of {assignment}; its test cells are: "
                         f"{', '.join(sorted(test_cells))}")
    for submission in submissions:
        for nb in submission.notebooks:
            comments = {c.name: c for c in nb.comments}
            for grade in sorted(nb.grades, key=lambda g: g.name):
                if grade.cell.cell_type == "code" and _matches(cell, nb.name, grade.name):
                    yield submission.student.id, nb.name, grade, comments.get(grade.name)


def _override(student: str, notebook: str, grade, comment) -> Override:
    return Override(student, f"{notebook}/{grade.name}", grade.auto_score, grade.manual_score, grade.extra_credit,
                    grade.max_score, (comment.manual_comment or "") if comment is not None else "")


def find(root: Path, assignment: str, student: str | None = None, cell: str | None = None) -> list[Override]:
    """The overrides of autograded cells of ``assignment`` (one ``student``, one ``cell`` if given)."""
    with gradebook.opened(root) as gb:
        return [_override(s, nb, g, c) for s, nb, g, c in _grades(gb, assignment, student, cell) if _overridden(g)]


def reset(root: Path, assignment: str, student: str | None = None, cell: str | None = None,
          comments: bool = False) -> list[Override]:
    """Clear the overrides `find` lists (and, with ``comments``, the TA's comments on those cells).

    Returns what was cleared. Afterwards each cell's score is its autograded one, as after a
    first autograde; nothing is regraded (`make autograde` regrades a changed submission).
    """
    cleared = []
    with gradebook.opened(root) as gb:
        for s, nb, grade, comment in _grades(gb, assignment, student, cell):
            if not _overridden(grade):
                continue
            cleared.append(_override(s, nb, grade, comment))
            grade.manual_score = None
            grade.extra_credit = None
            grade.needs_manual_grade = grade.auto_score is None  # as the formgrader saves empty boxes
            if comments and comment is not None:
                comment.manual_comment = None
        gb.db.commit()
    return cleared


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="List or clear the formgrader's overrides of autograded scores.")
    p.add_argument("assignment")
    p.add_argument("--root", type=Path, default=REPO, help="course root (default: this repo)")
    p.add_argument("--student", help="only this student")
    p.add_argument("--cell", help="only this test cell: its grade id, or notebook/grade_id")
    p.add_argument("--list", action="store_true", help="list the overrides, change nothing")
    p.add_argument("--comments", action="store_true", help="also clear the TA's comments on the cells reset")
    a = p.parse_args(argv)
    if a.list:
        found = find(a.root, a.assignment, a.student, a.cell)
        print(f"{len(found)} override(s) of autograded scores in {a.assignment}"
              + (":" if found else " (every test cell counts its autograded score)."))
    else:
        found = reset(a.root, a.assignment, a.student, a.cell, a.comments)
        print(f"cleared {len(found)} override(s) in {a.assignment}: these cells count their autograded score again"
              + (":" if found else " (there were none)."))
    for override in found:
        print(f"  {override.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
