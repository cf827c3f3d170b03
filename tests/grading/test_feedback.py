"""Does feedback show students their results but never a hidden test's code or traceback?"""

from __future__ import annotations

import json

import re

import pytest

from grading_corpus import ASSIGNMENT
from course_tools import feedback, mathjax
from course_tools.nbgrader_course import nbgrader

pytestmark = pytest.mark.slow

SENTINEL = "HIDDEN_SENTINEL_7Q"  # in the hidden test's assertion message (fixture source)


def test_feedback_has_no_hidden_test(class_copy):
    """Is every hidden-test line absent from every student's feedback, while the visible test and its error stay?"""
    pages = feedback.generate_feedback(class_copy, ASSIGNMENT)
    graded = {p.parent.parent.name for p in pages}
    assert {"good", "wrong", "monkeypatch"} <= graded, f"expected feedback for good, wrong, monkeypatch; got {sorted(graded)}"
    leaks = feedback.find_leaks(class_copy, ASSIGNMENT)
    assert not leaks, "expected no hidden-test line in feedback, found:\n" + "\n".join(leaks[:10])
    for student in graded:
        held = sorted(p.name for p in (class_copy / "feedback" / student / ASSIGNMENT).iterdir())
        assert held == sorted(["ps0.html", mathjax.FOLDER]), (
            f"expected feedback/{student}/ps0/ to hold only ps0.html and its MathJax, it holds {held}")
    for page in pages:
        text = page.read_text()
        assert SENTINEL not in text, f"{page}: the hidden assertion message is in the feedback"
        # reads_references writes the name in its own code (globals().get('hidden_value')): that is no leak.
        if "hidden_value" not in feedback.submitted_text(class_copy, page.parent.parent.name, ASSIGNMENT):
            assert "hidden_value" not in text, f"{page}: a hidden test variable is in the feedback"
    wrong = (class_copy / "feedback" / "wrong" / ASSIGNMENT / "ps0.html").read_text()
    assert feedback.WITHHELD in wrong, "expected the failed hidden test to say it failed, without details"
    assert "square(3) should be 9" in re.sub(r"<[^>]+>", "", wrong).replace("&quot;", '"').replace("&#39;", "'"), \
        "expected the visible test's failure message in the feedback"


def test_leak_scan_catches_plain_nbgrader_feedback(class_copy):
    """Can the leak scan fail? nbgrader's own feedback, without the redaction, shows the hidden test."""
    # nbgrader's default feedback preprocessors, overriding the course config's redaction.
    plain = json.dumps(["nbgrader.preprocessors.GetGrades", "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"])
    nbgrader(class_copy, "generate_feedback", ASSIGNMENT, "--force", "--student", "wrong",
             f"--GenerateFeedback.preprocessors={plain}")
    leaks = "\n".join(feedback.find_leaks(class_copy, ASSIGNMENT))
    assert "feedback/wrong/ps0/ps0.html: contains a hidden-test line" in leaks, \
        f"expected the scan to find the hidden test in unredacted feedback; it reported:\n{leaks}"
    # nbgrader's own generate_feedback also copies the folder's other files: the scan names them.
    assert "feedback/wrong/ps0/timestamp.txt: not a feedback page" in leaks, leaks
    assert SENTINEL in (class_copy / "feedback" / "wrong" / ASSIGNMENT / "ps0.html").read_text()
