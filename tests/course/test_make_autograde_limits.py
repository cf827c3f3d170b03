"""Do `make autograde`'s limits come from one place (course_tools.autograde's defaults, which read
DGM_GRADE_WALL_S and DGM_GRADE_MEM_MB), with WALL= and MEM_MB= passed only when given?

Before: the Makefile passed its own copies (--wall 600 --mem-mb 4096) on every run, so the
variables README documents were silently overridden by `make autograde`."""

from __future__ import annotations

import subprocess
import sys

from course_tools.nbgrader_course import REPO, tool_env


def autograde_words(*make_vars: str) -> list[str]:
    out = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO), "autograde",
                          "ASSIGNMENT=hw1_foundations", *make_vars],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return out.replace("\\\n", " ").split()


def test_make_autograde_passes_no_limit_of_its_own():
    words = autograde_words()
    assert "course_tools.autograde" in words, words
    assert "--wall" not in words and "--mem-mb" not in words, f"expected no --wall/--mem-mb, got {words}"


def test_make_autograde_passes_wall_and_mem_mb_when_given():
    words = autograde_words("WALL=45", "MEM_MB=3000")
    assert words[words.index("--wall") + 1] == "45" and words[words.index("--mem-mb") + 1] == "3000", words


def test_autograde_defaults_read_the_environment():
    env = tool_env({"DGM_GRADE_WALL_S": "123", "DGM_GRADE_MEM_MB": "2345", "PYTHONPATH": str(REPO)})
    out = subprocess.run([sys.executable, "-m", "course_tools.autograde", "--help"], env=env, cwd=REPO,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    flat = " ".join(out.split())
    assert "(default 123.0)" in flat and "(default 2345)" in flat, out
