"""The student's path in JupyterLab: open hw1, run it, write one function, Validate, see the assignment list.

Run: ``DGM_FAST=1 .venv/bin/python -m pytest -m browser tests/browser/test_student_path.py``.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from lab_harness import REPO, Notebook, make_course_copy, make_in_copy, nbgrader_meta, require, running_lab, stubs


pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ASSIGNMENT = "hw1_foundations"
VALIDATE_TIMEOUT_MS = 180_000  # Validate executes the whole notebook in a fresh kernel (fast mode)


@pytest.fixture(scope="module")
def student_lab(chromium_executable, tmp_path_factory, mnist_dir):
    """JupyterLab (fast mode) on a course copy where hw1 is released to the exchange, as a student sees it."""
    require(REPO / "solutions" / ASSIGNMENT, "the nbgrader source of hw1")
    release = require(REPO / "assignments" / ASSIGNMENT, "the student release of hw1 (make release)")
    if not sorted(release.glob("*.ipynb")):
        pytest.skip(f"no notebook in {release.relative_to(REPO)} yet")
    root = make_course_copy(tmp_path_factory.mktemp("student"))
    make_in_copy(root, "release")  # generates every assignment and releases it to the copy's exchange
    with running_lab(root, {"DGM_FAST": "1", "DGM_DATA_DIR": str(mnist_dir)}) as server:
        yield server


def test_student_runs_writes_and_validates_hw1(student_lab, steps):
    """Can a student run the released hw1, type one function, Validate it and find the assignment list?"""
    root = student_lab.root
    release_nb = sorted((root / "assignments" / ASSIGNMENT).glob("*.ipynb"))[0]
    source_nb = root / "solutions" / ASSIGNMENT / release_nb.name
    candidates = stubs(source_nb, release_nb)
    assert candidates, (f"expected in {source_nb.name} a function whose visible test cell names no other "
                        "solution; found none, so the student path has no function to write")
    target = candidates[0]
    page = steps.page

    with steps(f"open {release_nb.relative_to(root)}"):
        nb = Notebook.open(page, student_lab, str(release_nb.relative_to(root)))

    with steps("run all cells: the released stubs fail"):
        nb.run_all()
        errors = nb.error_outputs()
        assert errors, "expected a traceback from a stub after Run All Cells, found no error output"
        assert "NotImplementedError" in errors[0], (
            f"expected the first error to be a stub's NotImplementedError, got:\n{errors[0][-1500:]}")

    with steps(f"type the body of {target.name}() in the editor"):
        cell = nb.code_cell(f"def {target.name}(")
        lines = nb.cell_source(cell).splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(f"def {target.name}("))
        stub = next((i for i in range(start, len(lines)) if "raise NotImplementedError" in lines[i]), None)
        assert stub is not None, f"expected a 'raise NotImplementedError()' stub in {target.name}(), found none"
        nb.type_body(cell, stub, target.body)
        typed = nb.cell_source(cell)
        expected = "\n".join(lines[:stub] + target.body + lines[stub + 1:])
        assert typed.rstrip() == expected.rstrip(), (
            f"expected the cell to read\n{expected}\nafter typing, but it reads\n{typed}")

    with steps("press Validate and read the result dialog"):
        page.locator(".jp-NotebookPanel:visible .validate-button").click()
        dialog = page.locator(".jp-Dialog", has_text="Validation Results")
        dialog.wait_for(timeout=VALIDATE_TIMEOUT_MS)
        body = dialog.locator(".jp-Dialog-body")
        text = body.inner_text()
        assert "There was an error running the validate command" not in text, f"Validate crashed:\n{text[-2000:]}"
        failed = [pre.strip() for pre in body.locator(".jp-RenderedText pre").all_inner_texts()]
        for grade_id, src in zip(target.tests, target.test_sources):
            assert src.strip() not in failed, (
                f"expected test cell {grade_id} to pass once {target.name}() is written; Validate lists it "
                f"as failed:\n{text[-2000:]}")
        if release_nb.read_text().count("raise NotImplementedError") > 1:  # other stubs remain: Validate must say so
            # Matching a failed cell to a test cell's source must work, or the check above proves nothing.
            tests = {c.source.strip() for c in nbformat.read(release_nb, as_version=4).cells
                     if nbgrader_meta(c).get("grade") and c.cell_type == "code"}
            assert any(f in tests for f in failed), (
                f"expected Validate to list the tests of the remaining stubs as failed, got:\n{text[-2000:]}")
        steps.shot("validation results dialog")
        dialog.locator("button", has_text=re.compile("^Ok$", re.I)).click()

    with steps("open Nbgrader > Assignment List"):
        nb.menu("Nbgrader", "Assignment List")
        released = page.locator("#released_assignments_list")
        released.locator(".list_item", has_text=ASSIGNMENT).first.wait_for(timeout=30_000)
        assert ASSIGNMENT in released.inner_text(), (
            f"expected {ASSIGNMENT} under 'Released assignments', got:\n{released.inner_text()}")
