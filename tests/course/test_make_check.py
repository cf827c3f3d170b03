"""Does `make check` (a student's pre-submission check) run the visible tests as the grader does,
and say of the release's hidden tests that they are graded at submission, never that they pass?"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from course_tools.nbgrader_course import REPO, tool_env

HW1 = REPO / "assignments" / "hw1_foundations" / "hw1_foundations.ipynb"


def check_command(nb: Path) -> list[str]:
    out = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO), "check", f"NB={nb}"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    line = next(x for x in out.splitlines() if "dgm_utils.cleanroom" in x)
    return shlex.split(line)


def hidden_ids(nb: Path) -> list[str]:
    cells = json.loads(nb.read_text())["cells"]
    return [c["metadata"]["nbgrader"]["grade_id"] for c in cells
            if c["metadata"].get("nbgrader", {}).get("grade") and c["cell_type"] == "code"
            and "hidden" in c["metadata"]["nbgrader"]["grade_id"]]


def test_make_check_runs_the_cleanroom_module():
    cmd = check_command(HW1)
    assert cmd[1:] == ["-m", "dgm_utils.cleanroom", str(HW1)], cmd


@pytest.mark.slow
def test_release_hidden_cells_are_not_reported_as_passing(mnist_dir):
    """On the blank release: exit 1, every visible test FAILs, every hidden cell is 'graded when you submit'."""
    cmd = check_command(HW1)
    cmd[0] = sys.executable
    proc = subprocess.run(cmd, cwd=REPO, env=tool_env({"DGM_FAST": "1"}), capture_output=True, text=True, timeout=600)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1, f"expected exit 1 for a blank release, got {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    hidden = hidden_ids(HW1)
    assert hidden, "hw1 has no hidden test cell: this test would check nothing"
    for gid in hidden:
        mine = [l for l in lines if f" {gid} " in l]
        assert mine and all("graded when you submit" in l and not l.startswith("pass") for l in mine), (
            f"{gid}: expected 'graded when you submit', got {mine}")
    passing = [l for l in lines if l.startswith("pass")]
    assert not passing, f"expected no visible test to pass on the blank release, got {passing}"
