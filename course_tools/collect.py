"""Collect an LMS zip of submissions into submitted/ with nbgrader's zip_collect.

    python -m course_tools.collect hw1_foundations submissions.zip --students students.csv
    # or: make collect ASSIGNMENT=hw1_foundations ZIP=submissions.zip STUDENTS=students.csv

The zip (one per assignment, as an LMS "download all submissions" gives it) holds, at any depth,
either one folder per student or one flat file per student and notebook:

    <student_id>/<notebook>.ipynb          e.g. alice/hw1_foundations.ipynb
    <student_id>__<notebook>.ipynb         e.g. alice__hw1_foundations.ipynb   (two underscores)

`NAMED_REGEXP` is that pattern for nbgrader's FileNameCollectorPlugin. ``students.csv`` is the
roster for ``nbgrader db student import`` (columns: id, first_name, last_name, email). The report
lists roster students with no submission, files that match no student, and submitting ids that
are not on the roster.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from course_tools.nbgrader_course import REPO, nbgrader

# The last folder before the notebook, or the part of its name before "__", is the student id.
# zip_collect matches it against absolute paths under downloaded/<assignment>/extracted/<zip name>/.
NAMED_REGEXP = r".*/extracted/[^/]+/(?:.*/)?(?P<student_id>[A-Za-z0-9][A-Za-z0-9_.@-]*?)(?:__|/)(?P<file_id>[^/._][^/]*\.ipynb)$"


@dataclass
class CollectReport:
    """What a collect found: ids are student ids, files are paths inside the zip."""

    collected: list[str]
    no_submission: list[str]
    unmatched_files: list[str]
    not_on_roster: list[str]

    def text(self) -> str:
        lines = [f"collected: {len(self.collected)} student(s)"]
        if self.no_submission:
            lines.append(f"NO SUBMISSION ({len(self.no_submission)}): " + ", ".join(self.no_submission))
        if self.unmatched_files:
            lines.append(f"FILES MATCHING NO STUDENT ({len(self.unmatched_files)}), not collected "
                         "(the pattern is <student_id>/<notebook>.ipynb or <student_id>__<notebook>.ipynb):")
            lines += [f"  {f}" for f in self.unmatched_files]
        if self.not_on_roster:
            lines.append(f"NOT ON THE ROSTER ({len(self.not_on_roster)}): " + ", ".join(self.not_on_roster)
                         + "  (add them to students.csv, or delete submitted/<id>/)")
        return "\n".join(lines)


def collect(root: Path, assignment: str, archive: Path, students_csv: Path | None = None) -> CollectReport:
    """Import the roster, zip_collect ``archive`` into submitted/, and report what is off."""
    from course_tools.autograde import _env, gradebook_students

    root = Path(root).resolve()
    env = _env()
    if students_csv is not None:
        nbgrader(root, "db", "student", "import", str(Path(students_csv).resolve()), env=env)
    box = root / "downloaded" / assignment / "archive"
    if box.exists():
        shutil.rmtree(box)
    box.mkdir(parents=True)
    shutil.copy2(archive, box / Path(archive).name)
    nbgrader(root, "zip_collect", assignment, "--force",
             f"--FileNameCollectorPlugin.named_regexp={NAMED_REGEXP}", env=env)
    # Which files matched, computed the way zip_collect does (re.match on the absolute path).
    collected, unmatched = set(), []
    for path in sorted((root / "downloaded" / assignment / "extracted").rglob("*")):
        if not path.is_file():
            continue
        m = re.match(NAMED_REGEXP, str(path)) if path.suffix == ".ipynb" else None
        if m:
            collected.add(m.group("student_id"))
        else:
            unmatched.append(str(path.relative_to(root / "downloaded" / assignment / "extracted")))
    submitted = sorted(p.parent.name for p in (root / "submitted").glob(f"*/{assignment}"))
    roster = gradebook_students(root) if (root / "gradebook.db").exists() else []
    return CollectReport(
        collected=sorted(collected),
        no_submission=sorted(set(roster) - set(submitted)),
        unmatched_files=unmatched,
        not_on_roster=sorted(collected - set(roster)) if roster else [],
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("assignment")
    p.add_argument("archive", type=Path, help="the LMS zip of submissions")
    p.add_argument("--students", type=Path, help="roster CSV: id,first_name,last_name,email")
    p.add_argument("--root", type=Path, default=REPO)
    a = p.parse_args(argv)
    if not a.archive.is_file():
        p.error(f"no such zip: {a.archive}")
    report = collect(a.root, a.assignment, a.archive, a.students)
    print(report.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
