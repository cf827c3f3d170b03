"""One student's grading job: ``nbgrader autograde`` and the clean-room verdicts, in one process.

course_tools.autograde runs one job per student. A job is a process of its own (own session,
memory and file-size caps, pinned to its slot's share of the cores, killed with the whole session
at the wall limit), *forked* from a warm server instead of started as two fresh interpreters:

    autograde (threads) --start--> job server (single-threaded; nbgrader, torch and the clean
                                   room imported once)
                                     \\--fork--> job: limits, setsid, chdir; nbgrader autograde
                                                 in-process (its kernel: the bubblewrap sandbox)
                                         \\--fork--> its clean room, at the same time on a slot
                                                 of two cores or more, else after nbgrader:
                                                 course_tools.verdicts.grade_notebook per
                                                 notebook (its worker: the sandbox) -> JSON

Why: started fresh, every student cost two interpreters that import nbgrader (3.4 s of CPU on
the 2-core CI machine) and torch (1.4 s), before any of the student's notebook ran. The server is
multiprocessing's "forkserver": a fresh interpreter, never threaded, that forks each job, so the
jobs are safe to start from autograde's threads. No student code runs in the server or the job
(student code runs only in the sandboxed kernel and the sandboxed clean-room worker, which the
job starts as new processes), so a fork shares nothing a submission could have touched.

If autograde dies, the server sees its pipe close and exits, and each job (PR_SET_PDEATHSIG)
and the kernels and workers below it (the same, course_tools/limits.py) die with it.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from course_tools import limits

# What the server imports once; each job finds them in memory.
PRELOAD = ["nbgrader.apps.nbgraderapp", "nbgrader.apps.autogradeapp", "nbclient", "torch",
           "course_tools.verdicts", "course_tools.execute_limits", "course_tools.sandbox",
           # what the source notebooks' harness cells import in the clean room's grader
           "dgm_utils", "dgm_utils.plotting", "dgm_utils.scoring", "dgm_utils.cleanroom.standins"]

_lock = threading.Lock()


@dataclass
class Job:
    """Everything one job needs, sent to it when it is forked (plain data)."""

    root: str  # the course root (nbgrader's cwd)
    nbgrader_args: list[str]  # after ``nbgrader``: autograde ASSIGNMENT --student S ...
    env: dict[str, str]  # the job's whole environment (its kernel and worker inherit it)
    log: str  # nbgrader's output goes here (stdout and stderr)
    verdicts: list[tuple[str, str, str, str]]  # (source, submitted notebook, files dir, out JSON)
    use_sandbox: bool
    mem_mb: int
    cpu: int | None  # the job slot (limits.pick_cpus) ...
    slots: int | None  # ... of this many
    fsize_mb: int


@contextlib.contextmanager
def _starting():
    """While a job starts: the server, if it (re)starts now, gets one thread per library (torch and
    the BLAS libraries size their pools when the server imports them), and the job is not asked to
    re-import the caller's __main__ (a script, pytest): it runs ``run`` below and nothing else."""
    from multiprocessing import spawn

    saved = {k: os.environ.get(k) for k in limits.THREAD_ENV}
    original = spawn.get_preparation_data

    def prepare(name: str) -> dict:
        data = original(name)
        data.pop("init_main_from_name", None)
        data.pop("init_main_from_path", None)
        return data

    with _lock:
        os.environ.update({k: "1" for k in limits.THREAD_ENV})
        spawn.get_preparation_data = prepare
        try:
            yield
        finally:
            spawn.get_preparation_data = original
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def start(job: Job) -> multiprocessing.process.BaseProcess:
    """Fork ``job`` from the server (started on first use, restarted if it died); returns the
    process, whose pid leads its own session."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    proc = ctx.Process(target=run, args=(asdict(job),), daemon=False)
    with _starting():
        proc.start()
    return proc


def _redirect(log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)


def _autograde(args: list[str]) -> int:
    from nbgrader.apps.nbgraderapp import NbGraderApp

    try:
        NbGraderApp.launch_instance(argv=args)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


def _clean_room(job: Job) -> None:
    """The clean-room verdicts of every notebook, one JSON file each (in the job's forked child)."""
    from course_tools import verdicts as vd

    for source, submitted, files_dir, out in job.verdicts:
        report = vd.grade_notebook(Path(source), Path(submitted), Path(files_dir),
                                   use_sandbox=job.use_sandbox, cell_timeout_s=vd.cell_timeout_s())
        tmp = Path(out).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(report), indent=1))
        os.replace(tmp, out)  # a verdict file is whole or absent (absent: 0 points and a flag)
        print(f"course_tools.gradejob: clean room {Path(submitted).name}: {report.points:g} points "
              f"in {report.seconds:.1f} s")


def _fork_clean_room(job: Job) -> int:
    """Start the clean room beside nbgrader: a child forked now, while the job has one thread.

    The clean room reads only the submitted folder and the source (never nbgrader's output), so
    it need not wait (only on a slot of two cores, see ``side_by_side``). The child is in the
    job's session (killed with it at the wall limit) and dies with the job."""
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        limits.die_with_parent()
        if os.getppid() != parent:
            os._exit(1)  # the job died before the prctl
        _clean_room(job)
        code = 0
    except BaseException as err:  # noqa: BLE001 (no verdict file: autograde scores 0 and flags it)
        print(f"course_tools.gradejob: the clean room raised {type(err).__name__}: {err}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def side_by_side() -> bool:
    """Run the clean room beside the kernel? Only on a slot of two cores or more. On one core the
    two would share it for no gain (measured: 136.4 s against 135.6 s for 20 hw1 submissions at
    JOBS=2 on 2 cores), and the job's peak memory would double: a kernel and a worker that both
    fill their MEM_MB at once (a memory bomb in a solution cell runs in both)."""
    return len(os.sched_getaffinity(0)) >= 2


def run(spec: dict) -> None:
    """The job (in the forked process): limits, then nbgrader autograde and the clean-room verdicts,
    side by side on a slot of two cores or more (``side_by_side``), else one after the other (the
    clean room skipped when nbgrader failed). Exits with nbgrader's status once both are done
    (autograde ignores the verdicts when nbgrader failed)."""
    job = Job(**spec)
    os.setsid()  # autograde kills the job, its kernel and its worker as one session
    limits.apply(mem_mb=job.mem_mb, cpu=job.cpu, slots=job.slots, fsize_mb=job.fsize_mb, threads=1)
    os.environ.clear()
    os.environ.update(job.env)
    os.environ.update({k: "1" for k in limits.THREAD_ENV})
    os.chdir(job.root)
    _redirect(job.log)
    code = 1
    try:
        import torch

        torch.set_num_threads(1)
        beside = side_by_side()
        clean_room = _fork_clean_room(job) if beside else None
        began = time.monotonic()
        code = _autograde(job.nbgrader_args)
        print(f"course_tools.gradejob: nbgrader autograde exit {code} in {time.monotonic() - began:.1f} s")
        if clean_room is not None:
            os.waitpid(clean_room, 0)
        elif code == 0:  # a verdict file that is not written scores 0 and is flagged (autograde.clean_room)
            try:
                _clean_room(job)
            except BaseException as err:  # noqa: BLE001
                print(f"course_tools.gradejob: the clean room raised {type(err).__name__}: {err}", file=sys.stderr)
    except BaseException as err:  # noqa: BLE001 (the log says why; autograde classifies it)
        print(f"course_tools.gradejob: nbgrader autograde raised {type(err).__name__}: {err}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
