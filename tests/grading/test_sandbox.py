"""Attacks on the grading sandbox (course_tools/sandbox.py), its limits and its output caps.

Each probe is an attack a submission can make; each test states what must stop it. The probes
run through the real entry points: `sandbox.sandboxed_command` (a command in a scratch folder)
and the "dgm-sandbox" kernel spec started by jupyter_client as nbgrader starts it (transport ipc,
JUPYTER_PATH from `sandbox.kernel_spec_dir`, autograde.py's runtime layout), both as root (as CI
grades) and as an ordinary user (uid 65534, in a private mount namespace that makes the Python
install under /root readable to it: nothing outside this test's processes changes).

To see which attacks succeed on another version of the sandbox, point the tests at it:

    git show HEAD:course_tools/sandbox.py > /tmp/old/sandbox_old.py
    git show HEAD:nbgrader_config.py > /tmp/old/nbgrader_config_old.py
    DGM_TEST_SANDBOX_FILE=/tmp/old/sandbox_old.py DGM_TEST_NBGRADER_CONFIG=/tmp/old/nbgrader_config_old.py \\
        pytest tests/grading/test_sandbox.py -p no:cacheprovider
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import grading_corpus
from course_tools import limits
from course_tools.gradebook import scores
from course_tools.nbgrader_course import REPO, nbgrader, tool_env

SANDBOX_FILE = Path(os.environ.get("DGM_TEST_SANDBOX_FILE") or REPO / "course_tools" / "sandbox.py").resolve()
NBGRADER_CONFIG = Path(os.environ.get("DGM_TEST_NBGRADER_CONFIG") or REPO / "nbgrader_config.py").resolve()
SCRATCH_MB = 8  # the scratch cap the probes are given (and /tmp's)
NOBODY = 65534
ZERO_CAPS = "0000000000000000"

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


# --- what runs inside the sandbox ------------------------------------------------------------

PROBE = r'''
import ctypes, errno, json, os, subprocess, sys
args = json.loads(sys.argv[1])
res = {}
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
for key in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Uid"):
    res[key] = status[key].strip()

def err(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

libc = ctypes.CDLL(None, use_errno=True)
MS_REMOUNT, MS_BIND = 32, 4096

def remount_rw(path):  # the syscall itself: not mount(8), which refuses non-root users by itself
    if libc.mount(None, path.encode(), None, MS_REMOUNT | MS_BIND, None) == 0:
        return "ok"
    return errno.errorcode.get(ctypes.get_errno(), "?")

def create_in(folder):
    path = os.path.join(folder, ".dgm-probe-" + args["token"])
    def make():
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        os.unlink(path)  # it got there: take it away again
    return err(make)

for name, path in {"usr": "/usr", "venv": sys.prefix, "python": sys.base_prefix,
                   "dgm_utils": args["dgm_utils"]}.items():
    res["remount:" + name] = remount_rw(path)
    res["mount(8):" + name] = subprocess.run(["mount", "-o", "remount,rw", path], capture_output=True).returncode
    res["create:" + name] = create_in(path)
res["remount:/etc/passwd"] = remount_rw("/etc/passwd")
res["open-w:/etc/passwd"] = err(lambda: os.close(os.open("/etc/passwd", os.O_WRONLY | os.O_APPEND)))
res["nested-userns"] = subprocess.run(["unshare", "-U", "true"], capture_output=True).returncode

res["cwd"] = os.getcwd()
res["listing"] = sorted(os.path.relpath(os.path.join(r, n), ".") for r, ds, fs in os.walk(".") for n in ds + fs)
res["read:a.txt"] = open("a.txt").read()
res["write:a.txt"] = err(lambda: open("a.txt", "a").write("changed"))
res["write:sub/b.txt"] = err(lambda: open("sub/b.txt", "w").write("changed"))
res["unlink:a.txt"] = err(lambda: os.unlink("a.txt"))
res["rename:a.txt"] = err(lambda: os.rename("a.txt", "moved.txt"))
res["create:new.txt"] = err(lambda: open("new.txt", "w").write("new"))
res["create:sub/new.txt"] = err(lambda: open("sub/new.txt", "w").write("new"))
res["symlink:planted"] = err(lambda: os.symlink(args["secret"], "planted"))
res["mkdir:newdir"] = err(lambda: os.mkdir("newdir"))
res["read:link"] = err(lambda: open("link").read())
res["read:secret"] = err(lambda: open(args["secret"]).read())

def fill(path, mb):
    def write():
        with open(path, "wb") as fh:
            for _ in range(mb):
                fh.write(b"\0" * (1 << 20))
                fh.flush()
    result = err(write)
    try:
        os.unlink(path)
    except OSError:
        pass
    return result

res["fill:scratch"] = fill("fill.bin", args["scratch_mb"] + 2)
res["fill:/tmp"] = fill("/tmp/fill.bin", args["scratch_mb"] + 2)
res["fill:/dev/shm"] = fill("/dev/shm/fill.bin", 66)
res["create:/"] = err(lambda: open("/dgm-probe", "w").close())
res["create:/dev"] = err(lambda: open("/dev/dgm-probe", "w").close())
procs = {}
for pid in (p for p in os.listdir("/proc") if p.isdigit()):
    try:
        procs[pid] = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")[:300]
    except OSError:
        pass
res["procs"] = procs
print("PROBE:" + json.dumps(res))
'''

# Executed in the sandboxed kernel. Writes past ipykernel to the fds it inherited.
KERNEL_CODE = r'''
import errno, json, os
res = {}
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
for key in ("CapEff", "CapPrm", "NoNewPrivs", "Uid"):
    res[key] = status[key].strip()
def err(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
MARK = b"\xff\xfe DGM-RAW-BYTES \xc3\x28\n"
res["fd1"] = err(lambda: os.write(1, MARK))
res["fd2"] = err(lambda: os.write(2, MARK))
res["proc-fd1"] = err(lambda: open("/proc/self/fd/1", "wb").write(MARK))
res["proc-1-fd1"] = err(lambda: open("/proc/1/fd/1", "wb").write(MARK))
res["pid1-fds"] = {}
for fd in (0, 1, 2):
    try:
        res["pid1-fds"][fd] = os.readlink(f"/proc/1/fd/{fd}")
    except OSError as e:
        res["pid1-fds"][fd] = errno.errorcode.get(e.errno)
def flood():
    chunk = b"DGM-FLOOD " * (1 << 17)  # 1.25 MiB
    for _ in range(80):  # 100 MiB
        os.write(2, chunk)
res["flood-fd2"] = err(flood)
res["rewrite-kernel-spec"] = err(lambda: open(SPEC, "w").write('{"argv": ["/bin/sh"]}'))
res["append-grader-log"] = err(lambda: open(LOG, "a").write("DeadKernelError"))
res["replace-grader-log"] = err(lambda: os.unlink(LOG))
res["socket-folder"] = sorted(os.listdir(os.path.dirname(LOG)))
# names the grader writes or reads there only later (autograde.py's clean-room verdicts)
res["plant-verdicts"] = err(lambda: open(os.path.join(os.path.dirname(LOG), "verdicts-ps0.json"), "w").write("{}"))
res["plant-symlink"] = err(lambda: os.symlink("/etc/passwd", os.path.join(os.path.dirname(LOG), "verdicts-ps1.json")))
res["create:new.txt"] = err(lambda: open("new.txt", "w").write("planted"))
res["symlink:planted"] = err(lambda: os.symlink("/etc/passwd", "planted"))
res["write:notebook.ipynb"] = err(lambda: open("notebook.ipynb", "a").write("x"))
res["threads"] = {k: os.environ.get(k) for k in THREAD_ENV}
res["pids"] = sorted(p for p in os.listdir("/proc") if p.isdigit())
res["cmdlines"] = [open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")[:200]
                   for p in res["pids"] if os.path.exists(f"/proc/{p}/cmdline")]
print("DGM-IOPUB-OK")
print("PROBE:" + json.dumps(res))
'''

# Runs outside the sandbox, as root or as the ordinary user: builds the sandbox with the module
# under test (loaded from its file) and runs a probe through it; prints one JSON line.
DRIVER = r'''
import importlib.util, json, os, subprocess, sys, time
from pathlib import Path
mode, args = sys.argv[1], json.loads(sys.argv[2])
spec = importlib.util.spec_from_file_location("sandbox_under_test", args["sandbox_file"])
sb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sb)
if mode == "fs":
    files_dir = Path(args["files_dir"])
    cmd = [sys.executable, "-c", args["probe"], json.dumps(args["probe_args"])]
    if hasattr(sb, "sandboxed_command"):
        argv = sb.sandboxed_command(cmd, files_dir=files_dir, scratch_mb=args["scratch_mb"])
    else:  # the old sandbox: the folder bound read-write
        argv = sb.bwrap_argv(files_dir, [], cmd)
    r = subprocess.run(argv, capture_output=True, cwd=files_dir, timeout=120)
    print(json.dumps({"rc": r.returncode, "stdout": r.stdout.decode(errors="replace")[-200000:],
                      "stderr": r.stderr.decode(errors="replace")[-5000:], "dgm_utils": str(sb._dgm_utils_dir())}))
    sys.exit(0)
from jupyter_client import KernelManager
runtime = Path(args["runtime"])
runtime.mkdir(mode=0o700)
sb.kernel_spec_dir(runtime / "share")  # autograde.py's layout: the spec inside the socket folder
(runtime / "nbgrader.log").write_text("the grader's log\n")  # ...and nbgrader's log
os.environ["JUPYTER_PATH"] = str(runtime / "share")
os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime)
km = KernelManager(kernel_name=sb.KERNEL_NAME, transport="ipc", ip=str(runtime / "k"))
with open(args["launcher_out"], "wb") as out, open(args["launcher_err"], "wb") as err:
    km.start_kernel(cwd=args["files_dir"], stdout=out, stderr=err)
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=120)
if mode == "orphan":  # the grader dies without shutting its kernel down
    print(json.dumps({"pid": km.provisioner.process.pid}), flush=True)
    os._exit(0)
got = {"stdout": [], "stderr_bytes": 0}
def hook(msg):
    if msg["msg_type"] == "stream":
        if msg["content"]["name"] == "stdout":
            got["stdout"].append(msg["content"]["text"])
        else:
            got["stderr_bytes"] += len(msg["content"]["text"])
reply = kc.execute_interactive(args["code"], timeout=300, output_hook=hook)
kc.stop_channels()
km.shutdown_kernel(now=True)
print(json.dumps({"status": reply["content"]["status"], "stdout": "".join(got["stdout"])[-200000:],
                  "stderr_bytes": got["stderr_bytes"], "evalue": reply["content"].get("evalue")}))
'''


def _parse_probe(text: str) -> dict:
    lines = [l for l in text.splitlines() if l.startswith("PROBE:")]
    assert lines, f"the probe printed no result:\n{text[-3000:]}"
    return json.loads(lines[-1][len("PROBE:"):])


# --- the two callers: root, and an ordinary user ---------------------------------------------

def _blocked_ancestor(path: Path) -> Path | None:
    """The outermost ancestor of ``path`` others cannot traverse (e.g. /root), or None."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


def _as_user_prefix(stage: Path) -> list[str]:
    """argv prefix: run as uid/gid 65534 with no capabilities, seeing this venv's Python.

    The interpreter lives under /root (0700): in a private mount namespace, a tmpfs over the
    blocked folder with only the Python install bound back makes it readable to the user.
    """
    drop = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--"]
    base = Path(sys.base_prefix).resolve()
    blocked = _blocked_ancestor(base)
    if blocked is None:
        return drop
    script = ('set -e; mount --rbind "$1" "$2"; mount -t tmpfs -o mode=0755,size=1m dgm "$3"; '
              'mkdir -p "$1"; mount --rbind "$2" "$1"; shift 3; exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
            str(base), str(stage), str(blocked), *drop]


@pytest.fixture(scope="module")
def world() -> Path:
    """A folder both callers can reach (pytest's tmp_path is 0700 root): root owns it, 0755."""
    base = Path(tempfile.mkdtemp(prefix="dgm-sbx-"))
    base.chmod(0o755)
    (base / "stage").mkdir()
    (base / "home").mkdir()
    os.chown(base / "home", NOBODY, NOBODY)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module", params=["root", "user"])
def caller(request, world) -> dict:
    """How to run a driver as this caller: argv prefix and environment."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(REPO),
           "LANG": "C.UTF-8", "HOME": str(world / "home") if request.param == "user" else os.environ.get("HOME", "/root")}
    if request.param == "root":
        if os.getuid() != 0:
            pytest.skip("the root case needs the tests to run as root (as CI does)")
        return {"name": "root", "prefix": [], "env": env, "home": world / "rootside"}
    if os.getuid() != 0:
        return {"name": "user", "prefix": [], "env": env, "home": world / "home"}  # we are one
    prefix = _as_user_prefix(world / "stage")
    check = subprocess.run([*prefix, sys.executable, "-c", "import os; print(os.getuid())"],
                           capture_output=True, text=True, env=env)
    if check.returncode != 0 or check.stdout.strip() != str(NOBODY):
        pytest.skip(f"cannot run as uid {NOBODY} with this Python: {check.stderr.strip()[:300]}")
    userns = subprocess.run([*prefix, shutil.which("bwrap"), "--unshare-user", "--ro-bind", "/", "/", "true"],
                            capture_output=True, text=True, env=env)
    if userns.returncode != 0:
        pytest.skip(f"bubblewrap cannot run unprivileged here (no user namespaces?): {userns.stderr.strip()}")
    return {"name": "user", "prefix": prefix, "env": env, "home": world / "home"}


def _drive(caller: dict, mode: str, args: dict, timeout: float = 300) -> dict:
    result = subprocess.run([*caller["prefix"], sys.executable, "-c", DRIVER, mode, json.dumps(args)],
                            capture_output=True, text=True, env=caller["env"], timeout=timeout)
    assert result.returncode == 0, f"driver failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def _snapshot(folder: Path) -> dict:
    """Every entry of ``folder``: type, mode and content (or link target)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        st = os.lstat(path)
        rel = str(path.relative_to(folder))
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", os.readlink(path))
        elif stat.S_ISREG(st.st_mode):
            out[rel] = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
    return out


def _files_dir(where: Path, caller: dict) -> tuple[Path, Path]:
    """(a notebook folder with a file, a subfolder, a symlink out, a fifo; a secret beside it).

    The folder belongs to the caller, as a TA's own folder would: only the sandbox stops writes.
    """
    where.mkdir(parents=True, exist_ok=True)
    secret = where / "secret.txt"
    secret.write_text("the TA's file")
    files = where / "files"
    (files / "sub").mkdir(parents=True)
    (files / "emptydir").mkdir()
    (files / "a.txt").write_text("visible a")
    (files / "sub" / "b.txt").write_text("visible b")
    (files / "link").symlink_to(secret)
    os.mkfifo(files / "fifo")
    for p in [where, files, files / "sub", files / "emptydir"]:
        p.chmod(0o755)
    for p in [files / "a.txt", files / "sub" / "b.txt"]:
        p.chmod(0o666)  # writable to anyone on the host: only the read-only bind can stop a write
    if caller["name"] == "user" and os.getuid() == 0:
        for p in [files, *files.rglob("*")]:
            os.lchown(p, NOBODY, NOBODY)
    return files, secret


@pytest.fixture(scope="module")
def fs_probe(caller, world) -> dict:
    """The file-system probe, run once per caller through sandboxed_command."""
    where = world / f"fs-{caller['name']}"
    files, secret = _files_dir(where, caller)
    before = _snapshot(files)
    token = uuid.uuid4().hex
    dgm = subprocess.run([sys.executable, "-c", "import dgm_utils, os; print(os.path.dirname(dgm_utils.__file__))"],
                         capture_output=True, text=True).stdout.strip()
    args = {"sandbox_file": str(SANDBOX_FILE), "files_dir": str(files), "scratch_mb": SCRATCH_MB, "probe": PROBE,
            "probe_args": {"token": token, "dgm_utils": dgm, "secret": str(secret), "scratch_mb": SCRATCH_MB}}
    out = _drive(caller, "fs", args)
    res = _parse_probe(out["stdout"] + "\n" + out["stderr"])
    leftovers = [str(p) for d in ("/usr", sys.prefix, sys.base_prefix, dgm) for p in Path(d).glob(f".dgm-probe-{token}*")]
    return {"res": res, "before": before, "after": _snapshot(files), "leftovers": leftovers, "dgm": dgm,
            "files": files}


# --- A: no privilege ----------------------------------------------------------------------

def test_sandbox_has_no_capabilities_and_no_new_privs(fs_probe, caller):
    """Root's capabilities are not kept: the sandboxed process has none and cannot gain any."""
    res = fs_probe["res"]
    assert res["CapEff"] == ZERO_CAPS and res["CapPrm"] == ZERO_CAPS and res["CapBnd"] == ZERO_CAPS, res
    assert res["NoNewPrivs"] == "1", res
    assert res["Uid"].split()[0] == str(NOBODY), res
    assert res["nested-userns"] != 0, "a nested user namespace (full capabilities in it) was allowed"


@pytest.mark.parametrize("target", ["usr", "venv", "python", "dgm_utils"])
def test_read_only_binds_cannot_be_remounted_or_written(fs_probe, target):
    """/usr, the venv, the Python install and dgm_utils stay read-only: no remount, no write."""
    res = fs_probe["res"]
    assert res[f"remount:{target}"] != "ok", f"mount(MS_REMOUNT) made {target} writable"
    assert res[f"mount(8):{target}"] != 0, f"mount -o remount,rw {target} succeeded"
    assert res[f"create:{target}"] != "ok", f"created a file in {target} on the host"
    assert not fs_probe["leftovers"], fs_probe["leftovers"]


def test_etc_passwd_cannot_be_remounted_or_opened_for_writing(fs_probe):
    res = fs_probe["res"]
    assert res["remount:/etc/passwd"] != "ok" and res["open-w:/etc/passwd"] != "ok", res


# --- B: the scratch ------------------------------------------------------------------------

def test_scratch_shows_the_folders_regular_files_read_only(fs_probe):
    """cwd is the folder's own path; its files (subfolders too) are there, read-only; symlinks
    and special files are left out, and nothing outside the folder is reachable through them."""
    res = fs_probe["res"]
    assert res["cwd"] == str(fs_probe["files"])
    assert res["listing"] == ["a.txt", "emptydir", "sub", "sub/b.txt"], res["listing"]
    assert res["read:a.txt"] == "visible a"
    assert res["write:a.txt"] == "EROFS" and res["write:sub/b.txt"] == "EROFS", res
    assert res["unlink:a.txt"] != "ok" and res["rename:a.txt"] != "ok", res
    assert res["read:link"] == "ENOENT" and res["read:secret"] == "ENOENT", res


def test_writes_in_the_scratch_never_reach_the_host_folder(fs_probe):
    """New files, folders and symlinks can be made in the scratch; the host folder is unchanged."""
    res = fs_probe["res"]
    assert res["create:new.txt"] == "ok" and res["create:sub/new.txt"] == "ok", res
    assert res["symlink:planted"] == "ok" and res["mkdir:newdir"] == "ok", res
    assert fs_probe["after"] == fs_probe["before"], "the sandbox changed the host folder"


def test_scratch_tmp_and_shm_are_capped_and_the_rest_read_only(fs_probe):
    """Writing past scratch_mb fails (ENOSPC/EFBIG); so does filling /tmp or /dev/shm; / and
    /dev take no new files."""
    res = fs_probe["res"]
    for where in ("fill:scratch", "fill:/tmp", "fill:/dev/shm"):
        assert res[where] in ("ENOSPC", "EFBIG"), f"{where}: {res[where]}"
    assert res["create:/"] != "ok" and res["create:/dev"] != "ok", res


def test_sandbox_sees_only_its_own_processes(fs_probe):
    procs = fs_probe["res"]["procs"]
    assert 1 <= len(procs) <= 3, procs
    for cmdline in procs.values():
        assert cmdline.startswith(("bwrap", shutil.which("bwrap"), sys.executable)), procs
        assert "pytest" not in cmdline, procs


def test_environment_inside_is_an_allow_list(tmp_path, sandbox_under_test, monkeypatch):
    """Only PASS_ENV (and what the caller adds explicitly) is set inside: no tokens."""
    if not hasattr(sandbox_under_test, "sandboxed_command"):
        pytest.fail("this sandbox has no sandboxed_command")
    monkeypatch.setenv("DGM_TEST_TOKEN", "secret-token")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    argv = sandbox_under_test.sandboxed_command(
        [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        files_dir=tmp_path, scratch_mb=4, env={"NBGRADER_EXECUTION": "autograde"})
    inside = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    assert "DGM_TEST_TOKEN" not in inside and inside["NBGRADER_EXECUTION"] == "autograde"
    assert inside["OMP_NUM_THREADS"] == "1" and inside["HOME"] == "/tmp"
    assert set(inside) <= {*sandbox_under_test.PASS_ENV, "HOME", "MPLCONFIGDIR", "PATH", "PYTHONDONTWRITEBYTECODE",
                           "MALLOC_ARENA_MAX", "NBGRADER_EXECUTION", "PWD", "PYTHONPATH"}, sorted(inside)


def test_data_folder_reached_through_a_symlink_is_readable_inside(tmp_path, sandbox_under_test, monkeypatch):
    """DGM_DATA_DIR through a symlink (CI's ../shared is one): can the sandboxed process read the files?"""
    real = tmp_path / "real" / "mnist"
    real.mkdir(parents=True)
    (real / "t10k-labels-idx1-ubyte.gz").write_bytes(b"labels")
    (tmp_path / "shared").symlink_to(tmp_path / "real")
    monkeypatch.setenv("DGM_DATA_DIR", str(tmp_path / "shared" / "mnist"))
    files = tmp_path / "files"
    files.mkdir()
    argv = sandbox_under_test.sandboxed_command(
        [sys.executable, "-c", "import os, pathlib; d = pathlib.Path(os.environ['DGM_DATA_DIR']); "
                               "print((d / 't10k-labels-idx1-ubyte.gz').read_bytes().decode())"],
        files_dir=files, scratch_mb=4)
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "labels", (
        f"expected the data file readable inside the sandbox, got exit {proc.returncode}: {proc.stderr[-500:]}")


# --- C and D through the real kernel ------------------------------------------------------

def _kernel_args(caller: dict, world: Path, name: str, code: str = "") -> tuple[dict, Path]:
    where = world / f"kernel-{caller['name']}-{name}"
    files, _ = _files_dir(where, caller)
    (files / "notebook.ipynb").write_text("{}")
    (files / "notebook.ipynb").chmod(0o666)
    if caller["name"] == "user" and os.getuid() == 0:
        os.chown(files / "notebook.ipynb", NOBODY, NOBODY)
    home = caller["home"]
    home.mkdir(exist_ok=True)
    runtime = Path(tempfile.mkdtemp(prefix="dgm-", dir="/tmp"))  # short: a unix socket path < 108 bytes
    runtime.rmdir()
    spec = runtime / "share" / "kernels" / "dgm-sandbox" / "kernel.json"
    code = (f"SPEC = {str(spec)!r}\nLOG = {str(runtime / 'nbgrader.log')!r}\n"
            f"THREAD_ENV = {limits.THREAD_ENV!r}\n" + code)
    return {"sandbox_file": str(SANDBOX_FILE), "files_dir": str(files), "runtime": str(runtime), "code": code,
            "launcher_out": str(home / f"{name}.out"), "launcher_err": str(home / f"{name}.err")}, files


@pytest.fixture(scope="module")
def kernel_probe(caller, world) -> dict:
    args, files = _kernel_args(caller, world, "probe", KERNEL_CODE)
    before = _snapshot(files)
    env = {**caller["env"], **{k: "3" for k in limits.THREAD_ENV}}
    spec = Path(args["runtime"]) / "share" / "kernels" / "dgm-sandbox" / "kernel.json"
    try:
        out = _drive({**caller, "env": env}, "kernel", args)
        spec_text = spec.read_text() if spec.is_file() else "<gone>"
        log = Path(args["runtime"]) / "nbgrader.log"
        log_text = log.read_text(errors="replace") if log.is_file() else "<gone>"
        planted = [n for n in ("verdicts-ps0.json", "verdicts-ps1.json") if os.path.lexists(Path(args["runtime"]) / n)]
    finally:
        shutil.rmtree(args["runtime"], ignore_errors=True)
    launcher = {k: Path(args[f"launcher_{k}"]).read_bytes() for k in ("out", "err")}
    return {"out": out, "res": _parse_probe(out["stdout"]), "launcher": launcher,
            "before": before, "after": _snapshot(files), "spec_text": spec_text, "log_text": log_text,
            "planted": planted}


def test_kernel_runs_unprivileged(kernel_probe):
    res = kernel_probe["res"]
    assert res["CapEff"] == ZERO_CAPS and res["CapPrm"] == ZERO_CAPS and res["NoNewPrivs"] == "1", res
    assert res["Uid"].split()[0] == str(NOBODY), res


def test_kernel_writes_to_its_fds_never_reach_the_graders_pipes(kernel_probe):
    """Non-UTF-8 bytes and 100 MiB written to fds 1/2 (and /proc/self/fd/1) reach neither the
    launcher's stdout nor its stderr; cell output still comes back over iopub."""
    for name, data in kernel_probe["launcher"].items():
        assert b"DGM-RAW-BYTES" not in data and b"DGM-FLOOD" not in data, (
            f"the kernel's writes reached the launcher's std{name} ({len(data)} bytes)")
        assert len(data) < 64 * 1024, f"launcher std{name}: {len(data)} bytes"
    assert "DGM-IOPUB-OK" in kernel_probe["out"]["stdout"], "print() output did not come over iopub"
    pid1 = kernel_probe["res"]["pid1-fds"]  # bwrap's reaper, pid 1 in the sandbox, is reachable
    assert all(not str(t).startswith(("pipe:", "socket:")) for t in pid1.values()), pid1


def test_kernel_cannot_touch_what_the_grader_keeps_in_its_socket_folder(kernel_probe):
    """autograde.py keeps the kernel spec, nbgrader's log and later the clean-room verdicts in
    the folder of KernelManager.ip: a rewritten kernel.json would start the student's next kernel
    unsandboxed, a log or verdict file replaced by a symlink or a forged file would be followed or
    believed by the grader. The kernel sees that folder empty and nothing it writes lands there."""
    res = kernel_probe["res"]
    assert res["rewrite-kernel-spec"] != "ok" and "/bin/sh" not in kernel_probe["spec_text"], res
    assert kernel_probe["log_text"] == "the grader's log\n", "the kernel changed the grader's log"
    assert not kernel_probe["planted"], f"the kernel planted {kernel_probe['planted']} in the grader's folder"


def test_kernel_cannot_plant_files_or_symlinks_in_the_notebook_folder(kernel_probe):
    """What nbgrader writes and chmods after the run (autograded/<student>/<id>/) holds nothing
    the kernel made: its cwd is a scratch."""
    res = kernel_probe["res"]
    assert res["write:notebook.ipynb"] == "EROFS", res
    assert kernel_probe["after"] == kernel_probe["before"], "the kernel changed the notebook folder"


def test_kernel_sees_only_its_own_processes(kernel_probe):
    res = kernel_probe["res"]
    assert len(res["pids"]) <= 4, res["cmdlines"]
    assert not any("pytest" in c or "jupyter" in c.split(" ")[0] for c in res["cmdlines"]), res["cmdlines"]


def test_thread_variables_reach_the_kernel(kernel_probe):
    assert kernel_probe["res"]["threads"] == {k: "3" for k in limits.THREAD_ENV}


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _pids_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes() and _alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_kernel_dies_with_the_process_that_started_it(caller, world):
    """A grader killed mid-run leaves no kernel behind (PR_SET_PDEATHSIG on the launcher)."""
    args, _ = _kernel_args(caller, world, "orphan")
    try:
        pid = _drive(caller, "orphan", args, timeout=120)["pid"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (_alive(pid) or _pids_mentioning(args["runtime"])):
            time.sleep(0.2)
        left = [p for p in {pid, *_pids_mentioning(args["runtime"])} if _alive(p)]
        assert not left, f"kernel processes {left} outlived the grader"
    finally:
        for p in _pids_mentioning(args["runtime"]):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(args["runtime"], ignore_errors=True)


# --- D: the limits wrapper -----------------------------------------------------------------

def _run(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)


def test_limits_pins_to_one_cpu():
    r = _run([sys.executable, "-m", "course_tools.limits", "--mem-mb", "1024", "--cpu", "0", "--",
              sys.executable, "-c", "import os; print(os.sched_getaffinity(0))"], cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str({sorted(os.sched_getaffinity(0))[0]}), r.stdout
    if 0 in os.sched_getaffinity(0):
        assert r.stdout.strip() == "{0}"


def test_limits_gives_a_slot_its_share_of_the_cpus(monkeypatch):
    """Slot k of N < C CPUs gets every CPU whose index is k mod N; N >= C (or no N) gets one CPU."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {9, 4, 6, 2})
    assert limits.pick_cpus(0, 1) == {2, 4, 6, 9}
    assert limits.pick_cpus(1, 2) == {4, 9} and limits.pick_cpus(0, 2) == {2, 6}
    assert limits.pick_cpus(2, 3) == {6}
    assert limits.pick_cpus(1, 4) == {4} and limits.pick_cpus(5, 4) == {4} and limits.pick_cpus(3, None) == {9}


def test_limits_one_slot_keeps_every_cpu():
    r = _run([sys.executable, "-m", "course_tools.limits", "--mem-mb", "1024", "--cpu", "0", "--slots", "1", "--",
              sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"], cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(sorted(os.sched_getaffinity(0))), r.stdout


def test_limits_sets_rlimits_and_thread_variables():
    """RLIMIT_AS is applied (an allocation past it fails), RLIMIT_FSIZE and RLIMIT_CORE too,
    and every thread-count variable is set; limited() works from any cwd."""
    code = ("import json, os, resource\n"
            "out = {n: resource.getrlimit(getattr(resource, n)) for n in ('RLIMIT_AS', 'RLIMIT_FSIZE', 'RLIMIT_CORE')}\n"
            "out['env'] = {k: os.environ.get(k) for k in %r}\n"
            "try:\n    bytearray(400 << 20); out['alloc'] = 'ok'\nexcept MemoryError:\n    out['alloc'] = 'MemoryError'\n"
            "try:\n    open('/tmp/dgm-limits-%d', 'wb').write(b'x' * (3 << 20)); out['big'] = 'ok'\n"
            "except OSError as e:\n    out['big'] = e.errno\n"
            "finally:\n    os.path.exists('/tmp/dgm-limits-%d') and os.unlink('/tmp/dgm-limits-%d')\n"
            "print(json.dumps(out))\n") % (limits.THREAD_ENV, os.getpid(), os.getpid(), os.getpid())
    r = _run(limits.limited([sys.executable, "-c", code], mem_mb=256, fsize_mb=2, threads=1, ppid=os.getpid()), cwd="/")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["RLIMIT_AS"] == [256 << 20, 256 << 20] and out["alloc"] == "MemoryError", out
    assert out["RLIMIT_FSIZE"] == [2 << 20, 2 << 20] and out["big"] == 27, out  # EFBIG
    assert out["RLIMIT_CORE"] == [0, 0]
    assert out["env"] == {k: "1" for k in limits.THREAD_ENV}


def test_limits_child_dies_with_its_parent():
    parent = ("import os, subprocess, sys\n"
              "from course_tools import limits\n"
              "p = subprocess.Popen(limits.limited(['sleep', '60'], mem_mb=256, ppid=os.getpid()))\n"
              "print(p.pid, flush=True)\n")
    r = _run([sys.executable, "-c", parent], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    pid = int(r.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _alive(pid)
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "the limited child outlived its parent"


JOB = ("import time, numpy as np\n"
       "t = time.perf_counter()\n"
       "s = 0\n"
       "for i in range(1_500_000):\n    s += i * i\n"
       "a = np.random.default_rng(0).random((120, 120))\n"
       "for _ in range(300):\n    a = a @ a\n    a /= np.abs(a).max()\n"
       "print(time.perf_counter() - t)\n")
HOG = ("import hashlib, threading, time\n"
       "buf = b'x' * (1 << 22)\n"
       "def spin():\n    while True:\n        hashlib.sha256(buf).digest()\n"  # releases the GIL
       "for _ in range(4):\n    threading.Thread(target=spin, daemon=True).start()\n"
       "time.sleep(120)\n")


# Run in a session of its own. Linux schedules each session as one group (autogroup), with an
# equal share against every other session: on a machine shared with other users' jobs the
# measurement would be theirs. As root the group's nice is set to -20 for these few seconds, so
# the two cores are (nearly) the job's and the hog's alone, as on a grading machine.
FAIR = r'''
import json, subprocess, sys, time
from course_tools import limits
JOB, HOG = json.loads(sys.argv[1])
try:
    with open("/proc/self/autogroup", "w") as f:
        f.write("-20")
except OSError:
    pass
def job(cpu, runs=3):
    argv = [sys.executable, "-c", JOB]
    return min(float(subprocess.run(limits.limited(argv, mem_mb=2048, cpu=cpu) if cpu is not None else argv,
                                    capture_output=True, text=True, check=True).stdout) for _ in range(runs))
def beside(cpu, runs=3):
    hog = subprocess.Popen(limits.limited([sys.executable, "-c", HOG], mem_mb=2048, cpu=cpu, threads=4)
                           if cpu is not None else [sys.executable, "-c", HOG])
    try:
        time.sleep(0.5)
        return job(0 if cpu is not None else None, runs)
    finally:
        hog.kill()
        hog.wait()
out = {"autogroup": open("/proc/self/autogroup").read().strip(), "alone": job(0), "beside": beside(1)}
out["unpinned"] = beside(None, runs=1)  # the same pair, neither pinned: what pinning prevents
print(json.dumps(out))
'''


@pytest.mark.slow
def test_a_pinned_job_keeps_its_speed_beside_a_hog():
    """Job slots pinned to their own core (limits --cpu): a neighbour with 4 busy threads pinned
    to the other core costs the job at most 1.5x its time alone (unpinned, it costs far more)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs")
    r = subprocess.run([sys.executable, "-c", FAIR, json.dumps([JOB, HOG])], capture_output=True, text=True,
                       timeout=180, start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)
    assert t["beside"] <= 1.5 * t["alone"], (
        f"alone {t['alone']:.2f} s, beside a pinned hog {t['beside']:.2f} s, both unpinned {t['unpinned']:.2f} s "
        f"({t['autogroup']})")


# --- E: output bounds in bytes -------------------------------------------------------------

def test_config_swaps_only_execute_in_nbgraders_autograde_list():
    """nbgrader_config.py runs LimitedExecute where nbgrader 0.9 runs Execute, the rest as is;
    c.Execute.* settings still apply to it."""
    from traitlets.config import Config
    from traitlets.utils.importstring import import_item

    from course_tools.execute_limits import LimitedExecute
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import Execute

    c = Config()
    exec(compile(NBGRADER_CONFIG.read_text(), str(NBGRADER_CONFIG), "exec"), {"get_config": lambda: c, "__file__": str(REPO / "nbgrader_config.py")})
    configured = [import_item(p) if isinstance(p, str) else p for p in c.Autograde.autograde_preprocessors]
    default = Autograde.class_traits()["autograde_preprocessors"].default()
    assert configured == [LimitedExecute if p is Execute else p for p in default]
    ep = LimitedExecute(config=c)
    assert ep.timeout == c.Execute.timeout and ep.interrupt_on_timeout


def _msg(msg_type: str, **content) -> dict:
    return {"header": {"msg_type": msg_type}, "msg_type": msg_type, "parent_header": {"msg_id": "m"},
            "content": content}


def _stream(name, text):
    return _msg("stream", name=name, text=text)


def _error(evalue="boom", lines=3):
    return _msg("error", ename="AssertionError", evalue=evalue, traceback=["line " * 50] * lines)


@pytest.mark.parametrize("messages", [
    [_stream("stdout", "x" * 5000), _stream("stderr", "warn\n")],  # stdout flood, then stderr
    [_stream("stdout", "y" * 300), _stream("stdout", "z" * 3000), _error()],  # flood, then an error
    [_stream("stdout", "q" * 2000), _msg("execute_result", data={"text/plain": "0.5"}, metadata={}, execution_count=1)],
    [_stream("stdout", "é" * 4000), _msg("display_data", data={"image/png": "A" * 9000}, metadata={}),
     _msg("execute_result", data={"text/plain": "1"}, metadata={}, execution_count=1)],
    [_stream("stderr", "E" * 9000), _stream("stdout", "fine\n")],
])
def test_output_caps_never_change_a_grade(messages):
    """Past the byte cap output is dropped, but the first error, stderr and execute_result of a
    cell stay (nbgrader grades by them), so determine_grade gives the same points."""
    import nbformat
    from nbformat.v4 import new_code_cell, output_from_msg
    from nbgrader.utils import determine_grade

    from course_tools.execute_limits import NOTE_MARK, LimitedExecute

    ep = LimitedExecute(max_cell_output_bytes=1000, max_notebook_output_bytes=5000, kept_signal_bytes=200)
    ep.reset_execution_trackers()
    ep.clear_before_next_output = False  # set by nbclient when a cell starts
    meta = {"nbgrader": {"grade": True, "solution": False, "points": 2, "grade_id": "t"}}
    full = new_code_cell("", metadata=meta)
    cut = new_code_cell("", metadata=meta)
    for m in messages:
        full.outputs.append(output_from_msg(m))
        ep.output(cut.outputs, m, None, 0)
    ep.on_cell_executed(cell=cut, cell_index=0, execute_reply={"content": {"status": "ok"}})
    stored = sum(len(json.dumps(o, ensure_ascii=False).encode()) for o in cut.outputs
                 if NOTE_MARK not in str(o.get("text", "")))
    assert stored <= 1000 + 3 * 200 + 600, stored
    assert NOTE_MARK in cut.outputs[-1].get("text", ""), cut.outputs[-1]
    assert determine_grade(nbformat.from_dict(cut)) == determine_grade(nbformat.from_dict(full))


@pytest.fixture(scope="module")
def sandbox_under_test():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sandbox_under_test", SANDBOX_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_autograde_stores_at_most_the_cap_of_a_60_mb_line(tmp_path, sandbox_under_test):
    """`nbgrader autograde` with the course config and the sandboxed kernel: a 60 MB single-line
    print leaves at most 1 MiB (and the note) in the autograded notebook; the grade is intact."""
    root = grading_corpus.make_course(tmp_path / "course")
    shutil.copy(NBGRADER_CONFIG, root / "nbgrader_config.py")
    release = json.loads((root / "assignments" / "ps0" / "ps0.ipynb").read_text())
    folder = root / "submitted" / "loud" / "ps0"
    grading_corpus._write(folder, grading_corpus._with_solution(release, 'print("x" * 60_000_000)\n' + grading_corpus.GOOD))
    (folder / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC")
    runtime = Path(tempfile.mkdtemp(prefix="dgm-"))
    try:
        sandbox_under_test.kernel_spec_dir(runtime / "share")
        env = tool_env({"PYTHONPATH": str(REPO), "JUPYTER_PATH": str(runtime / "share"),
                        "JUPYTER_RUNTIME_DIR": str(runtime), "DGM_CELL_TIMEOUT": "60"})
        result = nbgrader(root, "autograde", "ps0", "--student", "loud", "--force", "--create",
                          f"--Execute.kernel_name={sandbox_under_test.KERNEL_NAME}", "--KernelManager.transport=ipc",
                          f"--KernelManager.ip={runtime}/k", env=env, timeout=600)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    assert len(result.stdout) + len(result.stderr) < 1_000_000, "the 60 MB line reached nbgrader's own output"
    nb = json.loads((root / "autograded" / "loud" / "ps0" / "ps0.ipynb").read_text())
    cell = grading_corpus._solution_cell(nb)
    stored = sum(len("".join(o.get("text", "")).encode()) for o in cell["outputs"])
    assert stored <= 1024 * 1024 + 1024, f"{stored} bytes of output stored in the cell"
    assert any("output cut at" in "".join(o.get("text", "")) for o in cell["outputs"]), cell["outputs"][-1:]
    assert scores(root, "ps0", "loud").code_score == 3
