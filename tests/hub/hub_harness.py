"""What the hub tests drive: `make hub` in a copy of the course, each account's REST API and shell.

A student's powers, as the tests model them: a browser on the hub (their password, then their
token: the hub's REST API and their own server's), and any program as their own Linux uid (the
terminal and the kernels of their server give them that; the tests run it with `Hub.sh`).
`Stock` is the same course on nbgrader's own exchange, as nbgrader makes it and Debian's useradd
makes homes: every attack is run against both, and must work on the stock one.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lab_harness import REPO, make_command

from course_tools import markers
from course_tools.hub import Layout
from course_tools.hub.deploy import COURSE_COPY, account_env, run_as
from course_tools.nbgrader_course import copy_course, tool_env

ASSIGNMENT = "hw1_foundations"
ARTIFACTS = REPO / "test-artifacts" / "hub"
TOOLS = ("useradd", "userdel", "groupadd", "groupdel", "usermod", "chpasswd", "node", "npm", "bwrap", "make")
SPAWN_S = 240
REQUIRED = os.environ.get("DGM_REQUIRE_BROWSER") == "1" or os.environ.get("CI", "").lower() == "true"


def cannot_run() -> str | None:
    """Why the hub tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "the hub tests create Linux accounts and run JupyterHub as root (CI runs them as root)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)} (Debian: apt-get install -y passwd nodejs npm bubblewrap make)"
    return None


def require_hub() -> None:
    """Skip with the reason, or fail with it under CI / DGM_REQUIRE_BROWSER=1 (the hub test must run there)."""
    if (reason := cannot_run()) is not None:
        if REQUIRED:
            pytest.fail(f"CI/DGM_REQUIRE_BROWSER=1 but the hub test cannot run: {reason}")
        pytest.skip(reason)


def call(method: str, url: str, token: str | None = None, *, body: dict | None = None,
         form: dict | None = None, timeout: float = 300) -> tuple[int, object]:
    """(status, JSON or text) of one HTTP request; an HTTP error is a status, not an exception."""
    headers, data = {}, None
    if token:
        headers["Authorization"] = f"token {token}"
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    elif form is not None:
        data, headers["Content-Type"] = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, text = resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def solved(release: dict, source_nb: Path) -> dict:
    """The released notebook with every solution cell replaced by the source's (marker lines dropped)."""
    begin, end = markers.DELIMITERS[markers.SOLUTION]
    source = json.loads(source_nb.read_text())
    answers = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in source["cells"]
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    nb = json.loads(json.dumps(release))
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            cell["source"] = "\n".join(l for l in answers[meta["grade_id"]].splitlines() if begin not in l and end not in l)
    return nb


@dataclass
class Hub:
    """A hub `make hub` brought up in the course copy ``root``, read from its state file."""

    root: Path
    make_s: float
    output: str = ""  # what make hub printed
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> dict:
        return json.loads((self.root / ".hub" / "state.json").read_text())

    @property
    def lay(self) -> Layout:
        return Layout.from_json(self.state["layout"])

    @property
    def url(self) -> str:
        return self.lay.url

    # --- REST ---------------------------------------------------------------------------------

    def token(self, user: str) -> str:
        """The user's API token, asked for with their Linux password (PAM) through the REST API."""
        if user not in self.tokens:
            status, got = call("POST", f"{self.url}/hub/api/users/{user}/tokens",
                               body={"auth": {"username": user, "password": self.state["passwords"][user]},
                                     "note": "hub test", "expires_in": 3600})
            log = self.lay.state / "jupyterhub.log"
            tail = log.read_text(errors="replace")[-3000:] if log.is_file() else f"(no {log})"
            assert status == 201, (f"expected {user}'s password to get a token (201), got {status}: {str(got)[:300]}\n"
                                   f"url {self.url}; the hub's log ends:\n{tail}")
            self.tokens[user] = got["token"]
        return self.tokens[user]

    def hub_api(self, path: str, as_user: str, method: str = "GET", **kw):
        return call(method, f"{self.url}/hub/api/{path.lstrip('/')}", self.token(as_user), **kw)

    def server(self, owner: str, path: str, as_user: str | None = None, method: str = "GET", **kw):
        """A request to ``owner``'s single-user server through the hub, with ``as_user``'s token."""
        return call(method, f"{self.url}/user/{owner}/{path.lstrip('/')}", self.token(as_user or owner), **kw)

    def service(self, path: str, as_user: str, method: str = "GET", **kw):
        return call(method, f"{self.url}/services/{self.lay.service}/{path.lstrip('/')}", self.token(as_user), **kw)

    def spawn(self, *users: str) -> dict[str, float]:
        """Start the users' servers at once, as their owners; seconds until each is ready."""
        start = time.monotonic()
        for user in users:
            status, got = self.hub_api(f"users/{user}/server", user, method="POST")
            assert status in (201, 202, 400), f"expected {user}'s server to start, got {status}: {got}"
        ready: dict[str, float] = {}
        while len(ready) < len(users) and time.monotonic() - start < SPAWN_S:
            for user in set(users) - set(ready):
                _, model = self.hub_api(f"users/{user}", user)
                if isinstance(model, dict) and (model.get("servers", {}).get("") or {}).get("ready"):
                    ready[user] = round(time.monotonic() - start, 1)
            time.sleep(0.5)
        assert len(ready) == len(users), (f"servers not ready within {SPAWN_S} s: {set(users) - set(ready)}\n"
                                          f"{self.log_tail()}")
        return ready

    def log_tail(self, n: int = 40) -> str:
        log = self.root / ".hub" / "jupyterhub.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log.exists() else ""

    # --- a user's shell -----------------------------------------------------------------------

    def env(self, user: str, **extra: str) -> dict[str, str]:
        """The environment of the user's server and its terminals (their role's Jupyter configuration)."""
        lay = self.lay
        hub = {}
        if user in lay.hub_users:  # what the hub gives a server, and so its terminals: their own token
            hub = {"JUPYTERHUB_USER": user, "JUPYTERHUB_API_TOKEN": self.token(user),
                   "JUPYTERHUB_API_URL": f"http://127.0.0.1:{self.state['hub_api_port']}/hub/api"}
        return account_env(user, lay.runtime, {**self.state["env"], **hub,
                                                "JUPYTER_CONFIG_PATH": str(lay.etc(lay.role_of(user))), **extra})

    def sh(self, user: str, argv: list[str], cwd: Path | str | None = None, timeout: float = 600,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return run_as(user, argv, env=env or self.env(user), cwd=cwd, capture_output=True, text=True, timeout=timeout)

    def py(self, user: str, code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Python ``code`` as ``user`` (the accounts' Python), with ``args`` in sys.argv[1:]."""
        return self.sh(user, [str(self.lay.runtime / "bin" / "python"), "-c", code, *args], env=env)

    def attempt(self, user: str, code: str, *args: str) -> str:
        """What ``user`` got doing ``code``: "ok", or the name of the exception (PermissionError, ...)."""
        wrapped = f"try:\n    exec(compile({code!r}, 'attack', 'exec'))\nexcept Exception as e:\n    print('RESULT', type(e).__name__)\nelse:\n    print('RESULT ok')\n"
        done = self.py(user, wrapped, *args)
        lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
        assert lines, f"the attack of {user} did not finish:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
        return lines[-1].split(" ", 1)[1]

    def grader_make(self, target: str, *variables: str) -> subprocess.CompletedProcess:
        """``make TARGET`` in the grader's course folder, as the grader runs it in the service's terminal."""
        lay = self.lay
        done = self.sh(lay.grader, ["make", "--no-print-directory", target, *variables], cwd=lay.course_dir,
                       env=self.env(lay.grader, JUPYTER_CONFIG_PATH=str(lay.etc("grader"))))
        assert done.returncode == 0, f"make {target} as {lay.grader} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def inbound(self) -> Path:
        return self.lay.exchange / self.lay.course / "inbound"

    def entries(self, student: str) -> list[Path]:
        return sorted(self.inbound().glob(f"{student}+{ASSIGNMENT}+*"))


def make_hub(root: Path, lay_args: dict[str, str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    """`make hub` in the course copy ``root``, as an instructor types it; its output and wall time."""
    start = time.monotonic()
    done = subprocess.run(make_command(root, "hub", *(f"{k}={v}" for k, v in lay_args.items())), cwd=root,
                          env=tool_env(env), capture_output=True, text=True, timeout=900)
    return done, time.monotonic() - start


def hub_copy(dest: Path) -> Path:
    """The files `make hub` reads, copied into ``dest`` (a folder only root can enter, as the check wants)."""
    return copy_course(dest, items=COURSE_COPY)


def save_artifacts(root: Path, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for log in ("jupyterhub.log", "timings.json"):
        with contextlib.suppress(OSError):
            shutil.copy2(root / ".hub" / log, ARTIFACTS / f"{name}-{log}")


# --- nbgrader's own exchange, as a stock install lays it out ------------------------------------------

DEFAULT_EXCHANGE = {
    "collect": "nbgrader.exchange.default.collect.ExchangeCollect",
    "submit": "nbgrader.exchange.default.submit.ExchangeSubmit",
    "release_feedback": "nbgrader.exchange.default.release_feedback.ExchangeReleaseFeedback",
}


@dataclass
class Stock:
    """The course on nbgrader 0.9's exchange with nbgrader's own classes and modes, and a course
    folder as `nbgrader quickstart` leaves it (umask 022), for the same accounts."""

    hub: Hub
    root: Path

    @classmethod
    def create(cls, hub: Hub) -> "Stock":
        lay = hub.lay
        grader = pwd.getpwnam(lay.grader)
        root = Path("/tmp") / f"{lay.prefix}stock"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(mode=0o755)
        course = copy_course(root / "course", items=COURSE_COPY)
        for path in [root, *root.rglob("*")]:
            os.lchown(path, grader.pw_uid, grader.pw_gid)
        stock = cls(hub, root)
        done = stock.nbgrader(lay.grader, "release_assignment", ASSIGNMENT, cwd=course)
        assert done.returncode == 0, f"stock release failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return stock

    @property
    def course(self) -> Path:
        return self.root / "course"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def inbound(self) -> Path:
        return self.exchange / self.hub.lay.course / "inbound"

    def nbgrader(self, user: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """nbgrader as ``user`` with no hub configuration: nbgrader's exchange classes, this exchange."""
        lay = self.hub.lay
        options = [f"--Exchange.root={self.exchange}", "--Exchange.path_includes_course=True",
                   f"--CourseDirectory.course_id={lay.course}",
                   *(f"--ExchangeFactory.{k}={v}" for k, v in DEFAULT_EXCHANGE.items())]
        if user != lay.grader:
            options.append(f"--Exchange.cache={lay.home(user) / 'stock-cache'}")
        env = account_env(user, lay.runtime, {**self.hub.state["env"], "PYTHONPATH": str(self.course)})
        return self.hub.sh(user, [str(lay.runtime / "bin" / "python"), "-m", "nbgrader", *args, *options],
                           cwd=cwd, env=env)

    def collect(self) -> subprocess.CompletedProcess:
        return self.nbgrader(self.hub.lay.grader, "collect", ASSIGNMENT, "--update", cwd=self.course)


def plant(user: str, rel: str, notebook: dict) -> Path:
    """~user/<rel>/<assignment>/<assignment>.ipynb holding ``notebook``, all theirs (what a fetch leaves)."""
    pw = pwd.getpwnam(user)
    home = Path(pw.pw_dir)
    target = home / rel / ASSIGNMENT
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(notebook))
    top = home / Path(rel).parts[0]
    for path in [top, *top.rglob("*")]:
        os.lchown(path, pw.pw_uid, pw.pw_gid)
    return target


def own_folder(user: str, rel: str) -> Path:
    """~user/<rel>, an empty folder of theirs."""
    pw = pwd.getpwnam(user)
    folder = Path(pw.pw_dir) / rel
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.chown(folder, pw.pw_uid, pw.pw_gid)
    return folder


def parallel(*jobs):
    """Run the callables at once (two servers validate side by side); their results, in order."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]
