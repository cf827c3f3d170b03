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
import hashlib
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_tools import gradejob, sandbox
from course_tools.nbgrader_course import REPO, tool_env

DEFAULT_WALL_S = 600  # per submission (all notebooks): a cell may take 120 s (nbgrader_config.py)
DB_RETRIES = 4  # "database is locked": sqlite writers collide when N processes finish together
LOG_FSIZE_MB = 512  # RLIMIT_FSIZE of a grading process: its log, the autograded notebook
LOG_TAIL_BYTES = 200_000


def _tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    """The last ``limit`` bytes of a log, decoded whatever bytes it holds."""
    with open(path, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
        return f.read().decode("utf-8", errors="replace")


@dataclass
class Outcome:
    """What happened to one student's submission; the JSON record of the state folder."""

    student: str
    status: str  # graded | errored | timed-out | no-submission
    reason: str = ""  # one line a TA can act on
    notes: list[str] = field(default_factory=list)  # e.g. "renamed a.ipynb -> ps0.ipynb"
    score: float | None = None  # autograded points (code cells)
    max_score: float | None = None
    by_cell: dict[str, float | None] = field(default_factory=dict)  # grade cell -> points
    needs_manual: bool = False
    seconds: float = 0.0
    fingerprint: str = ""


# --- paths and gradebook --------------------------------------------------------------------

def state_dir(root: Path, assignment: str) -> Path:
    return root / "exports" / "grading" / assignment


_env = tool_env  # the grading processes' environment: this venv first on PATH


def expected_notebooks(root: Path, assignment: str) -> list[str]:
    """Notebook names (without .ipynb) of ``assignment`` in the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    db = root / "gradebook.db"
    if not db.exists():
        raise SystemExit(f"No gradebook at {db}: run `make release` (nbgrader generate_assignment) first.")
    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            return sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)
        except MissingEntry:
            raise SystemExit(f"Assignment {assignment!r} is not in {db}: run `make release` first.") from None


def gradebook_students(root: Path) -> list[str]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return sorted(s.id for s in gb.students)


def submitted_students(root: Path, assignment: str) -> list[str]:
    base = root / "submitted"
    return sorted(p.parent.name for p in base.glob(f"*/{assignment}") if p.is_dir()) if base.exists() else []


def fingerprint(folder: Path) -> str:
    """Hash of the submission's file names, sizes and contents: a changed file means regrade."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


# --- before nbgrader: notebooks that are renamed, missing, empty or not JSON ----------------

def preflight(folder: Path, expected: list[str]) -> tuple[list[str], str]:
    """Fix what can be fixed in a submission folder; return (notes, fatal reason or "").

    A single unexpected notebook where one expected notebook is missing is taken as renamed and
    moved to the expected name (noted, so the TA sees it). A notebook that is empty or not
    valid JSON cannot be graded: that is fatal, with the reason.
    """
    notes: list[str] = []
    present = {p.stem for p in folder.glob("*.ipynb")}
    missing = [n for n in expected if n not in present]
    extra = sorted(present - set(expected))
    if len(missing) == 1 and len(extra) == 1:
        (folder / f"{extra[0]}.ipynb").rename(folder / f"{missing[0]}.ipynb")
        notes.append(f"renamed {extra[0]}.ipynb -> {missing[0]}.ipynb")
        missing = []
    if missing:
        return notes, "missing notebook(s): " + ", ".join(f"{n}.ipynb" for n in missing)
    for name in expected:
        path = folder / f"{name}.ipynb"
        text = path.read_text(encoding="utf-8", errors="replace")
        if not text.strip():
            return notes, f"{name}.ipynb is empty (0 cells): nothing to grade"
        try:
            json.loads(text)
        except json.JSONDecodeError as err:
            return notes, f"{name}.ipynb is not valid JSON (line {err.lineno}: {err.msg})"
    return notes, ""


def missing_files(root: Path, assignment: str, folder: Path) -> list[str]:
    """Files the assignment's collect.json lists (hw2's checkpoints) that the submission lacks."""
    from course_tools.collect import CollectError, load_spec

    try:
        spec = load_spec(root, assignment)
    except CollectError:
        return []  # no usable list: nothing to check (collect reports a broken collect.json)
    return [name for name in spec.files if not (folder / name).is_file()]


def monkey_patches(folder: Path) -> list[str]:
    """Module attributes a submission rebinds (``math.isclose = ...``, ``setattr(np, ...)``).

    In-process patching of what the tests call cannot be prevented (the tests run in the
    student's kernel), so it is detected in the source and flagged for a TA. A static scan:
    code hidden in exec() or getattr() chains is not seen.
    """
    import ast

    found: list[str] = []
    for _, cell in _cells(folder):
        if cell.get("cell_type") != "code":
            continue
        src = "".join(cell.get("source", ""))
        try:
            tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            continue
        modules = {a.asname or a.name.split(".")[0] for n in ast.walk(tree)
                   if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names} | {"builtins", "__builtins__"}
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            for t in targets:
                base = t
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(t, ast.Attribute) and isinstance(base, ast.Name) and base.id in modules:
                    found.append(ast.unparse(t))
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
                    and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in modules):
                found.append(f"setattr({node.args[0].id}, ...)")
    return sorted(set(found))


def _cells(folder: Path):
    """(notebook path, cell) for every cell of every readable notebook in ``folder``."""
    for nb_path in sorted(folder.glob("*.ipynb")):
        try:
            cells = json.loads(nb_path.read_text())["cells"]
        except (OSError, ValueError, KeyError):
            continue
        for cell in cells:
            yield nb_path, cell


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
    for nb_path, cell in _cells(folder):
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


def read_scores(root: Path, assignment: str, student: str) -> tuple[float, float, dict, bool]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        sub = gb.find_submission(assignment, student)
        by_cell = {f"{nb.name}/{g.name}": g.score for nb in sub.notebooks for g in nb.grades}
        return sub.code_score, sub.max_code_score, by_cell, bool(sub.needs_manual_grade)


def grade_one(root: Path, assignment: str, student: str, expected: list[str], *,
              use_sandbox: bool = True, wall_s: float = DEFAULT_WALL_S,
              mem_mb: int = sandbox.DEFAULT_MEM_MB, env: dict[str, str] | None = None,
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
        # PYTHONPATH: a course copy's nbgrader_config.py imports course_tools.execute_limits
        full_env = _env({**(env or {}), **extra, "PYTHONPATH": str(REPO)})
        source = root / "solutions" / assignment
        verdict_files = [(str(source / f"{n}.ipynb"), str(folder / f"{n}.ipynb"), str(folder),
                          str(runtime / f"verdicts-{n}.json")) for n in expected]
        # nbgrader's output goes to a file, read back bounded and decoded leniently, so no byte it
        # prints can crash us.
        log_path = runtime / "nbgrader.log"
        job = gradejob.Job(root=str(root), nbgrader_args=args, env=full_env, log=str(log_path),
                           verdicts=verdict_files, use_sandbox=use_sandbox,
                           mem_mb=mem_mb, cpu=cpu, slots=slots, fsize_mb=LOG_FSIZE_MB)
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
        (state_dir(root, assignment) / "logs").mkdir(parents=True, exist_ok=True)
        (state_dir(root, assignment) / "logs" / f"{student}.log").write_text(log[-200_000:])
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
            out.score, out.max_score, out.by_cell, out.needs_manual = read_scores(root, assignment, student)
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
    db_url = f"sqlite:///{root / 'gradebook.db'}"
    for name in expected:
        source = root / "solutions" / assignment / f"{name}.ipynb"
        try:
            report = vd.Report(**json.loads((runtime / f"verdicts-{name}.json").read_text()))
        except (OSError, ValueError, TypeError):
            report = vd.Report(f"{name}.ipynb", error="the clean-room grader did not finish (it crashed or "
                                                      "hit the memory cap; see the log)")
        if report.error or not report.cells:  # nothing trustworthy: every autograded cell scores 0
            from nbgrader.api import Gradebook

            with Gradebook(db_url) as gb:
                for grade in gb.find_submission_notebook(name, assignment, student).grades:
                    if grade.cell.cell_type == "code":
                        grade.auto_score = 0.0
                gb.db.commit()
            flags.append(f"{name}.ipynb: clean-room grading failed ({report.error or 'no verdicts'}): "
                         "autograded cells scored 0, regrade or grade by hand")
            continue
        kernel = vd.kernel_scores(root / "autograded" / student / assignment / f"{name}.ipynb")
        vd.apply(db_url, assignment, student, report)
        vd.annotate(root / "autograded" / student / assignment / f"{name}.ipynb", report)
        flags += vd.disagreements(report, kernel, vd.hidden_cells(source))
        flags += [f"{name}.ipynb: solution cell {cell} raised {err}" for cell, err in report.load_errors.items()
                  if "NotImplementedError" not in err]
    return flags


# --- the class ----------------------------------------------------------------------------

def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)  # atomic: a killed grader never leaves half a record


def load_state(root: Path, assignment: str) -> dict[str, Outcome]:
    records = {}
    for path in sorted((state_dir(root, assignment) / "state").glob("*.json")):
        try:
            records[path.stem] = Outcome(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            continue  # unreadable record: that student is regraded
    return records


def grade_class(root: Path, assignment: str, jobs: int | None = None, *, students: list[str] | None = None,
                force: bool = False, use_sandbox: bool = True, wall_s: float = DEFAULT_WALL_S,
                mem_mb: int = sandbox.DEFAULT_MEM_MB, env: dict[str, str] | None = None,
                progress: bool = True) -> dict:
    """Autograde every submission of ``assignment`` under ``root``; return the summary dict.

    ``jobs`` processes at a time (default: the number of cores). Students already graded with an
    unchanged submission are skipped unless ``force``.
    """
    from tqdm.auto import tqdm

    root = Path(root).resolve()
    if use_sandbox and sandbox.bwrap_path() is None:
        raise SystemExit("bubblewrap (bwrap) is not installed: `apt-get install -y bubblewrap`, or pass "
                         "--no-sandbox to grade WITHOUT isolation (trusted submissions only).")
    jobs = jobs or os.cpu_count() or 1
    expected = expected_notebooks(root, assignment)
    env = dict(env or {})
    if "DGM_DATA_DIR" not in env and not os.environ.get("DGM_DATA_DIR"):
        from dgm_utils.data import data_root  # once here: the sandbox needs the path spelled out

        env["DGM_DATA_DIR"] = str(data_root())
    todo_all = students or submitted_students(root, assignment)
    state = load_state(root, assignment)
    todo = [s for s in todo_all if force or s not in state
            or state[s].fingerprint != fingerprint(root / "submitted" / s / assignment)]
    for s in todo:  # no record while a student is in flight: a crash leaves them to regrade
        (state_dir(root, assignment) / "state" / f"{s}.json").unlink(missing_ok=True)
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
            _write_json(state_dir(root, assignment) / "state" / f"{out.student}.json", asdict(out))
            state[out.student] = out
            score = f"{out.score:g}/{out.max_score:g}" if out.score is not None else "-"
            bar.write(f"{out.student:>20}  {out.status:<9} {score:>8}  {out.seconds:5.1f} s  {out.reason}")
            bar.set_postfix_str(f"{out.student}: {out.status}")
            bar.update()
    bar.close()
    summary = summarise(root, assignment, state)
    print(summary["text"])
    return summary


def summarise(root: Path, assignment: str, state: dict[str, Outcome]) -> dict:
    """Counts by status, score distribution per grade cell, who needs manual grading."""
    enrolled = gradebook_students(root)
    submitted = set(submitted_students(root, assignment))
    counts = Counter({"graded": 0, "errored": 0, "timed-out": 0})
    counts.update(o.status for s, o in state.items() if s in submitted)
    no_submission = sorted(set(enrolled) - submitted)
    counts["no-submission"] = len(no_submission)
    per_task: dict[str, Counter] = {}
    for o in state.values():
        for cell, pts in o.by_cell.items():
            per_task.setdefault(cell, Counter())[pts] += 1
    manual = sorted(s for s, o in state.items() if s in submitted and o.needs_manual)
    lines = [f"# Autograde summary: {assignment}", "",
             "| status | students |", "|---|---|"]
    lines += [f"| {k} | {counts.get(k, 0)} |" for k in ("graded", "errored", "timed-out", "no-submission")]
    lines += ["", "## Score distribution per task (points: number of students)", ""]
    for cell in sorted(per_task):
        dist = ", ".join(f"{k if k is not None else 'ungraded'}: {v}"
                         for k, v in sorted(per_task[cell].items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))
        lines.append(f"- `{cell}`: {dist}")
    lines += ["", "## Needs a TA (manual grading, or grading failed)", ""]
    for s in manual:
        o = state[s]
        lines.append(f"- {s}: {o.status}" + (f" ({o.reason})" if o.reason else "")
                     + (f"; {'; '.join(o.notes)}" if o.notes else ""))
    if no_submission:
        lines += ["", "## No submission", "", ", ".join(no_submission)]
    summary = {"assignment": assignment, "counts": dict(counts), "no_submission": no_submission,
               "needs_manual": manual,
               "per_task": {c: {str(k): v for k, v in d.items()} for c, d in per_task.items()},
               "students": {s: asdict(o) for s, o in sorted(state.items())}}
    summary["text"] = "\n".join(lines) + "\n"
    out = state_dir(root, assignment)
    _write_json(out / "summary.json", {k: v for k, v in summary.items() if k != "text"})
    (out / "summary.md").write_text(summary["text"])
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("assignment")
    p.add_argument("--root", type=Path, default=REPO, help="course root (default: this repo)")
    p.add_argument("--jobs", "-j", type=int, default=None, help="processes at a time (default: cores)")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--force", action="store_true", help="regrade students already graded")
    p.add_argument("--wall", type=float, default=float(os.environ.get("DGM_GRADE_WALL_S", DEFAULT_WALL_S)),
                   help="seconds per submission, all notebooks (default %(default)s)")
    p.add_argument("--mem-mb", type=int, default=int(os.environ.get("DGM_GRADE_MEM_MB", sandbox.DEFAULT_MEM_MB)),
                   help="address-space cap per grading process, MiB (default %(default)s)")
    p.add_argument("--no-sandbox", action="store_true", help="no bubblewrap isolation (trusted code only)")
    a = p.parse_args(argv)
    summary = grade_class(a.root, a.assignment, a.jobs, students=a.student, force=a.force,
                          use_sandbox=not a.no_sandbox, wall_s=a.wall, mem_mb=a.mem_mb)
    return 0 if summary["counts"].get("graded", 0) or not summary["students"] else 1


if __name__ == "__main__":
    sys.exit(main())
