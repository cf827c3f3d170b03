"""Run a student's notebook kernel inside a bubblewrap sandbox (TA side, not student-facing).

Why: while nbgrader autogrades, the student's code runs in a Jupyter kernel on the TA's machine.
The grading process itself must read the gradebook and write grades, so the *kernel* is what we
confine. `kernel_spec_dir()` writes a kernel spec "dgm-sandbox" whose argv is this file; it execs

    bwrap --unshare-all --die-with-parent --new-session --clearenv ...  python -m ipykernel_launcher

with an allow-list file system: the Python install and venv (read-only), dgm_utils (read-only),
the MNIST cache (read-only; it must be filled before grading, the kernel cannot download), the student's own autograded folder (read-write), a private /tmp,
and the kernel's connection folder. Nothing else exists in its view: not solutions/, not the
gradebook, not submitted/ or autograded/ of other students, not $HOME. It gets a network
namespace of its own with only a loopback, so it cannot reach the network; nbgrader talks to it
over unix-domain sockets (KernelManager.transport = "ipc") in the connection folder.
Its address space is capped with RLIMIT_AS (DGM_GRADE_MEM_MB, default 4096 MiB).

Run by hand to check the sandbox: ``python course_tools/sandbox.py check``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

KERNEL_NAME = "dgm-sandbox"
DEFAULT_MEM_MB = 4096

# Environment variables the kernel may see; everything else (tokens, $HOME paths) is dropped.
PASS_ENV = ("DGM_FAST", "DGM_DEVICE", "DGM_DATA_DIR", "NBGRADER_EXECUTION", "LANG", "LC_ALL",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TZ", "PYDEVD_DISABLE_FILE_VALIDATION")

# /etc entries a Python kernel needs; /etc as a whole is not shown (it holds /etc/shadow).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "passwd", "group", "nsswitch.conf", "localtime",
             "hosts", "mime.types", "fonts")


def bwrap_path() -> str | None:
    """Path of the bwrap executable, or None when bubblewrap is not installed."""
    return shutil.which("bwrap")


def _dgm_utils_dir() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("dgm_utils")
    return Path(spec.origin).resolve().parent if spec and spec.origin else None


def bwrap_argv(workdir: Path, runtime_dirs: list[Path], command: list[str],
               read_only_files: list[Path] = ()) -> list[str]:
    """The bwrap command line that runs ``command`` confined to ``workdir`` (read-write).

    ``runtime_dirs`` are bound read-write too (the kernel's ipc sockets); ``read_only_files``
    (the connection file) are bound one by one, read-only.
    """
    bwrap = bwrap_path()
    if bwrap is None:
        raise RuntimeError("bubblewrap is not installed: run `apt-get install -y bubblewrap` "
                           "(Debian/Ubuntu) or grade with --no-sandbox on a trusted class only.")
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
            "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for d in ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/lib32"):
        if os.path.lexists(d):
            if os.path.islink(d):  # merged-/usr: /bin -> usr/bin
                argv += ["--symlink", os.readlink(d), d]
            else:
                argv += ["--ro-bind", d, d]
    for name in ETC_FILES:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    read_only = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.prefix)}
    if (pkg := _dgm_utils_dir()) is not None:
        read_only.add(pkg)
    # The MNIST cache: the grader sets DGM_DATA_DIR to dgm_utils.data.data_root() (the kernel's
    # $HOME differs, so the default would point elsewhere); resolved here, outside the sandbox.
    data = Path(os.environ["DGM_DATA_DIR"]).resolve() if os.environ.get("DGM_DATA_DIR") else None
    if data is not None and data.exists():
        read_only.add(data)
    for path in sorted(read_only, key=lambda p: len(p.parts)):
        if path.exists() and not str(path).startswith("/usr/") and str(path) != "/usr":
            argv += ["--ro-bind", str(path), str(path)]
    for path in [*runtime_dirs, workdir]:
        argv += ["--bind", str(path), str(path)]
    for path in read_only_files:
        argv += ["--ro-bind", str(path), str(path)]
    env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
    env.update(HOME="/tmp", MPLCONFIGDIR="/tmp/mpl", PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
               PYTHONDONTWRITEBYTECODE="1",
               # glibc reserves up to 8 x cores malloc arenas of 64 MiB address space each; on a
               # many-core machine that alone would hit the RLIMIT_AS cap.
               MALLOC_ARENA_MAX="2")
    for key, value in sorted(env.items()):
        argv += ["--setenv", key, value]
    argv += ["--chdir", str(workdir), "--", *command]
    return argv


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG).

    For the per-student nbgrader processes: if the grader is killed, they must not run on and
    race the re-run on the same student.
    """
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def cap_memory(mem_mb: int | None = None) -> None:
    """Cap this process's address space (inherited by children) at ``mem_mb`` MiB (RLIMIT_AS)."""
    mem_mb = mem_mb or int(os.environ.get("DGM_GRADE_MEM_MB", DEFAULT_MEM_MB))
    limit = mem_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def kernel_spec_dir(dest: Path) -> Path:
    """Write the "dgm-sandbox" kernel spec under ``dest``/kernels; return ``dest`` (a JUPYTER_PATH entry)."""
    spec = dest / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(Path(__file__).resolve()), "kernel", "-f", "{connection_file}"],
        "display_name": "Python 3 (dgm grading sandbox)",
        "language": "python",
        # The client interrupts over the control channel: a signal to bwrap would not reach it.
        "interrupt_mode": "message",
    }, indent=1))
    return dest


def _launch_kernel(args: list[str]) -> None:
    """Entry point of the kernel spec: exec ipykernel inside bwrap, with the memory cap."""
    connection_file = Path(args[args.index("-f") + 1]).resolve()
    info = json.loads(connection_file.read_text())
    if info.get("transport") != "ipc":
        raise SystemExit("dgm-sandbox needs KernelManager.transport=ipc: its kernel has no shared network.")
    # Bind the socket folder (private, made per student) and the connection *file* only: the
    # client may write that file to a shared folder such as /tmp, which must stay hidden.
    sockets = Path(info["ip"]).resolve().parent
    if sockets in (Path("/"), Path("/tmp")) or sockets in Path.cwd().resolve().parents:
        raise SystemExit(f"KernelManager.ip must be in a private folder, not {sockets}.")
    argv = bwrap_argv(Path.cwd().resolve(), [sockets],
                      [sys.executable, "-m", "ipykernel_launcher", *args],
                      read_only_files=[connection_file])
    cap_memory()
    os.execv(argv[0], argv)


def check() -> int:
    """Print what the sandbox hides: exit 0 when it works on this machine."""
    probe = ("import os, socket\n"
             "print('cwd', os.listdir('.'))\n"
             "print('root', sorted(os.listdir('/')))\n"
             "s = socket.socket(); s.settimeout(2)\n"
             "try:\n    s.connect(('1.1.1.1', 53)); print('network: REACHABLE')\n"
             "except OSError as e:\n    print('network: blocked', e)\n")
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        result = subprocess.run(bwrap_argv(Path(work), [], [sys.executable, "-c", probe]), text=True,
                                capture_output=True, cwd=work)
    print(result.stdout, result.stderr)
    return result.returncode


if __name__ == "__main__":
    if sys.argv[1:2] == ["kernel"]:
        _launch_kernel(sys.argv[2:])
    elif sys.argv[1:2] == ["check"]:
        sys.exit(check())
    else:
        sys.exit(__doc__)
