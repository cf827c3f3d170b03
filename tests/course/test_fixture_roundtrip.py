"""Does the round-trip machinery itself work? Proven on a tiny fixture assignment.

The real assignments are checked by test_roundtrip.py; these tests show that the same checks
fail when they should: on a broken solution, on a stale release and on a leaking release.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from course_tools import roundtrip
from course_tools.nbgrader_course import REPO, copy_course, generate

FIXTURE = Path(__file__).parent / "fixtures" / "tiny"

pytestmark = pytest.mark.slow


def _fixture_course(tmp_path: Path) -> Path:
    """A course with only the tiny assignment and its freshly generated, committed-like release."""
    course = copy_course(tmp_path / "src", items=("nbgrader_config.py",))
    shutil.copytree(FIXTURE, course / "solutions" / "tiny")
    generate(course, "tiny")
    (course / "gradebook.db").unlink()
    return course


def _edit_source(course: Path, old: str, new: str) -> None:
    path = course / "solutions" / "tiny" / "tiny.ipynb"
    text = path.read_text()
    assert text.count(old) == 1, f"expected {old!r} once in the fixture, found it {text.count(old)} times"
    path.write_text(text.replace(old, new))


def test_fixture_passes_the_round_trip(tmp_path: Path) -> None:
    """Does a correct, freshly released assignment pass: in sync, full marks, zero for stubs, no leak?"""
    # Tampering is tried on the real assignments (test_roundtrip.py); here it would only add time.
    result = roundtrip.run("tiny", root=_fixture_course(tmp_path), workdir=tmp_path / "work", routes=())
    assert result.problems == [], result.problems
    assert result.source_score is not None and result.source_score.code_score == 2
    assert result.release_score is not None and result.release_score.code_score == 0


def test_broken_solution_is_caught(tmp_path: Path) -> None:
    """Does a solution that fails its own hidden test lose full marks, and does the report say so?"""
    course = _fixture_course(tmp_path)
    # Wrong only off the visible input: log base 2 gives ln 2 / ln 2 = 1 at p = 0.5, so use p-dependence.
    _edit_source(course, "return -(p * math.log(p) + (1 - p) * math.log(1 - p))",
                 "return math.log(2) if p == 0.5 else 0.0")
    generate(course, "tiny")  # keep the release in sync so that only the grading can fail
    (course / "gradebook.db").unlink()
    result = roundtrip.run("tiny", root=course, workdir=tmp_path / "work", routes=())
    assert result.stale == []
    assert result.source_score is not None and result.source_score.code_score == 0
    assert any("not full marks" in p for p in result.problems), result.problems


def test_stale_release_is_caught(tmp_path: Path) -> None:
    """Does editing solutions/ without regenerating assignments/ fail the sync check, naming the fix?"""
    course = _fixture_course(tmp_path)
    _edit_source(course, "Implement `mean_nats(p)`", "Implement `bernoulli_entropy(p)`")
    result = roundtrip.run("tiny", root=course, workdir=tmp_path / "work", grade=False)
    assert result.stale == ["tiny.ipynb differs from what generate_assignment makes"]
    assert "make release" in result.problems[0]


def test_hand_edited_release_is_caught(tmp_path: Path) -> None:
    """Does a hand edit of assignments/ (an extra file, a changed notebook) fail the sync check?"""
    course = _fixture_course(tmp_path)
    release = course / "assignments" / "tiny"
    (release / "notes.txt").write_text("added by hand")
    nb = json.loads((release / "tiny.ipynb").read_text())
    nb["cells"][0]["source"] = "# edited by hand"
    (release / "tiny.ipynb").write_text(json.dumps(nb))
    result = roundtrip.run("tiny", root=course, workdir=tmp_path / "work", grade=False)
    assert "in the committed release but not generated: notes.txt" in result.stale
    assert "tiny.ipynb differs from what generate_assignment makes" in result.stale


def test_leaking_release_is_caught(tmp_path: Path) -> None:
    """Does a release holding a solution line, a marker or a .py/.pt file fail the leak scan?"""
    course = _fixture_course(tmp_path)
    release = course / "assignments" / "tiny"
    nb = json.loads((release / "tiny.ipynb").read_text())
    nb["cells"][1]["source"] = ["    return -(p * math.log(p) + (1 - p) * math.log(1 - p))\n"]
    (release / "tiny.ipynb").write_text(json.dumps(nb))
    (release / "reference.pt").write_bytes(b"weights")
    problems = roundtrip.scan_release(release, course / "solutions" / "tiny")
    assert any("solution/hidden-test line" in p for p in problems), problems
    assert any("reference.pt" in p for p in problems), problems


def test_config_keeps_code_and_weights_out_of_a_release(tmp_path: Path) -> None:
    """Does generate_assignment, with the course config, drop .py files and weights from the source folder?"""
    course = _fixture_course(tmp_path)
    src = course / "solutions" / "tiny"
    (src / "helper_solution.py").write_text("SECRET = 1\n")
    (src / "reference").mkdir()
    (src / "reference" / "model.pt").write_bytes(b"weights")
    (src / "model.pt").write_bytes(b"weights")
    (src / "data.csv").write_text("a,b\n1,2\n")
    release = generate(course, "tiny")
    names = sorted(str(p.relative_to(release)) for p in release.rglob("*") if p.is_file())
    assert names == ["data.csv", "tiny.ipynb"], names


def test_repo_config_is_the_one_used() -> None:
    """Is the fixture course graded with the repo's own nbgrader_config.py (not a test copy)?"""
    assert (REPO / "nbgrader_config.py").read_text().count("source_directory = \"solutions\"") == 1
