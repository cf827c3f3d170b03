"""Bring the course up on a JupyterHub on this machine, and take it down (make hub, make hub-stop).

    sudo make hub [HUB_PORT=8000] [HUB_STUDENTS=2] [HUB_PREFIX=<course id>-] [HUB_SRV=/srv/<course id>]
    sudo make hub-stop        # ends the hub, the proxy and the accounts' servers, by pid
    sudo make hub-remove      # ... and deletes the accounts, their homes and the shared folder

`up`, as root, in this order (each step is idempotent, so `make hub` again after `make hub-stop`
keeps the accounts, their passwords and the grader's gradebook):

1. refuses when this checkout is readable by other accounts: it holds solutions/ and, in .git,
   every past version of them (chmod o-rwx <repo> is the fix);
2. builds the Python every account runs, <srv>/venv: a venv of the course venv's own interpreter
   with its packages hard-linked in and dgm_utils copied; when that interpreter sits in a private
   folder (pyenv under /root), of a replica of it in <srv>/python (see accounts_python);
3. creates the Linux accounts (an instructor, the grader account of the formgrader service,
   HUB_STUDENTS students; homes 0700, random passwords, the students in the course's group);
4. copies the course (config, solutions, assignments, Makefile, course_tools) into the grader's
   home, with .venv and .exchange pointing at <srv>, so `make autograde` works there;
5. lays out the exchange: <srv>/exchange (1777: nbgrader wants it world-writable; sticky, so no
   one renames what another made), <course>/{outbound 0755, inbound 3733 (setgid, sticky: no one
   but the grader lists or reads an entry), feedback 0711}, all the grader's;
6. writes each role's Jupyter configuration (nbgrader's exchange and auth plugin, which server
   extensions and lab plugins it runs) under <srv>/etc/<role>, and the grader's nbgrader settings;
7. starts JupyterHub (configurable-http-proxy from npm, in <state>/node_modules) in the
   background with course_tools/hub/jupyterhub_config.py, waits for it and the formgrader, and
   prints how to log in.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from course_tools.hub import (HERE, PASSED_ENV, REPO, Layout, State, nbgrader_config_text, nbgrader_settings,
                              page_config, server_settings)

HUB_START_S = 90
SERVICE_START_S = 120
STOP_S = 30
GENERATED = "# Written by `make hub` (course_tools/hub/deploy.py, from course_tools.hub.nbgrader_settings)."
COURSE_COPY = ("nbgrader_config.py", "solutions", "assignments", "course_tools", "Makefile", "mk",
               "pyproject.toml", "requirements.lock")
# What of course_tools the accounts' Python carries: the students' submit, nothing else.
ACCOUNT_MODULES = ("course_tools/__init__.py", "course_tools/hub/__init__.py", "course_tools/hub/submit.py")
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


class HubError(SystemExit):
    def __init__(self, message: str) -> None:
        super().__init__(f"make hub: {message}")


# --- who can read what ----------------------------------------------------------------------------

def blocked_ancestor(path: Path) -> Path | None:
    """The first folder on the way to ``path`` (itself included) that other accounts cannot enter."""
    path = Path(path).resolve()
    for folder in [*reversed(path.parents), path]:
        try:
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return folder
        except FileNotFoundError:
            return None
    return None


def check_private(repo: Path) -> None:
    """Refuse a checkout that other accounts can enter: solutions/ and .git would be theirs to read."""
    if blocked_ancestor(repo) is None:
        raise HubError(
            f"{repo} is readable by every account on this machine, and it holds solutions/ (and in .git "
            f"every past version of them). Make it private first: chmod o-rwx {repo}  (the accounts run "
            "their own copy of the course's Python, in HUB_SRV, and never need this folder)")


# --- the accounts' Python -------------------------------------------------------------------------

def _site_packages(prefix: Path) -> Path:
    return prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _dgm_utils() -> Path:
    import dgm_utils

    return Path(dgm_utils.__file__).resolve().parent


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.py")):
        h.update(str(p.relative_to(folder)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _link_tree(src: Path, dest: Path, skip: tuple[str, ...] = ()) -> None:
    """``dest`` as hard links of ``src`` (no second copy on disk), but for the relative paths in
    ``skip``; a copy where the two are on different file systems."""
    skipped = [Path(s) for s in skip]

    def link(rel: Path) -> None:
        if rel in skipped:
            return
        here = src / rel
        if here.is_dir() and not here.is_symlink() and any(s.is_relative_to(rel) for s in skipped):
            (dest / rel).mkdir(parents=True, exist_ok=True)
            shutil.copystat(here, dest / rel)
            for child in sorted(here.iterdir()):
                link(rel / child.name)
            return
        done = subprocess.run(["cp", "-al", str(here), str(dest / rel)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"make hub: cannot hard-link {here} ({done.stderr.strip()[:200]}); copying it", file=sys.stderr)
            if here.is_dir() and not here.is_symlink():
                shutil.copytree(here, dest / rel, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(here, dest / rel, follow_symlinks=False)

    link(Path("."))


def accounts_python(lay: Layout) -> Path:
    """The course venv's own interpreter, where every account can run it.

    The same build, not merely the same version: the packages were installed for it (Debian's
    3.11.2 runs soupsieve 4.1's possessive regular expressions wrong, for one). When it sits in a
    private folder (pyenv under /root), <srv>/python is a replica: its files hard-linked, and the
    executable copied with its library path made relative ($ORIGIN, patchelf) where it pointed
    into the private folder.
    """
    base = Path(sys.base_prefix).resolve()
    exe = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    if blocked_ancestor(base) is None and blocked_ancestor(exe) is None:
        return exe
    replica = lay.srv / "python"
    if not exe.is_relative_to(base):
        raise HubError(f"the course's Python {exe} is outside its prefix {base}: build .venv with a Python "
                       "every account can run (PYTHON=/usr/bin/python3.11 make setup)")
    print(f"--- make hub: {base} is private; a replica for the accounts in {replica}")
    shutil.rmtree(replica, ignore_errors=True)
    stdlib = Path("lib") / f"python{sys.version_info.major}.{sys.version_info.minor}"
    _link_tree(base, replica, skip=(str(stdlib / "site-packages"), str(stdlib / "test")))  # the venv has its own
    copy = replica / exe.relative_to(base)
    copy.unlink()
    shutil.copy2(exe, copy)  # a file of its own: patched below, never through a hard link
    patchelf = shutil.which("patchelf") or str(Path(sys.prefix) / "bin" / "patchelf")
    rpath = subprocess.run([patchelf, "--print-rpath", str(copy)], capture_output=True, text=True)
    if rpath.returncode != 0:
        raise HubError(f"patchelf cannot read {copy} ({rpath.stderr.strip()}): make setup installs it (the hub extra)")
    parts = [part for part in rpath.stdout.strip().split(":") if part]
    if any(Path(part).is_relative_to(base) for part in parts):
        fixed = [f"$ORIGIN/{os.path.relpath(replica / Path(part).relative_to(base), copy.parent)}"
                 if Path(part).is_relative_to(base) else part for part in parts]
        subprocess.run([patchelf, "--set-rpath", ":".join(fixed), str(copy)], check=True)
    return copy


def build_runtime(lay: Layout) -> Path:
    """<srv>/venv: this venv's packages under its interpreter, both where every account can run them."""
    course_venv = Path(sys.prefix)
    stamp_of = course_venv / ".installed"
    key = json.dumps({"base": str(Path(sys.base_prefix).resolve()), "venv": str(course_venv),
                      "installed": stamp_of.stat().st_mtime_ns if stamp_of.exists() else 0,
                      "dgm_utils": _tree_digest(_dgm_utils()),
                      "modules": hashlib.sha256(b"".join((REPO / m).read_bytes() for m in ACCOUNT_MODULES)).hexdigest()})
    stamp = lay.runtime / ".installed"
    if stamp.exists() and stamp.read_text() == key:
        return lay.runtime
    python = accounts_python(lay)
    print(f"--- make hub: the accounts' Python, {lay.runtime} ({python} with {course_venv}'s packages)")
    tmp = lay.runtime.with_name(lay.runtime.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(tmp)], check=True)
    site = _site_packages(tmp)
    shutil.rmtree(site)
    _link_tree(_site_packages(course_venv), site)
    # dgm_utils is installed editable (it points into this checkout): put a copy in its place; and
    # the students' submit (course_tools.hub.submit, with the two package files it needs).
    for editable in site.glob("__editable__*dgm_utils*"):
        editable.unlink()
    shutil.copytree(_dgm_utils(), site / "dgm_utils", ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ACCOUNT_MODULES:
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, site / rel)
    for part in ("share", "etc"):
        if (course_venv / part).is_dir():
            _link_tree(course_venv / part, tmp / part)
    settings = tmp / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    _write(settings / "overrides.json", json.dumps(LAB_OVERRIDES, indent=1))  # no news fetched off the machine
    old, new = str(course_venv / "bin" / "python"), str(lay.runtime / "bin" / "python")
    for script in sorted((course_venv / "bin").iterdir()):
        target = tmp / "bin" / script.name
        if script.is_symlink() or not script.is_file() or target.exists():
            continue
        head = script.read_bytes()[:512]
        if head.startswith(b"#!") and old.encode() in head:
            _write(target, script.read_bytes().replace(old.encode(), new.encode(), 2), mode=0o755)
    tmp.chmod(0o755)  # the rest keeps the course venv's modes (hard links, folders copied with theirs)
    (tmp / ".installed").write_text(key)
    if lay.runtime.exists():
        shutil.rmtree(lay.runtime)
    os.replace(tmp, lay.runtime)
    return lay.runtime


def _write(path: Path, text: str | bytes, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` (a new inode: never write through a hard link into the course venv)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(text.encode() if isinstance(text, str) else text)
    tmp.chmod(mode)
    if owner:
        os.chown(tmp, *owner)
    os.replace(tmp, path)


# --- accounts ---------------------------------------------------------------------------------------

def _exists(db, name: str) -> bool:
    try:
        db(name)
        return True
    except KeyError:
        return False


def run_as(user: str, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | str | None = None,
           **kwargs) -> subprocess.CompletedProcess:
    """Run ``argv`` as ``user`` (uid, primary and supplementary groups), in their home by default."""
    pw = pwd.getpwnam(user)
    return subprocess.run(argv, user=pw.pw_uid, group=pw.pw_gid, extra_groups=os.getgrouplist(user, pw.pw_gid),
                          env=env if env is not None else account_env(user), cwd=cwd or pw.pw_dir, **kwargs)


def account_env(user: str, runtime: Path | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    pw = pwd.getpwnam(user)
    path = f"{runtime / 'bin'}:" if runtime else ""
    return {"HOME": pw.pw_dir, "USER": user, "LOGNAME": user, "SHELL": pw.pw_shell or "/bin/sh", "LANG": "C.UTF-8",
            "PATH": f"{path}/usr/local/bin:/usr/bin:/bin", **(extra or {})}


def _sh(*argv: str, stdin: str | None = None) -> None:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise HubError(f"{' '.join(argv[:2])} ... failed (exit {done.returncode}): {done.stderr.strip()[:500]}")


def ensure_group(name: str, state: State) -> int:
    if not _exists(grp.getgrnam, name):
        _sh("groupadd", name)
        state.created_groups.append(name)
    elif name not in state.created_groups:
        raise HubError(f"the group {name} exists and make hub did not make it: choose another HUB_PREFIX")
    return grp.getgrnam(name).gr_gid


def ensure_account(lay: Layout, name: str, state: State, groups: tuple[str, ...] = ()) -> pwd.struct_passwd:
    """The Linux account ``name``: created with a 0700 home and a random password, or the one made before."""
    if not _exists(pwd.getpwnam, name):
        home = lay.home(name)
        if home.exists():
            raise HubError(f"{home} exists but no account {name} does: remove it or choose another HUB_PREFIX")
        _sh("useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash", "--user-group",
            *(["--groups", ",".join(groups)] if groups else []), name)
        state.created_accounts.append(name)
        state.passwords[name] = secrets.token_urlsafe(12)
        _sh("chpasswd", stdin=f"{name}:{state.passwords[name]}\n")
    elif name not in state.created_accounts:
        raise HubError(f"the account {name} exists and make hub did not make it (its state is {lay.state_file}): "
                       "choose another HUB_PREFIX, or remove that account")
    for group in groups:
        _sh("usermod", "--append", "--groups", group, name)
    pw = pwd.getpwnam(name)
    os.chmod(pw.pw_dir, 0o700)  # Debian's useradd makes homes 0755: every account could read every home
    return pw


# --- the grader's course, the exchange, each role's configuration -------------------------------------

def _chown_tree(top: Path, uid: int, gid: int) -> None:
    os.lchown(top, uid, gid)
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), uid, gid)


def install_course(lay: Layout, grader: pwd.struct_passwd) -> None:
    """The course, as the grader account works on it: <grader home>/<course>, its state kept across runs."""
    from course_tools.nbgrader_course import copy_course

    dest = lay.course_dir
    dest.mkdir(parents=True, exist_ok=True)
    for item in COURSE_COPY:
        old = dest / item
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        elif old.exists() or old.is_symlink():
            old.unlink()
    copy_course(dest, root=REPO, items=COURSE_COPY)
    for name, target in ((".venv", lay.runtime), (".exchange", lay.exchange)):
        link = dest / name
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
        link.symlink_to(target)
    _chown_tree(dest, grader.pw_uid, grader.pw_gid)
    os.utime(lay.runtime / ".installed")  # newer than the copied lock: make never rebuilds .venv there


def _folder(path: Path, mode: int, uid: int = 0, gid: int = 0) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise HubError(f"{path} is not a folder")
    path.mkdir(exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def build_exchange(lay: Layout, grader: pwd.struct_passwd) -> None:
    g = (grader.pw_uid, grader.pw_gid)
    _folder(lay.exchange, 0o1777)  # nbgrader's submit and release insist on o+w; sticky: no renaming others' entries
    course = lay.exchange / lay.course
    _folder(course, 0o755, *g)
    _folder(course / "outbound", 0o755, *g)
    # Anyone may create an entry (collect credits only the students group's own), no one but the
    # grader lists it; setgid: each entry is the grader's group (course_tools.hub.submit); sticky:
    # no one renames or deletes another's entry.
    _folder(course / "inbound", 0o3733, *g)
    _folder(course / "feedback", 0o711, *g)  # found by name only (a hash of the student's secret)


def write_configs(lay: Layout, grader: pwd.struct_passwd) -> None:
    for role in ("student", "instructor", "grader"):
        etc = lay.etc(role)
        for folder in (lay.srv / "etc", etc, etc / "labconfig"):
            _folder(folder, 0o755)
        _write(etc / "jupyter_server_config.json", json.dumps(server_settings(role), indent=1))
        _write(etc / "labconfig" / "page_config.json", json.dumps(page_config(role), indent=1))
        if role != "grader":
            _write(etc / "nbgrader_config.py", nbgrader_config_text(nbgrader_settings(lay, role), GENERATED))
    # The grader's nbgrader settings live in its own ~/.jupyter, as nbgrader's docs lay it out: every
    # nbgrader the grader runs (the formgrader, a terminal's `nbgrader collect`) reads them.
    jupyter = Path(grader.pw_dir) / ".jupyter"
    jupyter.mkdir(exist_ok=True)
    os.chown(jupyter, grader.pw_uid, grader.pw_gid)
    _write(jupyter / "nbgrader_config.py", nbgrader_config_text(nbgrader_settings(lay, "grader"), GENERATED),
           owner=(grader.pw_uid, grader.pw_gid))


def check_accounts_can_run(lay: Layout, state: State) -> None:
    """A student can start the accounts' Python, find what a server imports, and read the data.

    (Finding, not importing: a permission problem shows as well, in a fraction of the time.)
    """
    student = lay.student_names[0]
    code = ("import importlib.util as u, os, sys\n"
            "for m in ('jupyterhub', 'nbgrader', 'jupyterlab', 'dgm_utils', 'torch'):\n"
            "    spec = u.find_spec(m)\n"
            "    assert spec and os.access(spec.origin, os.R_OK), f'cannot find or read {m}'\n")
    if data := state.env.get("DGM_DATA_DIR"):
        code += f"assert os.access({data!r}, os.R_OK | os.X_OK), 'cannot read DGM_DATA_DIR={data}'\n"
    done = run_as(student, [str(lay.runtime / "bin" / "python"), "-c", code],
                  env=account_env(student, lay.runtime), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise HubError(f"the account {student} cannot run the course's Python ({lay.runtime}):\n"
                       f"{done.stderr.strip()[-1500:]}\nEvery folder on the way to HUB_SRV and DGM_DATA_DIR "
                       "must be enterable by other accounts (chmod o+x)")


# --- processes --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid(path: Path, marker: str) -> int | None:
    """The pid in ``path`` if that process still runs ``marker`` (a reused pid is someone else's)."""
    try:
        pid = int(path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if marker.encode() in cmdline else None


def _answers(url: str, *, status_ok: bool = False) -> bool:
    """Does ``url`` answer? With ``status_ok``, only a 2xx counts: through the proxy, a 404 is the proxy's
    own answer before the hub has added its route, and the hub is not reachable yet."""
    try:
        urllib.request.urlopen(url, timeout=5).close()
        return True
    except urllib.error.HTTPError:
        return not status_ok  # an answer (403, 404) is an answer: the server is up
    except (urllib.error.URLError, OSError):
        return False


def _wait(url: str, seconds: float, proc: subprocess.Popen, log: Path, what: str, *, status_ok: bool = False) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if proc.poll() is not None:
            raise HubError(f"JupyterHub exited ({proc.returncode}) while {what} started:\n{_tail(log)}")
        if _answers(url, status_ok=status_ok):
            return time.monotonic() - start
        time.sleep(0.25)
    raise HubError(f"{what} did not answer at {url} within {seconds:.0f} s:\n{_tail(log)}")


def _tail(log: Path, n: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    return ""


def start_hub(lay: Layout, state: State) -> dict[str, float]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "HOME": str(lay.state), "DGM_HUB_STATE": str(lay.state_file), **state.env}
    log = lay.state / "jupyterhub.log"
    start = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(HERE / "jupyterhub_config.py")],
                                cwd=lay.state, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    (lay.state / "hub.pid").write_text(str(proc.pid))
    hub_s = _wait(f"{lay.url}/hub/api/", HUB_START_S, proc, log, "the hub", status_ok=True)  # through the proxy
    service_s = _wait(f"http://127.0.0.1:{state.service_port}/services/{lay.service}/api/status",
                      SERVICE_START_S, proc, log, "the formgrader service")
    return {"hub_s": round(hub_s, 1), "service_s": round(hub_s + service_s, 1), "total_s": round(time.monotonic() - start, 1)}


def install_proxy(lay: Layout) -> None:
    """configurable-http-proxy in <state>/node_modules, pinned with its dependencies by
    course_tools/hub/package-lock.json (npm ci), installed again when the lock changes."""
    lock = HERE / "package-lock.json"
    stamp = lay.state / "node_modules" / ".installed"
    if lay.proxy.exists() and stamp.exists() and stamp.read_bytes() == lock.read_bytes():
        return
    if shutil.which("npm") is None:
        raise HubError("Node.js and npm are needed for configurable-http-proxy: apt-get install -y nodejs npm")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(HERE / name, lay.state / name)
    print(f"--- make hub: configurable-http-proxy into {lay.state / 'node_modules'} (npm ci)")
    done = subprocess.run(["npm", "ci", "--prefix", str(lay.state), "--omit=dev", "--no-audit", "--no-fund",
                           "--loglevel=error"], capture_output=True, text=True)
    if done.returncode != 0 or not lay.proxy.exists():
        raise HubError(f"npm ci of configurable-http-proxy failed:\n{(done.stdout + done.stderr)[-2000:]}")
    stamp.write_bytes(lock.read_bytes())


def up(lay: Layout, passed_env: dict[str, str]) -> State:
    if os.geteuid() != 0:
        raise HubError("run it as root (sudo make hub): it creates Linux accounts and runs their servers as them")
    for tool in ("useradd", "userdel", "groupadd", "groupdel", "usermod", "chpasswd", "cp"):
        if shutil.which(tool) is None:
            raise HubError(f"{tool} is missing (Debian: apt-get install -y passwd coreutils)")
    check_private(REPO)
    lay.state.mkdir(mode=0o700, parents=True, exist_ok=True)
    lay.state.chmod(0o700)  # passwords, the hub's secrets
    state = State.load(lay.state_file) if lay.state_file.exists() else State(layout=lay.to_json())
    if state.layout != lay.to_json() and state.created_accounts:
        old = state.lay
        if (old.prefix, old.srv, old.students) != (lay.prefix, lay.srv, lay.students):
            raise HubError(f"{lay.state} holds another deployment (prefix {old.prefix!r}, {old.students} students, "
                           f"{old.srv}): make hub-remove first, or give the same settings")
    state.layout = lay.to_json()
    if (pid := _pid(lay.state / "hub.pid", "jupyterhub")) is not None:
        raise HubError(f"JupyterHub is already running (pid {pid}) at {lay.url}: make hub-stop first")
    if blocked := blocked_ancestor(lay.srv.parent):
        raise HubError(f"HUB_SRV={lay.srv} is inside {blocked}, which other accounts cannot enter")
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    if not lay.srv.exists():
        state.created_srv = True
    _folder(lay.srv, 0o755)
    state.env = {k: os.path.abspath(v) if k == "DGM_DATA_DIR" else v for k, v in passed_env.items()}
    state.save(lay.state_file)  # from here on, make hub-remove can undo what was made
    try:
        install_proxy(lay)
        build_runtime(lay)
        timings["runtime_s"] = round(time.monotonic() - t0, 1)
        ensure_group(lay.students_group, state)
        pws = {name: ensure_account(lay, name, state, (lay.students_group,) if name in lay.student_names else ())
               for name in lay.accounts}
        grader = pws[lay.grader]
        install_course(lay, grader)
        build_exchange(lay, grader)
        write_configs(lay, grader)
        check_accounts_can_run(lay, state)
        timings["accounts_s"] = round(time.monotonic() - t0 - timings["runtime_s"], 1)
        ports = {free_port() for _ in range(6)} - {lay.port}
        state.hub_api_port, state.proxy_api_port, state.service_port = sorted(ports)[:3]
        state.proxy_token = state.proxy_token or secrets.token_hex(32)
    finally:
        state.save(lay.state_file)
    try:
        timings.update(start_hub(lay, state))
    except BaseException:
        down(lay.state)  # nothing left running: the hub, the service it started, the proxy
        raise
    (lay.state / "timings.json").write_text(json.dumps(timings))
    print(summary(lay, state, timings))
    return state


def summary(lay: Layout, state: State, timings: dict[str, float] | None = None) -> str:
    taken = f" ({timings['total_s']:.0f} s to answer)" if timings else ""
    lines = [f"JupyterHub for {lay.course} is up{taken}: {lay.url}/hub/login", "",
             "Log in with (PAM, the Linux accounts' passwords; also in " + str(lay.state_file) + "):"]
    for name in lay.hub_users:
        role = lay.role_of(name)
        lines.append(f"  {role:<10}  {name:<32}  password {state.passwords.get(name, '(set before)')}")
    lines += ["",
              f"The instructor's formgrader (the {lay.service} service, run by {lay.grader}): "
              f"{lay.url}/services/{lay.service}/lab  (Nbgrader > Formgrader)",
              f"Grading there, in a terminal: make autograde ASSIGNMENT=<id>, make feedback ASSIGNMENT=<id> "
              f"(the course is {lay.course_dir})",
              f"Exchange: {lay.exchange}   Log: {lay.state / 'jupyterhub.log'}",
              "Stop: sudo make hub-stop   Delete the accounts, their homes and grades: sudo make hub-remove"]
    return "\n".join(lines)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _end(pids: list[int], seconds: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _processes_of(uids: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid in uids:
                    found.append(int(entry.name))
    return found


def down(state_dir: Path, remove: bool = False) -> None:
    state_file = state_dir / "state.json"
    if not state_file.exists():
        print(f"make hub-stop: no hub state in {state_dir}; nothing to do")
        return
    state = State.load(state_file)
    lay = state.lay
    hub = _pid(lay.state / "jupyterhub.pid", "jupyterhub") or _pid(lay.state / "hub.pid", "jupyterhub")
    if hub is not None:
        _end([hub], STOP_S)  # JupyterHub stops the servers, the service and the proxy itself
    proxy = _pid(lay.state / "jupyterhub-proxy.pid", "configurable-http-proxy")
    if proxy is not None:
        _end([proxy], 5)
    uids = {pwd.getpwnam(n).pw_uid for n in state.created_accounts if _exists(pwd.getpwnam, n)}
    if leftover := _processes_of(uids):
        _end(leftover, 5)
    for name in ("hub.pid", "jupyterhub.pid", "jupyterhub-proxy.pid"):
        (lay.state / name).unlink(missing_ok=True)
    print(f"JupyterHub for {lay.course} stopped" + (f" (and {len(leftover)} leftover processes)" if leftover else ""))
    if not remove:
        return
    for name in reversed(state.created_accounts):
        if _exists(pwd.getpwnam, name):
            done = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
            if done.returncode not in (0, 12):  # 12: the home could not be removed entirely
                print(f"make hub-remove: userdel {name}: {done.stderr.strip()}", file=sys.stderr)
    for name in state.created_groups:
        if _exists(grp.getgrnam, name):
            subprocess.run(["groupdel", name], capture_output=True)
    if state.created_srv:
        shutil.rmtree(lay.srv, ignore_errors=True)
    for item in lay.state.iterdir():
        if item.name not in ("node_modules", "package.json", "package-lock.json"):
            shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
    print(f"Removed the accounts {', '.join(state.created_accounts)}, their homes and {lay.srv}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_tools.hub", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    u = sub.add_parser("up", help="create the accounts and start the hub (make hub)")
    u.add_argument("--prefix", default="", help="account name prefix (default: <course id>-)")
    u.add_argument("--students", type=int, default=2)
    u.add_argument("--port", type=int, default=8000)
    u.add_argument("--srv", default="", help="what every account reads (default /srv/<course id>)")
    u.add_argument("--state", default=str(REPO / ".hub"), help="root's state folder (default .hub)")
    d = sub.add_parser("down", help="stop the hub (make hub-stop); --remove also deletes the accounts")
    d.add_argument("--state", default=str(REPO / ".hub"))
    d.add_argument("--remove", action="store_true")
    v = sub.add_parser("values", help="write course_tools/hub/z2jh-values.yaml (make hub-values)")
    v.add_argument("--check", action="store_true", help="only say whether the file is up to date")
    a = p.parse_args(argv)
    if a.command == "up":
        try:
            lay = Layout.default(prefix=a.prefix, students=a.students, port=a.port, srv=a.srv,
                                 state=Path(a.state).resolve())
        except ValueError as err:
            raise HubError(str(err)) from None
        up(lay, {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)})
    elif a.command == "down":
        down(Path(a.state).resolve(), remove=a.remove)
    else:
        from course_tools.hub import z2jh

        return z2jh.main(check=a.check)
    return 0
