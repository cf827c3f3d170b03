"""Does the student zip hold what students need and nothing they must not see?"""

from __future__ import annotations

import shutil
import zipfile

import pytest

from course_tools import bundle
from course_tools.autograde import _env
from course_tools.nbgrader_course import REPO, assignment_ids, copy_course, nbgrader

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the real course with every assignment generated, as `make release` leaves it."""
    root = copy_course(tmp_path_factory.mktemp("bundle") / "course")
    for item in ("lectures", "dgm_utils", "pyproject.toml", "requirements.lock", "environment.yml", "Makefile"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / item)
    for a in assignment_ids(root):
        shutil.rmtree(root / "assignments" / a, ignore_errors=True)
        nbgrader(root, "generate_assignment", a, "--force", env=_env())
    return root


def test_student_zip_is_complete_and_clean(course, tmp_path):
    """Does the zip have lectures, every assignment, dgm_utils, env files, README, and pass the leak scan?"""
    path = bundle.build(course, tmp_path / "dgm-lecture1-student.zip")
    with zipfile.ZipFile(path) as zf:
        names = {n.split("/", 1)[1] for n in zf.namelist()}
    for need in ("README.md", "pyproject.toml", "requirements.lock", "environment.yml", "Makefile",
                 "dgm_utils/__init__.py"):
        assert need in names, f"expected {need} in the student zip"
    for a in assignment_ids(course):
        assert f"assignments/{a}/{a}.ipynb" in names, f"expected the released {a} notebook in the zip"
    assert any(n.startswith("lectures/") and n.endswith(".ipynb") for n in names), "expected lecture notebooks"
    problems = bundle.scan(path, course)
    assert not problems, "expected a clean zip, found:\n" + "\n".join(problems[:20])


def test_scan_catches_every_kind_of_leak(course, tmp_path):
    """Can the scan fail? A zip with a solution notebook, weights, a gradebook and a solution line is rejected."""
    a = assignment_ids(course)[0]
    source = (course / "solutions" / a / f"{a}.ipynb").read_text()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr(f"x/solutions/{a}/{a}.ipynb", source)
        zf.writestr("x/assignments/hw2/reference/model.pt", b"weights")
        zf.writestr("x/gradebook.db", b"sqlite")
        zf.writestr(f"x/assignments/{a}/{a}.ipynb", source)  # a release that still holds solutions
    problems = "\n".join(bundle.scan(bad, course))
    for what in ("solutions/*", "*.pt", "gradebook.db", "BEGIN SOLUTION", "solution line"):
        assert what in problems, f"expected the scan to report {what!r}; it reported:\n{problems}"
