"""Does collect turn an LMS zip into submitted/ and report who and what is off?"""

from __future__ import annotations

import json
import zipfile

import pytest

from grading_corpus import ASSIGNMENT, make_course
from course_tools.collect import collect

pytestmark = pytest.mark.slow


def test_lms_zip_is_collected_and_reported(tmp_path):
    """Are folder-per-student and flat <id>__<nb> files collected, and absentees, strays and unknown ids reported?"""
    root = make_course(tmp_path / "course")
    nb = (root / "assignments" / ASSIGNMENT / "ps0.ipynb").read_text()
    archive = tmp_path / "lms-download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ps0 submissions/alice/ps0.ipynb", nb)
        zf.writestr("ps0 submissions/alice/scratch.pdf", "%PDF")
        zf.writestr("ps0 submissions/bob__ps0.ipynb", nb)
        zf.writestr("ps0 submissions/eve/ps0.ipynb", nb)  # not on the roster
        zf.writestr("ps0 submissions/stray.ipynb", nb)  # no student id
        zf.writestr("ps0 submissions/__MACOSX/alice/._ps0.ipynb", "junk")
    roster = tmp_path / "students.csv"
    roster.write_text("id,first_name,last_name,email\nalice,Alice,A,a@x.org\nbob,Bob,B,b@x.org\ncarol,Carol,C,c@x.org\n")
    report = collect(root, ASSIGNMENT, archive, roster)
    assert report.collected == ["alice", "bob", "eve"], f"expected alice, bob, eve collected; got {report.collected}"
    assert report.no_submission == ["carol"], f"expected carol without submission; got {report.no_submission}"
    assert report.not_on_roster == ["eve"], f"expected eve reported as not on the roster; got {report.not_on_roster}"
    stray = [f for f in report.unmatched_files if f.endswith(("stray.ipynb", "._ps0.ipynb"))]
    assert len(stray) == 2, f"expected stray.ipynb and the __MACOSX file unmatched; got {report.unmatched_files}"
    for student in ("alice", "bob"):
        got = root / "submitted" / student / ASSIGNMENT / "ps0.ipynb"
        assert got.is_file(), f"expected {got}"
        assert json.loads(got.read_text())["cells"], f"{got} is not the notebook from the zip"
