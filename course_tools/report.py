"""The autograde summary a TA reads: counts by status, scores per task, who needs a TA.

    exports/grading/<assignment>/summary.md     render(): what `make autograde` prints at the end
    exports/grading/<assignment>/summary.json   the same facts, for scripts
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from course_tools import gradebook
from course_tools.state import Outcome, state_dir, write_json
from course_tools.submission import submitted_students

STATUSES = ("graded", "errored", "timed-out", "no-submission")


@dataclass
class Summary:
    """One assignment's grading, over the whole class."""

    assignment: str
    counts: dict[str, int]  # status -> number of students
    no_submission: list[str]  # enrolled, nothing submitted
    needs_manual: list[str]  # submitted, and a TA must look (manual grading, flags, failures)
    per_task: dict[str, dict[str, int]]  # "notebook/grade_id" -> points (as text) -> number of students
    students: dict[str, Outcome]

    def render(self) -> str:
        """The summary as Markdown."""
        lines = [f"# Autograde summary: {self.assignment}", "", "| status | students |", "|---|---|"]
        lines += [f"| {k} | {self.counts.get(k, 0)} |" for k in STATUSES]
        lines += ["", "## Score distribution per task (points: number of students)", ""]
        for cell in sorted(self.per_task):
            dist = ", ".join(f"{k}: {v}" for k, v in self.per_task[cell].items())
            lines.append(f"- `{cell}`: {dist}")
        lines += ["", "## Needs a TA (manual grading, or grading failed)", ""]
        for s in self.needs_manual:
            o = self.students[s]
            lines.append(f"- {s}: {o.status}" + (f" ({o.reason})" if o.reason else "")
                         + (f"; {'; '.join(o.notes)}" if o.notes else ""))
        if self.no_submission:
            lines += ["", "## No submission", "", ", ".join(self.no_submission)]
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict:
        data = asdict(self)
        data["students"] = {s: asdict(o) for s, o in sorted(self.students.items())}
        return data

    @classmethod
    def from_json(cls, data: dict) -> Summary:
        """The Summary that ``as_json`` wrote (summary.json)."""
        return cls(**{**data, "students": {s: Outcome(**o) for s, o in data["students"].items()}})


def _distribution(points: Counter) -> dict[str, int]:
    """Points -> count, in increasing points, written answers not yet graded ("ungraded") last."""
    ordered = sorted(points.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    return {("ungraded" if k is None else f"{k:g}"): v for k, v in ordered}


def summarise(root: Path, assignment: str, state: dict[str, Outcome]) -> Summary:
    """The class's summary from the grading records; written beside them (summary.md, summary.json)."""
    submitted = set(submitted_students(root, assignment))
    counts = Counter({k: 0 for k in STATUSES})
    counts.update(o.status for s, o in state.items() if s in submitted)
    no_submission = sorted(set(gradebook.students(root)) - submitted)
    counts["no-submission"] = len(no_submission)
    per_task: dict[str, Counter] = {}
    for o in state.values():
        for cell, pts in o.by_cell.items():
            per_task.setdefault(cell, Counter())[pts] += 1
    summary = Summary(assignment, dict(counts), no_submission,
                      sorted(s for s, o in state.items() if s in submitted and o.needs_manual),
                      {c: _distribution(d) for c, d in sorted(per_task.items())}, dict(sorted(state.items())))
    out = state_dir(root, assignment)
    write_json(out / "summary.json", summary.as_json())
    (out / "summary.md").write_text(summary.render())
    return summary
