"""Fixtures of the hub tests: the browser tests' Chromium (tests/browser/conftest.py), shared here.

The hub itself is a module fixture of tests/hub/test_hub_e2e.py; hub_harness.py has the helpers.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BROWSER = Path(__file__).resolve().parents[1] / "browser"
sys.path.insert(0, str(BROWSER))  # lab_harness
sys.path.insert(0, str(Path(__file__).resolve().parent))  # hub_harness

_spec = importlib.util.spec_from_file_location("browser_conftest", BROWSER / "conftest.py")
_browser = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_browser)

chromium_executable = _browser.chromium_executable
browser = _browser.browser
steps = _browser.steps
