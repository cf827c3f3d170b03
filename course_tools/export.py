"""grades.csv for the LMS: nbgrader's export plus how each grade came about, and canvas.csv.

    python -m course_tools.export                 # or: make export   (writes grades.csv and canvas.csv)

nbgrader's own export gives a student whose grading failed a score of 0.0, which an LMS cannot
tell from a real zero. This export keeps every column of nbgrader's and adds three, from the
records ``make autograde`` keeps (exports/grading/<assignment>/state/<student>.json):

- ``grading_status``: graded, errored, timed-out, no-submission, or not-autograded (a submission
  that ``make autograde`` has not graded yet);
- ``grading_reason``: for a failure, the reason a TA can act on (the exception and the cell);
  for a graded student, the notes a TA must read (clean-room disagreements, missing files);
- ``needs_ta``: yes when the autograder listed the student under "Needs a TA".

For errored, timed-out and not-autograded students ``score`` and ``raw_score`` are left **empty**,
never 0.0: the grade does not exist until a TA decides it.

When. ``timestamp`` is the submission's time (UTC): the gradebook's (autograde copied it from
submitted/<student>/<assignment>/timestamp.txt, which ``make collect`` sets from the LMS zip), else
that file's for a submission the gradebook lacks. ``duedate`` is the assignment's due date from
nbgrader_config.py (course_tools.duedates, which also writes it into the gradebook first), and
``seconds_late`` / ``hours_late`` say how long after it the submission came (0 when on time; empty
when either time is unknown).

canvas.csv is the same scores as Canvas's gradebook import reads them (`canvas_table`; the format,
from Canvas's own importer, is in docs/ta.md): one row per student, one column per assignment,
an empty cell where grades.csv has no score (Canvas makes no grade of it; it removes one it holds).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from course_tools import duedates
from course_tools.state import Outcome
from course_tools.state import load as load_state
from course_tools.nbgrader_course import REPO, course_config, nbgrader

COLUMNS = ("grading_status", "grading_reason", "needs_ta", "seconds_late", "hours_late")
NO_GRADE = ("errored", "timed-out", "not-autograded")  # statuses whose score is left empty
TEXT_COLUMNS = ("grading_reason", "first_name", "last_name", "email")  # may hold a student's words


def cell_text(value: str) -> str:
    """``value`` safe for a spreadsheet: a leading = + - @ would make it a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def annotate(row: dict[str, str], outcome: Outcome | None) -> dict[str, str]:
    """One row of nbgrader's export with the autograder's record of that student added."""
    submitted = bool(row.get("timestamp", "").strip()) or outcome is not None
    if outcome is None:
        status, reason, manual = ("not-autograded" if submitted else "no-submission"), "", submitted
    else:
        status, manual = outcome.status, outcome.needs_manual
        reason = "; ".join(x for x in [outcome.reason, *outcome.notes] if x)
    out = dict(row)
    if status in NO_GRADE:
        out["score"] = out["raw_score"] = ""
        reason = reason or "not graded: run make autograde"
    out.update(grading_status=status, grading_reason=" ".join(reason.split())[:2000],
               needs_ta="yes" if manual else "no")
    for key in TEXT_COLUMNS:
        if out.get(key):
            out[key] = cell_text(out[key])
    return out


def when(row: dict[str, str], root: Path, due: datetime | None) -> dict[str, str]:
    """``row`` with its submission time (the gradebook's, else timestamp.txt), the assignment's due date
    (both UTC, as nbgrader writes them) and how late it came: seconds (whole) and hours (2 decimals)."""
    out = dict(row)
    submitted = duedates.parse(row["timestamp"]) if row.get("timestamp", "").strip() else \
        duedates.submitted_at(root, row["assignment"], row["student_id"])
    out["timestamp"] = str(submitted) if submitted else ""
    out["duedate"] = str(due) if due else ""
    late = duedates.seconds_late(submitted, due)
    out["seconds_late"] = "" if late is None else str(round(late))
    out["hours_late"] = "" if late is None else f"{late / 3600:.2f}"
    return out


# --- canvas.csv -----------------------------------------------------------------------------

CANVAS_SECTION = "CanvasExport"  # c.CanvasExport.* in nbgrader_config.py
# Canvas's importer (lib/gradebook_importer.rb) reads these first: the student, then the assignments.
CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_ID_COLUMNS = ("ID", "SIS User ID", "SIS Login ID")  # where the nbgrader student id may go
POINTS_POSSIBLE = "Points Possible"  # the importer's optional second row: each assignment's maximum


@dataclass(frozen=True)
class CanvasSettings:
    """What canvas.csv needs besides the grades, from nbgrader_config.py (c.CanvasExport)."""

    assignment_ids: dict[str, int]  # assignment -> its Canvas id (the number in its URL), where known
    student_id_column: str  # the Canvas column that holds the nbgrader student id


def canvas_settings(root: Path) -> CanvasSettings:
    """c.CanvasExport.assignment_ids and student_id_column of root/nbgrader_config.py, checked."""
    cfg = course_config(root)[CANVAS_SECTION]
    ids, column = cfg.get("assignment_ids") or {}, cfg.get("student_id_column") or "SIS User ID"
    if column not in CANVAS_ID_COLUMNS:
        raise SystemExit(f"nbgrader_config.py: c.{CANVAS_SECTION}.student_id_column is {column!r}; "
                         f"use one of {', '.join(CANVAS_ID_COLUMNS)}")
    try:
        return CanvasSettings({str(a): int(i) for a, i in dict(ids).items()}, column)
    except (TypeError, ValueError):
        raise SystemExit(f"nbgrader_config.py: c.{CANVAS_SECTION}.assignment_ids must map an assignment to "
                         f"its Canvas id (a number), e.g. {{'hw1_foundations': 12345}}; it is {ids!r}") from None


def canvas_table(rows: list[dict[str, str]], settings: CanvasSettings) -> list[list[str]]:
    """canvas.csv as rows of cells: the header, the Points Possible row, one row per student.

    A column is "<assignment> (<Canvas id>)" when the id is known (Canvas matches it by id), else
    the assignment's name (matched by title, or made a new assignment). A student row holds the
    name as Canvas sorts it ("Last, First") and the nbgrader id in ``settings.student_id_column``;
    a score is grades.csv's ``score``, empty when it has none (no grade in Canvas).
    """
    assignments = sorted({r["assignment"] for r in rows})
    header = [*CANVAS_STUDENT_COLUMNS, *(f"{a} ({settings.assignment_ids[a]})" if a in settings.assignment_ids
                                         else a for a in assignments)]
    maximum = {a: next((r["max_score"] for r in rows if r["assignment"] == a and r.get("max_score")), "")
               for a in assignments}
    table = [header, [POINTS_POSSIBLE, "", "", "", "", *(maximum[a] for a in assignments)]]
    scores = {(r["student_id"], r["assignment"]): r.get("score", "") for r in rows}
    people = {r["student_id"]: r for r in sorted(rows, key=lambda r: (r["assignment"], r["student_id"]))}
    id_at = CANVAS_STUDENT_COLUMNS.index(settings.student_id_column)
    for student in sorted(people):
        first, last = people[student].get("first_name", "").strip(), people[student].get("last_name", "").strip()
        cells = [", ".join(n for n in (last, first) if n) or student, "", "", "", ""]
        cells[id_at] = student
        table.append([cell_text(c) for c in cells] + [scores.get((student, a), "") for a in assignments])
    return table


def write_csv(path: Path, rows: list[list[str]] | list[dict[str, str]], fields: list[str] | None = None) -> None:
    """Write ``rows`` (lists, or dicts with ``fields``) to ``path`` atomically (a .part file, then rename)."""
    part = path.with_name(path.name + ".part")
    with open(part, "w", newline="", encoding="utf-8") as f:
        if fields is None:
            csv.writer(f).writerows(rows)
        else:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    os.replace(part, path)


def export(root: Path = REPO, to: Path | None = None, canvas_to: Path | None = None) -> Path:
    """Write ``to`` (default root/grades.csv) and ``canvas_to`` (default canvas.csv beside it); return ``to``."""
    root = Path(root).resolve()
    to = Path(to) if to else root / "grades.csv"
    canvas_to = Path(canvas_to) if canvas_to else to.with_name("canvas.csv")
    settings = canvas_settings(root)
    due = duedates.apply(root)  # first, so that nbgrader's duedate column is the config's
    with tempfile.TemporaryDirectory(prefix="dgm-export-") as tmp:
        raw = Path(tmp) / "nbgrader.csv"
        nbgrader(root, "export", "--to", str(raw))
        with open(raw, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields, rows = list(reader.fieldnames or []), list(reader)
    assignments = {r["assignment"] for r in rows}
    graded = root / "exports" / "grading"
    assignments |= {p.name for p in graded.iterdir() if p.is_dir()} if graded.is_dir() else set()
    states = {a: load_state(root, a) for a in sorted(assignments)}
    # A submission that failed before nbgrader saw it (not JSON, no notebook) is not in the
    # gradebook, so nbgrader's export has no row for it: it gets one here, without a score.
    listed = {(r["assignment"], r["student_id"]) for r in rows}
    rows += [{**dict.fromkeys(fields, ""), "assignment": a, "student_id": s}
             for a, state in states.items() for s in sorted(state) if (a, s) not in listed]
    rows = [when(r, root, due.get(r["assignment"])) for r in rows]
    annotated = [annotate(r, states.get(r["assignment"], {}).get(r["student_id"])) for r in rows]
    write_csv(to, annotated, fields + [c for c in COLUMNS if c not in fields])
    write_csv(canvas_to, canvas_table(annotated, settings))
    return to


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, default=REPO, help="course root (default: this repo)")
    p.add_argument("--to", type=Path, default=None, help="CSV to write (default: <root>/grades.csv)")
    p.add_argument("--canvas-to", type=Path, default=None,
                   help="Canvas gradebook import CSV to write (default: canvas.csv beside --to)")
    a = p.parse_args(argv)
    path = export(a.root, a.to, a.canvas_to)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    flagged = [r for r in rows if r["grading_status"] in NO_GRADE or r["needs_ta"] == "yes"]
    print(f"wrote {path}: {len(rows)} rows, {len(flagged)} without a final grade or needing a TA")
    print(f"wrote {a.canvas_to or path.with_name('canvas.csv')}: Canvas's gradebook import (docs/ta.md)")
    late = [r for r in rows if r["seconds_late"] not in ("", "0")]
    undated = sorted({r["assignment"] for r in rows if not r["duedate"]})
    if undated:
        print(f"  no due date for {', '.join(undated)} (c.{duedates.SECTION}.{duedates.KEY} in nbgrader_config.py): "
              "lateness not measured")
    for r in late[:50]:
        print(f"  late: {r['assignment']}/{r['student_id']} by {r['hours_late']} h")
    for r in flagged[:50]:
        print(f"  {r['assignment']}/{r['student_id']}: {r['grading_status']}"
              + (f" ({r['grading_reason'][:200]})" if r["grading_reason"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
