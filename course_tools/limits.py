"""Process limits set by a single-threaded exec wrapper (TA side, not student-facing).

    python -m course_tools.limits --mem-mb 4096 [--cpu K [--slots N]] [--fsize-mb N] [--threads 1] \\
        [--nice N] [--ppid PID] -- cmd args...

sets, in this order, then ``os.execvp(cmd)``:

- PR_SET_PDEATHSIG = SIGKILL: ``cmd`` is killed when the process that started it dies. Linux
  sends it when the parent *thread* exits, so start the wrapper from a thread that outlives the
  child (a ThreadPoolExecutor worker does). With ``--ppid`` the wrapper exits at once when its
  parent is already not that pid (the parent died before the prctl).
- RLIMIT_AS (``--mem-mb``), RLIMIT_FSIZE (``--fsize-mb``), RLIMIT_CORE = 0 (no core files).
- ``--cpu K``: sched_setaffinity to slot K's share of the CPUs this process may use now, so a
  neighbour's busy threads cannot slow it down: with ``--slots N`` (default: one per CPU) and C
  CPUs, slot K gets the CPUs whose index is K modulo N when N < C (``--cpu 0 --slots 1`` on
  {0, 1} keeps {0, 1}: one grading job's kernel and clean room run side by side), else the one
  CPU K modulo C (``--cpu 1`` on {0, 1} pins to {1}).
- the thread-count variables of OpenMP, MKL, OpenBLAS, BLIS, numexpr, Accelerate and torch
  (``THREAD_ENV``) to ``--threads`` (default 1), so numpy and torch do not start one thread per
  core of the machine; course_tools/sandbox.py passes them on into the sandbox.
- ``--nice N``: os.nice(N).

Why a wrapper and not ``subprocess.Popen(preexec_fn=...)``: preexec_fn runs Python code between
fork and exec, which is unsafe when the parent has threads (a lock held by another thread at
fork time deadlocks the child). The wrapper is a fresh single-threaded process; it imports only
the standard library (no torch, no nbgrader), so its start costs a few tens of milliseconds.
``limited(cmd, ...)`` returns the prefixed argv; ``apply(...)`` sets the same limits in-process
(course_tools/sandbox.py calls it right before it execs bubblewrap).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys

# Read by the libraries that start worker threads; all set to --threads.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "NUMEXPR_MAX_THREADS", "VECLIB_MAXIMUM_THREADS",
              "TORCH_NUM_THREADS", "TORCH_NUM_INTEROP_THREADS")

_PR_SET_PDEATHSIG = 1
MIB = 1024 * 1024


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (thread) dies (prctl PR_SET_PDEATHSIG)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def pick_cpus(k: int, slots: int | None = None) -> set[int]:
    """Slot K's share of the CPUs this process may run on now, when ``slots`` slots share them:
    every CPU whose index is K modulo ``slots`` if there are more CPUs than slots, else the one
    CPU K modulo their number (``slots`` None: one slot per CPU)."""
    cpus = sorted(os.sched_getaffinity(0))
    if slots is not None and 0 < slots < len(cpus):
        return {c for i, c in enumerate(cpus) if i % slots == k % slots}
    return {cpus[k % len(cpus)]}


def _set(limit: int, value: int) -> None:
    soft, hard = resource.getrlimit(limit)
    if hard != resource.RLIM_INFINITY and value > hard:
        value = hard  # a limit can only be lowered
    resource.setrlimit(limit, (value, value))


def apply(*, mem_mb: int | None = None, cpu: int | None = None, slots: int | None = None,
          fsize_mb: int | None = None, threads: int | None = 1, nice: int | None = None,
          pdeathsig: bool = True, ppid: int | None = None) -> None:
    """Set the limits on this process (inherited by what it execs); see the module docstring."""
    if pdeathsig:
        die_with_parent()
        if ppid is not None and os.getppid() != ppid:
            os._exit(1)  # the parent died before the prctl: nobody will reap or wait for us
    if mem_mb is not None:
        _set(resource.RLIMIT_AS, mem_mb * MIB)
    if fsize_mb is not None:
        _set(resource.RLIMIT_FSIZE, fsize_mb * MIB)
    _set(resource.RLIMIT_CORE, 0)
    if cpu is not None:
        os.sched_setaffinity(0, pick_cpus(cpu, slots))
    if threads is not None:
        for key in THREAD_ENV:
            os.environ[key] = str(threads)
    if nice:
        os.nice(nice)


def limited(cmd: list[str], *, mem_mb: int, cpu: int | None = None, fsize_mb: int | None = None,
            threads: int = 1, nice: int | None = None, ppid: int | None = None) -> list[str]:
    """``cmd`` prefixed with this wrapper: run it with these limits (see the module docstring).

    The wrapper is run as a file (``python -S .../limits.py``), so it works from any cwd without
    course_tools on sys.path. ``ppid``: the pid of the process that will start the argv (pass
    ``os.getpid()``): the wrapper gives up if that parent is already gone.
    """
    argv = [sys.executable, "-S", os.path.abspath(__file__), "--mem-mb", str(mem_mb), "--threads", str(threads)]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    if fsize_mb is not None:
        argv += ["--fsize-mb", str(fsize_mb)]
    if nice:
        argv += ["--nice", str(nice)]
    if ppid is not None:
        argv += ["--ppid", str(ppid)]
    return [*argv, "--", *cmd]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m course_tools.limits", description=__doc__.split("\n")[0])
    p.add_argument("--mem-mb", type=int, required=True, help="RLIMIT_AS, MiB")
    p.add_argument("--cpu", type=int, default=None, help="pin to slot K's share of the allowed CPUs")
    p.add_argument("--slots", type=int, default=None, help="slots sharing the CPUs (default: one per CPU)")
    p.add_argument("--fsize-mb", type=int, default=None, help="RLIMIT_FSIZE, MiB")
    p.add_argument("--threads", type=int, default=1, help="value of the thread-count variables")
    p.add_argument("--nice", type=int, default=None)
    p.add_argument("--ppid", type=int, default=None, help="exit unless the parent is this pid")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        p.error("no command after --")
    apply(mem_mb=a.mem_mb, cpu=a.cpu, slots=a.slots, fsize_mb=a.fsize_mb, threads=a.threads, nice=a.nice, ppid=a.ppid)
    try:
        os.execvp(cmd[0], cmd)
    except OSError as err:
        print(f"course_tools.limits: cannot run {cmd[0]!r}: {err}", file=sys.stderr)
        os._exit(127)


if __name__ == "__main__":
    main()
