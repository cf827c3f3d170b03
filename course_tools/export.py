"""grades.csv for the LMS: nbgrader's export plus how each grade came about.

    python -m course_tools.export                 # or: make export   (writes grades.csv)

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
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path

from course_tools.autograde import Outcome, load_state
from course_tools.nbgrader_course import REPO, nbgrader

COLUMNS = ("grading_status", "grading_reason", "needs_ta")
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


def export(root: Path = REPO, to: Path | None = None) -> Path:
    """Write ``to`` (default root/grades.csv) and return its path."""
    root = Path(root).resolve()
    to = Path(to) if to else root / "grades.csv"
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
    annotated = [annotate(r, states.get(r["assignment"], {}).get(r["student_id"])) for r in rows]
    part = to.with_name(to.name + ".part")
    with open(part, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields + [c for c in COLUMNS if c not in fields])
        writer.writeheader()
        writer.writerows(annotated)
    os.replace(part, to)
    return to


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, default=REPO, help="course root (default: this repo)")
    p.add_argument("--to", type=Path, default=None, help="CSV to write (default: <root>/grades.csv)")
    a = p.parse_args(argv)
    path = export(a.root, a.to)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    flagged = [r for r in rows if r["grading_status"] in NO_GRADE or r["needs_ta"] == "yes"]
    print(f"wrote {path}: {len(rows)} rows, {len(flagged)} without a final grade or needing a TA")
    for r in flagged[:50]:
        print(f"  {r['assignment']}/{r['student_id']}: {r['grading_status']}"
              + (f" ({r['grading_reason'][:200]})" if r["grading_reason"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
