"""The course's gradebook (nbgrader's ``gradebook.db``): one URL, one reader of scores.

Every tool and test that reads or writes grades opens the gradebook through :func:`opened`, so the
database's place is said once, and reads scores through :func:`scores`, so a grade means the same
thing in the autograder's summary, the round trip and the tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE = "gradebook.db"


def db_url(root: Path) -> str:
    """The SQLAlchemy URL of the gradebook of the course folder ``root``."""
    return f"sqlite:///{Path(root) / FILE}"


@contextlib.contextmanager
def opened(root: Path) -> Iterator[Any]:  # nbgrader.api.Gradebook (imported on use: nbgrader is slow to load)
    """nbgrader's Gradebook of ``root``; a clear error when there is none yet."""
    from nbgrader.api import Gradebook

    if not (Path(root) / FILE).exists():
        raise SystemExit(f"No gradebook at {Path(root) / FILE}: run `make release` (nbgrader generate_assignment) first.")
    with Gradebook(db_url(root)) as gb:
        yield gb


def notebooks(root: Path, assignment: str) -> list[str]:
    """Names (without .ipynb) of the notebooks of ``assignment``, as the release recorded them."""
    from nbgrader.api import MissingEntry

    with opened(root) as gb:
        try:
            return sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)
        except MissingEntry:
            raise SystemExit(f"Assignment {assignment!r} is not in {Path(root) / FILE}: run `make release` first.") from None


def students(root: Path) -> list[str]:
    """Ids of every student in the gradebook (the roster), sorted; none when there is no gradebook."""
    if not (Path(root) / FILE).exists():
        return []
    with opened(root) as gb:
        return sorted(s.id for s in gb.students)


@dataclass(frozen=True)
class CellScore:
    """Points of one graded cell of a submission."""

    score: float | None  # what counts: a TA's manual score where one is set, else the autograded one
    max_score: float
    autograded: bool  # a test (code) cell; False for a written answer
    manual_score: float | None  # a TA's override from the formgrader (None: none)


@dataclass(frozen=True)
class Score:
    """One submission's points, with the detail of every graded cell ("notebook/grade_id")."""

    code_score: float
    max_code_score: float
    needs_manual: bool
    cells: dict[str, CellScore]

    @property
    def full_marks(self) -> bool:
        return self.max_code_score > 0 and self.code_score == self.max_code_score

    @property
    def by_cell(self) -> dict[str, tuple[float | None, float]]:
        """(score, max) of each autograded test cell."""
        return {k: (c.score, c.max_score) for k, c in self.cells.items() if c.autograded}

    @property
    def points(self) -> dict[str, float | None]:
        """The score of every graded cell, tests and written answers."""
        return {k: c.score for k, c in self.cells.items()}


def scores(root: Path, assignment: str, student: str) -> Score:
    """Read one submission's scores from the gradebook of ``root``."""
    with opened(root) as gb:
        sub = gb.find_submission(assignment, student)
        cells = {f"{nb.name}/{g.name}": CellScore(g.score, g.max_score, g.cell.cell_type == "code", g.manual_score)
                 for nb in sub.notebooks for g in nb.grades}
        return Score(sub.code_score, sub.max_code_score, bool(sub.needs_manual_grade), cells)


def zero_autograded(root: Path, assignment: str, student: str, notebook: str) -> None:
    """Score every autograded test cell of one submitted notebook 0 (nothing trustworthy to keep)."""
    with opened(root) as gb:
        for grade in gb.find_submission_notebook(notebook, assignment, student).grades:
            if grade.cell.cell_type == "code":
                grade.auto_score = 0.0
        gb.db.commit()
