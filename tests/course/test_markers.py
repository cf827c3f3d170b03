"""Does course_tools.markers read nbgrader's markers exactly as nbgrader does, and fail closed?"""

from __future__ import annotations

import nbformat
import pytest
from nbgrader.preprocessors import ClearHiddenTests

from course_tools import markers

CELLS = [
    "a = 1\n### BEGIN HIDDEN TESTS\nassert secret()\n### END HIDDEN TESTS\nb = 2",
    "x = 0\n    ### BEGIN HIDDEN TESTS\n    hidden = 1\n    ### END HIDDEN TESTS\n### BEGIN HIDDEN TESTS\nmore\n### END HIDDEN TESTS",
    "no markers at all\nprint(1)",
    "# see BEGIN HIDDEN TESTS below\nsecret = 1\n# END HIDDEN TESTS\nshown = 2",  # nbgrader: a line *containing* it
]


def nbgrader_strips(source: str) -> str:
    cell = nbformat.v4.new_code_cell(source)
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source


@pytest.mark.parametrize("source", CELLS)
def test_outside_is_what_nbgrader_leaves(source):
    assert "\n".join(markers.outside(source, markers.HIDDEN_TESTS)) == nbgrader_strips(source)


@pytest.mark.parametrize("source, error", [
    ("### BEGIN HIDDEN TESTS\n### BEGIN HIDDEN TESTS\nx\n### END HIDDEN TESTS", "nested"),
    ("### BEGIN HIDDEN TESTS\nx", "No end"),
])
def test_strict_raises_where_nbgrader_raises(source, error):
    with pytest.raises(RuntimeError, match=error):
        nbgrader_strips(source)
    with pytest.raises(markers.MarkerError, match=error):
        markers.blocks(source, markers.HIDDEN_TESTS, strict=True)


def test_lenient_hides_an_unclosed_region_to_the_end():
    source = "shown\n### BEGIN HIDDEN TESTS\nsecret 1\n### BEGIN HIDDEN TESTS\nsecret 2\n### END HIDDEN TESTS\nshown 2\n" \
             "### END HIDDEN TESTS\n### BEGIN HIDDEN TESTS\nsecret 3"
    assert markers.outside(source, markers.HIDDEN_TESTS) == ["shown", "shown 2"]
    assert markers.inside(source, markers.HIDDEN_TESTS) == ["secret 1", "### BEGIN HIDDEN TESTS", "secret 2", "secret 3"]


def test_solution_blocks_and_their_lines():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    (block,) = markers.blocks(source, markers.SOLUTION, strict=True)
    assert (block.begin, block.end, block.lines) == (1, 3, ("    return x",))
    assert markers.has(source, markers.SOLUTION) and not markers.has(source, markers.HIDDEN_TESTS)


def test_marker_lines_are_the_courses():
    assert markers.MARKERS == ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
