"""Autograde a whole class with nbgrader: one sandboxed process per student, N at a time.

    python -m course_tools.autograde hw1_foundations --jobs 2       # or: make autograde ASSIGNMENT=...

For each student in submitted/<student>/<assignment> it runs one grading job
(course_tools/gradejob.py: a process of its own, forked from a warm server, with its own session,
RLIMIT_AS memory cap and a wall-clock limit for the whole notebook): ``nbgrader autograde
--student`` in-process, whose kernel runs in the bubblewrap sandbox of course_tools/sandbox.py,
then the clean-room verdicts (course_tools/verdicts.py), which this module writes into the
gradebook. nbgrader does the grading; this module schedules, limits, classifies and summarises.

State, one JSON file per student, is written atomically under exports/grading/<assignment>/state/
once that student is finished. A re-run skips students whose record matches their current
submission (same files, same mtimes) and regrades the rest with --force, so a grader killed half
way finishes the job on the next run, and nbgrader's own --force keeps the gradebook consistent.
The summary (summary.json, summary.md) goes beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from course_tools import gradebook, gradejob, policy, sandbox, state, submission
from course_tools.nbgrader_course import REPO, tool_env
from course_tools.report import Summary, summarise
from course_tools.state import Outcome
from course_tools.submission import fingerprint, missing_files, monkey_patches, preflight, submitted_students

DB_RETRIES = 4  # "database is locked": sqlite writers collide when N processes finish together
LOG_TAIL_BYTES = 200_000


def _tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    """The last ``limit`` bytes of a log, decoded whatever bytes it holds."""
    with open(path, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
        return f.read().decode("utf-8", errors="replace")


# --- one student --------------------------------------------------------------------------

def _classify_log(log: str) -> str:
    """The one-line reason in nbgrader's output for a failed autograde."""
    if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log.lower():
        return "the kernel died (os._exit, a segfault or the memory cap): graded cells after it are lost"
    if "UnresponsiveKernelError" in log:
        return "the kernel stopped answering"
    if "MemoryError" in log:
        return "out of memory (RLIMIT_AS cap)"
    if "database is locked" in log:
        return "gradebook busy (database is locked)"
    for line in log.splitlines()[::-1]:
        if "Error" in line and "nbgrader" not in line.lower():
            return line.strip()[:200]
    return "nbgrader autograde failed; see the log"


def _executed_notes(folder: Path) -> tuple[list[str], bool]:
    """Notes from the autograded notebooks: cells that timed out; whether the kernel died."""
    notes, died = [], False
    for nb_path, cell in submission.cells(folder):
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            if out.get("ename") == "CellTimeoutError":
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "?")
                notes.append(f"{nb_path.name}: cell {gid} timed out (per-cell limit)")
            if out.get("ename") == "DeadKernelError" or "Kernel died" in str(out.get("evalue")):
                died = True
            if out.get("ename") == "SystemExit":
                notes.append(f"{nb_path.name}: called sys.exit (IPython caught it; grading went on)")
    return notes, died


def grade_one(root: Path, assignment: str, student: str, expected: list[str], *,
              use_sandbox: bool = True, wall_s: float, mem_mb: int, env: dict[str, str] | None = None,
              cpu: int | None = None, slots: int | None = None) -> Outcome:
    """Autograde one student in a process of its own; never raises for a bad submission.

    ``cpu``: the job slot, of ``slots`` (every process of this student is pinned to the slot's
    share of the cores, course_tools.limits.pick_cpus, so a neighbour's busy threads cannot slow
    it down; a slot with two cores runs the kernel and the clean room side by side).
    """
    start = time.monotonic()
    folder = root / "submitted" / student / assignment
    out = Outcome(student, "errored", fingerprint=fingerprint(folder))
    out.notes, fatal = preflight(folder, expected)
    if out.notes:
        out.fingerprint = fingerprint(folder)  # after the rename
    if fatal:
        out.reason, out.needs_manual = fatal, True
        out.seconds = time.monotonic() - start
        return out
    if missing := missing_files(root, assignment, folder):
        out.notes.append(f"submitted without {', '.join(missing)} (listed in solutions/{assignment}/collect.json): "
                         "the tests that read it score 0; ask the student for it")

    runtime = Path(tempfile.mkdtemp(prefix="dgm-"))  # short: unix socket paths are <108 bytes
    try:
        args = ["autograde", assignment, "--student", student, "--force", "--create"]
        extra = {"DGM_GRADE_MEM_MB": str(mem_mb), "JUPYTER_RUNTIME_DIR": str(runtime)}
        # Unix sockets in a private folder, sandbox or not: the sandboxed kernel has no shared
        # network, and N kernels starting at once cannot race for the same TCP port.
        args += ["--KernelManager.transport=ipc", f"--KernelManager.ip={runtime}/k"]
        if use_sandbox:
            sandbox.kernel_spec_dir(runtime / "share")
            args += [f"--Execute.kernel_name={sandbox.KERNEL_NAME}"]
            extra["JUPYTER_PATH"] = str(runtime / "share")
        full_env = tool_env({**(env or {}), **extra})
        source = root / "solutions" / assignment
        verdict_files = [(str(source / f"{n}.ipynb"), str(folder / f"{n}.ipynb"), str(folder),
                          str(runtime / f"verdicts-{n}.json")) for n in expected]
        # nbgrader's output goes to a file, read back bounded and decoded leniently, so no byte it
        # prints can crash us.
        log_path = runtime / "nbgrader.log"
        job = gradejob.Job(root=str(root), nbgrader_args=args, env=full_env, log=str(log_path),
                           verdicts=verdict_files, use_sandbox=use_sandbox,
                           mem_mb=mem_mb, cpu=cpu, slots=slots, fsize_mb=policy.LOG_FSIZE_MB)
        for attempt in range(DB_RETRIES):
            proc = gradejob.start(job)
            proc.join(timeout=max(1.0, wall_s - (time.monotonic() - start)))
            if proc.exitcode is None:
                _kill_session(proc)  # the job, its kernel and its worker: one session
                out.status, out.needs_manual = "timed-out", True
                out.reason = f"over the per-submission wall limit of {wall_s:.0f} s; not graded"
                out.seconds = time.monotonic() - start
                return out
            log = _tail(log_path) if log_path.exists() else ""
            if proc.exitcode == 0 or "database is locked" not in log:
                break
            time.sleep(1 + attempt)
        returncode = proc.exitcode
        state.save_log(root, assignment, student, log, LOG_TAIL_BYTES)
        graded_dir = root / "autograded" / student / assignment
        notes, died = _executed_notes(graded_dir)
        out.notes += notes
        if patched := monkey_patches(folder):
            out.notes.append("monkey-patches " + ", ".join(patched) + " (in its own process only: the "
                             "clean-room verdicts are not affected)")
        if returncode != 0:
            out.reason = _classify_log(log) if returncode > 0 else \
                f"the grading job was killed by signal {-returncode} (the memory cap?); see the log"
            out.needs_manual = True
        else:
            # The scores that count: computed where no student code ran (course_tools/verdicts.py).
            flags = clean_room(root, assignment, student, expected, runtime)
            score = gradebook.scores(root, assignment, student)
            out.score, out.max_score, out.by_cell = score.code_score, score.max_code_score, score.points
            out.needs_manual = score.needs_manual
            out.status = "graded"
            out.notes += flags
            out.needs_manual = out.needs_manual or bool(flags) or bool(missing)
            if died:
                out.notes.append("the kernel exited during grading (sys.exit/os._exit); the clean-room "
                                 "verdicts stand")
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    out.seconds = time.monotonic() - start
    return out


def _kill_session(proc) -> None:
    """SIGKILL the job's session (it calls setsid first thing; before that, the job alone)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.kill()
    proc.join()


def clean_room(root: Path, assignment: str, student: str, expected: list[str], runtime: Path) -> list[str]:
    """Write the clean-room verdicts the job computed for every notebook of the submission into
    the gradebook and the autograded notebooks. Returns the lines a TA must look at."""
    from course_tools import verdicts as vd

    flags: list[str] = []
    for name in expected:
        source = root / "solutions" / assignment / f"{name}.ipynb"
        try:
            report = vd.Report(**json.loads((runtime / f"verdicts-{name}.json").read_text()))
        except (OSError, ValueError, TypeError):
            report = vd.Report(f"{name}.ipynb", error="the clean-room grader did not finish (it crashed or "
                                                      "hit the memory cap; see the log)")
        if report.error or not report.cells:  # nothing trustworthy: every autograded cell scores 0
            gradebook.zero_autograded(root, assignment, student, name)
            flags.append(f"{name}.ipynb: clean-room grading failed ({report.error or 'no verdicts'}): "
                         "autograded cells scored 0, regrade or grade by hand")
            continue
        kernel = vd.kernel_scores(root / "autograded" / student / assignment / f"{name}.ipynb")
        vd.apply(gradebook.db_url(root), assignment, student, report)
        vd.annotate(root / "autograded" / student / assignment / f"{name}.ipynb", report)
        flags += vd.disagreements(report, kernel, vd.hidden_cells(source))
        flags += [f"{name}.ipynb: solution cell {cell} raised {err}" for cell, err in report.load_errors.items()
                  if "NotImplementedError" not in err]
    return flags


# --- the class ----------------------------------------------------------------------------

def grade_class(root: Path, assignment: str, jobs: int | None = None, *, students: list[str] | None = None,
                force: bool = False, use_sandbox: bool = True, wall_s: float | None = None,
                mem_mb: int | None = None, env: dict[str, str] | None = None,
                progress: bool = True) -> Summary:
    """Autograde every submission of ``assignment`` under ``root``; return the class's summary.

    ``jobs`` processes at a time (default: the number of cores). Students already graded with an
    unchanged submission are skipped unless ``force``.
    """
    from tqdm.auto import tqdm

    root = Path(root).resolve()
    if use_sandbox and sandbox.bwrap_path() is None:
        raise SystemExit("bubblewrap (bwrap) is not installed: `apt-get install -y bubblewrap`, or pass "
                         "--no-sandbox to grade WITHOUT isolation (trusted submissions only).")
    jobs = jobs or os.cpu_count() or 1
    wall_s = wall_s or policy.WALL_S.value()  # unset: the course's limits (course_tools/policy.py)
    mem_mb = mem_mb or policy.MEM_MB.value()
    expected = gradebook.notebooks(root, assignment)
    env = dict(env or {})
    if "DGM_DATA_DIR" not in env and not os.environ.get("DGM_DATA_DIR"):
        from dgm_utils.data import data_root  # once here: the sandbox needs the path spelled out

        env["DGM_DATA_DIR"] = str(data_root())
    todo_all = students or submitted_students(root, assignment)
    records = state.load(root, assignment)
    todo = [s for s in todo_all if force or s not in records
            or records[s].fingerprint != fingerprint(root / "submitted" / s / assignment)]
    for s in todo:  # no record while a student is in flight: a crash leaves them to regrade
        state.forget(root, assignment, s)
    bar = tqdm(total=len(todo), desc=f"autograde {assignment}", unit="student", disable=not progress)
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(jobs):
        slots.put(slot)

    def run(student: str) -> Outcome:
        slot = slots.get()  # job slot k runs on its share of the cores, see grade_one
        try:
            return grade_one(root, assignment, student, expected, use_sandbox=use_sandbox, wall_s=wall_s,
                             mem_mb=mem_mb, env=env, cpu=slot, slots=jobs)
        except Exception as err:  # noqa: BLE001 (one student's failure never stops the batch)
            return Outcome(student, "errored", reason=f"grading crashed: {type(err).__name__}: {err}"[:300],
                           needs_manual=True)
        finally:
            slots.put(slot)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run, s): s for s in todo}
        for fut in as_completed(futures):
            out = fut.result()
            state.save(root, assignment, out)
            records[out.student] = out
            score = f"{out.score:g}/{out.max_score:g}" if out.score is not None else "-"
            bar.write(f"{out.student:>20}  {out.status:<9} {score:>8}  {out.seconds:5.1f} s  {out.reason}")
            bar.set_postfix_str(f"{out.student}: {out.status}")
            bar.update()
    bar.close()
    summary = summarise(root, assignment, records)
    print(summary.render())
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("assignment")
    p.add_argument("--root", type=Path, default=REPO, help="course root (default: this repo)")
    p.add_argument("--jobs", "-j", type=int, default=None, help="processes at a time (default: cores)")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--force", action="store_true", help="regrade students already graded")
    p.add_argument("--wall", type=float, default=float(policy.WALL_S.value()),
                   help="seconds per submission, all notebooks (default %(default)s)")
    p.add_argument("--mem-mb", type=int, default=policy.MEM_MB.value(),
                   help="address-space cap per grading process, MiB (default %(default)s)")
    p.add_argument("--no-sandbox", action="store_true", help="no bubblewrap isolation (trusted code only)")
    a = p.parse_args(argv)
    summary = grade_class(a.root, a.assignment, a.jobs, students=a.student, force=a.force,
                          use_sandbox=not a.no_sandbox, wall_s=a.wall, mem_mb=a.mem_mb)
    return 0 if summary.counts.get("graded", 0) or not summary.students else 1


if __name__ == "__main__":
    sys.exit(main())
