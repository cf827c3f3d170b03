"""Collect an LMS zip of submissions into submitted/<student>/<assignment>/, member by member.

    python -m course_tools.collect hw1_foundations submissions.zip --students students.csv
    # or: make collect ASSIGNMENT=hw1_foundations ZIP=submissions.zip STUDENTS=students.csv

What it is for: nbgrader grades what is in submitted/. This module puts there, from the zip an LMS
gives for "download all submissions", exactly the files of the assignment that can be credited
to one student, and reports everything else. It never extracts the zip as a whole: every member
is screened first and copied, if at all, as a plain file under a name collect chose, in bounded
memory and disk. One bad member is one report line; the batch always finishes.

Whose file it is (paths inside the zip; a single top folder that holds everything and is not a
roster id, as LMS downloads have, is skipped first):

    <student_id>/<any folders>/<file>   that folder's student, whatever the deeper folders or the
                                        file's name say (mallory/victim__x.ipynb is mallory's)
    <student_id>__<file>                (two underscores) only at the top, or directly inside
                                        that single top folder

A student's own zip (``*.zip`` credited to a student, e.g. the ``<student>__<assignment>.zip`` that
``python -m dgm_utils.submit`` writes, in an LMS download of one zip per student) is opened, within
the per-student cap and one student at a time, and its members are screened the same way; they are
all that student's, whatever their names say, and are dated by the LMS zip's member, not by the dates
inside (which the student sets). A zip inside that zip is not opened, nor one of over MAX_MEMBERS
members; a ``.zip`` that collect.json lists is kept as a file. ``!`` in a member's name is refused:
reports name a member inside a student's zip ``<member>!<member inside>``.

What is kept: the notebooks and files listed in ``solutions/<assignment>/collect.json`` (without
it: every notebook of solutions/<assignment>/), plus any other ``*.ipynb`` (autograde renames a
renamed notebook back), flattened into submitted/<student>/<assignment>/ under their base name,
with ``timestamp.txt`` from the zip's date of the newest kept member. collect.json also sets the
size caps (MB = 10**6 bytes): per notebook, per other file, per student; all members together
stop at MAX_INFLATION times the zip's size. Bytes are counted while copying: a member stops at its
cap and is skipped, whatever its header says.

What is refused, with a reason: unsafe paths (``..``, absolute, control characters), names over
255 bytes, symbolic links, devices, pipes and sockets, encrypted members, compression other than
stored/deflated, unreadable or oversized members, files the assignment does not collect, and
files no student can be credited with. Of two members with the same name for one student the
newer is kept. A re-run replaces that assignment's previous collect (hand-placed folders of
students not in the zip stay).

The roster CSV may come from a spreadsheet (BOM, CRLF, quotes, ``;``, extra columns, blank lines):
it is normalised to id,first_name,last_name,email and imported with ``nbgrader db student import``.

The report is printed and written to ``exports/collect/<assignment>.json``. Exit status: 0, or 2
when the zip cannot be read, or the assignment or its collect.json is unusable. Working files are in
``downloaded/<assignment>/`` (a copy of the zip, the normalised roster, the list of folders written).
"""

from __future__ import annotations

import argparse
import codecs
import csv
import importlib
import io
import json
import re
import shutil
import stat
import struct
import sys
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from course_tools.nbgrader_course import REPO, nbgrader, tool_env

MB = 1_000_000  # the unit of collect.json's caps, as in dgm_utils.scoring.load_checkpoint
DEFAULT_NOTEBOOK_MB = 20.0
DEFAULT_FILE_MB = 10.0
DEFAULT_STUDENT_MB = 50.0
# All members together inflate to at most this many times the zip's size (or 100 MB): a zip of
# members that overlap or repeat each other cannot fill the disk with per-student caps alone.
MAX_INFLATION, MIN_TOTAL_MB = 100, 100.0
CHUNK = 1 << 16  # bytes read from a member at a time
# A student's own zip: at most this many members (reading its file list costs memory per member),
# and of one name at most MAX_TRIES copies are read (a file listed 300 times is not inflated 300 times).
MAX_MEMBERS, MAX_TRIES = 1000, 3
NAME_MAX_BYTES = 255  # one path component on Linux file systems
# A student id (also a safe folder name) and the <student_id>__<file> separator: defined where the
# student's own submission tool (python -m dgm_utils.submit) names its zip's members.
from dgm_utils.submit import FLAT_SEPARATOR, STUDENT_ID  # noqa: E402
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"  # nbgrader's timestamp.txt
READABLE = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
OS_JUNK = {".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"}
ROSTER_COLUMNS = ("id", "first_name", "last_name", "email")
ROSTER_ALIASES = {"student_id": "id", "studentid": "id", "username": "id", "firstname": "first_name",
                  "given_name": "first_name", "lastname": "last_name", "surname": "last_name",
                  "family_name": "last_name", "e_mail": "email", "mail": "email"}


class CollectError(Exception):
    """Collect cannot start: the zip is unreadable, or the assignment or its collect.json is wrong."""


# --- what an assignment collects -----------------------------------------------------------------

@dataclass(frozen=True)
class CollectSpec:
    """The files of one assignment that collect keeps, and the size caps in MB (10**6 bytes)."""

    notebooks: tuple[str, ...]
    files: tuple[str, ...] = ()
    max_notebook_mb: float = DEFAULT_NOTEBOOK_MB
    max_file_mb: float = DEFAULT_FILE_MB
    max_student_mb: float = DEFAULT_STUDENT_MB

    def wants(self, name: str) -> bool:
        return name in self.files or name.endswith(".ipynb")

    def cap(self, name: str) -> tuple[int, str]:
        """(bytes, words for a report) of the per-file cap of ``name``."""
        if name.endswith(".ipynb"):
            return int(self.max_notebook_mb * MB), f"{self.max_notebook_mb:g} MB limit for a notebook"
        return int(self.max_file_mb * MB), f"{self.max_file_mb:g} MB limit for {name}"

    def order(self, names: set[str]) -> list[str]:
        """``names`` with the listed files first, so they get the student's budget first."""
        listed = [n for n in self.notebooks + self.files if n in names]
        return listed + sorted(names - set(listed))


def _resolve(value):
    """A value of collect.json, or for ``"py:module:NAME"`` the value of NAME in that module.

    So a fact the student's notebook also needs (hw2's checkpoint names and size cap, in
    dgm_utils.scoring) is defined once, in the package both sides import.
    """
    if not (isinstance(value, str) and value.startswith("py:")):
        return value
    module, _, name = value[3:].partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{value!r} names nothing importable ({err})") from None


def load_spec(root: Path, assignment: str) -> CollectSpec:
    """``solutions/<assignment>/collect.json``, or every notebook of that folder without it."""
    source = Path(root) / "solutions" / assignment
    if not STUDENT_ID.fullmatch(assignment) or not source.is_dir():
        raise CollectError(f"unknown assignment {assignment!r}: no folder solutions/{assignment}/")
    path = source / "collect.json"
    if not path.exists():
        notebooks = tuple(sorted(p.name for p in source.glob("*.ipynb")))
        if not notebooks:
            raise CollectError(f"solutions/{assignment}/ has no notebook and no collect.json")
        return CollectSpec(notebooks)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        unknown = set(data) - {"about", "notebooks", "files", "max_notebook_mb", "max_file_mb", "max_student_mb"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        data = {k: _resolve(v) for k, v in data.items()}
        spec = CollectSpec(
            notebooks=tuple(data["notebooks"]), files=tuple(data.get("files", ())),
            **{k: float(data[k]) for k in ("max_notebook_mb", "max_file_mb", "max_student_mb") if k in data},
        )
        names = spec.notebooks + spec.files
        if not all(isinstance(n, str) and _parts(n) == [n] and not n.startswith(".") for n in names):
            raise ValueError("every listed file must be a plain file name")
        if not spec.notebooks or not all(n.endswith(".ipynb") for n in spec.notebooks):
            raise ValueError('"notebooks" must list at least one *.ipynb')
        if min(spec.max_notebook_mb, spec.max_file_mb, spec.max_student_mb) <= 0:
            raise ValueError("the caps must be positive")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CollectError(f"{path}: {err}") from err
    return spec


# --- the report ----------------------------------------------------------------------------------

@dataclass
class Problem:
    """One member (a path inside the zip, or a roster line) and why it was not simply collected."""

    member: str
    reason: str
    student: str = ""  # whose folder it was in; "" when it is credited to nobody

    def line(self) -> str:
        who = f"{self.student}: " if self.student else ""
        return f"  {who}{_show(self.member)}: {self.reason}"


@dataclass
class CollectReport:
    """What a collect found: ids are student ids, members are paths inside the zip."""

    assignment: str = ""
    collected: list[str] = field(default_factory=list)
    no_submission: list[str] = field(default_factory=list)
    not_on_roster: list[str] = field(default_factory=list)
    missing_files: dict[str, list[str]] = field(default_factory=dict)  # student -> listed files absent
    files: dict[str, list[str]] = field(default_factory=dict)  # student -> files kept
    unmatched: list[Problem] = field(default_factory=list)  # credited to nobody, not collected
    skipped: list[Problem] = field(default_factory=list)  # in a student's folder, not collected
    notes: list[Problem] = field(default_factory=list)  # collected, but worth a look
    roster_problems: list[Problem] = field(default_factory=list)

    @property
    def unmatched_files(self) -> list[str]:
        return [p.member for p in self.unmatched]

    def to_json(self) -> dict:
        return {**asdict(self), "unmatched_files": self.unmatched_files}

    def text(self) -> str:
        lines = [f"collected: {len(self.collected)} student(s)"]
        if self.no_submission:
            lines.append(f"NO SUBMISSION ({len(self.no_submission)}): " + ", ".join(self.no_submission))
        if self.not_on_roster:
            lines.append(f"NOT ON THE ROSTER ({len(self.not_on_roster)}): " + ", ".join(self.not_on_roster)
                         + "  (add them to students.csv, or delete submitted/<id>/)")
        if self.missing_files:
            lines.append(f"MISSING FILES ({len(self.missing_files)} student(s)), collected without:")
            lines += [f"  {s}: {', '.join(names)}" for s, names in self.missing_files.items()]
        sections = [
            ("FILES MATCHING NO STUDENT", "not collected (the pattern is <student_id>/<file> or "
             "<student_id>__<file> at the top; docs/ta.md)", self.unmatched),
            ("SKIPPED", "in a student's folder, not collected", self.skipped),
            ("CHECK", "collected, but look at them", self.notes),
            ("ROSTER", "students.csv rows not imported", self.roster_problems),
        ]
        for title, what, problems in sections:
            if problems:
                lines.append(f"{title} ({len(problems)}), {what}:")
                lines += [p.line() for p in problems]
        return "\n".join(lines)


def _show(name: str) -> str:
    """A member name as a report shows it: control characters escaped."""
    return name if name.isprintable() else ascii(name)


# --- the roster ----------------------------------------------------------------------------------

def _decode(data: bytes) -> str:
    """Text of a CSV as spreadsheets save it: UTF-8 (with or without BOM), UTF-16, or Windows-1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _cell(value: str) -> str:
    """A cell without surrounding blanks and quotes (also Excel's ="007" form)."""
    value = value.strip()
    if value.startswith('="') and value.endswith('"'):
        value = value[2:-1]
    return value.strip().strip("\"'").strip()


def _column(header: str) -> str:
    key = re.sub(r"[\s\-]+", "_", _cell(header).lower())
    return ROSTER_ALIASES.get(key, key)


def read_roster(path: Path) -> tuple[list[dict[str, str]], list[Problem]]:
    """The rows (id, first_name, last_name, email) of a roster CSV, and the rows it could not use."""
    text = _decode(Path(path).read_bytes())
    first = next((line for line in text.splitlines() if line.strip(" ,;\t\"'")), "")
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[dict[str, str]] = []
    problems: list[Problem] = []
    columns: list[str] | None = None
    seen: set[str] = set()
    for cells in reader:
        cells = [_cell(c) for c in cells]
        if not any(cells):
            continue  # a blank line, or one of empty cells
        if columns is None:
            columns = [_column(c) for c in cells]
            if "id" not in columns:
                return [], [Problem("roster line 1", f"no id column (columns: {', '.join(cells)}); nothing imported")]
            continue
        row = {c: v for c, v in zip(columns, cells) if c in ROSTER_COLUMNS}
        sid, where = row.get("id", ""), f"roster line {reader.line_num}"
        if not sid:
            problems.append(Problem(where, "no id; skipped"))
        elif not STUDENT_ID.fullmatch(sid):
            problems.append(Problem(where, f"id {sid!r} is not a student id (letters, digits, _.@-; "
                                           "at most 64, starting with a letter or digit); skipped"))
        elif sid in seen:
            problems.append(Problem(where, f"id {sid} again; the first row kept"))
        else:
            seen.add(sid)
            rows.append({c: row.get(c, "") for c in ROSTER_COLUMNS})
    return rows, problems


def import_roster(root: Path, students_csv: Path, clean_csv: Path) -> list[Problem]:
    """Normalise ``students_csv`` into ``clean_csv`` and import it into the gradebook."""
    try:
        rows, problems = read_roster(students_csv)
    except OSError as err:
        return [Problem(str(students_csv), f"roster not read ({err.strerror}); the gradebook's "
                        "students are the roster")]
    if not rows:
        return problems + [Problem(str(students_csv), "no student in the roster; nothing imported")]
    with open(clean_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=ROSTER_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    result = nbgrader(root, "db", "student", "import", str(clean_csv), env=tool_env(), check=False)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        problems.append(Problem(str(students_csv), f"nbgrader db student import failed: {last}"))
    return problems


def roster_ids(root: Path) -> set[str]:
    from course_tools import gradebook

    return set(gradebook.students(root))


# --- screening members -------------------------------------------------------------------------

@dataclass
class Entry:
    """A member credited to ``student``, to be kept as submitted/<student>/<assignment>/<name>."""

    info: zipfile.ZipInfo
    student: str
    name: str
    index: int  # its place in the zip: of two equally dated duplicates the later wins
    sub: int = 0  # inside a student's own zip (index: that zip's place), its place there
    source: zipfile.ZipFile | None = None  # the student's own zip it is in (None: the LMS zip itself)
    outer: zipfile.ZipInfo | None = None  # ... and that zip's member of the LMS zip

    @property
    def path(self) -> str:
        """Where the member is, as reports name it: ``alice/alice__hw1.zip!alice__hw1.ipynb`` inside a zip."""
        return f"{self.outer.filename}{INNER}{self.info.filename}" if self.outer else self.info.filename

    @property
    def dated(self) -> zipfile.ZipInfo:
        """The member whose date counts: the LMS's, not what a student's own zip says of its files."""
        return self.outer or self.info


INNER = "!"  # report name of a member inside a student's zip: <member of the LMS zip>!<member inside it>


def _name_problem(component: str) -> str | None:
    if len(component.encode("utf-8", "surrogateescape")) > NAME_MAX_BYTES:
        return f"name too long (over {NAME_MAX_BYTES} bytes)"
    if not component.isprintable():
        return "control characters in the name"
    return None


def _parts(name: str) -> list[str] | str:
    """The path components of a member name, or why the name is unsafe."""
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "unsafe path (absolute)"
    parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
    if ".." in parts:
        return "unsafe path (climbs out with ..)"
    for part in parts:
        if problem := _name_problem(part):
            return problem
    return parts or "empty name"


def _kind_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a member is not a plain, readable file, if it is not."""
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder entry holding data"
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return "a special file (device, pipe or socket)"
    if info.flag_bits & 0x1:
        return "encrypted"
    if info.compress_type not in READABLE:
        return f"compression method {info.compress_type} (only stored and deflated members are read): re-zip it"
    return None


def _wrapper(paths: list[list[str]], roster: set[str]) -> tuple[str | None, str]:
    """(the single top folder to skip, or None; why that cannot be decided, or "")."""
    tops = {p[0] for p in paths}
    if len(tops) != 1 or any(len(p) < 2 for p in paths):
        return None, ""
    top = tops.pop()
    if top in roster:
        return None, ""
    if roster or not STUDENT_ID.fullmatch(top):
        return top, ""
    # No roster to ask. Plain files only: top's own folder either way. Subfolders or <id>__<file>
    # names would go to other students if top were a wrapper: ambiguous, credited to nobody.
    if any(len(p) > 2 or FLAT_SEPARATOR in p[1] for p in paths):
        return None, (f"ambiguous without a roster: is {top!r} a student's folder or a folder of "
                      "submissions? Pass the roster (STUDENTS=students.csv)")
    return None, ""


def _owner(parts: list[str], roster: set[str]) -> tuple[str, str, str] | str:
    """(student, file name, note) of a member's path below the wrapper, or why nobody gets it."""
    if len(parts) == 1:
        sid, sep, name = parts[0].partition(FLAT_SEPARATOR)
        if not sep or not name or not STUDENT_ID.fullmatch(sid):
            return "no student id (not <student_id>/<file> nor <student_id>__<file>)"
    else:
        sid, name = parts[0], parts[-1]
        if sid in OS_JUNK or not STUDENT_ID.fullmatch(sid):
            return f"folder {sid!r} is not a student id"
    prefix, sep, rest = name.partition(FLAT_SEPARATOR)
    if sep and prefix == sid and rest:
        name = rest  # alice/alice__ps0.ipynb is alice's ps0.ipynb
    named = parts[1:-1] + ([prefix] if sep else [])
    others = sorted({p for p in named if p in roster and p != sid})
    note = (f"names another student ({', '.join(others)}) but is {sid}'s: credited to {sid} only"
            if others else "")
    return sid, name, note


def _skip_reason(info: zipfile.ZipInfo, parts: list[str], name: str, spec: CollectSpec,
                 assignment: str) -> str | None:
    """Why a member credited to a student is still not kept, if it is not."""
    if kind := _kind_problem(info):
        return kind
    if name.startswith(".") or OS_JUNK & set(parts) or any(p.startswith(".") for p in parts):
        return "operating-system or editor metadata (hidden or __MACOSX)"
    if not spec.wants(name):
        listed = ", ".join(spec.notebooks + spec.files)
        return f"not a file {assignment} collects (it collects {listed}, and any *.ipynb)"
    return None


def screen(zf: zipfile.ZipFile, roster: set[str], spec: CollectSpec, report: CollectReport,
           zips: list[Entry] | None = None) -> list[Entry]:
    """Every member worth copying, credited to its student; the rest goes into ``report``.

    With ``zips``, a ``*.zip`` member credited to a student (their own zip, as python -m dgm_utils.submit
    writes it) is appended there, to be opened by :func:`open_student_zip`, instead of being skipped.
    """
    parsed: list[tuple[int, zipfile.ZipInfo, list[str]]] = []
    for i, info in enumerate(zf.infolist()):
        if info.is_dir():
            continue
        parts = _parts(info.filename)
        if isinstance(parts, str):
            report.unmatched.append(Problem(info.filename, parts))
        else:
            parsed.append((i, info, parts))
    top, ambiguous = _wrapper([p for _, _, p in parsed], roster)
    entries: list[Entry] = []
    for i, info, parts in parsed:
        owner = ambiguous or _owner(parts[1:] if top else parts, roster)
        if isinstance(owner, str):
            report.unmatched.append(Problem(info.filename, owner))
            continue
        student, name, note = owner
        if INNER in info.filename:  # it would read as a member inside a student's zip in the report
            shown = info.filename.replace(INNER, "\\x21")  # as reported: not the name of a member inside a zip
            report.skipped.append(Problem(shown, f"reserved character {INNER!r} (shown as \\x21) in the name (collect names "
                                          "members inside a student's zip with it): rename it", student))
            continue
        if zips is not None and name.lower().endswith(".zip") and not spec.wants(name) and not _kind_problem(info):
            zips.append(Entry(info, student, name, i))  # a student's own zip (a listed .zip is kept as a file)
            continue
        if skip := _skip_reason(info, parts, name, spec, report.assignment):
            report.skipped.append(Problem(info.filename, skip, student))
            continue
        if note:
            report.notes.append(Problem(info.filename, note, student))
        entries.append(Entry(info, student, name, i))
    return entries


def _member_count(buf: io.BytesIO) -> int | None:
    """How many members a zip's end record says it has (zip64 too), read before its file list is; None if
    there is no end record."""
    buf.seek(0)
    end = zipfile._EndRecData(buf)  # the stdlib's own reader of the (zip64) end of central directory
    return None if end is None else end[zipfile._ECD_ENTRIES_TOTAL]


def open_student_zip(zf: zipfile.ZipFile, z: Entry, spec: CollectSpec, roster: set[str],
                     report: CollectReport, budget: int) -> tuple[zipfile.ZipFile | None, list[Entry], int]:
    """Open the zip ``z`` a student handed in (read into memory within the per-student cap) and screen its
    members like the LMS zip's. Everything in it is ``z.student``'s, whatever its names say (a name of
    another student is a note, as for mallory/victim__x.ipynb), and is dated by ``z``, the LMS's member:
    the dates inside are the student's to set. A zip inside it is not opened.

    ``budget``: the bytes this student's zips may still hold in memory (the per-student cap, shared by all
    of them). Returns (the open zip or None, its entries, the bytes it holds); what cannot be used is reported."""
    buf = io.BytesIO()
    why = ""
    try:
        with zf.open(z.info) as src:
            while chunk := src.read(CHUNK):
                if buf.tell() + len(chunk) > budget:
                    why = (f"over the {spec.max_student_mb:g} MB per-student limit (all of the student's zips "
                           "together); not opened")
                    break
                buf.write(chunk)
        if not why and (count := _member_count(buf) or 0) > MAX_MEMBERS:
            why = f"{count} members (at most {MAX_MEMBERS} in a student's zip); not opened"
        inner = None if why else zipfile.ZipFile(buf)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError, NotImplementedError,
            struct.error) as err:
        why, inner = f"unreadable zip ({err}); not opened", None
    if inner is None:
        report.skipped.append(Problem(z.info.filename, why, z.student))
        return None, [], 0
    entries: list[Entry] = []
    for j, info in enumerate(inner.infolist()):
        if info.is_dir():
            continue
        where = f"{z.info.filename}{INNER}{info.filename}"
        parts = _parts(info.filename)
        if isinstance(parts, str):
            report.skipped.append(Problem(where, parts, z.student))
            continue
        _, name, note = _owner([z.student, *parts], roster)
        if skip := _skip_reason(info, parts, name, spec, report.assignment):
            report.skipped.append(Problem(where, skip, z.student))
            continue
        if note:
            report.notes.append(Problem(where, note, z.student))
        entries.append(Entry(info, z.student, name, z.index, sub=j + 1, source=inner, outer=z.info))
    return inner, entries, buf.tell()


# --- copying members ------------------------------------------------------------------------------

class _OverCap(Exception):
    pass


def _copy_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, cap: int) -> int:
    """Stream ``info`` into a new file ``dest``, at most ``cap`` bytes; return the bytes written."""
    written = 0
    with zf.open(info) as src, open(dest, "xb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > cap:
                raise _OverCap
            out.write(chunk)
    return written


def member_time(info: zipfile.ZipInfo) -> datetime | None:
    """When a member was last modified, in UTC: Info-ZIP's extended timestamp if present, else its
    DOS date and time (which carry no time zone: read as UTC). None if the zip's date is invalid."""
    extra = info.extra
    try:
        while len(extra) >= 4:
            tag, size = struct.unpack_from("<HH", extra)
            body = extra[4:4 + size]
            if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
                return datetime.fromtimestamp(struct.unpack_from("<i", body, 1)[0], timezone.utc)
            extra = extra[4 + size:]
        return datetime(*info.date_time, tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError, struct.error):
        return None


def _newest_first(entries: list[Entry]) -> list[Entry]:
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(entries, key=lambda e: (member_time(e.dated) or oldest, e.index, e.sub), reverse=True)


def _copy_one(zf: zipfile.ZipFile, e: Entry, dest: Path, cap: int, cap_words: str,
              report: CollectReport) -> int | None:
    """Copy entry ``e`` to ``dest`` within ``cap`` bytes; its size, or None (reported) if it failed."""
    try:
        return _copy_capped(e.source or zf, e.info, dest, cap)
    except _OverCap:
        why = f"over the {cap_words}; skipped (the zip says {e.info.file_size / MB:.1f} MB)"
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
            NotImplementedError) as err:
        why = f"unreadable member ({err}); skipped"
    dest.unlink(missing_ok=True)
    report.skipped.append(Problem(e.path, why, e.student))
    return None


def _tightest(*limits: tuple[int, str]) -> tuple[int, str]:
    """The smallest of some (bytes, words for a report) caps."""
    return min(limits, key=lambda limit: limit[0])


def extract_student(zf: zipfile.ZipFile, entries: list[Entry], spec: CollectSpec, folder: Path,
                    report: CollectReport, zip_left: int) -> tuple[list[str], int]:
    """Copy one student's entries into ``folder`` within the caps; return (names kept, bytes written).

    Of members with the same name the newest that can be read within the caps is kept (of the MAX_TRIES newest). The files
    collect.json lists are copied first, so that they get the per-student budget first.
    ``zip_left`` is what is left of the zip-wide cap.
    """
    by_name: dict[str, list[Entry]] = {}
    for e in entries:
        by_name.setdefault(e.name, []).append(e)
    student_cap = int(spec.max_student_mb * MB)
    budget = student_cap
    kept: list[Entry] = []
    folder.mkdir(parents=True)
    for name in spec.order(set(by_name)):
        candidates = _newest_first(by_name[name])
        winner: Entry | None = None
        for tried, e in enumerate(candidates):
            if winner is not None:
                report.skipped.append(Problem(e.path, f"duplicate {name}: the newer "
                                              f"{_show(winner.path)} was kept", e.student))
                continue
            if tried >= MAX_TRIES:
                report.skipped.append(Problem(e.path, f"duplicate {name}: not read, {MAX_TRIES} newer copies "
                                              "could not be", e.student))
                continue
            cap, words = _tightest(
                spec.cap(name),
                (budget, f"{spec.max_student_mb:g} MB per-student limit (all files together)"),
                (zip_left - (student_cap - budget), "limit for the whole zip (collect.py:MAX_INFLATION)"),
            )
            size = _copy_one(zf, e, folder / name, cap, words, report)
            if size is not None:
                budget -= size
                winner = e
        if winner is not None:
            kept.append(winner)
            if winner is not candidates[0]:
                report.notes.append(Problem(winner.path, f"an older copy of {name}, kept because "
                                            "the newer one could not be", winner.student))
    times = [t for e in kept if (t := member_time(e.dated)) is not None]
    if times:
        (folder / "timestamp.txt").write_text(max(times).strftime(TIMESTAMP_FORMAT))
    elif kept:
        report.notes.append(Problem(kept[0].path, "no valid date in the zip: no timestamp.txt "
                                    "(never counted late)", kept[0].student))
    return sorted(e.name for e in kept), student_cap - budget


# --- installing into submitted/ ---------------------------------------------------------------

def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def install(root: Path, assignment: str, staging: Path, previous: list[str], report: CollectReport) -> None:
    """Replace the folders of the previous collect (``previous``) by those staged."""
    base = root / "submitted"
    new = sorted(p.name for p in staging.iterdir())
    for student in sorted(set(previous) - set(new)):
        _remove(base / student / assignment)
        if (base / student).is_dir() and not any((base / student).iterdir()):
            (base / student).rmdir()
    for student in new:
        dest = base / student / assignment
        if (dest.exists() or dest.is_symlink()) and student not in previous:
            report.notes.append(Problem(f"submitted/{student}/{assignment}/", "was not written by a previous "
                                        "collect (placed by hand?): replaced by the zip's", student))
        _remove(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        (staging / student).rename(dest)


# --- the whole collect ----------------------------------------------------------------------------

def _read_manifest(path: Path) -> list[str]:
    """The students whose submitted/<id>/<assignment>/ the previous collect wrote."""
    try:
        students = json.loads(path.read_text())["students"]
        return [s for s in students if isinstance(s, str) and STUDENT_ID.fullmatch(s)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _open_zip(archive: Path) -> zipfile.ZipFile:
    if not Path(archive).is_file():
        raise CollectError(f"no such zip: {archive}")
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise CollectError(f"{archive} is not a readable zip ({err}): download it again from the LMS") from err


def collect(root: Path, assignment: str, archive: Path, students_csv: Path | None = None) -> CollectReport:
    """Import the roster, copy what each student may hand in from ``archive``, report the rest.

    Raises:
        CollectError: the zip cannot be read, or the assignment or its collect.json is unusable.
    """
    root = Path(root).resolve()
    spec = load_spec(root, assignment)
    report = CollectReport(assignment=assignment)
    with _open_zip(archive) as zf:
        work = root / "downloaded" / assignment
        manifest = work / "collected.json"
        previous = _read_manifest(manifest)
        copy = work.parent / f".{assignment}.zip.partial"  # first: ZIP= may lie inside work/
        work.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(archive, copy)
        _remove(work)
        (work / "archive").mkdir(parents=True)
        manifest.write_text(json.dumps({"students": previous}))
        copy.rename(work / "archive" / Path(archive).name)
        if students_csv is not None:
            report.roster_problems = import_roster(root, Path(students_csv), work / "roster.csv")
        roster = roster_ids(root)

        zips: list[Entry] = []
        entries = screen(zf, roster, spec, report, zips)
        staging = work / "staging"
        staging.mkdir()
        zip_left = int(max(MIN_TOTAL_MB * MB, MAX_INFLATION * Path(archive).stat().st_size))
        for student in sorted({e.student for e in entries + zips}):
            mine = [e for e in entries if e.student == student]
            opened = []  # one student's own zips at a time, all of them within one per-student cap in memory
            held = 0
            for z in (z for z in zips if z.student == student):
                inner, found, size = open_student_zip(zf, z, spec, roster, report, int(spec.max_student_mb * MB) - held)
                held += size
                opened += [inner] if inner else []
                mine += found
            try:
                kept, used = extract_student(zf, mine, spec, staging / student, report, zip_left)
            finally:
                for inner in opened:
                    inner.close()
            zip_left -= used
            if kept:
                report.files[student] = kept
            else:
                shutil.rmtree(staging / student)
    # The manifest lists both collects until the swap is done, so a crash leaves nothing unowned.
    manifest.write_text(json.dumps({"students": sorted(set(previous) | set(report.files))}))
    install(root, assignment, staging, previous, report)
    manifest.write_text(json.dumps({"students": sorted(report.files)}))
    staging.rmdir()

    report.collected = sorted(report.files)
    present = {p.parent.name for p in (root / "submitted").glob(f"*/{assignment}")}
    report.no_submission = sorted(roster - present)
    report.not_on_roster = sorted(set(report.collected) - roster) if roster else []
    report.missing_files = {s: missing for s, names in report.files.items()
                            if (missing := [n for n in spec.notebooks + spec.files if n not in names])}
    write_report(root, report)
    return report


def write_report(root: Path, report: CollectReport) -> Path:
    path = root / "exports" / "collect" / f"{report.assignment}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("assignment")
    p.add_argument("archive", type=Path, help="the LMS zip of submissions")
    p.add_argument("--students", type=Path, help="roster CSV: id,first_name,last_name,email")
    p.add_argument("--root", type=Path, default=REPO)
    a = p.parse_args(argv)
    try:
        report = collect(a.root, a.assignment, a.archive, a.students)
    except CollectError as err:
        print(f"collect: {err}", file=sys.stderr)
        return 2
    print(report.text())
    print(f"report: {Path(a.root).resolve() / 'exports' / 'collect' / (a.assignment + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
