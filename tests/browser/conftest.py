"""Fixtures of the browser tests: Chromium through Playwright, and a recorded page per test.

Run them with ``DGM_FAST=1 .venv/bin/python -m pytest -m browser tests/browser``. They need Debian's
Chromium (``apt-get install -y chromium``); without it they skip, except under DGM_REQUIRE_BROWSER=1
(CI), where they fail. Screenshots of every step land in test-artifacts/browser/<test>/.
See docs/browser-tests.md; the servers and page helpers are in lab_harness.py.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
from lab_harness import ARTIFACTS, CHROMIUM, INSTALL_HINT, VIEWPORT, Steps, is_off_loopback, shared_chromium


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Path of Debian's Chromium. Skips with an install hint, or fails when DGM_REQUIRE_BROWSER=1."""
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if os.environ.get("DGM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"DGM_REQUIRE_BROWSER=1 but {INSTALL_HINT}")
    pytest.skip(INSTALL_HINT)


@pytest.fixture(scope="session")
def browser(chromium_executable):
    """One headless Chromium for the test process (Playwright's sync API), shared with tests/hub."""
    return shared_chromium(chromium_executable)


@pytest.fixture
def steps(browser, request):
    """A fresh browser context and page, recording every request, wrapped in a :class:`Steps`."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    page = context.new_page()
    recorder = Steps(page=page, folder=folder)
    context.on("request", lambda req: recorder.requests.append(req.url))
    # Off-loopback requests are recorded (above) and refused at once: on a closed network they
    # would otherwise hang until a timeout, and nothing a test checks may depend on them.
    context.route(is_off_loopback, lambda route: route.abort("internetdisconnected"))
    page.on("console", lambda msg: msg.type == "error" and recorder.console_errors.append(msg.text))
    try:
        yield recorder
    finally:
        (folder / "requests.txt").write_text("\n".join(recorder.requests) + "\n")
        (folder / "console-errors.txt").write_text("\n".join(recorder.console_errors) + "\n")
        context.close()
