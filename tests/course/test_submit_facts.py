"""Does the student's submission check (dgm_utils.submit) ask for exactly what the TA's collect keeps?

Students have dgm_utils, not solutions/<id>/collect.json: the caps are defined in dgm_utils.submit (and
hw2's files and cap in dgm_utils.scoring), and collect.json names them as "py:module:NAME"."""

from __future__ import annotations

import pytest

from course_tools import collect
from course_tools.nbgrader_course import REPO, assignment_ids
from dgm_utils import submit


def test_every_assignment_is_known_to_the_submission_check():
    assert sorted(submit.ASSIGNMENTS) == assignment_ids(), (
        "an assignment of solutions/ is missing in dgm_utils.submit.ASSIGNMENTS (or one there is gone)")


@pytest.mark.parametrize("assignment", assignment_ids())
def test_submission_check_and_collect_agree(assignment):
    """Same notebook, same files, same caps for a file, a notebook and a whole submission?"""
    spec, req = collect.load_spec(REPO, assignment), submit.ASSIGNMENTS[assignment]
    assert spec.notebooks == (req.notebook,) and spec.files == req.files, (spec, req)
    assert spec.max_notebook_mb == submit.MAX_NOTEBOOK_MB and spec.max_student_mb == submit.MAX_SUBMISSION_MB
    if req.files:
        assert spec.max_file_mb == req.max_file_mb


def test_collect_credits_the_zips_member_names():
    """Is collect's student id and separator the one the submission zip uses (one definition)?"""
    assert collect.STUDENT_ID is submit.STUDENT_ID and collect.FLAT_SEPARATOR == submit.FLAT_SEPARATOR
