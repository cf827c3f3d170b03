"""Does collect turn an LMS zip into submitted/ and report who and what is off?

The attacks on collect (hostile members, misplaced files, zip bombs, spreadsheet rosters) are in
test_collect_attacks.py, which shares the helpers defined here: a fresh ps0 fixture course per
test, a zip writer that sets dates and file modes, and a check that collect wrote nowhere else.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from grading_corpus import ASSIGNMENT, make_course
from course_tools.collect import collect
from dgm_utils.scoring import CHECKPOINT_LIMIT_MB, HW2_CHECKPOINT_FILES
from course_tools.nbgrader_course import REPO, generate, tool_env

slow = pytest.mark.slow

ROSTER = ("id,first_name,last_name,email\n"
          "alice,Alice,A,a@x.org\nbob,Bob,B,b@x.org\ncarol,Carol,C,c@x.org\n")
WHEN = (2026, 1, 2, 3, 4, 6)  # a zip member's date_time

# What collect may write in a course: its own folders, its report, and the roster in the gradebook.
ALLOWED_WRITES = ("course/submitted", "course/downloaded", "course/exports/collect", "course/gradebook.db")


# --- helpers shared with test_collect_attacks.py ---------------------------------------------

@pytest.fixture(scope="module")
def course_template(tmp_path_factory) -> Path:
    """The ps0 fixture course, generated once per test module."""
    return make_course(tmp_path_factory.mktemp("collect-template") / "course")


@pytest.fixture
def course(course_template, tmp_path) -> Path:
    """A private copy of the fixture course at tmp_path/course, with a sentinel file beside it."""
    root = tmp_path / "course"
    shutil.copytree(course_template, root)
    (tmp_path / "sentinel.txt").write_text("untouched")
    return root


def notebook(root: Path, **metadata: str) -> str:
    """The released ps0 notebook as text, with ``metadata`` added to tell copies apart."""
    nb = json.loads((root / "assignments" / ASSIGNMENT / "ps0.ipynb").read_text())
    nb["metadata"].update(metadata)
    return json.dumps(nb)


@dataclass
class Member:
    """One member of a test zip."""

    name: str
    data: bytes | str = ""
    date_time: tuple[int, int, int, int, int, int] = WHEN
    mode: int | None = None  # st_mode stored in external_attr, e.g. stat.S_IFLNK | 0o777
    extra: bytes = b""  # extra fields (e.g. the extended timestamp)


def write_zip(path: Path, members: list[Member]) -> Path:
    """A zip holding ``members`` in order (duplicate names allowed), deflated."""
    import warnings

    with zipfile.ZipFile(path, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": that is the point of some tests
        for m in members:
            info = zipfile.ZipInfo(m.name, date_time=m.date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            if m.mode is not None:
                info.create_system = 3  # Unix: external_attr holds st_mode
                info.external_attr = m.mode << 16
            info.extra = m.extra
            zf.writestr(info, m.data)
    return path


def write_roster(tmp_path: Path, text: str | bytes = ROSTER) -> Path:
    path = tmp_path / "students.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def snapshot(base: Path) -> dict[str, tuple[str, int, int]]:
    """Every path under ``base`` -> (kind, size, mtime_ns) (folders: kind only), links not followed."""
    out: dict[str, tuple[str, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            rel = path.relative_to(base).as_posix()
            out[rel] = ("dir", 0, 0) if path.is_dir() and not path.is_symlink() else \
                (oct(st.st_mode), st.st_size, st.st_mtime_ns)
    return out


def assert_confined(tmp_path: Path, before: dict[str, tuple[str, int, int]]) -> None:
    """Collect changed nothing in tmp_path but submitted/, downloaded/, exports/collect/ and the gradebook."""
    after = snapshot(tmp_path)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    stray = [p for p in changed if not p.startswith(ALLOWED_WRITES) and p != "course/exports"]
    assert not stray, f"collect wrote outside submitted/ and downloaded/: {stray}"
    assert (tmp_path / "sentinel.txt").read_text() == "untouched", "the sentinel beside the course was changed"


def assert_plain_files(folder: Path) -> None:
    """Nothing under ``folder`` is a symlink, a device, a pipe or a socket."""
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            assert not path.is_symlink(), f"{path} is a symlink"
            assert path.is_dir() or path.is_file(), f"{path} is a special file"


def reported(report, member: str, *words: str) -> str:
    """The report line that names ``member`` and gives a reason with all of ``words`` in it."""
    text = report.text()
    lines = [line for line in text.splitlines() if member in line]
    assert lines, f"{member!r} is not in the report:\n{text}"
    hits = [line for line in lines if all(w.lower() in line.lower() for w in words)]
    assert hits, f"{member!r} is reported without a reason mentioning {words}:\n" + "\n".join(lines)
    return hits[0]


def submitted(root: Path, student: str) -> Path:
    return root / "submitted" / student / ASSIGNMENT


def make_collect_command(zip_path: Path, students: Path, assignment: str = ASSIGNMENT) -> list[str]:
    """The command `make collect` runs (as `make -n` prints it), to be run in the repo root."""
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(REPO), "collect", f"ASSIGNMENT={assignment}",
         f"ZIP={zip_path}", f"STUDENTS={students}"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    lines = [line for line in out.splitlines() if "course_tools.collect" in line]
    assert len(lines) == 1, f"expected one course_tools.collect command in `make -n collect`:\n{out}"
    return shlex.split(lines[0])


def run_cli(root: Path, zip_path: Path, students: Path) -> subprocess.CompletedProcess[str]:
    """`make collect`'s own command line, pointed at the course ``root`` with --root."""
    cmd = make_collect_command(zip_path, students) + ["--root", str(root)]
    return subprocess.run(cmd, cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=300)


# --- tests -------------------------------------------------------------------------------------

@slow
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


@slow
def test_checkpoints_are_collected_and_missing_ones_reported(course, tmp_path):
    """With a collect.json listing a .bin file, is it kept beside the notebook and its absence reported?"""
    (course / "solutions" / ASSIGNMENT / "collect.json").write_text(json.dumps(
        {"notebooks": ["ps0.ipynb"], "files": ["model_state.bin"], "max_file_mb": 0.01}))
    nb, weights = notebook(course), os.urandom(4000)
    archive = write_zip(tmp_path / "hw.zip", [
        Member("alice/ps0.ipynb", nb), Member("alice/model_state.bin", weights),
        Member("bob__ps0.ipynb", nb), Member("bob__model_state.bin", weights[::-1]),  # flat names
        Member("carol/ps0.ipynb", nb),  # forgot the checkpoint
        Member("dave/ps0.ipynb", nb), Member("dave/model_state.bin", os.urandom(20_000)),  # over 10 kB
    ])
    report = collect(course, ASSIGNMENT, archive, write_roster(tmp_path, ROSTER + "dave,Dave,D,d@x.org\n"))
    assert report.collected == ["alice", "bob", "carol", "dave"], report.text()
    assert (submitted(course, "alice") / "model_state.bin").read_bytes() == weights, "alice's checkpoint not kept"
    assert (submitted(course, "bob") / "model_state.bin").read_bytes() == weights[::-1], "bob's flat checkpoint not kept"
    assert not (submitted(course, "dave") / "model_state.bin").exists(), "dave's oversized checkpoint was kept"
    reported(report, "dave/model_state.bin", "limit")
    assert report.missing_files == {"carol": ["model_state.bin"], "dave": ["model_state.bin"]}, report.missing_files
    assert "MISSING FILES" in report.text()
    saved = json.loads((course / "exports" / "collect" / f"{ASSIGNMENT}.json").read_text())
    assert saved["missing_files"] == report.missing_files, "the JSON report lacks the missing files"
    assert saved["collected"] == report.collected


def test_course_collect_json_matches_the_notebooks():
    """Does each assignment's collect.json list its notebook, and hw2's the checkpoints its notebook loads, within its limit?"""
    from course_tools.collect import load_spec

    for assignment in ("hw1_foundations", "hw2_autoregressive"):
        assert (REPO / "solutions" / assignment / "collect.json").is_file(), f"{assignment} has no collect.json"
        spec = load_spec(REPO, assignment)
        assert spec.notebooks == (f"{assignment}.ipynb",), spec
    assert load_spec(REPO, "hw1_foundations").files == ()
    spec = load_spec(REPO, "hw2_autoregressive")
    assert spec.files == HW2_CHECKPOINT_FILES, f"collect.json lists {spec.files}, the notebook loads {HW2_CHECKPOINT_FILES}"
    assert spec.max_file_mb == CHECKPOINT_LIMIT_MB, (
        f"collect.json caps checkpoints at {spec.max_file_mb} MB, the notebook at {CHECKPOINT_LIMIT_MB} MB")


def test_collect_json_reads_python_values_and_names_a_missing_one(course):
    """Is "py:module:NAME" read from the module, and a name that does not exist a CollectError saying so?"""
    from course_tools.collect import CollectError, load_spec

    spec_path = course / "solutions" / ASSIGNMENT / "collect.json"
    spec_path.write_text(json.dumps({"notebooks": ["ps0.ipynb"], "files": "py:dgm_utils.scoring:HW2_CHECKPOINT_FILES"}))
    assert load_spec(course, ASSIGNMENT).files == HW2_CHECKPOINT_FILES
    spec_path.write_text(json.dumps({"notebooks": ["ps0.ipynb"], "files": "py:dgm_utils.scoring:NO_SUCH_NAME"}))
    with pytest.raises(CollectError, match="NO_SUCH_NAME"):
        load_spec(course, ASSIGNMENT)


@slow
def test_collect_json_is_not_released(course):
    """Does nbgrader generate_assignment leave collect.json out of the student release?"""
    (course / "solutions" / ASSIGNMENT / "collect.json").write_text('{"notebooks": ["ps0.ipynb"]}')
    generate(course, ASSIGNMENT)
    assert (course / "assignments" / ASSIGNMENT / "ps0.ipynb").is_file()
    assert not (course / "assignments" / ASSIGNMENT / "collect.json").exists(), "collect.json was released"


def test_make_collect_runs_the_module():
    """Does `make collect` run `python -m course_tools.collect ASSIGNMENT ZIP --students STUDENTS` (what these tests run)?"""
    cmd = make_collect_command(Path("/x/lms.zip"), Path("/x/students.csv"), "hw2_autoregressive")
    assert Path(cmd[0]).name.startswith("python"), cmd
    assert cmd[1:] == ["-m", "course_tools.collect", "hw2_autoregressive", "/x/lms.zip", "--students", "/x/students.csv"], cmd
    recipe = (REPO / "mk" / "grading.mk").read_text()
    assert "-m course_tools.collect $(ASSIGNMENT) $(ZIP)" in recipe, "mk/grading.mk's collect recipe changed"


@slow
def test_make_collect_command_finishes_a_bad_zip(course, tmp_path):
    """Through `make collect`'s command line: exit 0, a report on stdout and in exports/, for a zip with bad members?"""
    import stat

    nb = notebook(course)
    archive = write_zip(tmp_path / "lms.zip", [
        Member("alice/ps0.ipynb", nb), Member("bob__ps0.ipynb", nb),
        Member("../../../../../sentinel.txt", "pwned"),
        Member("mallory/ps0.ipynb", "/etc/passwd", mode=stat.S_IFLNK | 0o777),
    ])
    roster = write_roster(tmp_path, ROSTER + "mallory,M,M,m@x.org\n")
    before = snapshot(tmp_path)
    proc = run_cli(course, archive, roster)
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert "collected: 2 student(s)" in proc.stdout, proc.stdout
    assert "../../../../../sentinel.txt" in proc.stdout and "symbolic link" in proc.stdout, proc.stdout
    assert json.loads((course / "exports" / "collect" / f"{ASSIGNMENT}.json").read_text())["collected"] == ["alice", "bob"]
    assert_confined(tmp_path, before)


@slow
@pytest.mark.parametrize("content", [b"this is not a zip", b"PK\x03\x04 truncated"], ids=["not-a-zip", "truncated"])
def test_unreadable_zip_exits_2(course, tmp_path, content):
    """Is a zip that cannot be read a clear message and exit 2, with nothing collected?"""
    archive = tmp_path / "broken.zip"
    archive.write_bytes(content)
    proc = run_cli(course, archive, write_roster(tmp_path))
    assert proc.returncode == 2, f"exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert "zip" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (course / "submitted").exists()
