"""The instructor's path: run a lecture notebook in JupyterLab (fast mode) and step through its slides.

Run: ``DGM_FAST=1 .venv/bin/python -m pytest -m browser tests/browser/test_instructor_path.py``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from lab_harness import REPO, Notebook, free_port, is_off_loopback, make_course_copy, require, running_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


def first_lecture() -> str:
    """The first lecture notebook, relative to the repo (skips, naming the folder, when there is none)."""
    notebooks = sorted(require(REPO / "lectures", "the lecture notebooks").glob("*.ipynb"))
    if not notebooks:
        pytest.skip("no lecture notebook in lectures/ yet")
    return str(notebooks[0].relative_to(REPO))


@pytest.fixture(scope="module")
def instructor_lab(chromium_executable, tmp_path_factory, mnist_dir):
    """JupyterLab in fast mode (DGM_FAST=1 in the server's environment) on a course copy."""
    first_lecture()
    root = make_course_copy(tmp_path_factory.mktemp("instructor"))
    with running_lab(root, {"DGM_FAST": "1", "DGM_DATA_DIR": str(mnist_dir)}) as server:
        yield server


def test_lecture_runs_and_renders_figures(instructor_lab, steps):
    """Does the first lecture run top to bottom in fast mode and show its figures as images?"""
    lecture, page = first_lecture(), steps.page

    with steps(f"open {lecture}"):
        nb = Notebook.open(page, instructor_lab, lecture)

    with steps("run all cells in fast mode"):
        nb.run_all()
        errors = nb.error_outputs()
        assert not errors, f"expected the lecture to run without errors, got:\n{errors[0][-2000:]}"

    with steps("see the figures rendered"):
        images = page.locator(".jp-NotebookPanel:visible .jp-RenderedImage img")
        count = images.count()
        assert count >= 1, "expected at least one figure rendered as an image, found none"
        images.last.scroll_into_view_if_needed()
        broken = page.evaluate(
            """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedImage img')]
                     .filter(img => !(img.complete && img.naturalWidth > 0)).length""")
        assert broken == 0, f"expected all {count} figures to decode as images, {broken} did not"

    off = steps.off_loopback()
    assert not off, f"expected JupyterLab and the lecture to stay on this machine, they requested {off}"


# --------------------------------------------------------------------------- slides

SLIDES_BUILD_TIMEOUT_S = 240


def slide_pages(folder: Path) -> list[Path]:
    """The decks under ``folder``: its HTML files, leaving out those of a vendored reveal.js."""
    return sorted(p for p in folder.rglob("*.html")
                  if not any(part.lower().startswith("reveal") for part in p.relative_to(folder).parts[:-1]))


@pytest.fixture(scope="module")
def slides_dir(chromium_executable, tmp_path_factory) -> Path:
    """The slides that ``make slides`` writes, built in a copy of the repo (never in the checkout)."""
    require(REPO / "mk" / "slides.mk", "the slides target (make slides)")
    first_lecture()
    root = tmp_path_factory.mktemp("slides")
    for item in ("Makefile", "pyproject.toml", "requirements.lock", "mk", "lectures", "dgm_utils"):
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, root / item, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        elif src.exists():
            shutil.copy2(src, root / item)
    (root / ".venv").symlink_to(REPO / ".venv")
    # -o: the copy's .venv is the checkout's; never let make rebuild it from here.
    result = subprocess.run(["make", "slides", "-o", ".venv/.installed", "-o", "setup"], cwd=root,
                            capture_output=True, text=True, timeout=SLIDES_BUILD_TIMEOUT_S,
                            env={**os.environ, "DGM_FAST": "1"})
    assert result.returncode == 0, (
        f"expected `make slides` to succeed, it exited {result.returncode}:\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    pages = slide_pages(root / "slides")
    assert pages, f"expected `make slides` to write HTML under slides/, found none:\n{result.stdout[-2000:]}"
    return root / "slides"


@contextlib.contextmanager
def static_server(folder: Path):
    """Serve ``folder`` over HTTP on a free loopback port; yield its base URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the browser's request log is what the test keeps
        pass


# Sets a flag when the slide transition under way ends, so that the screenshot shows the new slide.
ARM_TRANSITION_END = """() => {
    window.__dgmTransitionEnded = false;
    const done = () => { window.__dgmTransitionEnded = true; Reveal.off('slidetransitionend', done); };
    Reveal.on('slidetransitionend', done);
}"""


def test_slides_step_through_offline(slides_dir, steps):
    """Do the slides of `make slides` open and step forward twice without a request leaving loopback?"""
    page = steps.page
    html = slide_pages(slides_dir)[0]
    failed: list[str] = []
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    page.on("requestfailed", lambda r: r.url.startswith("http") and not is_off_loopback(r.url)
            and failed.append(f"failed {r.url}"))

    with static_server(slides_dir) as base:
        with steps(f"open {html.relative_to(slides_dir.parent)}"):
            page.goto(f"{base}/{html.relative_to(slides_dir).as_posix()}", wait_until="load")
            try:
                page.wait_for_function("() => window.Reveal && Reveal.isReady && Reveal.isReady()",
                                       timeout=20_000)
            except PlaywrightTimeoutError:
                raise AssertionError(
                    "expected reveal.js to start within 20 s; requests that left loopback (refused): "
                    f"{steps.off_loopback()}; local requests that failed: {failed}") from None
            start = page.evaluate("() => Reveal.getIndices()")

        seen = [start]
        for n in (1, 2):
            with steps(f"step to slide {n + 1}"):
                page.evaluate(ARM_TRANSITION_END)
                page.keyboard.press("ArrowRight")
                page.wait_for_function(
                    "prev => { const i = Reveal.getIndices(); return i.h !== prev.h || i.v !== prev.v; }",
                    arg=seen[-1], timeout=10_000)
                seen.append(page.evaluate("() => Reveal.getIndices()"))
                with contextlib.suppress(PlaywrightTimeoutError):  # no event when transitions are off
                    page.wait_for_function("() => window.__dgmTransitionEnded", timeout=3_000)

    assert len({(i["h"], i["v"]) for i in seen}) == 3, f"expected three distinct slides, saw {seen}"
    off = steps.off_loopback()
    assert not off, f"expected the slides to load everything from this machine, they requested {off}"
    assert not failed, f"expected every local request of the slides to succeed, these did not: {failed}"
