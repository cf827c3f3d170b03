"""Does the variant harness (course_tools.variants) score test cells like nbgrader does?

A tiny nbgrader source notebook is built in tmp_path: one solution cell and tests for two tasks.
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
        _cell("code", '"""Does the kernel start clean (no leaked state)?"""\n'
                      "assert 'LEAK' not in globals()\nLEAK = 1", "t2_clean_test", grade=True, points=1,
              locked=True),
        _cell("code", '"""Any stderr output costs the points, as in nbgrader."""\n'
                      "import sys\nif globals().get('WARN'):\n    print('careful', file=sys.stderr)",
              "t3_stderr_test", grade=True, points=1, locked=True),
        _cell("markdown", "Explain.", "t3_written", solution=True, grade=True, points=2),
    ]
    path = folder / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def test_reference_gets_full_marks_and_state_does_not_leak(tiny_source):
    """Does the unmodified source score full marks, twice in a row (fresh kernel each time)?"""
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
    assert by_task["t3"] == (0.0, 1.0), "stderr output in a test cell must score 0, as nbgrader does"
    assert "expected 9, got 27" in scores.errors["t1_square_test"]
    assert scores.total == (2.0, 5.0)


def test_unknown_grade_id_is_an_error(tiny_source):
    """Does a typo in a replacement key raise instead of grading the reference silently?"""
    with pytest.raises(KeyError, match="t1_sqaure"):
        grade_variant(tiny_source, {"t1_sqaure": "pass"})
