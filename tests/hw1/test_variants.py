"""Does the variant harness (course_tools.variants) score test cells the way the clean room grades?

A tiny nbgrader source notebook is built in tmp_path: solution cells and tests for three tasks.
The test cells run in the grader, the solution cells in a worker of their own: a test cell scores
its points when it raises nothing, whatever it prints (stderr included), and it sees only the
names the source's solution cells define.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_tools.variants import grade_variant, points_by_task


def _cell(kind: str, source: str, grade_id: str, *, solution=False, grade=False, points=0, locked=False):
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    meta = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": locked, "schema_version": 3}
    if grade:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("code", "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
              "t1_square", solution=True),
        _cell("code", '"""Is square(3) 9?"""\nassert square(3) == 9, f"expected 9, got {square(3)}"',
              "t1_square_test", grade=True, points=2, locked=True),
        _cell("code", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
              "t2_double", solution=True),
        _cell("code", '"""Is double(4) 8?"""\nassert double(4) == 8', "t2_double_test", grade=True, points=1,
              locked=True),
        _cell("code", '"""Does each grading start clean (no leaked state)?"""\n'
                      "assert 'LEAK' not in globals()\nLEAK = 1", "t2_clean_test", grade=True, points=1,
              locked=True),
        _cell("code", '"""Output on stderr costs nothing in the clean room; the student\'s other globals are out of reach."""\n'
                      "import sys\nprint('careful', file=sys.stderr)\nassert 'WARN' not in globals()",
              "t3_stderr_test", grade=True, points=1, locked=True),
        _cell("markdown", "Explain.", "t3_written", solution=True, grade=True, points=2),
    ]
    path = folder / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def test_reference_gets_full_marks_and_state_does_not_leak(tiny_source):
    """Does the unmodified source score full marks, twice in a row (a fresh grader namespace each time)?"""
    for _ in range(2):
        scores = grade_variant(tiny_source)
        assert dict(scores) == {"t1_square_test": (2.0, 2.0), "t2_double_test": (1.0, 1.0),
                                "t2_clean_test": (1.0, 1.0), "t3_stderr_test": (1.0, 1.0)}, scores.errors


def test_wrong_answer_loses_points_on_its_task_only(tiny_source):
    """Does a wrong square() cost task 1 and only task 1, with the assertion text kept?"""
    scores = grade_variant(tiny_source, {"t1_square": "def square(x):\n    return x ** 3\n\nWARN = True"})
    by_task = points_by_task(scores)
    assert by_task["t1"] == (0.0, 2.0)
    assert by_task["t2"] == (2.0, 2.0)
    # Under nbgrader's kernel rule stderr output scored 0; the clean room ignores output, and the
    # student's global WARN (not a name the source's solution cells define) never reaches a test.
    assert by_task["t3"] == (1.0, 1.0), scores.errors
    assert "expected 9, got 27" in scores.errors["t1_square_test"]
    assert scores.total == (3.0, 5.0)


def test_crash_and_environment(tiny_source):
    """Does a crash of the student's process cost only its cell, and does env reach the student's process?"""
    crash = "import os\n\ndef square(x):\n    os._exit(3)"
    factor = "import os\n\ndef double(x):\n    return 2 * x * int(os.environ.get('DGM_TINY_FACTOR', '1'))"
    scores = grade_variant(tiny_source, {"t1_square": crash, "t2_double": factor}, env={"DGM_TINY_FACTOR": "3"})
    assert dict(scores) == {"t1_square_test": (0.0, 2.0), "t2_double_test": (0.0, 1.0),
                            "t2_clean_test": (1.0, 1.0), "t3_stderr_test": (1.0, 1.0)}, scores.errors
    assert "WorkerFailed" in scores.errors["t1_square_test"]


def test_unknown_grade_id_is_an_error(tiny_source):
    """Does a typo in a replacement key raise instead of grading the reference silently?"""
    with pytest.raises(KeyError, match="t1_sqaure"):
        grade_variant(tiny_source, {"t1_sqaure": "pass"})
