"""What the browser tests drive: JupyterLab servers in course copies, notebooks in the page, steps.

The pytest fixtures built on these are in conftest.py next to this file; see docs/browser-tests.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from course_tools import markers
from course_tools.nbgrader_course import COURSE_ITEMS, copy_course, tool_env

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("DGM_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling Google services on a closed network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
INSTALL_HINT = (
    f"Chromium not found at {CHROMIUM}: install Debian's package with "
    "`sudo apt-get install -y chromium` (or set DGM_CHROMIUM to a Chromium binary); "
    "Playwright's own browser download is not used"
)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
SERVER_START_TIMEOUT_S = 60
VIEWPORT = {"width": 1400, "height": 900}


# --------------------------------------------------------------------------- browser


_PLAYWRIGHT: dict = {}  # the one Playwright and Chromium of this test process (shared_chromium)


def shared_chromium(executable: str):
    """The test process's one headless Chromium, started on first use and stopped at exit.

    Playwright's sync API runs one event loop per thread: a second ``sync_playwright()`` entered while
    the first is open fails ("using Playwright Sync API inside the asyncio loop"). The browser tests and
    the hub tests each have a session fixture named ``browser``; under xdist both can land in one
    worker, so both fixtures return this one instance instead of starting their own.
    """
    if "browser" not in _PLAYWRIGHT:
        import atexit

        from playwright.sync_api import sync_playwright

        pw = sync_playwright().start()
        _PLAYWRIGHT.update(pw=pw, browser=pw.chromium.launch(executable_path=executable, headless=True,
                                                              args=CHROMIUM_ARGS))

        def stop() -> None:
            with contextlib.suppress(Exception):
                _PLAYWRIGHT.pop("browser").close()
            with contextlib.suppress(Exception):
                _PLAYWRIGHT.pop("pw").stop()

        atexit.register(stop)
    return _PLAYWRIGHT["browser"]


def is_off_loopback(url: str) -> bool:
    """True when ``url`` goes over the network to a host other than this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return False  # data:, blob:, about:, file:, chrome-extension: stay in the browser
    return (parts.hostname or "") not in LOOPBACK_HOSTS


@dataclass
class Steps:
    """Named test steps that screenshot the page after each one, and on failure say which step.

    Use as ``with steps("open the notebook"): ...``. Screenshots are written to
    test-artifacts/browser/<test>/NN-<step>.png (NN-<step>-failed.png when the step fails).
    """

    page: object
    folder: Path
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    count: int = 0

    def shot(self, label: str) -> Path:
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:60]
        path = self.folder / f"{self.count:02d}-{slug}.png"
        try:
            self.page.screenshot(path=str(path), timeout=10_000)
        except Exception as exc:  # a crashed page still lets the test report its real error
            path.with_suffix(".txt").write_text(f"screenshot failed: {exc}\n")
        return path

    @contextlib.contextmanager
    def __call__(self, name: str):
        try:
            yield
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, pytest.skip.Exception)):
                raise
            shot = self.shot(f"{name}-FAILED")
            raise AssertionError(f"step '{name}' failed: {type(exc).__name__}: {exc}\n"
                                 f"screenshot: {shot}") from exc
        self.shot(name)

    def off_loopback(self) -> list[str]:
        return sorted({u for u in self.requests if is_off_loopback(u)})


# --------------------------------------------------------------------------- JupyterLab server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    """A running JupyterLab: its process, its course root and how to reach it."""

    proc: subprocess.Popen
    root: Path
    port: int
    token: str
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab") -> str:
        """URL of ``path`` on the server, carrying the token (the server then sets its cookie)."""
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str) -> dict | list:
        """GET a JSON endpoint of the server (e.g. ``api/status``)."""
        req = urllib.request.Request(f"{self.base}/{path}",
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def lab_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of ``make lab``: Jupyter state kept inside the copy, and a PATH *without* the
    course's venv, so that the venv's bin comes first only because ``make lab`` puts it there (it
    was missing once: the formgrader could not find alembic)."""
    state = root / ".jupyter-state"
    settings = state / "lab-settings"
    # Isolate from the user's ~/.jupyter, and keep JupyterLab from asking to fetch news online.
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and os.path.realpath(p) != os.path.realpath(venv_bin))
    env = {
        **os.environ,
        "PATH": path,
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra or {})
    return env


def make_command(root: Path, target: str, *variables: str) -> list[str]:
    """``make TARGET`` of the course, run in the course copy ``root`` (which has the course's Makefile
    and mk/), with the course's venv taken as set up (``-o``: never rebuilt from the copy's files)."""
    venv = Path(sys.executable).parent.parent
    return ["make", "--no-print-directory", "-C", str(root), "-o", f"{venv}/.installed", target, f"VENV={venv}",
            *variables]


def make_in_copy(root: Path, target: str, *variables: str) -> str:
    """Run ``make TARGET`` in the course copy (see make_command); its output, or an error with it."""
    done = subprocess.run(make_command(root, target, *variables), env=tool_env(), capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"make {target} in {root} exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def lab_command(root: Path, port: int, token: str) -> list[str]:
    """``make lab`` itself in the copy; only the port and a token are added (PORT=, ARGS=, as a user would)."""
    return make_command(root, "lab", f"PORT={port}", f"ARGS=--IdentityProvider.token={token} --ServerApp.port_retries=0")


def start_lab(root: Path, env_extra: dict[str, str] | None = None) -> LabServer:
    """Start JupyterLab on ``root`` through ``make lab``, on a free loopback port; wait until it answers.

    The working directory is ``root``: nbgrader's server extensions read nbgrader_config.py from it.
    """
    port, token = free_port(), secrets.token_hex(16)
    log = root / ".jupyter-state" / f"lab-{port}.log"
    env = lab_env(root, env_extra)
    cmd = lab_command(root, port, token)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = LabServer(proc=proc, root=root, port=port, token=token, log=log)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode} while starting:\n"
                               f"{server.log_tail()}")
        try:
            server.api("api/status")
            return server
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.25)
    stop_lab(server)
    raise RuntimeError(f"JupyterLab did not answer on port {port} within {SERVER_START_TIMEOUT_S} s:\n"
                       f"{server.log_tail()}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_lab(server: LabServer) -> None:
    """Stop the server: SIGTERM to the group of ``make lab`` (JupyterLab shuts its kernels down),
    up to 15 s for every process of it to end, then SIGKILL to what is left of the group."""
    proc = server.proc
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        proc.poll()  # reap make as soon as it exits, so the group can empty
        if not _group_alive(proc.pid):
            break
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def make_course_copy(dest: Path) -> Path:
    """Copy what JupyterLab shows (config, solutions/, assignments/, lectures/), what ``make lab``
    reads (the Makefile, mk/, the files setup depends on) and what nbgrader_config.py imports
    (course_tools/: the course's policy, output caps and feedback) into ``dest``."""
    return copy_course(dest, items=(*COURSE_ITEMS, "course_tools", "lectures", "Makefile", "mk", "requirements.lock",
                                    "pyproject.toml"))


@contextlib.contextmanager
def running_lab(root: Path, env_extra: dict[str, str] | None = None):
    """JupyterLab on ``root`` for the duration of the block; its log is kept with the screenshots."""
    server = start_lab(root, env_extra)
    try:
        yield server
    finally:
        stop_lab(server)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy2(server.log, ARTIFACTS / f"{root.name}-jupyterlab.log")


def require(path: Path, what: str) -> Path:
    """Skip with a reason naming ``path`` when the content a test drives has not been written yet."""
    if not path.exists():
        pytest.skip(f"{what} is missing: {path.relative_to(REPO) if path.is_relative_to(REPO) else path} "
                    "does not exist yet")
    return path


# --------------------------------------------------------------------------- JupyterLab page helpers


class Notebook:
    """Drives one notebook open in JupyterLab, as a person would with mouse and keyboard."""

    RUN_TIMEOUT_MS = 150_000

    def __init__(self, page):
        self.page = page

    @classmethod
    def open(cls, page, server: LabServer, path: str) -> "Notebook":
        """Open ``path`` (relative to the server root) and wait for its kernel to be idle."""
        page.goto(server.url(f"lab/tree/{path}"), wait_until="domcontentloaded", timeout=60_000)
        nb = cls(page)
        page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        # A notebook without kernel metadata asks which kernel to start: answer as a person would.
        select = page.locator(".jp-Dialog button", has_text=re.compile("^Select$"))
        with contextlib.suppress(Exception):
            select.wait_for(timeout=2_000)
            select.click()
        nb.wait_kernel_idle(timeout_ms=60_000)
        return nb

    @property
    def panel(self):
        return self.page.locator(".jp-NotebookPanel:visible").first

    def wait_kernel_idle(self, timeout_ms: int = 60_000) -> None:
        self.page.wait_for_function(
            """() => { const el = document.querySelector(
                          '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
                       const name = document.querySelector(
                          '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-KernelName');
                       return el && el.dataset.status === 'idle'
                              && name && !/No Kernel|Unknown/.test(name.textContent); }""",
            timeout=timeout_ms)

    def menu(self, top: str, item: str) -> None:
        """Click ``top`` in the menu bar, then ``item`` in its menu."""
        self.page.locator("#jp-menu-panel .lm-MenuBar-item", has_text=re.compile(f"^{re.escape(top)}$")).click()
        self.page.locator(".lm-Menu:visible .lm-Menu-item",
                          has_text=re.compile(f"^{re.escape(item)}")).first.click()

    def run_all(self, timeout_ms: int | None = None) -> None:
        """Run ▸ Run All Cells, then wait until no cell is queued or running and the kernel is idle."""
        self.menu("Run", "Run All Cells")
        # A prompt reads "[*]:" while a cell is queued or running; wait for one to show, then for none.
        with contextlib.suppress(Exception):
            self.page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))",
                timeout=5_000)
        self.page.wait_for_function(
            """() => { const ps = [...document.querySelectorAll(
                           '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
                       const ind = document.querySelector(
                           '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
                       return ps.length > 0 && !ps.some(p => p.textContent.includes('*'))
                              && ps.some(p => /\\[\\d+\\]/.test(p.textContent))
                              && ind && ind.dataset.status === 'idle'; }""",
            timeout=timeout_ms or self.RUN_TIMEOUT_MS, polling=250)

    def error_outputs(self) -> list[str]:
        """Text of every traceback shown in the notebook, in cell order.

        textContent, not innerText: cells scrolled out of view are not laid out (content-visibility),
        and innerText of an element that is not laid out is empty.
        """
        texts = self.page.locator(
            '.jp-NotebookPanel:visible .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
        ).all_text_contents()
        return [t for t in texts if "Traceback" in t]

    def code_cell(self, contains: str):
        """The code cell whose source contains ``contains`` (exactly one must)."""
        cells = self.panel.locator(".jp-CodeCell").filter(
            has=self.page.locator(".cm-content", has_text=contains))
        count = cells.count()
        assert count == 1, f"expected exactly one code cell containing {contains!r}, found {count}"
        return cells.first

    def cell_source(self, cell) -> str:
        """The source of ``cell`` as CodeMirror holds it (one DOM line per source line)."""
        cell.scroll_into_view_if_needed()
        return "\n".join(cell.locator(".cm-content .cm-line").all_text_contents())

    def type_body(self, cell, stub_line_index: int, body: list[str]) -> None:
        """Replace line ``stub_line_index`` of ``cell`` (the stub) with ``body``, typed key by key.

        CodeMirror indents a new line like the one before it (one level more after a colon);
        where ``body`` wants another indentation, Shift+Tab or Tab fix it, as a person would do.
        Brackets must close on the line that opens them (see :func:`stubs`).
        """
        cell.locator(".cm-content .cm-line").nth(stub_line_index).click()
        self.page.keyboard.press("End")
        self.page.keyboard.press("Shift+Home")  # selects the line after its indentation
        previous = None
        for line in body:
            indent = len(line) - len(line.lstrip(" "))
            if previous is not None:
                self.page.keyboard.press("Enter")
                auto = len(previous) - len(previous.lstrip(" ")) + (4 if previous.rstrip().endswith(":") else 0)
                for _ in range(max(0, (auto - indent) // 4)):
                    self.page.keyboard.press("Shift+Tab")
                for _ in range(max(0, (indent - auto) // 4)):
                    self.page.keyboard.press("Tab")  # at the start of a line Tab indents
            self.page.keyboard.type(line.strip())
            previous = line
        self.page.keyboard.press("Escape")  # leave edit mode


# --------------------------------------------------------------------------- nbgrader notebooks


@dataclass(frozen=True)
class Stub:
    """A function a student writes: its name, its solution cell, what the solution types, its tests."""

    name: str
    grade_id: str                # the solution cell that holds the function
    body: list[str]              # the solution lines, with their indentation in the source
    tests: list[str]             # grade ids of the visible test cells that call no other stub
    test_sources: list[str]      # their sources, as the release shows them


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_bodies(source: str) -> dict[str, list[str]]:
    """Function name -> lines of the first solution block after its ``def`` in one cell's source."""
    lines = source.splitlines()
    bodies: dict[str, list[str]] = {}
    for block in markers.blocks(source, markers.SOLUTION, strict=True):
        defs = [re.match(r"^def (\w+)\(", line) for line in lines[:block.begin]]
        names = [m.group(1) for m in defs if m]
        if names and names[-1] not in bodies:
            bodies[names[-1]] = list(block.lines)
    return bodies


def stubs(source_nb: Path, release_nb: Path) -> list[Stub]:
    """Functions a student writes in an assignment that have a visible test of their own, shortest first.

    A visible test cell is "of its own" for a function when it names nothing else that a solution cell
    defines (another function, or a table of them); it is what Validate runs (the release has no
    hidden tests).
    """
    import nbformat

    source = nbformat.read(source_nb, as_version=4)
    release = [c for c in nbformat.read(release_nb, as_version=4).cells if c.cell_type == "code"]
    funcs: dict[str, tuple[str, list[str]]] = {}
    defined: set[str] = set()  # every top-level name of a solution cell
    for cell in source.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("solution"):
            for name, body in solution_bodies(cell.source).items():
                funcs[name] = (meta["grade_id"], body)
            defined.update(re.findall(r"^(?:def |class )?(\w+)\s*[(=:]", cell.source, flags=re.M))
    visible_tests = [c for c in release if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")]
    found = []
    for name, (grade_id, body) in funcs.items():
        others = defined - {name}
        own = [c for c in visible_tests if re.search(rf"\b{name}\(", c.source)
               and not any(re.search(rf"\b{o}\b", c.source) for o in others)]
        # Typed key by key, a bracket left open across lines gets its closing twin from CodeMirror.
        balanced = all(sum(line.count(c) for c in "([{") == sum(line.count(c) for c in ")]}") for line in body)
        if own and balanced:
            found.append(Stub(name, grade_id, body, [nbgrader_meta(c)["grade_id"] for c in own],
                              [c.source for c in own]))
    return sorted(found, key=lambda s: (len(s.body), sum(map(len, s.body))))
