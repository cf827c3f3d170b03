"""Does the real hw1 go through the TA pipeline: sandboxed autograde, then leak-free feedback?"""

from __future__ import annotations

import pytest

from course_tools import autograde as ag
from course_tools import feedback
from course_tools.nbgrader_course import REPO, copy_course, generate, submit

pytestmark = pytest.mark.slow

HW1 = "hw1_foundations"


@pytest.mark.skipif(not (REPO / "solutions" / HW1).is_dir(), reason="solutions/hw1_foundations is not written yet")
def test_hw1_solution_full_marks_release_zero_in_sandbox(tmp_path, mnist_dir):
    """In the sandbox, does the solution get full marks, the release zero, and feedback show no hidden test?"""
    root = copy_course(tmp_path / "course")
    generate(root, HW1)
    submit(root, HW1, "solution", root / "solutions" / HW1)
    submit(root, HW1, "release", root / "assignments" / HW1)
    summary = ag.grade_class(root, HW1, 2, env={"DGM_FAST": "1"}, progress=False)
    sol, rel = summary.students["solution"], summary.students["release"]
    assert sol.status == "graded" and sol.score == sol.max_score > 0, (
        f"expected the solution graded with full marks, got {sol.status} {sol.score}/{sol.max_score} "
        f"({sol.reason}; failing cells: {[c for c, v in sol.by_cell.items() if not v]})")
    assert rel.status == "graded" and rel.score == 0, f"expected the release graded 0, got {rel.status} {rel.score}"
    feedback.generate_feedback(root, HW1)
    leaks = feedback.find_leaks(root, HW1)
    assert not leaks, "expected no hidden-test line in hw1 feedback, found:\n" + "\n".join(leaks[:10])
