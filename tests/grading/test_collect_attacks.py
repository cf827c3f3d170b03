"""Can a hostile or careless LMS zip, or a roster saved by a spreadsheet, break collect?

Each test is one attack. Each asserts that the batch finishes, that the good students are
collected, that the bad member is reported with a reason, and that collect wrote nothing outside
the course's submitted/, downloaded/, exports/collect/ and gradebook (a sentinel file beside the
course stays untouched, and no new file appears in tmp_path outside the course).
"""

from __future__ import annotations

import io
import json
import stat
import struct
import tracemalloc
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from grading_corpus import ASSIGNMENT
from test_collect import (  # noqa: F401 (fixtures)
    ROSTER, Member, assert_confined, assert_plain_files, course, course_template, notebook, reported,
    snapshot, submitted, write_roster, write_zip,
)
from course_tools.collect import collect

pytestmark = pytest.mark.slow

MB = 1_000_000


def disk_use(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def gradebook_ids(root: Path) -> list[str]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return sorted(s.id for s in gb.students)


# --- 1. members that used to abort the batch ---------------------------------------------------

def test_duplicate_member(course, tmp_path):
    """Does a name that is twice in the zip keep the newer copy, report the other, and collect everyone else?"""
    archive = write_zip(tmp_path / "dup.zip", [
        Member("alice/ps0.ipynb", notebook(course, copy="older"), date_time=(2026, 1, 1, 9, 0, 0)),
        Member("alice/ps0.ipynb", notebook(course, copy="newer"), date_time=(2026, 1, 1, 10, 0, 0)),
        Member("bob/ps0.ipynb", notebook(course)),
    ])
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["alice", "bob"], report.text()
    kept = json.loads((submitted(course, "alice") / "ps0.ipynb").read_text())
    assert kept["metadata"]["copy"] == "newer", "the older of the two copies was kept"
    reported(report, "alice/ps0.ipynb", "duplicate")
    assert_confined(tmp_path, before)


@pytest.mark.parametrize("evil", [
    "../../../../../sentinel.txt",  # from downloaded/<a>/extracted/<zip>/ up to tmp_path
    "alice/../../../../../../pwned.ipynb",
    "alice/../bob/ps0.ipynb",  # into another student's folder
    "..\\..\\..\\..\\..\\pwned.ipynb",  # Windows separators
], ids=["dotdot", "dotdot-in-folder", "into-bob", "backslashes"])
def test_zip_slip_relative(course, tmp_path, evil):
    """Is a member whose path climbs out with `..` refused and reported, writing nothing outside?"""
    archive = write_zip(tmp_path / "slip.zip", [
        Member("alice/ps0.ipynb", notebook(course)), Member(evil, notebook(course, copy="evil")),
        Member("carol/ps0.ipynb", notebook(course)),
    ])
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["alice", "carol"], report.text()
    assert not submitted(course, "bob").exists(), "the climbing member reached bob's folder"
    reported(report, evil, "unsafe")
    assert_confined(tmp_path, before)


def test_zip_slip_absolute(course, tmp_path):
    """Are absolute member names (/..., C:\\...) refused and reported, writing nothing there?"""
    target = tmp_path / "pwned.ipynb"
    evil = [str(target), "C:\\Users\\pwned.ipynb", "C:/pwned.ipynb"]
    archive = write_zip(tmp_path / "abs.zip", [Member("alice/ps0.ipynb", notebook(course))]
                        + [Member(name, notebook(course, copy="evil")) for name in evil])
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["alice"], report.text()
    assert not target.exists()
    for name in evil:
        reported(report, name, "absolute")
    assert_confined(tmp_path, before)


def test_name_too_long(course, tmp_path):
    """Is a member whose file or folder name is over 255 bytes reported, and the rest collected?"""
    long_file, long_dir, long_flat = ("alice/" + "n" * 300 + ".ipynb", "d" * 300 + "/ps0.ipynb",
                                      "bob__" + "é" * 130 + ".ipynb")  # 260 bytes of UTF-8
    archive = write_zip(tmp_path / "long.zip", [
        Member("alice/ps0.ipynb", notebook(course)), Member(long_file, notebook(course)),
        Member(long_dir, notebook(course)), Member("bob/ps0.ipynb", notebook(course)),
        Member(long_flat, notebook(course)),
    ])
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["alice", "bob"], report.text()
    for name in (long_file, long_dir, long_flat):
        reported(report, name, "too long")
    assert sorted(p.name for p in submitted(course, "alice").iterdir()) == ["ps0.ipynb", "timestamp.txt"]
    assert_confined(tmp_path, before)


def test_symlink_member(course, tmp_path):
    """Is a symlink member (S_IFLNK in external_attr) refused, reported, and never a link or a file in submitted/?"""
    link = stat.S_IFLNK | 0o777
    archive = write_zip(tmp_path / "links.zip", [
        Member("alice/ps0.ipynb", "../../../../sentinel.txt", mode=link),
        Member("bob/ps0.ipynb", notebook(course)), Member("bob/secrets", "/etc/shadow", mode=link),
    ])
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["bob"], report.text()
    assert "alice" in report.no_submission
    reported(report, "alice/ps0.ipynb", "symbolic link")
    reported(report, "bob/secrets", "symbolic link")
    assert_plain_files(course / "submitted")
    assert_confined(tmp_path, before)


@pytest.mark.parametrize("kind", [stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK],
                         ids=["fifo", "char-device", "block-device", "socket"])
def test_special_file_member(course, tmp_path, kind):
    """Is a member that claims to be a device, pipe or socket refused and reported?"""
    archive = write_zip(tmp_path / "special.zip", [
        Member("alice/ps0.ipynb", notebook(course)), Member("alice/ps0 (1).ipynb", "x", mode=kind | 0o644),
        Member("bob/ps0.ipynb", notebook(course)),
    ])
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["alice", "bob"], report.text()
    assert not (submitted(course, "alice") / "ps0 (1).ipynb").exists()
    reported(report, "alice/ps0 (1).ipynb", "special file")
    assert_plain_files(course / "submitted")
    assert_confined(tmp_path, before)


def inner_zip(members: list[Member]) -> bytes:
    """A student's own zip (what python -m dgm_utils.submit writes), as bytes to put into an LMS zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for m in members:
            info = zipfile.ZipInfo(m.name, date_time=m.date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.extra = m.extra
            zf.writestr(info, m.data)
    return buf.getvalue()


def test_lms_download_of_submission_zips_is_collected(course, tmp_path):
    """An LMS's "download all" of per-student zips (a folder per student, or <id>__<file> at the top): is each
    student's zip opened and its files collected into that student's folder, dated by the LMS, not the zip?"""
    lms_time = (2026, 1, 5, 12, 0, 0)
    forged = struct.pack("<HHBl", 0x5455, 5, 1, int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()))
    archive = write_zip(tmp_path / "lms.zip", [
        Member("alice/alice__ps0.zip", inner_zip([Member("alice__ps0.ipynb", notebook(course, who="alice"),
                                                         date_time=(2025, 1, 1, 0, 0, 0), extra=forged)]),
               date_time=lms_time),
        Member("bob__ps0.zip", inner_zip([Member("ps0.ipynb", notebook(course, who="bob"))]), date_time=lms_time),
        Member("carol/ps0.ipynb", notebook(course, who="carol")),
    ])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    assert report.collected == ["alice", "bob", "carol"], report.text()
    for student in ("alice", "bob"):
        kept = json.loads((submitted(course, student) / "ps0.ipynb").read_text())
        assert kept["metadata"]["who"] == student, f"{student}'s ps0.ipynb is not the one from {student}'s zip"
    assert (submitted(course, "alice") / "timestamp.txt").read_text() == "2026-01-05 12:00:00.000000 UTC", (
        "expected the LMS's date of alice's zip, not the (backdated) dates inside it")
    assert not report.skipped and not report.unmatched, report.text()


def test_zip_in_mallorys_folder_credits_only_mallory(course, tmp_path):
    """Is what a zip in mallory's folder holds credited to mallory only, whatever its names say (victim/,
    victim__), with a note, and does victim get no submission?"""
    evil = inner_zip([Member("victim/ps0.ipynb", notebook(course, copy="forged")),
                      Member("victim__notes.ipynb", notebook(course, copy="forged"))])
    archive = write_zip(tmp_path / "nested.zip", [
        Member("mallory/victim.zip", evil), Member("alice/ps0.ipynb", notebook(course)),
    ])
    roster = write_roster(tmp_path, ROSTER + "victim,V,V,v@x.org\nmallory,M,M,m@x.org\n")
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["alice", "mallory"], report.text()
    assert not (course / "submitted" / "victim").exists(), "a zip in mallory's folder created victim's submission"
    reported(report, "mallory/victim.zip!victim/ps0.ipynb", "another student", "mallory")
    assert_plain_files(course / "submitted")
    assert_confined(tmp_path, before)


def test_hostile_inner_zips_are_bounded_and_reported(course, tmp_path):
    """A zip inside a zip: is a corrupt one, one over the per-student cap, a bomb inside one, a third level
    and a climbing name each reported while everyone else is collected, in bounded memory?"""
    bomb = inner_zip([Member("ps0.ipynb", b"0" * (60 * MB))])  # inflates past the notebook cap
    third = inner_zip([Member("deeper.zip", inner_zip([Member("ps0.ipynb", notebook(course))]))])
    slip = inner_zip([Member("../../../../pwned.ipynb", notebook(course)), Member("ps0.ipynb", notebook(course))])
    archive = write_zip(tmp_path / "hostile.zip", [
        Member("alice/broken.zip", b"PK\x03\x04 not really a zip"),
        Member("bob/bomb.zip", bomb),
        Member("carol/third.zip", third),
        Member("dave/slip.zip", slip),
        Member("erin/ps0.ipynb", notebook(course)),
    ])
    roster = write_roster(tmp_path, ROSTER + "dave,D,D,d@x.org\nerin,E,E,e@x.org\n")
    before = snapshot(tmp_path)
    tracemalloc.start()
    report = collect(course, ASSIGNMENT, archive, roster)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert report.collected == ["dave", "erin"], report.text()
    reported(report, "alice/broken.zip", "unreadable zip")
    reported(report, "bob/bomb.zip!ps0.ipynb", "over the")
    reported(report, "carol/third.zip!deeper.zip", "not a file")
    reported(report, "dave/slip.zip!../../../../pwned.ipynb", "unsafe path")
    assert peak < 30 * MB, f"expected bounded memory, peak {peak / MB:.0f} MB"
    assert_plain_files(course / "submitted")
    assert_confined(tmp_path, before)


# --- roster ------------------------------------------------------------------------------------

SPREADSHEET_ROSTERS = {
    # Excel "CSV UTF-8": BOM, CRLF, quoted cells, capitalised headers, an extra column, blank rows.
    "excel-utf8": ("\ufeff\"ID\",\"First Name\",\"Last Name\",\"Email\",\"Section\"\r\n"
                   "\"alice\",\"Alice\",\"A\",\"a@x.org\",\"1\"\r\n\r\n"
                   " \"bob\" ,Bob,B,b@x.org,2\r\n,,,,\r\n"
                   "carol,Carol,C,c@x.org,2\r\n\r\n").encode("utf-8"),
    # Excel "CSV" in a European locale: semicolons, Windows-1252, CR-only line ends of old Macs.
    "excel-semicolon-cp1252": "Student ID;first_name;last_name;e-mail\r;\ralice;Aliçe;A;a@x.org\r"
                              "bob;Bob;Bé;b@x.org\rcarol;Carol;C;c@x.org\r".encode("cp1252"),
}


@pytest.mark.parametrize("csv_bytes", SPREADSHEET_ROSTERS.values(), ids=SPREADSHEET_ROSTERS.keys())
def test_spreadsheet_roster(course, tmp_path, csv_bytes):
    """Is a roster CSV saved by a spreadsheet (BOM, CRLF, quotes, extra columns, blank lines) imported?"""
    archive = write_zip(tmp_path / "lms.zip", [Member("alice/ps0.ipynb", notebook(course)),
                                               Member("bob/ps0.ipynb", notebook(course))])
    roster = write_roster(tmp_path, csv_bytes)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert gradebook_ids(course) == ["alice", "bob", "carol"], report.text()
    assert report.collected == ["alice", "bob"], report.text()
    assert report.no_submission == ["carol"], report.text()
    assert report.not_on_roster == [], report.text()
    assert_confined(tmp_path, before)


def test_roster_bad_rows(course, tmp_path):
    """Are roster rows without a usable id reported, and the good rows imported?"""
    roster = ROSTER + ",No,Id,n@x.org\nDave D,Dave,D,d@x.org\nalice,Alice,Again,a2@x.org\n../etc,E,E,e@x.org\n"
    archive = write_zip(tmp_path / "lms.zip", [Member("alice/ps0.ipynb", notebook(course))])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path, roster))
    assert gradebook_ids(course) == ["alice", "bob", "carol"], report.text()
    assert report.collected == ["alice"]
    for line, why in ((5, "no id"), (6, "Dave D"), (7, "again"), (8, "../etc")):
        reported(report, f"line {line}", why)


# --- 2. files that name another student --------------------------------------------------------

@pytest.mark.parametrize("others", [True, False], ids=["among-others", "alone-in-the-zip"])
@pytest.mark.parametrize("forged", ["mallory/victim__ps0.ipynb", "mallory/victim/ps0.ipynb"], ids=["flat", "folder"])
def test_file_naming_another_student_in_mallorys_folder(course, tmp_path, forged, others):
    """Is mallory/victim__ps0.ipynb (or mallory/victim/ps0.ipynb) mallory's, never the victim's, and reported?"""
    members = [Member(forged, notebook(course, copy="forged"))]
    if others:
        members.append(Member("alice/ps0.ipynb", notebook(course)))
    archive = write_zip(tmp_path / "forged.zip", members)
    roster = write_roster(tmp_path, ROSTER + "victim,V,V,v@x.org\nmallory,M,M,m@x.org\n")
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert not (course / "submitted" / "victim").exists(), "mallory's file created the victim's submission"
    assert "victim" in report.no_submission, report.text()
    assert report.collected == (["alice", "mallory"] if others else ["mallory"]), report.text()
    reported(report, forged, "another student")
    assert_confined(tmp_path, before)


def test_flat_name_deeper_than_the_top_is_not_credited(course, tmp_path):
    """Is <id>__<file> accepted only at the top (or in the one wrapper folder), never deeper down?"""
    archive = write_zip(tmp_path / "deep.zip", [
        Member("ps0 submissions/alice__ps0.ipynb", notebook(course)),  # in the wrapper: alice's
        Member("ps0 submissions/Some Folder/bob__ps0.ipynb", notebook(course)),  # deeper: nobody's
    ])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    assert report.collected == ["alice"], report.text()
    assert not submitted(course, "bob").exists()
    reported(report, "ps0 submissions/Some Folder/bob__ps0.ipynb", "student id")


@pytest.mark.parametrize("members, credited", [
    (["mallory/victim/ps0.ipynb"], []),  # mallory's subfolder, or a wrapper holding victim/?
    (["mallory/victim__ps0.ipynb"], []),
    (["alice/ps0.ipynb"], ["alice"]),  # alice's either way
], ids=["subfolder", "flat-name", "plain-files"])
def test_lone_top_folder_without_roster(course, tmp_path, members, credited):
    """Without any roster, is a lone top folder that might be a wrapper credited to nobody when that would matter?"""
    archive = write_zip(tmp_path / "lone.zip", [Member(m, notebook(course)) for m in members])
    report = collect(course, ASSIGNMENT, archive)
    assert report.collected == credited, report.text()
    assert not (course / "submitted" / "victim").exists()
    if not credited:
        reported(report, members[0], "ambiguous")


# --- 3. size bombs -----------------------------------------------------------------------------

def test_zip_bomb(course, tmp_path):
    """Is a member that inflates to 200 MB from a tiny zip skipped as oversized, in bounded memory and disk?"""
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("alice/ps0.ipynb", date_time=(2026, 1, 2, 3, 4, 6))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            out.write(notebook(course).encode())
            padding = b" " * MB  # still valid JSON: a notebook followed by whitespace
            for _ in range(200):
                out.write(padding)
        zf.writestr("bob/ps0.ipynb", notebook(course))
    assert archive.stat().st_size < MB, "the bomb is not tiny"
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    tracemalloc.start()
    try:
        report = collect(course, ASSIGNMENT, archive, roster)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.collected == ["bob"], report.text()
    reported(report, "alice/ps0.ipynb", "limit")
    assert disk_use(course / "submitted") < 21 * MB, f"submitted/ holds {disk_use(course / 'submitted')} bytes"
    archive_copy = archive.stat().st_size
    assert disk_use(course / "downloaded") < archive_copy + 2 * MB, "downloaded/ holds the inflated bomb"
    assert peak < 64 * MB, f"collect peaked at {peak / MB:.0f} MB of Python memory"
    assert_confined(tmp_path, before)


def test_header_understating_the_size(course, tmp_path):
    """Is a member whose header claims 1 kB but inflates to 50 MB cut off, reported, and never written whole?"""
    archive = tmp_path / "liar.zip"
    big = notebook(course).encode() + b" " * (50 * MB)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("alice/ps0.ipynb", big)
        zf.writestr("bob/ps0.ipynb", notebook(course))
    data = bytearray(archive.read_bytes())
    # Patch the uncompressed size to 1000 in alice's local header (offset 22) and in her entry of
    # the central directory (offset 24; she is its first entry).
    with zipfile.ZipFile(archive) as zf:
        local, central = zf.getinfo("alice/ps0.ipynb").header_offset, zf.start_dir
    assert data[central:central + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, local + 22, 1000)
    struct.pack_into("<I", data, central + 24, 1000)
    archive.write_bytes(bytes(data))
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("alice/ps0.ipynb").file_size == 1000, "the patch missed"
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["bob"], report.text()
    reported(report, "alice/ps0.ipynb", "unreadable")
    assert disk_use(course / "submitted") < MB
    assert_confined(tmp_path, before)


def test_per_student_total(course, tmp_path):
    """Does one student's total stop at the per-student cap, skipping and reporting the members beyond it?"""
    (course / "solutions" / ASSIGNMENT / "collect.json").write_text(json.dumps(
        {"notebooks": ["ps0.ipynb"], "max_notebook_mb": 1.0, "max_student_mb": 2.5}))
    pad = b" " * (9 * MB // 10)
    archive = write_zip(tmp_path / "many.zip", [
        Member(f"alice/ps0 ({i}).ipynb", notebook(course).encode() + pad) for i in range(4)
    ] + [Member("alice/ps0.ipynb", notebook(course)), Member("bob/ps0.ipynb", notebook(course))])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    assert report.collected == ["alice", "bob"], report.text()
    assert (submitted(course, "alice") / "ps0.ipynb").is_file(), "the listed notebook was not kept first"
    assert disk_use(submitted(course, "alice")) <= 2.5 * MB
    line = reported(report, "alice/ps0 (3).ipynb", "per-student")
    assert "2.5 MB" in line, line


def test_many_students_cannot_fill_the_disk(course, tmp_path):
    """Do many students' notebooks, each under the caps, stop at the zip-wide cap (100 MB for a small zip)?"""
    archive = tmp_path / "wide.zip"
    padding = b" " * MB
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(8):
            info = zipfile.ZipInfo(f"s{i}/ps0.ipynb", date_time=(2026, 1, 2, 3, 4, 6))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as out:
                out.write(notebook(course).encode())
                for _ in range(15):
                    out.write(padding)
    assert archive.stat().st_size < MB
    report = collect(course, ASSIGNMENT, archive)
    assert report.collected == [f"s{i}" for i in range(6)], report.text()
    assert disk_use(course / "submitted") <= 100 * MB
    reported(report, "s6/ps0.ipynb", "whole zip")
    reported(report, "s7/ps0.ipynb", "whole zip")


# --- 5. what a submission folder holds -----------------------------------------------------------

def test_timestamp_from_the_zip(course, tmp_path):
    """Is timestamp.txt the latest date of the student's members, in nbgrader's format (UTC extra field first)?"""
    utc = datetime(2026, 1, 5, 12, 30, 15, tzinfo=timezone.utc)
    ut_field = struct.pack("<HHBl", 0x5455, 5, 1, int(utc.timestamp()))  # Info-ZIP extended timestamp
    archive = write_zip(tmp_path / "dates.zip", [
        Member("alice/ps0.ipynb", notebook(course), date_time=(2026, 1, 2, 3, 4, 6)),
        Member("alice/notes.ipynb", notebook(course), date_time=(2026, 1, 2, 3, 4, 10)),
        Member("bob/ps0.ipynb", notebook(course), date_time=(2026, 1, 5, 13, 30, 14), extra=ut_field),
    ])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    assert report.collected == ["alice", "bob"], report.text()
    assert (submitted(course, "alice") / "timestamp.txt").read_text() == "2026-01-02 03:04:10.000000 UTC"
    assert (submitted(course, "bob") / "timestamp.txt").read_text() == "2026-01-05 12:30:15.000000 UTC"


def test_rerun_replaces_the_previous_collect(course, tmp_path):
    """Does a second collect of the assignment replace the first one's folders, leaving other assignments and hand-placed ones?"""
    first = write_zip(tmp_path / "first.zip", [
        Member("alice/ps0.ipynb", notebook(course, copy="first")), Member("alice/ps0 (1).ipynb", notebook(course)),
        Member("bob/ps0.ipynb", notebook(course)),
    ])
    other = course / "submitted" / "alice" / "other_hw" / "other_hw.ipynb"
    other.parent.mkdir(parents=True)
    other.write_text("{}")
    by_hand = submitted(course, "zed") / "ps0.ipynb"
    by_hand.parent.mkdir(parents=True)
    by_hand.write_text(notebook(course))
    roster = write_roster(tmp_path)
    collect(course, ASSIGNMENT, first, roster)
    second = write_zip(tmp_path / "second.zip", [
        Member("alice/ps0.ipynb", notebook(course, copy="second")), Member("carol/ps0.ipynb", notebook(course)),
    ])
    report = collect(course, ASSIGNMENT, second, roster)
    assert report.collected == ["alice", "carol"], report.text()
    assert not submitted(course, "bob").exists(), "bob's folder of the first collect is still there"
    assert sorted(p.name for p in submitted(course, "alice").iterdir()) == ["ps0.ipynb", "timestamp.txt"]
    assert json.loads((submitted(course, "alice") / "ps0.ipynb").read_text())["metadata"]["copy"] == "second"
    assert other.read_text() == "{}", "another assignment's submission was touched"
    assert by_hand.is_file(), "a submission placed by hand was removed"
    assert not (course / "downloaded" / ASSIGNMENT / "staging").exists(), "the staging folder was left over"
    assert json.loads((course / "exports" / "collect" / f"{ASSIGNMENT}.json").read_text())["collected"] == ["alice", "carol"]
