"""The TA's path in the formgrader: both assignments listed, an autograded score, the written answer's page.

The submission is placed and autograded with the nbgrader CLI (course_tools.nbgrader_course), as a TA's
scripts do; the browser then checks what the formgrader shows of it.
Run: ``DGM_FAST=1 .venv/bin/python -m pytest -m browser tests/browser/test_ta_path.py``.
"""

from __future__ import annotations

import pytest
from lab_harness import REPO, make_course_copy, make_in_copy, nbgrader_meta, require, running_lab

from course_tools.gradebook import opened, scores
from course_tools.nbgrader_course import autograde, generate, submit

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ASSIGNMENTS = ("hw1_foundations", "hw2_autoregressive")
GRADED = "hw1_foundations"
STUDENT = "student_a"
MATHJAX_TIMEOUT_MS = 60_000  # MathJax typesets a page in seconds; offline a CDN copy never arrives
# MathJax 2 has typeset the page: it found formulas (each becomes a script of type math/tex) and put its
# output (.MathJax, .MathJax_Display; .MathJax_Preview while it works) before every one of them.
MATHJAX_DONE = """() => { const found = [...document.querySelectorAll('script[type^="math/tex"]')];
    return found.length > 0 && found.every(s => { const out = s.previousElementSibling;
        return out && /\\bMathJax(_Display)?\\b/.test(out.className) && !/MathJax_Preview/.test(out.className); }); }"""
# TeX that MathJax left as text: a $...$ pair in what the reader sees.
RAW_TEX = r"\$[^$\n]+\$"


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

    off = steps.off_loopback()
    assert not off, f"expected the formgrader to stay on this machine, it requested {off}"


def wait_for_mathjax(page, steps, where: str) -> None:
    """Wait until MathJax has typeset ``page``; fail saying what it asked for when it never does."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.wait_for_function(MATHJAX_DONE, timeout=MATHJAX_TIMEOUT_MS)
    except PlaywrightTimeoutError:
        mathjax = sorted({u for u in steps.requests if "mathjax" in u.lower()})
        raise AssertionError(f"expected MathJax to typeset {where} within {MATHJAX_TIMEOUT_MS / 1000:g} s; it did "
                             f"not (MathJax loaded: {page.evaluate('() => !!window.MathJax')}; MathJax requests: "
                             f"{mathjax}; refused off this machine: {steps.off_loopback()})") from None


def raw_tex(page, selector: str) -> list[str]:
    """The $...$ pairs left as plain text in the elements ``selector`` matches."""
    return page.evaluate(
        "([sel, pattern]) => [...document.querySelectorAll(sel)].flatMap("
        "  el => el.innerText.match(new RegExp(pattern, 'g')) || [])", [selector, RAW_TEX])


def math_answers(source_nb) -> dict[str, str]:
    """Grade id -> source of the written answers of a source notebook that hold a formula ($...$)."""
    import nbformat

    answers = {nbgrader_meta(c)["grade_id"]: c.source for c in nbformat.read(source_nb, as_version=4).cells
               if c.cell_type == "markdown" and nbgrader_meta(c).get("grade") and "$" in c.source}
    assert answers, f"expected a written answer with a formula ($...$) in {source_nb.name}, found none"
    return answers


def test_formgrader_renders_maths_offline(ta_lab, steps):
    """With every request off this machine refused, does the formula of a written answer render as MathJax
    output in the formgrader's submission view?"""
    root, page = ta_lab.root, steps.page
    source_nb = sorted((root / "solutions" / GRADED).glob("*.ipynb"))[0]
    grade_id = sorted(math_answers(source_nb))[0]
    with opened(root) as gb:
        submission_id = gb.find_submission_notebook(source_nb.stem, GRADED, STUDENT).id

    with steps(f"open the submission view and read written answer {grade_id}"):
        page.goto(ta_lab.url("formgrader"), wait_until="domcontentloaded")  # logs in, as the TA's first visit does
        page.goto(f"{ta_lab.base}/formgrader/submissions/{submission_id}/", wait_until="load")
        wait_for_mathjax(page, steps, "the formgrader's submission view")
        answer = page.locator(".nbgrader_cell").filter(has=page.locator(f"input.score#{grade_id}"))
        answer.scroll_into_view_if_needed()
        assert answer.locator(".MathJax").count() > 0, f"expected MathJax output in written answer {grade_id}, found none"
        left = raw_tex(page, ".nbgrader_cell .text_cell_render")
        assert not left, f"expected every formula of the submission view typeset, these are raw TeX: {left[:5]}"

    off = steps.off_loopback()
    assert not off, f"expected the submission view to stay on this machine, it requested {off}"


def test_feedback_page_renders_maths_offline(ta_lab, steps):
    """After `make feedback`, does the student's feedback page, opened as a file with every request off this
    machine refused, render its formulas as MathJax output?"""
    root, page = ta_lab.root, steps.page
    source_nb = sorted((root / "solutions" / GRADED).glob("*.ipynb"))[0]
    answers = math_answers(source_nb)

    with steps("make feedback, then open the student's feedback page as a file"):
        make_in_copy(root, "feedback", f"ASSIGNMENT={GRADED}")
        feedback_page = root / "feedback" / STUDENT / GRADED / f"{source_nb.stem}.html"
        assert feedback_page.is_file(), f"expected make feedback to write {feedback_page}"
        page.goto(feedback_page.as_uri(), wait_until="load")
        wait_for_mathjax(page, steps, f"the feedback page {feedback_page.name}")
        typeset = page.locator(".MathJax").count()
        assert typeset >= len(answers), f"expected MathJax output in the feedback page, found {typeset} formulas"
        left = raw_tex(page, ".text_cell_render")
        assert not left, f"expected every formula of the feedback page typeset, these are raw TeX: {left[:5]}"

    off = steps.off_loopback()
    assert not off, f"expected the feedback page to stay on this machine, it requested {off}"
