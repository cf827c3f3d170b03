"""The TA's path in the formgrader: both assignments listed, an autograded score, the written answer's page.

The submission is placed and autograded with the nbgrader CLI (course_tools.nbgrader_course), as a TA's
scripts do; the browser then checks what the formgrader shows of it.
Run: ``DGM_FAST=1 .venv/bin/python -m pytest -m browser tests/browser/test_ta_path.py``.
"""

from __future__ import annotations

import pytest
from lab_harness import REPO, make_course_copy, nbgrader_meta, require, running_lab

from course_tools.nbgrader_course import autograde, generate, scores, submit

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ASSIGNMENTS = ("hw1_foundations", "hw2_autoregressive")
GRADED = "hw1_foundations"
STUDENT = "student_a"
# nbgrader 0.9.6's submission page asks cdnjs for MathJax; the page works without it (the math of a
# written answer then shows as TeX). Any other request off this machine is a defect.
KNOWN_OFF_LOOPBACK = ("https://cdnjs.cloudflare.com/ajax/libs/mathjax/",)


def written_answers(notebook) -> list[str]:
    """Grade ids of the manually graded markdown answers of a source notebook."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    return [nbgrader_meta(c)["grade_id"] for c in nb.cells
            if c.cell_type == "markdown" and nbgrader_meta(c).get("grade") and nbgrader_meta(c).get("solution")]


def manual_grade(root, grade_id: str) -> tuple[float | None, float]:
    """(manual score, max score) of one grade cell of the graded submission, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for nb in gb.find_submission(GRADED, STUDENT).notebooks:
            for grade in nb.grades:
                if grade.name == grade_id:
                    return grade.manual_score, grade.max_score
    raise AssertionError(f"expected a grade {grade_id} in {STUDENT}'s {GRADED}, the gradebook has none")


@pytest.fixture(scope="module")
def ta_lab(chromium_executable, tmp_path_factory, mnist_dir):
    """JupyterLab on a course copy with both assignments generated and one hw1 submission autograded."""
    for assignment in ASSIGNMENTS:
        require(REPO / "solutions" / assignment, f"the nbgrader source of {assignment}")
    root = make_course_copy(tmp_path_factory.mktemp("ta"))
    env = {"DGM_FAST": "1", "DGM_DATA_DIR": str(mnist_dir)}
    for assignment in ASSIGNMENTS:
        generate(root, assignment)  # puts the assignment and its grade cells in the gradebook
    # The reference solution as the submission: its autograded score is the assignment's maximum.
    submit(root, GRADED, STUDENT, root / "solutions" / GRADED)
    autograde(root, GRADED, STUDENT, env=env)
    with running_lab(root, env) as server:
        yield server


def test_ta_sees_assignments_score_and_written_answer(ta_lab, steps):
    """Does the formgrader list both assignments, show the autograded score and open the written answer?"""
    root, page = ta_lab.root, steps.page
    score = scores(root, GRADED, STUDENT)
    source_nb = sorted((root / "solutions" / GRADED).glob("*.ipynb"))[0]
    written = written_answers(source_nb)
    assert written, f"expected a written (manually graded markdown) answer in {source_nb.name}, found none"

    with steps("open the formgrader"):
        page.goto(ta_lab.url("formgrader"), wait_until="domcontentloaded")
        rows = page.locator("#main-table tr")
        for assignment in ASSIGNMENTS:
            rows.filter(has_text=assignment).first.wait_for(timeout=30_000)
        listed = page.locator("#main-table td.name").all_inner_texts()
        assert sorted(t.strip() for t in listed) == sorted(ASSIGNMENTS), (
            f"expected the formgrader to list {sorted(ASSIGNMENTS)}, it lists {listed}")

    with steps(f"open the submissions of {GRADED} and read the score"):
        rows.filter(has_text=GRADED).locator("td.num-submissions a").click()
        row = page.locator("#main-table tr", has_text=STUDENT)
        row.wait_for(timeout=30_000)
        shown = row.locator("td.score").inner_text().strip()
        total = score.code_score  # the written answer is not graded yet: it adds 0
        shown_points, shown_max = (float(x) for x in shown.split("/"))
        assert shown_points == pytest.approx(total), (
            f"expected the submission view to show {total} points (the gradebook's autograded score), "
            f"it shows {shown!r}")
        assert shown_points > 0, f"expected the reference solution to score points, the view shows {shown!r}"
        assert shown_max > score.max_code_score, (
            f"expected the maximum {shown_max} to add the written answers' points to the "
            f"{score.max_code_score} autograded points")

    with steps("open the manual-grading page of the submission"):
        page.locator("nav a, .nav a", has_text="Manual Grading").first.click()
        page.locator("#main-table a", has_text=GRADED).first.click()
        page.locator("#main-table a", has_text=source_nb.stem).first.click()
        page.locator("#main-table a", has_text="Submission #1").first.click()
        for grade_id in written:
            box = page.locator(f"input.score#{grade_id}")
            box.wait_for(timeout=30_000)
            assert box.input_value() == "", (
                f"expected written answer {grade_id} to have no manual score yet, it shows {box.input_value()!r}")
        page.locator(f"input.score#{written[0]}").scroll_into_view_if_needed()

    with steps(f"give written answer {written[0]} full credit"):
        cell = page.locator(".nbgrader_cell").filter(has=page.locator(f"input.score#{written[0]}"))
        # The page saves the score with a PUT to the formgrader's API; wait for its answer.
        with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT",
                                  timeout=15_000) as saved:
            cell.locator("button.full-credit").click()
        assert saved.value.ok, f"expected the formgrader to save the score, it answered {saved.value.status}"
        points, max_points = manual_grade(root, written[0])
        assert points == max_points > 0, (
            f"expected the gradebook to hold {max_points} points for {written[0]} after 'Full credit', "
            f"it holds {points}")

    off = [u for u in steps.off_loopback() if not u.startswith(KNOWN_OFF_LOOPBACK)]
    assert not off, f"expected the formgrader to stay on this machine, it requested {off}"
