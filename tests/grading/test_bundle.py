"""Does the student zip hold what students need and nothing they must not see?"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from course_tools import bundle
from course_tools.nbgrader_course import REPO, assignment_ids, copy_course, generate, tool_env

@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the real course with every assignment generated, as `make release` leaves it."""
    root = copy_course(tmp_path_factory.mktemp("bundle") / "course")
    (root / "mk").mkdir()
    for item in ("lectures", "dgm_utils", "pyproject.toml", "requirements.lock", "environment.yml", "LICENSE", "mk/student.mk"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / item)
    for a in assignment_ids(root):
        shutil.rmtree(root / "assignments" / a, ignore_errors=True)
        generate(root, a)
    return root


@pytest.mark.slow
def test_student_zip_is_complete_and_clean(course, tmp_path):
    """Does the zip have lectures, every assignment, dgm_utils, env files, README, and pass the leak scan?"""
    path = bundle.build(course, tmp_path / "student.zip")
    with zipfile.ZipFile(path) as zf:
        names = {n.split("/", 1)[1] for n in zf.namelist()}
    for need in ("README.md", "LICENSE", "pyproject.toml", "requirements.lock", "environment.yml", "Makefile",
                 "dgm_utils/__init__.py"):
        assert need in names, f"expected {need} in the student zip"
    for a in assignment_ids(course):
        assert f"assignments/{a}/{a}.ipynb" in names, f"expected the released {a} notebook in the zip"
    assert any(n.startswith("lectures/") and n.endswith(".ipynb") for n in names), "expected lecture notebooks"
    problems = bundle.scan(path, course)
    assert not problems, "expected a clean zip, found:\n" + "\n".join(problems[:20])


@pytest.mark.slow
def test_scan_catches_every_kind_of_leak(course, tmp_path):
    """Can the scan fail? A zip with a solution notebook, weights, a reference folder, a gradebook and a solution line is rejected."""
    a = assignment_ids(course)[0]
    source = (course / "solutions" / a / f"{a}.ipynb").read_text()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr(f"x/solutions/{a}/{a}.ipynb", source)
        zf.writestr("x/assignments/hw2/model.pt", b"weights")
        zf.writestr("x/assignments/hw2/reference/notes.txt", b"the reference answers")
        zf.writestr("x/gradebook.db", b"sqlite")
        zf.writestr(f"x/assignments/{a}/{a}.ipynb", source)  # a release that still holds solutions
    problems = "\n".join(bundle.scan(bad, course))
    for what in ("solutions/*", "*.pt", "*/reference/*", "gradebook.db", "BEGIN SOLUTION", "solution line"):
        assert what in problems, f"expected the scan to report {what!r}; it reported:\n{problems}"


# --- attacks on the zip (no nbgrader: the ps0 fixture's solutions/ is the secret) ------------

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "course"


def _fixture_root(tmp_path: Path) -> Path:
    """A minimal course to bundle: the ps0 source, a release of it, lectures/ and dgm_utils/."""
    root = tmp_path / "root"
    shutil.copytree(FIXTURE / "solutions", root / "solutions")
    (root / "assignments" / "ps0").mkdir(parents=True)
    (root / "assignments" / "ps0" / "ps0.ipynb").write_text('{"cells": []}')
    (root / "lectures").mkdir()
    (root / "lectures" / "01.ipynb").write_text('{"cells": []}')
    (root / "dgm_utils").mkdir()
    (root / "dgm_utils" / "__init__.py").write_text("")
    (root / "mk").mkdir()
    for name in ("pyproject.toml", "requirements.lock", "environment.yml", "LICENSE", "mk/student.mk"):
        (root / name).write_text("")
    return root


def test_scan_reads_every_member_whatever_its_name(tmp_path):
    """A hidden test in a .txt, a .db, a .bin beside a release, a symlink member, a path out of the folder: all caught?"""
    root = _fixture_root(tmp_path)
    hidden = 'assert math.isclose(got, hidden_value ** 2), "HIDDEN_SENTINEL_7Q: square(%r) gave %r" % (hidden_value, got)'
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("x/lectures/notes.txt", "the hidden test:\n    " + hidden + "\n")
        zf.writestr("x/lectures/data.db", b"SQLite format 3\x00")
        zf.writestr("x/assignments/ps0/model.bin", b"\x00weights")
        zf.writestr("x/dgm_utils/answers.py", "def square(x):\n    return x * x\n")
        link = zipfile.ZipInfo("x/lectures/gradebook_link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "../../gradebook.db")
        zf.writestr("../escape.txt", "out")
        zf.writestr("x/lectures/clean.txt", "nothing to see")
    problems = "\n".join(bundle.scan(bad, root))
    for what in ("x/lectures/notes.txt: contains a hidden-test line", "x/lectures/data.db: forbidden file (*.db)",
                 "x/assignments/ps0/model.bin: forbidden file (*.bin)", "x/dgm_utils/answers.py: contains a solution line",
                 "x/lectures/gradebook_link: is a symbolic link", "../escape.txt: a path outside"):
        assert what in problems, f"expected the scan to report {what!r}; it reported:\n{problems}"
    assert "clean.txt" not in problems, f"expected the clean member not reported:\n{problems}"


def test_build_refuses_symlinks(tmp_path):
    """A link in lectures/ to the solutions (or out of the course): does build refuse instead of zipping the target?"""
    root = _fixture_root(tmp_path)
    (root / "lectures" / "answers.ipynb").symlink_to(root / "solutions" / "ps0" / "ps0.ipynb")
    (root / "dgm_utils" / "outside").symlink_to(tmp_path)
    with pytest.raises(SystemExit, match="Symlinks") as err:
        bundle.build(root, tmp_path / "out.zip")
    assert "lectures/answers.ipynb" in str(err.value) and "dgm_utils/outside" in str(err.value)


def test_bundle_and_feedback_share_one_scanner():
    """Is the zip scanned by the same function as feedback/ (one scanner, not two that drift apart)?"""
    from course_tools import feedback

    assert bundle.scan_members is feedback.scan_members


@pytest.mark.slow
def test_student_pack_makefile_works_there(course, tmp_path):
    """Unpacked, is the pack's Makefile the student's one (help, setup, lab, check, submit: no course target
    that cannot work there), does `make check` run the visible tests of the blank release, and does `make
    submit` refuse to zip it (never run)?"""
    path = bundle.build(course, tmp_path / "pack.zip")
    with zipfile.ZipFile(path) as zf:
        zf.extractall(tmp_path / "unpacked")
    (top,) = (tmp_path / "unpacked").iterdir()
    assert (top / "Makefile").read_bytes() == (REPO / "mk" / "student.mk").read_bytes()
    env = {**tool_env(), "DGM_DATA_DIR": os.environ.get("DGM_DATA_DIR", "")}
    helped = subprocess.run(["make", "--no-print-directory", "-C", str(top), "help"], capture_output=True, text=True, env=env, timeout=60)
    targets = sorted(line.split()[0] for line in helped.stdout.splitlines() if line.strip())
    assert helped.returncode == 0 and targets == ["check", "help", "lab", "setup", "submit"], (helped.returncode, helped.stdout,
                                                                                   helped.stderr)
    nb = "assignments/hw1_foundations/hw1_foundations.ipynb"
    venv = REPO / ".venv"  # the course's, taken as set up (-o): never rebuilt from the pack's files
    checked = subprocess.run(["make", "-C", str(top), "-o", f"{venv}/.installed", "check", f"NB={nb}", f"VENV={venv}"],
                             capture_output=True, text=True, env=env, timeout=600)
    out = checked.stdout + checked.stderr
    assert checked.returncode != 0 and "FAIL" in out and "graded when you submit" in out, (
        f"expected make check to fail the blank release's visible tests in the pack, got exit {checked.returncode}:\n"
        f"{out[-3000:]}")
    submitted = subprocess.run(["make", "-C", str(top), "-o", f"{venv}/.installed", "submit", "A=hw1_foundations",
                                "STUDENT=alice", f"VENV={venv}"], capture_output=True, text=True, env=env, timeout=600)
    out = submitted.stdout + submitted.stderr
    assert submitted.returncode != 0 and "No zip written" in out and not list(top.rglob("*.zip")), (
        f"expected make submit to refuse the never-run release and write no zip, got exit {submitted.returncode}:\n"
        f"{out[-3000:]}")
