"""Red-team attacks on collect's opening of a student's own zip inside the LMS download.

Each test is one attack on a claimed property of ``open_student_zip`` and the loop in ``collect()``:
(1) everything inside a student's zip is that student's, (2) inner members are dated by the LMS's
member, (3) memory and copies are bounded by the caps, (4) a zip inside a student's zip is not
opened, (5) bad members are refused and reported without stopping the batch, (6) nothing is
written outside submitted/, downloaded/, exports/collect/.

Five attacks broke a property when first written (docstrings "was a BREAK": ten zips per student held in
memory together, a 20,000-member file list, one member listed 300 times and inflated each time, a loose
`a.zip!x.pdf` reading as a member inside `a.zip`, a listed `data.zip` opened instead of kept); collect.py
now bounds or refuses each. Every test passes: the property holds against that attack.
"""

from __future__ import annotations

import io
import json
import stat
import struct
import tracemalloc
import zipfile
from datetime import datetime, timezone

import pytest

from grading_corpus import ASSIGNMENT
from test_collect import (  # noqa: F401 (fixtures)
    ROSTER, Member, assert_confined, assert_plain_files, course, course_template, notebook, reported,
    snapshot, submitted, write_roster, write_zip,
)
from test_collect_attacks import disk_use, inner_zip
import course_tools.collect as collect_mod
from course_tools.collect import collect

pytestmark = pytest.mark.slow

MB = 1_000_000
LMS_TIME = (2026, 1, 5, 12, 0, 0)
LMS_STAMP = "2026-01-05 12:00:00.000000 UTC"


def ut(when: datetime) -> bytes:
    """An Info-ZIP extended timestamp extra field (mtime only)."""
    return struct.pack("<HHBl", 0x5455, 5, 1, int(when.timestamp()))


def raw_zip(members: list[Member], compress=zipfile.ZIP_DEFLATED) -> bytes:
    """Like inner_zip, but with a choice of compression and the Member's mode kept."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for m in members:
            info = zipfile.ZipInfo(m.name, date_time=m.date_time)
            info.compress_type = compress
            info.extra = m.extra
            if m.mode is not None:
                info.create_system = 3
                info.external_attr = m.mode << 16
            zf.writestr(info, m.data)
    return buf.getvalue()


def set_spec(course, **caps) -> None:
    (course / "solutions" / ASSIGNMENT / "collect.json").write_text(json.dumps({"notebooks": ["ps0.ipynb"], **caps}))


def peak_of(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def duplicated_central_entries(one_member_zip: bytes, copies: int) -> bytes:
    """The zip with its single central-directory entry repeated ``copies`` times, all pointing at the same
    local header (same name, so zipfile's name check passes; Python 3.11.7 has no overlap check)."""
    with zipfile.ZipFile(io.BytesIO(one_member_zip)) as zf:
        start = zf.start_dir
    eocd = one_member_zip.rindex(b"PK\x05\x06")
    central = one_member_zip[start:eocd]
    new_central = central * copies
    end = bytearray(one_member_zip[eocd:eocd + 22])
    struct.pack_into("<HHII", end, 8, copies, copies, len(new_central), start)
    return one_member_zip[:start] + new_central + bytes(end)


# --- (1) credit ------------------------------------------------------------------------------

def test_inner_names_of_other_students_stay_with_the_owner(course, tmp_path):
    """Holds? Inner members named bob/ps0.ipynb, bob__ps0.ipynb, alice/../bob/x.ipynb, a zip named after
    bob, in a folder named after bob: all alice's (or refused), bob gets nothing."""
    evil = inner_zip([
        Member("bob/ps0.ipynb", notebook(course, copy="forged")),
        Member("bob__ps0.ipynb", notebook(course, copy="forged2")),
        Member("alice/../bob/x.ipynb", notebook(course, copy="slip")),
        Member("../bob/ps0.ipynb", notebook(course, copy="slip")),
    ])
    archive = write_zip(tmp_path / "lms.zip", [
        Member("alice/bob/bob__ps0.zip", evil, date_time=LMS_TIME),
        Member("carol/ps0.ipynb", notebook(course)),
    ])
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["alice", "carol"], report.text()
    assert not (course / "submitted" / "bob").exists(), "alice's zip created bob's submission"
    assert "bob" in report.no_submission
    reported(report, "alice/bob/bob__ps0.zip!alice/../bob/x.ipynb", "unsafe")
    reported(report, "alice/bob/bob__ps0.zip!bob/ps0.ipynb", "another student", "alice")
    assert_plain_files(course / "submitted")
    assert_confined(tmp_path, before)


def test_uppercase_zip_is_opened_and_top_level_zip_without_id_is_nobodys(course, tmp_path):
    """Holds? ALICE's `alice/SUB.ZIP` is opened as alice's; `alice.zip` and `.zip` at the top (no `__`)
    are credited to nobody and reported; `bob__.zip` (empty file part after `__`) too."""
    archive = write_zip(tmp_path / "lms.zip", [
        Member("alice/SUB.ZIP", inner_zip([Member("ps0.ipynb", notebook(course, who="alice"))])),
        Member("bob.zip", inner_zip([Member("ps0.ipynb", notebook(course, who="bob"))])),
        Member(".zip", inner_zip([Member("carol__ps0.ipynb", notebook(course))])),
        Member("carol__.zip", inner_zip([Member("ps0.ipynb", notebook(course))])),
    ])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    assert report.collected == ["alice", "carol"], report.text()
    assert json.loads((submitted(course, "alice") / "ps0.ipynb").read_text())["metadata"]["who"] == "alice"
    reported(report, "bob.zip", "no student id")
    assert not (course / "submitted" / "bob").exists()


# --- (2) dates ---------------------------------------------------------------------------------

@pytest.mark.parametrize("inner_date", [datetime(2020, 1, 1, tzinfo=timezone.utc),
                                        datetime(2037, 1, 1, tzinfo=timezone.utc)], ids=["backdated", "future"])
def test_inner_dates_never_count(course, tmp_path, inner_date):
    """Holds? An inner member with a forged Info-ZIP time and DOS date (older or newer): timestamp.txt is
    the LMS date of the student's zip, and a duplicate across outer/inner is decided by LMS dates only."""
    dos = inner_date.timetuple()[:6]
    student_zip = inner_zip([Member("ps0.ipynb", notebook(course, copy="inner"), date_time=dos, extra=ut(inner_date))])
    archive = write_zip(tmp_path / "lms.zip", [
        # outer copy is LMS-dated one hour later than the zip: it must win, whatever the zip says inside
        Member("alice/ps0.ipynb", notebook(course, copy="outer"), date_time=(2026, 1, 5, 13, 0, 0)),
        Member("alice/alice__ps0.zip", student_zip, date_time=LMS_TIME),
        Member("bob__ps0.zip", student_zip, date_time=LMS_TIME),
    ])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    assert report.collected == ["alice", "bob"], report.text()
    assert json.loads((submitted(course, "alice") / "ps0.ipynb").read_text())["metadata"]["copy"] == "outer"
    assert (submitted(course, "alice") / "timestamp.txt").read_text() == "2026-01-05 13:00:00.000000 UTC"
    assert (submitted(course, "bob") / "timestamp.txt").read_text() == LMS_STAMP
    reported(report, "alice/alice__ps0.zip!ps0.ipynb", "duplicate")


def test_inner_duplicate_after_outer_newer_wins_by_lms_date(course, tmp_path):
    """Holds? The student's zip is LMS-dated later than a loose outer copy: the zip's copy wins, and the
    timestamp is the zip's LMS date even though its inner member claims 1990."""
    old = datetime(1990, 1, 1, tzinfo=timezone.utc)
    student_zip = inner_zip([Member("ps0.ipynb", notebook(course, copy="inner"), date_time=(1990, 1, 1, 0, 0, 0),
                                    extra=ut(old))])
    archive = write_zip(tmp_path / "lms.zip", [
        Member("alice/alice__ps0.zip", student_zip, date_time=LMS_TIME),
        Member("alice/ps0.ipynb", notebook(course, copy="outer"), date_time=(2026, 1, 4, 0, 0, 0)),
    ])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    assert json.loads((submitted(course, "alice") / "ps0.ipynb").read_text())["metadata"]["copy"] == "inner"
    assert (submitted(course, "alice") / "timestamp.txt").read_text() == LMS_STAMP
    reported(report, "alice/ps0.ipynb", "duplicate")


# --- (3) caps and memory -------------------------------------------------------------------------

def test_per_student_disk_cap_is_cumulative_across_zips(course, tmp_path):
    """Holds? Four zips of one student, each under the per-student cap, together over it: the student's
    files on disk stay within the cap, the rest reported per-student."""
    set_spec(course, max_notebook_mb=1.0, max_student_mb=2.5)
    pad = b" " * (9 * MB // 10)
    archive = write_zip(tmp_path / "lms.zip", [
        Member(f"alice/part{i}.zip", inner_zip([Member(f"ps0 ({i}).ipynb", notebook(course).encode() + pad)]))
        for i in range(4)
    ] + [Member("alice/ps0.ipynb", notebook(course)), Member("bob/ps0.ipynb", notebook(course))])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    assert report.collected == ["alice", "bob"], report.text()
    assert (submitted(course, "alice") / "ps0.ipynb").is_file()
    assert disk_use(submitted(course, "alice")) <= 2.5 * MB
    reported(report, "!ps0 (", "per-student", "2.5 MB")


def test_many_student_zips_are_held_in_memory_together(course, tmp_path):
    """Holds (was a BREAK): memory is not bounded by the per-student cap. One student hands in ten zips (each 4.5 MB, under
    the 5 MB per-student cap, a stored member of zeros, so the LMS zip is tiny): collect() reads *all* of them
    into memory before extract_student and keeps them open together (`opened`), so the peak grows with the
    number of zips (10 x 4.5 MB here; 1000 zips of 49 MB from a few-MB download in real life)."""
    set_spec(course, max_student_mb=5.0)
    one = raw_zip([Member("junk.bin", b"\0" * (45 * MB // 10))], compress=zipfile.ZIP_STORED)
    archive = write_zip(tmp_path / "lms.zip", [Member(f"alice/a{i}.zip", one) for i in range(10)]
                        + [Member("alice/ps0.ipynb", notebook(course)), Member("bob/ps0.ipynb", notebook(course))])
    assert archive.stat().st_size < MB
    roster = write_roster(tmp_path)
    report, peak = peak_of(lambda: collect(course, ASSIGNMENT, archive, roster))
    assert report.collected == ["alice", "bob"], report.text()
    assert peak < 2 * 5 * MB + 5 * MB, (f"peak {peak / MB:.0f} MB for a per-student cap of 5 MB: "
                                        "one student's zips are all held in memory at once")


def test_45mb_stored_inner_zip_memory_peak(course, tmp_path):
    """Holds? A 45 MB stored student zip (default 50 MB per-student cap): the peak is about one copy of it,
    not several (no getvalue()/read() doubling)."""
    one = raw_zip([Member("ps0.ipynb", notebook(course)), Member("junk.bin", b"\0" * (45 * MB))],
                  compress=zipfile.ZIP_STORED)
    archive = write_zip(tmp_path / "lms.zip", [Member("alice/alice__ps0.zip", one),
                                               Member("bob/ps0.ipynb", notebook(course))])
    roster = write_roster(tmp_path)
    report, peak = peak_of(lambda: collect(course, ASSIGNMENT, archive, roster))
    assert report.collected == ["alice", "bob"], report.text()
    assert peak < 1.3 * len(one) + 5 * MB, f"peak {peak / MB:.0f} MB for a {len(one) / MB:.0f} MB student zip"


def test_central_directory_of_many_entries_amplifies_memory(course, tmp_path):
    """Holds (was a BREAK): the per-student cap bounds the zip's bytes, not what parsing it costs. A 2 MB student zip
    (cap 2 MB) of ~25,000 empty members becomes 25,000 ZipInfo objects, and each a Problem in the report:
    memory is many times the cap (and the JSON report has a line per member)."""
    set_spec(course, max_student_mb=2.0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        i = 0
        while buf.tell() < 750_000:  # local headers; the central directory adds more
            zf.writestr(zipfile.ZipInfo(f"{i:x}.pdf", date_time=LMS_TIME), b"")
            i += 1
    one = buf.getvalue()
    assert len(one) < 2 * MB
    archive = write_zip(tmp_path / "lms.zip", [Member("alice/a.zip", one), Member("alice/ps0.ipynb", notebook(course))])
    roster = write_roster(tmp_path)
    report, peak = peak_of(lambda: collect(course, ASSIGNMENT, archive, roster))
    assert report.collected == ["alice"], report.text()
    assert peak < 3 * 2 * MB + 5 * MB, (f"peak {peak / MB:.0f} MB for a {len(one) / MB:.1f} MB student zip "
                                        f"of {i} members (cap 2 MB); report has {len(report.skipped)} lines")


def test_repeated_central_entries_reinflate_a_bomb(course, tmp_path, monkeypatch):
    """Holds (was a BREAK): an over-cap member is inflated again for each duplicate of it. A student zip whose central
    directory lists one deflated bomb (inflates past the notebook cap) 300 times under the same name, all at
    the same local header: extract_student tries each "copy" in turn, each inflating up to the cap before
    failing. The work is copies x cap (300 x 1 MB here; with a 20 MB cap and 100,000 entries from a 5 MB
    upload, 2 TB of inflation), unbounded by the whole-zip cap, which counts only bytes kept."""
    set_spec(course, max_notebook_mb=1.0)
    bomb = inner_zip([Member("ps0.ipynb", b" " * (3 * MB))])
    evil = duplicated_central_entries(bomb, 300)
    assert len(zipfile.ZipFile(io.BytesIO(evil)).infolist()) == 300
    inflated = [0]
    real = collect_mod._copy_capped

    def counting(zf, info, dest, cap):
        try:
            return real(zf, info, dest, cap)
        finally:
            inflated[0] += min(cap, info.file_size)

    monkeypatch.setattr(collect_mod, "_copy_capped", counting)
    archive = write_zip(tmp_path / "lms.zip", [Member("alice/a.zip", evil), Member("bob/ps0.ipynb", notebook(course))])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    assert report.collected == ["bob"], report.text()
    assert inflated[0] <= 10 * MB, (f"{inflated[0] / MB:.0f} MB inflated for one 3 MB member "
                                    f"listed 300 times in a {len(evil) / 1000:.0f} kB student zip")


def test_inner_header_lies_and_zip64(course, tmp_path):
    """Holds? Inside a student's zip: a member whose central file_size says 1 kB but inflates to 30 MB, and a
    zip64 extra claiming 2**62 bytes: both reported (unreadable/over cap), little on disk, others collected."""
    big = notebook(course).encode() + b" " * (30 * MB)
    data = bytearray(inner_zip([Member("ps0.ipynb", big), Member("notes.ipynb", notebook(course))]))
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    local, central = zf.getinfo("ps0.ipynb").header_offset, zf.start_dir
    struct.pack_into("<I", data, local + 22, 1000)
    struct.pack_into("<I", data, central + 24, 1000)
    z64 = bytearray(raw_zip([Member("ps0.ipynb", notebook(course))]))
    zf = zipfile.ZipFile(io.BytesIO(bytes(z64)))
    # central file_size 0xFFFFFFFF and a zip64 extra field with 2**62: fix the extra length in place
    c = zf.start_dir
    name_len, extra_len = struct.unpack_from("<HH", z64, c + 28)
    assert extra_len == 0
    struct.pack_into("<I", z64, c + 24, 0xFFFFFFFF)
    extra = struct.pack("<HHQ", 1, 8, 2 ** 62)
    z64[c + 30:c + 32] = struct.pack("<H", len(extra))
    z64[c + 46 + name_len:c + 46 + name_len] = extra
    eocd = z64.rindex(b"PK\x05\x06")
    struct.pack_into("<I", z64, eocd + 12, struct.unpack_from("<I", z64, eocd + 12)[0] + len(extra))
    archive = write_zip(tmp_path / "lms.zip", [Member("alice/a.zip", bytes(data)), Member("bob/b.zip", bytes(z64)),
                                               Member("carol/ps0.ipynb", notebook(course))])
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["alice", "bob", "carol"], report.text()  # alice: notes.ipynb
    assert not (submitted(course, "alice") / "ps0.ipynb").exists()
    reported(report, "alice/a.zip!ps0.ipynb", "unreadable")
    # bob's zip64 size claim is a lie in the harmless direction: the real bytes are counted and copied
    assert (submitted(course, "bob") / "ps0.ipynb").read_text() == notebook(course)
    assert disk_use(course / "submitted") < 2 * MB
    assert_confined(tmp_path, before)


# --- (4) a zip in a zip ------------------------------------------------------------------------

def test_zip_inside_is_not_opened_even_if_listed_or_uppercase(course, tmp_path):
    """Holds? A zip inside a student's zip (x.ZIP, or a zip disguised as notes.ipynb) is never opened: its
    ps0.ipynb is not collected; the disguised one is copied as a plain file."""
    deeper = inner_zip([Member("ps0.ipynb", notebook(course, copy="deep"))])
    archive = write_zip(tmp_path / "lms.zip", [
        Member("alice/a.zip", inner_zip([Member("x.ZIP", deeper), Member("notes.ipynb", deeper)])),
    ])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    assert report.collected == ["alice"], report.text()
    assert not (submitted(course, "alice") / "ps0.ipynb").exists(), "a zip inside the student's zip was opened"
    assert (submitted(course, "alice") / "notes.ipynb").read_bytes() == deeper
    reported(report, "alice/a.zip!x.ZIP", "not a file")


# --- (5) refused and reported ---------------------------------------------------------------------

def test_bad_inner_members_are_refused_one_by_one(course, tmp_path):
    """Holds? Inside a student's zip: a symlink, a fifo, a char device, an encrypted flag, bzip2, an absolute
    name, a control character, a 300-byte name: each refused and reported, the good member kept. And a
    student zip that is itself a symlink member is not opened."""
    good = Member("ps0.ipynb", notebook(course))
    bad = [Member("link.ipynb", "../../../../sentinel.txt", mode=stat.S_IFLNK | 0o777),
           Member("fifo.ipynb", "x", mode=stat.S_IFIFO | 0o644),
           Member("dev.ipynb", "x", mode=stat.S_IFCHR | 0o644),
           Member("/abs.ipynb", notebook(course)), Member("ctl\x07.ipynb", notebook(course)),
           Member("n" * 300 + ".ipynb", notebook(course))]
    data = bytearray(raw_zip([good, *bad, Member("enc.ipynb", notebook(course)), Member("bz.ipynb", notebook(course))]))
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    # central entries: enc.ipynb gets the encrypted flag bit, bz.ipynb compression method 12 (bzip2)
    for name, off, value in (("enc.ipynb", 8, 1), ("bz.ipynb", 10, 12)):
        i = zf.start_dir
        while True:  # find this member's central entry by name
            n, e, c = struct.unpack_from("<HHH", data, i + 28)
            if data[i + 46:i + 46 + n].decode() == name:
                break
            i += 46 + n + e + c
        old = struct.unpack_from("<H", data, i + off)[0]
        struct.pack_into("<H", data, i + off, old | value if off == 8 else value)
    archive = write_zip(tmp_path / "lms.zip", [
        Member("alice/a.zip", bytes(data)),
        Member("bob/b.zip", "c.zip", mode=stat.S_IFLNK | 0o777),
        Member("carol/ps0.ipynb", notebook(course)),
    ])
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["alice", "carol"], report.text()
    assert sorted(p.name for p in submitted(course, "alice").iterdir()) == ["ps0.ipynb", "timestamp.txt"]
    for name, why in (("link.ipynb", "symbolic link"), ("fifo.ipynb", "special"), ("dev.ipynb", "special"),
                      ("/abs.ipynb", "absolute"), ("enc.ipynb", "encrypted"), ("bz.ipynb", "compression"),
                      ("n" * 300, "too long")):
        reported(report, f"alice/a.zip!{name}", why)
    reported(report, "ctl", "control")
    reported(report, "bob/b.zip", "symbolic link")
    assert_plain_files(course / "submitted")
    assert_confined(tmp_path, before)


CORRUPTIONS = {
    "bad-utf8-name": lambda d, c: (struct.pack_into("<H", d, c + 8, 0x800), d.__setitem__(slice(c + 46, c + 47), b"\xff")),
    "corrupt-extra": lambda d, c: struct.pack_into("<H", d, c + 30, 40),
    "zip64-extra-short": lambda d, c: (struct.pack_into("<I", d, c + 24, 0xFFFFFFFF),),
    "version-too-new": lambda d, c: struct.pack_into("<H", d, c + 6, 99),
    "cd-offset-negative": lambda d, c: struct.pack_into("<I", d, d.rindex(b"PK\x05\x06") + 12, 10 ** 8),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_student_zip_never_stops_the_batch(course, tmp_path, corrupt):
    """Holds? A student zip with a corrupt central directory (invalid UTF-8 name under the UTF-8 flag, an extra
    field longer than the entry, a zip64 size without its extra, a too-new version, a central directory size
    past the start): reported for that student, everyone else collected."""
    data = bytearray(raw_zip([Member("ps0.ipynb", notebook(course))]))
    corrupt(data, zipfile.ZipFile(io.BytesIO(bytes(data))).start_dir)
    archive = write_zip(tmp_path / "lms.zip", [Member("alice/a.zip", bytes(data)), Member("bob/ps0.ipynb", notebook(course))])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    assert "bob" in report.collected, report.text()
    # either zipfile tolerates the corruption (alice collected) or it is reported for alice
    assert "alice" in report.collected or "alice/a.zip" in report.text(), report.text()


def test_report_name_separator_is_not_spoofable(course, tmp_path):
    """Holds (was a BREAK): `!` names a member inside a student's zip in reports, so a loose file
    `alice/a.zip!x.pdf` is refused (reserved character, shown escaped) and cannot read as `x.pdf` inside
    `alice/a.zip`: no two report lines name different members alike."""
    archive = write_zip(tmp_path / "lms.zip", [
        Member("alice/a.zip", inner_zip([Member("ps0.ipynb", notebook(course)), Member("x.pdf", "%PDF")])),
        Member("alice/a.zip!x.pdf", "%PDF"),
    ])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    names = [p.member for p in report.skipped]
    assert len(names) == len(set(names)), f"two different members share a report name: {names}"
    reported(report, "alice/a.zip\\x21x.pdf", "reserved character")
    assert report.collected == ["alice"], report.text()


# --- (6) confinement ----------------------------------------------------------------------------

def test_everything_nested_stays_confined(course, tmp_path):
    """Holds? A mix of nested attacks (`alice__..`, `alice__.`, timestamp.txt, climbing and absolute names,
    an inner zip whose name climbs) writes nothing outside submitted/, downloaded/, exports/collect/."""
    evil = inner_zip([Member("alice__..", notebook(course)), Member("alice__.", notebook(course)),
                      Member("timestamp.txt", "1999-01-01 00:00:00.000000 UTC"),
                      Member("..\\..\\..\\sentinel.txt", "pwned"), Member("ps0.ipynb", notebook(course))])
    archive = write_zip(tmp_path / "lms.zip", [
        Member("alice/a.zip", evil, date_time=LMS_TIME),
        Member("../../bob__x.zip", evil), Member("bob/../../x.zip", evil),
    ])
    roster = write_roster(tmp_path)
    before = snapshot(tmp_path)
    report = collect(course, ASSIGNMENT, archive, roster)
    assert report.collected == ["alice"], report.text()
    assert (submitted(course, "alice") / "timestamp.txt").read_text() == LMS_STAMP
    assert sorted(p.name for p in submitted(course, "alice").iterdir()) == ["ps0.ipynb", "timestamp.txt"]
    assert_plain_files(course / "submitted")
    assert_confined(tmp_path, before)


# --- a listed file that ends in .zip ------------------------------------------------------------

def test_listed_zip_file_is_collected_not_opened(course, tmp_path):
    """Holds (was a BREAK): a collect.json that lists a file ending in .zip (e.g. "files": ["data.zip"]) can
    never collect it: screen() diverts every *.zip credited to a student to open_student_zip before checking
    spec.wants(), so alice/data.zip is opened (its members credited instead) and data.zip itself is never kept."""
    (course / "solutions" / ASSIGNMENT / "collect.json").write_text(json.dumps(
        {"notebooks": ["ps0.ipynb"], "files": ["data.zip"]}))
    data = inner_zip([Member("ps0.ipynb", notebook(course, copy="from-data-zip")), Member("x.csv", "1,2")])
    archive = write_zip(tmp_path / "lms.zip", [Member("alice/ps0.ipynb", notebook(course, copy="loose"),
                                                      date_time=(2026, 1, 1, 0, 0, 0)),
                                               Member("alice/data.zip", data)])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path))
    kept = submitted(course, "alice") / "data.zip"
    assert kept.is_file() and kept.read_bytes() == data, (
        f"the listed data.zip was not collected: kept {report.files.get('alice')}\n{report.text()}")
