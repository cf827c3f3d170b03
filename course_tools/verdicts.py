"""Clean-room verdicts of one submission: the autograded scores that count.

    python -m course_tools.verdicts SOURCE.ipynb SUBMITTED.ipynb --files-dir DIR --out verdicts.json

The student's notebook still runs in nbgrader's sandboxed kernel (students and TAs see that run),
but a verdict computed in the student's kernel can be forged by code in that kernel. So this
process, in which no student code ever runs, executes the *source* notebook's test cells (visible
and hidden) and calls the student's functions through the clean room (dgm_utils.cleanroom): the
student's solution cells run in a worker of their own, sandboxed like the kernel, which answers
calls with plain data. `apply` then writes these verdicts into the gradebook as the autograded
scores of the same grade cells and puts them in the autograded notebook, so formgrader, feedback
and export show them; cells where the kernel's own result differs are listed for a TA.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_tools import markers, policy
from dgm_utils.cleanroom import notebook
from dgm_utils.cleanroom.session import CALL_TIMEOUT_S, Session, run_tests



def cell_timeout_s() -> float:
    """Seconds per test call: DGM_CELL_TIMEOUT, the per-cell limit nbgrader's kernel run has too."""
    return float(policy.CELL_TIMEOUT_S.value())


@dataclass
class Report:
    """What the clean room decided for one notebook of one submission."""

    notebook: str
    cells: dict[str, dict] = field(default_factory=dict)  # grade id -> Verdict as a dict
    load_errors: dict[str, str] = field(default_factory=dict)  # solution cell -> its error
    error: str = ""  # the clean room itself could not grade (then every cell scores 0)
    seconds: float = 0.0

    @property
    def points(self) -> float:
        return sum(c["points"] for c in self.cells.values())


def worker_command(files_dir: Path, *, use_sandbox: bool) -> tuple[list[str], str | None]:
    """(argv, cwd) of the student's worker: in the grading sandbox, or a plain subprocess."""
    argv = [sys.executable, "-m", "dgm_utils.cleanroom.worker"]
    if not use_sandbox:
        return argv, str(files_dir)
    from course_tools import sandbox

    # bwrap clears the environment: what the worker needs is passed to the builder
    return sandbox.sandboxed_command(argv, files_dir=files_dir, workdir=files_dir,
                                     env={"NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "Agg"}), None


def grade_notebook(source: Path, submitted: Path, files_dir: Path, *, use_sandbox: bool = True,
                   cell_timeout_s: float = CALL_TIMEOUT_S, env: dict[str, str] | None = None) -> Report:
    """Clean-room verdicts for ``submitted`` against ``source``'s tests; never raises for a bad
    submission (an unreadable notebook gives a Report whose ``error`` says why)."""
    start = time.monotonic()
    report = Report(source.name)
    try:
        student = notebook.read(submitted)
    except (OSError, ValueError) as err:
        student = {"cells": []}
        report.load_errors["<notebook>"] = f"unreadable notebook: {type(err).__name__}: {err}"
    plan = notebook.plan(notebook.read(source), student)
    scratch = None
    if not use_sandbox:  # the worker writes where it runs: a throw-away copy, never the submission
        scratch = Path(tempfile.mkdtemp(prefix="dgm-cleanroom-"))
        files_dir = Path(shutil.copytree(files_dir, scratch / "work", symlinks=False,
                                         ignore=shutil.ignore_patterns("*.ipynb")))
    argv, cwd = worker_command(files_dir, use_sandbox=use_sandbox)
    worker_env = {**os.environ, **(env or {}), "MPLBACKEND": "Agg", "NBGRADER_EXECUTION": "autograde"}
    try:
        with Session(argv, cwd=cwd, env=worker_env, call_timeout_s=cell_timeout_s,
                     load_timeout_s=max(30.0, 2.5 * cell_timeout_s)) as session:
            verdicts = run_tests(session, plan["harness"], [], plan["tests"], plan["contract"],
                                 worker_cells=plan["worker_cells"], cell_timeout_s=cell_timeout_s)
            report.load_errors.update({k: f"{v.get('type')}: {v.get('message', '')}"[:500]
                                       for k, v in session.load_errors.items() if isinstance(v, dict)})
        report.cells = {v.cell: asdict(v) for v in verdicts}
    except Exception as err:  # noqa: BLE001 (the batch goes on; the TA sees why)
        report.error = f"{type(err).__name__}: {err}"[:1000]
        report.cells = {c.id: {"cell": c.id, "points": 0.0, "max_points": c.points, "passed": False,
                               "message": "not graded: the clean room failed", "seconds": 0.0}
                        for c in plan["tests"]}
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    report.seconds = time.monotonic() - start
    return report


# --------------------------------------------------------------------------- applying verdicts


def kernel_scores(autograded_nb: Path) -> dict[str, bool]:
    """grade id -> whether the test cell passed in the kernel's own run (nbgrader's rule:
    no error output and nothing on stderr)."""
    from nbgrader.utils import determine_grade

    out = {}
    try:
        nb = notebook.read(autograded_nb)
    except (OSError, ValueError):
        return out
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution"):
            import nbformat

            points, max_points = determine_grade(nbformat.from_dict(cell))
            out[meta["grade_id"]] = points == max_points
    return out


def annotate(autograded_nb: Path, report: Report) -> None:
    """Put each test cell's clean-room verdict in place of the kernel's outputs (atomically)."""
    try:
        nb = notebook.read(autograded_nb)
    except (OSError, ValueError):
        return
    for cell in nb.get("cells", []):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("cell_type") != "code" or gid not in report.cells:
            continue
        v = report.cells[gid]
        if v["passed"]:
            cell["outputs"] = [{"output_type": "stream", "name": "stdout",
                                "text": f"Graded: passed ({v['points']:g} of {v['max_points']:g} points)\n"}]
        else:
            msg = v["message"] or "failed"
            cell["outputs"] = [{"output_type": "error", "ename": "GradedFailed", "evalue": msg,
                                "traceback": [f"Graded: failed (0 of {v['max_points']:g} points): {msg}"]}]
    tmp = autograded_nb.with_name(f".{autograded_nb.name}.tmp")
    tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, autograded_nb)  # replaces a planted symlink itself, never its target


def apply(db_url: str, assignment: str, student: str, report: Report) -> None:
    """Write the verdicts as the autograded scores of the grade cells of this notebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        nb = gb.find_submission_notebook(Path(report.notebook).stem, assignment, student)
        for grade in nb.grades:
            if grade.cell.cell_type == "code" and grade.name in report.cells:
                grade.auto_score = float(report.cells[grade.name]["points"])
        gb.db.commit()


FORGED = "passed in the kernel but failed in the clean room"  # the TA's flag for a forged kernel verdict


def disagreements(report: Report, kernel: dict[str, bool], hidden: set[str]) -> list[str]:
    """One line per test cell where the kernel's run and the clean room disagree."""
    lines = []
    for gid, v in report.cells.items():
        if gid in kernel and kernel[gid] != v["passed"]:
            where = FORGED if kernel[gid] else \
                "failed in the kernel (an error or stderr output) but passed in the clean room"
            why = f": {v['message'][:160]}" if (kernel[gid] and gid not in hidden) else ""
            lines.append(f"{report.notebook}: {gid} {where}{why}")
    return lines


def hidden_cells(source: Path) -> set[str]:
    nb = notebook.read(source)
    return {c["metadata"]["nbgrader"]["grade_id"] for c in nb.get("cells", [])
            if c.get("cell_type") == "code" and notebook.is_test(c) and markers.has(notebook._source(c), markers.HIDDEN_TESTS)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("source", type=Path)
    p.add_argument("submitted", type=Path)
    p.add_argument("--files-dir", type=Path, required=True, help="the submission's folder (checkpoints)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--no-sandbox", action="store_true")
    p.add_argument("--cell-timeout", type=float, default=cell_timeout_s())
    a = p.parse_args(argv)
    report = grade_notebook(a.source, a.submitted, a.files_dir, use_sandbox=not a.no_sandbox,
                            cell_timeout_s=a.cell_timeout)
    a.out.write_text(json.dumps(asdict(report), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
