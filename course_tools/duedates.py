"""Due dates: one per assignment, set once in nbgrader_config.py, and how late each submission came.

    c.DueDates.by_assignment = {"hw1_foundations": "2026-03-02 23:59:00 UTC"}   # nbgrader_config.py

    python -m course_tools.duedates        # make release runs it: the dates into the gradebook

The config is the only place a due date is set. `apply` writes it into the gradebook as nbgrader's
assignment due date (nbgrader 0.9 has no config option for that, only `nbgrader db assignment add
--duedate` and the formgrader's form, which `make release` and `make export` overwrite), so
nbgrader's own late penalty (AssignLatePenalties, at autograde) and its export agree with
``make export``, which measures each submission against it (`seconds_late`).

A date is read as nbgrader reads one (nbgrader.utils.parse_utc): "YYYY-MM-DD HH:MM:SS" in UTC, or
followed by a zone ("... Europe/Berlin", "... +0100"). Times are kept as nbgrader keeps them:
naive datetimes in UTC. The submission time is nbgrader's too: ``timestamp.txt`` of the submission
folder (``make collect`` writes it from the LMS zip), which autograde copies into the gradebook.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from course_tools.nbgrader_course import REPO, assignment_ids, course_config

SECTION, KEY = "DueDates", "by_assignment"  # c.DueDates.by_assignment in nbgrader_config.py
TIMESTAMP_FILE = "timestamp.txt"  # nbgrader's name, in submitted/<student>/<assignment>/


def parse(text: str) -> datetime:
    """``text`` as nbgrader reads a date: a naive datetime in UTC; ValueError if it is not one."""
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text.strip())
    except (ValueError, OverflowError, TypeError) as err:
        raise ValueError(f"{text!r} is not a date ({err})") from None


def configured(root: Path = REPO) -> dict[str, datetime]:
    """Assignment -> due date (naive UTC) from root/nbgrader_config.py; a clear error for a bad entry."""
    raw = course_config(root)[SECTION].get(KEY) or {}
    if not isinstance(raw, dict):
        raise SystemExit(f"nbgrader_config.py: c.{SECTION}.{KEY} must be a dict of assignment -> date, "
                         f"not {type(raw).__name__}")
    known = assignment_ids(root)
    dates = {}
    for assignment, text in raw.items():
        if assignment not in known:
            raise SystemExit(f"nbgrader_config.py: c.{SECTION}.{KEY} names {assignment!r}, which is not an "
                             f"assignment of solutions/ ({', '.join(known)})")
        try:
            dates[assignment] = parse(str(text))
        except ValueError as err:
            raise SystemExit(f"nbgrader_config.py: c.{SECTION}.{KEY}[{assignment!r}]: {err}; write it as "
                             "'YYYY-MM-DD HH:MM:SS UTC'") from None
    return dates


def apply(root: Path = REPO) -> dict[str, datetime]:
    """Write the configured due dates into root's gradebook (nbgrader's assignment due date); return them."""
    from course_tools.gradebook import opened

    dates = configured(root)
    if dates:
        with opened(root) as gb:
            for assignment, due in dates.items():
                gb.update_or_create_assignment(assignment, duedate=due)
    return dates


def submitted_at(root: Path, assignment: str, student: str) -> datetime | None:
    """When ``student`` handed ``assignment`` in (naive UTC), from their timestamp.txt; None if unknown."""
    path = Path(root) / "submitted" / student / assignment / TIMESTAMP_FILE
    try:
        return parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None


def seconds_late(submitted: datetime | None, due: datetime | None) -> float | None:
    """Seconds from ``due`` to ``submitted`` (0.0 when on time); None when either is unknown."""
    if submitted is None or due is None:
        return None
    return max(0.0, (submitted - due).total_seconds())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write the due dates of nbgrader_config.py into the gradebook.")
    p.add_argument("--root", type=Path, default=REPO, help="course root (default: this repo)")
    a = p.parse_args(argv)
    dates = apply(a.root)
    if not dates:
        print(f"no due dates in nbgrader_config.py (c.{SECTION}.{KEY}): lateness is not measured")
    for assignment, due in sorted(dates.items()):
        print(f"due date of {assignment}: {due:%Y-%m-%d %H:%M:%S} UTC (gradebook updated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
