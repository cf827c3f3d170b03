"""The release round trip: is assignments/ exactly what nbgrader makes of solutions/, and does it grade right?

For each assignment, on a throw-away copy of the course:
1. ``generate_assignment`` from solutions/ and compare with the committed assignments/<id>/;
2. autograde the source (solutions and hidden tests inside), with the reference checkpoints of
   solutions/<id>/reference/ placed beside it as a student would submit theirs -> full marks;
3. autograde the committed release (stubs) -> zero, and the release with its kernel tampered by
   each route of course_tools/tamper.py -> zero and flagged for a TA (clean-room verdicts);
4. scan the release for solution or hidden-test text, and for files that must not ship.

    python -m course_tools.roundtrip                 # every assignment
    python -m course_tools.roundtrip hw1_foundations # one

Exit status 1 with a list of problems (each says which command fixes it), 0 when all is well.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import policy, tamper
from .autograde import grade_class
from .gradebook import Score, scores
from .nbgrader_course import REPO, SOLUTION_MARKERS, assignment_ids, copy_course, generate, solution_lines, submit

FIX_RELEASE = "run `make release` (nbgrader generate_assignment) and commit assignments/"


@dataclass
class RoundTrip:
    """What the round trip found for one assignment."""

    assignment: str
    stale: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    source_score: Score | None = None
    release_score: Score | None = None
    tampered: dict[str, tuple[float, bool]] = field(default_factory=dict)  # route -> (points, flagged)

    @property
    def problems(self) -> list[str]:
        out = [f"{self.assignment}: release out of sync: {s} ({FIX_RELEASE})" for s in self.stale]
        out += [f"{self.assignment}: leak: {s}" for s in self.leaks]
        if self.source_score is not None and not self.source_score.full_marks:
            lost = {k: v for k, v in self.source_score.by_cell.items() if v[0] != v[1]}
            out.append(
                f"{self.assignment}: the solution scores {self.source_score.code_score}/"
                f"{self.source_score.max_code_score}, not full marks; failing cells: {lost}"
            )
        if self.release_score is not None and self.release_score.code_score != 0:
            won = {k: v for k, v in self.release_score.by_cell.items() if v[0]}
            out.append(
                f"{self.assignment}: the released stubs score {self.release_score.code_score}, not 0; "
                f"cells that pass on stubs: {won}"
            )
        for route, (points, flagged) in self.tampered.items():
            if points or not flagged:
                out.append(f"{self.assignment}: the release with its kernel tampered ({route}, course_tools/tamper.py) "
                           f"scores {points} (expected 0) and is {'' if flagged else 'not '}flagged for a TA")
        return out


def _files(folder: Path) -> dict[str, Path]:
    return {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*")) if p.is_file()}


def compare_release(generated: Path, committed: Path) -> list[str]:
    """Differences between a fresh ``generate_assignment`` and the committed release."""
    if not committed.is_dir():
        return [f"{committed} does not exist"]
    new, old = _files(generated), _files(committed)
    problems = [f"missing from the committed release: {n}" for n in sorted(set(new) - set(old))]
    problems += [f"in the committed release but not generated: {n}" for n in sorted(set(old) - set(new))]
    problems += [
        f"{n} differs from what generate_assignment makes"
        for n in sorted(set(new) & set(old))
        if not filecmp.cmp(new[n], old[n], shallow=False)
    ]
    return problems


def scan_release(release: Path, source: Path) -> list[str]:
    """Solution text, hidden tests or forbidden files in a release folder."""
    problems: list[str] = []
    secret = solution_lines(source)
    for name, path in _files(release).items():
        if path.suffix in policy.NEVER_RELEASED_SUFFIXES:  # code, weights, databases
            problems.append(f"{name}: a {path.suffix} file must not be released")
            continue
        if path.suffix != ".ipynb":
            continue
        text = path.read_text(encoding="utf-8")
        problems += [f"{name} contains the marker {m!r}" for m in SOLUTION_MARKERS if m in text]
        # Compare whole lines of the release's cells against the source's secret lines.
        for cell in json.loads(text)["cells"]:
            for line in "".join(cell["source"]).splitlines():
                if line.strip() in secret:
                    problems.append(f"{name} contains solution/hidden-test line {line.strip()!r}")
    return problems


def run(assignment: str, root: Path = REPO, workdir: Path | None = None, grade: bool = True,
        routes: tuple[str, ...] = tamper.ROUTES) -> RoundTrip:
    """The full round trip of one assignment on a throw-away copy of the course at ``root``;
    ``routes``: the tamper routes tried on its release (every one, unless a test of the round
    trip's own checks needs none)."""
    owns_tmp = workdir is None
    work = Path(tempfile.mkdtemp(prefix=f"roundtrip-{assignment}-")) if owns_tmp else workdir
    try:
        course = copy_course(work / "course", root=root)
        committed = work / "committed"
        release_dir = course / "assignments" / assignment
        if release_dir.exists():
            shutil.copytree(release_dir, committed)
        generated = generate(course, assignment)
        result = RoundTrip(assignment)
        result.stale = compare_release(generated, committed)
        result.leaks = scan_release(committed if committed.exists() else generated, course / "solutions" / assignment)
        if grade:
            solution = submit(course, assignment, "solution", course / "solutions" / assignment)
            # A load-or-train assignment's reference checkpoints (solutions/<id>/reference/) are
            # submitted beside the notebook, as a student submits theirs.
            reference = course / "solutions" / assignment / "reference"
            for ckpt in sorted(reference.glob("*")) if reference.is_dir() else []:
                if ckpt.is_file():
                    shutil.copy2(ckpt, solution / ckpt.name)
            students = ["solution"]
            if committed.exists():
                submit(course, assignment, "release", committed)
                students.append("release")
                for route in routes:  # the release, blank, with the kernel tampered
                    folder = submit(course, assignment, route, committed)
                    for nb in folder.glob("*.ipynb"):
                        nb.write_text(json.dumps(tamper.tampered(json.loads(nb.read_text()), route)))
                    students.append(route)
            summary = grade_class(course, assignment, min(2, os.cpu_count() or 1), students=students,
                                  force=True, progress=False)
            for student in students:
                outcome = summary.students[student]
                if outcome.status != "graded":
                    raise RuntimeError(f"autograde of {student} in {course} ended {outcome.status}: {outcome.reason}")
            result.source_score = scores(course, assignment, "solution")
            if committed.exists():
                result.release_score = scores(course, assignment, "release")
                for route in routes:
                    outcome = summary.students[route]
                    result.tampered[route] = (scores(course, assignment, route).code_score,
                                              any(tamper.FLAG in n for n in outcome.notes))
        return result
    finally:
        if owns_tmp:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: every folder of solutions/)")
    parser.add_argument("--no-grade", action="store_true", help="only check sync and leaks (fast)")
    args = parser.parse_args(argv)
    problems: list[str] = []
    for assignment in args.assignments or assignment_ids():
        result = run(assignment, grade=not args.no_grade)
        status = "ok" if not result.problems else "FAIL"
        detail = ""
        if result.source_score is not None:
            detail = f" solution {result.source_score.code_score}/{result.source_score.max_code_score}"
        if result.release_score is not None:
            detail += f", release {result.release_score.code_score}/{result.release_score.max_code_score}"
        if result.tampered:
            detail += f", tampered release {max(p for p, _ in result.tampered.values())} at most, " \
                      f"{sum(f for _, f in result.tampered.values())}/{len(result.tampered)} flagged"
        print(f"{assignment}: {status}{detail}")
        problems += result.problems
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
