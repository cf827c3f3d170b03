"""Fixtures of the grading tests: the ps0 fixture course, graded once with the whole corpus.

The class is graded once per test session (one xdist worker grades, the others wait on a file
lock and reuse it). Tests that change grading state work on a copy of it (`class_copy`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest
from filelock import FileLock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import grading_corpus  # noqa: E402

from course_tools import autograde as ag  # noqa: E402
from course_tools.nbgrader_course import nbgrader  # noqa: E402
from course_tools.report import Summary  # noqa: E402

from grading_corpus import ABSENT, ASSIGNMENT, CELL_TIMEOUT_S, MEM_MB, make_course  # noqa: E402,F401


def secret_paths(root: Path) -> list[str]:
    return [str(root / "solutions" / ASSIGNMENT / "ps0.ipynb"), str(root / "gradebook.db"),
            "../../../solutions/ps0/ps0.ipynb", "../../../gradebook.db", "../../good/ps0/ps0.ipynb",
            "/etc/shadow", str(Path.home() / ".bash_history")]


def _grade(root: Path, listener: socket.socket) -> dict:
    make_course(root)
    nbgrader(root, "db", "student", "add", ABSENT)
    ctx = {"port": listener.getsockname()[1], "secret_paths": secret_paths(root)}
    grading_corpus.build(root / "assignments" / ASSIGNMENT / "ps0.ipynb", root / "submitted", ASSIGNMENT, ctx)
    return ag.grade_class(root, ASSIGNMENT, 2, env={"DGM_CELL_TIMEOUT": CELL_TIMEOUT_S}, mem_mb=MEM_MB,
                          progress=False)


@pytest.fixture(scope="session")
def listener():
    """A TCP port listening on the TA machine's loopback: sandboxed code must not reach it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory, listener) -> tuple[Path, Summary]:
    """(course root, summary) of the corpus graded as one class, sandboxed, 2 at a time."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker has basetemp <session>/popen-gwN: share <session>/, not older runs.
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "dgm-graded-class"
    with FileLock(str(shared) + ".lock"):
        done = shared / "exports" / "grading" / ASSIGNMENT / "summary.json"
        if not done.exists():
            if shared.exists():
                shutil.rmtree(shared)
            _grade(shared, listener)
        return shared, Summary.from_json(json.loads(done.read_text()))


@pytest.fixture
def class_copy(graded_class, tmp_path) -> Path:
    """A private copy of the graded class (gradebook, submissions, state) to change."""
    dest = tmp_path / "course"
    shutil.copytree(graded_class[0], dest)
    return dest
