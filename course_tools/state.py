"""What ``make autograde`` remembers of each student: one JSON record per student, written atomically.

    exports/grading/<assignment>/state/<student>.json     an Outcome, once that student is finished
    exports/grading/<assignment>/logs/<student>.log       the tail of nbgrader's output
    exports/grading/<assignment>/summary.{json,md}        course_tools.report

A record exists only for a finished student: a grader killed half way leaves the students in
flight without one, and the next run grades them. ``make export`` reads the records too.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Outcome:
    """What happened to one student's submission; the JSON record of the state folder."""

    student: str
    status: str  # graded | errored | timed-out | no-submission
    reason: str = ""  # one line a TA can act on
    notes: list[str] = field(default_factory=list)  # e.g. "renamed a.ipynb -> ps0.ipynb"
    score: float | None = None  # autograded points (code cells)
    max_score: float | None = None
    by_cell: dict[str, float | None] = field(default_factory=dict)  # "notebook/grade_id" -> points
    needs_manual: bool = False
    seconds: float = 0.0
    fingerprint: str = ""  # course_tools.submission.fingerprint of the folder that was graded


def state_dir(root: Path, assignment: str) -> Path:
    """The folder of ``assignment``'s grading records under the course ``root``."""
    return Path(root) / "exports" / "grading" / assignment


def _record(root: Path, assignment: str, student: str) -> Path:
    return state_dir(root, assignment) / "state" / f"{student}.json"


def write_json(path: Path, data) -> None:
    """Write ``data`` as JSON at ``path`` atomically: a killed grader never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def save(root: Path, assignment: str, outcome: Outcome) -> None:
    """Record a finished student."""
    write_json(_record(root, assignment, outcome.student), asdict(outcome))


def forget(root: Path, assignment: str, student: str) -> None:
    """Drop a student's record (before regrading them: a crash then leaves them to regrade)."""
    _record(root, assignment, student).unlink(missing_ok=True)


def save_log(root: Path, assignment: str, student: str, log: str, limit: int) -> None:
    """Keep the last ``limit`` characters of a student's grading log."""
    path = state_dir(root, assignment) / "logs" / f"{student}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(log[-limit:])


def load(root: Path, assignment: str) -> dict[str, Outcome]:
    """Every readable record of ``assignment``, by student (an unreadable one is left out: regraded)."""
    records = {}
    for path in sorted((state_dir(root, assignment) / "state").glob("*.json")):
        try:
            records[path.stem] = Outcome(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            continue
    return records
