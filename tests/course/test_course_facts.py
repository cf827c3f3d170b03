"""Is each course fact written once, and read from there everywhere else?

- the course id: nbgrader_config.py (course_tools.nbgrader_course.course_id reads it);
- hw2's checkpoint names: solutions/hw2_autoregressive/collect.json (tests/grading/test_collect.py
  checks that the notebook's MLP_FILE, RNN_FILE say the same);
- nbgrader's markers: course_tools/markers.py (from nbgrader's own delimiters);
- the grading limits' defaults: course_tools (the Makefile passes WALL=/MEM_MB= only when given).

A stray copy in code (course_tools, dgm_utils, tests, benchmarks, the Makefiles) fails here, with
the file and line. Documentation and records of past runs may name the facts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from course_tools.collect import load_spec
from course_tools.nbgrader_course import REPO, course_id

CODE = [p for d in ("course_tools", "dgm_utils", "tests", "benchmarks") for p in (REPO / d).rglob("*.py")
        if "fixtures" not in p.parts] + [REPO / "Makefile", *sorted((REPO / "mk").glob("*.mk"))]
HERE = Path(__file__).resolve()


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
    assert not stray(re.escape(course_id()), set()), "\n".join(stray(re.escape(course_id()), set()))


@pytest.mark.parametrize("name", load_spec(REPO, "hw2_autoregressive").files)
def test_checkpoint_names_are_read_from_collect_json(name):
    found = stray(re.escape(name), set())
    assert not found, f"{name} is written out here; read it from collect.json (load_spec):\n" + "\n".join(found)


def test_markers_are_parsed_in_one_module():
    """No tool spells a marker out as a string of its own (tests write them into test notebooks)."""
    found = [f for f in stray(r"""["'](### )?(BEGIN|END) (SOLUTION|HIDDEN TESTS)["']""",
                              {(REPO / "course_tools" / "markers.py").resolve()}) if not f.startswith("tests/")]
    assert not found, "nbgrader's markers spelled out here; use course_tools.markers:\n" + "\n".join(found)


def test_makefiles_hold_no_limit_default():
    found = [line for line in stray(r"^(WALL|MEM_MB)\s*\?=\s*\S", set())]
    assert not found, "a limit's default in a Makefile (it would override DGM_GRADE_*):\n" + "\n".join(found)
