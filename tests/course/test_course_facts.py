"""Is each course fact written once, and read from there everywhere else?

- the course id, what is never released or shipped, the grading limits: course_tools/policy.py
  (nbgrader_config.py imports it; course_tools.nbgrader_course.course_id reads the config);
- hw2's checkpoint names, their size cap and pass marks: dgm_utils/scoring.py (the notebook's setup
  cell and collect.json read them there; tests/hw2/test_contract_facts.py checks the notebook's text);
- nbgrader's markers: course_tools/markers.py (from nbgrader's own delimiters);
- the grading limits' defaults: course_tools/policy.py (the Makefile passes WALL=/MEM_MB= only when
  given).

A stray copy in code (course_tools, dgm_utils, tests, benchmarks, the Makefiles) fails here, with
the file and line. Documentation and records of past runs may name the facts.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from course_tools import policy
from course_tools.collect import load_spec
from course_tools.nbgrader_course import REPO, assignment_ids, course_id

CODE = [p for d in ("course_tools", "dgm_utils", "tests", "benchmarks") for p in (REPO / d).rglob("*.py")
        if "fixtures" not in p.parts] + [REPO / "nbgrader_config.py", REPO / "Makefile", *sorted((REPO / "mk").glob("*.mk"))]
HERE = Path(__file__).resolve()
POLICY = {(REPO / "course_tools" / "policy.py").resolve()}


def stray(pattern: str, allowed: set[Path]) -> list[str]:
    found = []
    for path in CODE:
        if path.resolve() in allowed or path.resolve() == HERE:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if re.search(pattern, line) and not line.lstrip().startswith("#"):
                found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:120]}")
    return found


def test_course_id_is_written_once():
    found = stray(re.escape(course_id()), POLICY)
    assert not found, "the course id is written out here; use course_tools.policy.COURSE_ID:\n" + "\n".join(found)


def test_never_released_files_are_listed_once():
    """No line lists two of the weight, database or code suffixes (a list of its own that would drift)."""
    quoted = "|".join(re.escape(s) for s in policy.NEVER_RELEASED_SUFFIXES)
    one = rf"""["']\*?({quoted})["']"""
    found = stray(rf"{one}.*{one}", POLICY)
    assert not found, "a list of never-released files; use course_tools.policy's:\n" + "\n".join(found)


@pytest.mark.parametrize("assignment", assignment_ids())
def test_submitted_files_are_not_on_nbgrader_ignore_list(assignment):
    """nbgrader's ignore list also drops files of a submission: a checkpoint on it never reaches the kernel."""
    ignored = [f for f in load_spec(REPO, assignment).files
               if any(fnmatch.fnmatch(f, pattern) for pattern in policy.RELEASE_IGNORE)]
    assert not ignored, f"{ignored} (collect.json) match course_tools.policy.RELEASE_IGNORE; add the suffix to SUBMITTED_SUFFIXES"


def test_limits_are_read_in_one_module():
    """No module reads a limit's variable with a default of its own."""
    names = "|".join(re.escape(limit.env) for limit in policy.LIMITS)
    found = stray(rf"""(environ\.get|getenv)\(\s*["']({names})["']""", POLICY)
    assert not found, "a limit read with its own default; use course_tools.policy:\n" + "\n".join(found)


@pytest.mark.parametrize("name", load_spec(REPO, "hw2_autoregressive").files)
def test_checkpoint_names_are_written_once(name):
    found = stray(re.escape(name), {(REPO / "dgm_utils" / "scoring.py").resolve()})
    assert not found, f"{name} is written out here; read dgm_utils.scoring.HW2_CHECKPOINTS:\n" + "\n".join(found)


def test_markers_are_parsed_in_one_module():
    """No tool spells a marker out as a string of its own (tests write them into test notebooks)."""
    found = [f for f in stray(r"""["'](### )?(BEGIN|END) (SOLUTION|HIDDEN TESTS)["']""",
                              {(REPO / "course_tools" / "markers.py").resolve()}) if not f.startswith("tests/")]
    assert not found, "nbgrader's markers spelled out here; use course_tools.markers:\n" + "\n".join(found)


def test_makefiles_hold_no_limit_default():
    found = [line for line in stray(r"^(WALL|MEM_MB)\s*\?=\s*\S", set())]
    assert not found, "a limit's default in a Makefile (it would override DGM_GRADE_*):\n" + "\n".join(found)


def test_no_source_file_is_git_ignored():
    """Is every file of the course's code and tests tracked-able? A .gitignore line meant for nbgrader's working
    folders (feedback/, exports/) once swallowed course_tools/templates/feedback/ and a fresh clone lacked it."""
    import subprocess

    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "--others", "--ignored", "--exclude-standard", "--",
                          "course_tools", "dgm_utils", "tests", "lectures", "solutions", "benchmarks", "mk", "docs"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    ignored = [p for p in out if "__pycache__" not in p and not p.endswith(".pyc") and ".ipynb_checkpoints" not in p
               and "/.pytest_cache/" not in p]
    assert not ignored, f"expected no source file ignored by .gitignore, found: {ignored}"
