"""One hostile class, end to end, through the TA's own make targets.

A copy of the whole repo (its Makefile, course_tools/, dgm_utils/, solutions/ plus the ps0
fixture) is the course. A TA home folder and a folder of other TA files sit beside it. Then:

    make release; make collect (ps0 and hw2 LMS zips); make autograde JOBS=2;
    make feedback; make export; make bundle

The ps0 zip holds good submissions beside one of each attack: zip members that used to abort
collect (duplicate, zip slip, over-long name, symlink, zip bomb, a file that names a classmate),
a spreadsheet roster, and kernels that try to escape (remount, write to the venv, the course
code, the data, the TA's files), plant links and active HTML for nbgrader and feedback, flood
the grader's pipes with bytes that are not UTF-8, fill their scratch, hog the CPU, tamper with
the kernel, or crash. The hw2 zip holds one submission with its checkpoints and one without,
while the instructor's own checkpoints lie beside the source notebook (a full-mode run).

The tests check what issue 12 asks of the whole: good submissions keep full marks, every attack
gets its stated outcome, the batch finishes, the gradebook and TA files are intact, feedback
holds only sanitised HTML, and nothing outside the course folder changes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest

import grading_corpus as gc
from course_tools import tamper
from course_tools.gradebook import scores
from course_tools.nbgrader_course import REPO, course_id, tool_env
from test_collect import Member, write_zip
from test_feedback_attacks import ACTIVE_IN_BODY, SENTINEL, body, mathjax_copy

pytestmark = pytest.mark.slow

HW2 = "hw2_autoregressive"
TA_SECRET = "TA_PRIVATE_HOSTILE_9K"
PWNED = "PWNED_BY_A_STUDENT"
# id -> (status, autograded points) for ps0 (visible 1 + hidden 2 = 3 points)
PS0_OUTCOMES = {
    "alice": ("graded", 3), "bob": ("graded", 3), "dave": ("graded", 3), "carol": ("graded", 0),
    "escaper": ("graded", 3), "planter": ("graded", 3), "flooder": ("graded", 3), "hog": ("graded", 3),
    "tamperer": ("graded", 0), "mallory": ("graded", 0), "crasher": ("errored", None),
    # writes into its own clean-room channel: the grader reads a broken reply, fails safe, flags it
    "jammer": ("graded", 0),
}
ON_ROSTER_ONLY = ("erin", "zed")
# What `make release/feedback` itself leaves in the TA's $HOME (folders, then file prefixes).
TA_TOOL_CACHES = {"home", "home/.cache", "home/.cache/matplotlib", "home/.config", "home/.config/matplotlib",
                  "home/.ipython", "home/.jupyter", "home/.jupyter/migrated"}
TA_TOOL_CACHE_FILES = ("home/.cache/matplotlib/fontlist-",)  # their only members are refused (a symlink, a zip bomb)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(base: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every path under ``base`` (except under ``skip``) -> (mode, size, mtime, sha of files), links not followed."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        if skip is not None:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            digest = _sha(p) if p.is_file() and not p.is_symlink() else ""
            out[p.relative_to(base).as_posix()] = (oct(st.st_mode), st.st_size, st.st_mtime_ns, digest)
    return out


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def copy_repo(dest: Path) -> Path:
    """The repo's files that git tracks or would (as in the working tree), mtimes kept; .venv linked."""
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"], capture_output=True, check=True,
                           timeout=60).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / ".venv").symlink_to(REPO / ".venv")
    shutil.copytree(gc.HERE / "fixtures" / "course" / "solutions" / gc.ASSIGNMENT, dest / "solutions" / gc.ASSIGNMENT)
    return dest


def make(course: Path, env: dict[str, str], target: str, **variables: str) -> subprocess.CompletedProcess:
    """`make TARGET` in the course, as a TA types it."""
    return subprocess.run(["make", "--no-print-directory", "-C", str(course), target,
                           *[f"{k}={v}" for k, v in variables.items()]],
                          env=env, capture_output=True, text=True, timeout=900)


# --- the submissions -------------------------------------------------------------------------

def _nb(release: dict, code: str) -> str:
    return json.dumps(gc._with_solution(release, code))


def kernel_attacks(course: Path, world: Path, data: Path) -> dict[str, str]:
    """Solution-cell code of the kernel attackers (each also answers correctly unless stated)."""
    targets = [course / "gradebook.db", course / "solutions" / gc.ASSIGNMENT / "ps0.ipynb",
               course / "dgm_utils" / "__init__.py", REPO / "dgm_utils" / "__init__.py",
               Path(os.__file__), world / "home" / "notes.txt", world / "outside" / "ta.txt",
               *sorted(data.iterdir())[:1], course / "submitted" / "alice" / gc.ASSIGNMENT / "ps0.ipynb"]
    escape = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "got = []\n"
        f"for path in {[str(t) for t in targets]!r}:\n"
        "    for d in (path, os.path.dirname(path)):\n"
        "        if libc.mount(None, d.encode(), None, 32 | 4096 | 16384, None) == 0:  # MS_REMOUNT|MS_BIND|MS_REC\n"
        "            got.append(('remount', d))\n"
        "    if not os.path.exists(path):\n"
        "        continue  # not even visible\n"
        "    try:\n"
        "        with open(path, 'a') as f:\n"
        f"            f.write({PWNED[:5]!r} + {PWNED[5:]!r})\n"
        "        got.append(('wrote', path))\n"
        "    except OSError:\n"
        "        pass\n"
        "    try:\n"
        "        os.chmod(path, 0o777); got.append(('chmod', path))\n"
        "    except OSError:\n"
        "        pass\n"
        f"for home in ('~', {str(world / 'home')!r}):\n"
        "    try:\n"
        "        d = os.path.join(os.path.expanduser(home), '.ipython/profile_default/startup')\n"
        "        os.makedirs(d, exist_ok=True)\n"
        "        open(os.path.join(d, 'evil.py'), 'w').write('print(1)')\n"
        "    except OSError:\n"
        "        pass\n"
        "print('ESCAPED' if got else 'contained', got)\n"
    )
    secret_view = [str(world / "home" / "notes.txt"), str(course / "gradebook.db"),
                   str(course / "solutions" / gc.ASSIGNMENT / "ps0.ipynb"),
                   str(course / "submitted" / "alice" / gc.ASSIGNMENT / "ps0.ipynb")]
    plant = (
        "import os\n"
        f"for i, target in enumerate({secret_view!r} + ['../../alice/ps0/ps0.ipynb', '/etc/passwd']):\n"
        "    for name in (f'link{i}.html', f'link{i}.txt', f'link{i}.ipynb'):\n"
        "        try:\n"
        "            os.symlink(target, name)\n"
        "        except OSError:\n"
        "            pass\n"
        "for name in ('ps0.html', 'gradebook.db', 'feedback.html'):\n"
        "    try:\n"
        "        with open(name, 'w') as f:\n"
        f"            f.write('<scr' + 'ipt>alert(1)</scr' + 'ipt>' + {PWNED[:5]!r} + {PWNED[5:]!r})\n"
        "    except OSError:\n"
        "        pass\n"
        "from IPython.display import HTML, display\n"
        # built at run time: the student's own source, which feedback shows as text, holds no payload
        f"display(HTML('<scr' + 'ipt>document.title=\"' + {PWNED[:5]!r} + {PWNED[5:]!r} + '\"</scr' + 'ipt>'\n"
        "             '<img src=x on' + 'error=alert(1)>'))\n"
    )
    # The flood aims at nbgrader's pipes, so it runs in the kernel only (ipykernel loaded); in the
    # clean-room worker the same writes would reach the worker's own channel (the jammer below).
    flood = (
        "import os, sys\n"
        "if 'ipykernel' in sys.modules:\n"
        "    os.write(1, b'\\xff\\xfe\\xc3\\x28 not utf-8 \\n'); os.write(2, b'\\xff\\xfe\\n')\n"
        "    for path in ('/proc/self/fd/1', '/proc/self/fd/2', '/proc/1/fd/1', '/proc/1/fd/2'):\n"
        "        try:\n"
        "            with open(path, 'wb') as f:\n"
        "                f.write(b'\\xff\\xfe' * 1000)\n"
        "        except OSError:\n"
        "            pass\n"
        "    print('y' * 5_000_000)\n"
        "    written = 0\n"
        "    try:\n"
        "        with open('fill.bin', 'wb') as f:\n"
        "            while written < 300_000_000:\n"
        "                f.write(b'\\0' * 10_000_000); written += 10_000_000\n"
        "    except OSError:\n"
        "        pass\n"
        "    print('filled', written)\n"
    )
    jam = ("import os\n"
           "for path in ('/proc/1/fd/1', '/proc/self/fd/1'):\n"
           "    try:\n"
           "        with open(path, 'wb') as f:\n"
           "            f.write(b'\\xff' * 64)\n"
           "    except OSError:\n"
           "        pass\n")
    hog = ("import threading, hashlib\n"
           "def spin():\n"
           "    while True:\n"
           "        hashlib.sha256(b'x' * 10_000).digest()\n"
           "for _ in range(2):\n"
           "    threading.Thread(target=spin, daemon=True).start()\n")
    return {"escaper": escape + gc.GOOD, "planter": plant + gc.GOOD, "flooder": flood + gc.GOOD, "jammer": jam + gc.GOOD,
            "hog": hog + gc.GOOD, "tamperer": tamper.KERNEL_ROUTES["tamper_input_transformer"] + gc.WRONG,
            "crasher": "import os\nos._exit(1)\n" + gc.GOOD}


def ps0_zip(course: Path, world: Path, data: Path) -> Path:
    release = json.loads((course / "assignments" / gc.ASSIGNMENT / "ps0.ipynb").read_text())
    good, wrong = _nb(release, gc.GOOD), _nb(release, gc.WRONG)
    members = [
        Member("alice/ps0.ipynb", good),
        Member("bob__ps0.ipynb", good),
        Member("carol/ps0.ipynb", wrong),
        Member("dave/ps0.ipynb", wrong, date_time=(2026, 1, 1, 0, 0, 0)),  # duplicate: the newer wins
        Member("dave/ps0.ipynb", good, date_time=(2026, 1, 3, 0, 0, 0)),
        Member("mallory/alice__ps0.ipynb", wrong),  # names a classmate: still mallory's
        Member("../../outside/slip.txt", PWNED),
        Member(f"{world}/outside/abs.txt", PWNED),
        Member("alice/" + "x" * 300 + ".ipynb", good),
        Member("erin/ps0.ipynb", str(world / "home" / "notes.txt"), mode=0o120777),
        Member("zed/ps0.ipynb", b"{" + b" " * 60_000_000 + b"}"),  # 60 MB of spaces: a bomb
    ]
    members += [Member(f"{sid}/ps0.ipynb", _nb(release, code))
                for sid, code in kernel_attacks(course, world, data).items()]
    return write_zip(world / "incoming" / "ps0.zip", members)


def roster(world: Path, ids: list[str]) -> Path:
    """A roster as a spreadsheet saves it: BOM, CRLF, quoted ids."""
    lines = ["id,first_name,last_name,email"] + [f'"{s}",{s.title()},X,{s}@x.org' for s in ids]
    path = world / "incoming" / "students.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    return path


def hw2_zip(course: Path, world: Path) -> Path:
    reference = REPO / "solutions" / HW2 / "reference"
    solution = (REPO / "solutions" / HW2 / f"{HW2}.ipynb").read_text()
    members = [Member(f"hsol/{HW2}.ipynb", solution), Member(f"hnock__{HW2}.ipynb", solution)]
    members += [Member(f"hsol/{f.name}", f.read_bytes()) for f in sorted(reference.glob("*.bin"))]
    return write_zip(world / "incoming" / "hw2.zip", members)


def gradebook_scores(course: Path) -> dict[tuple[str, str], float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {(a.name, sub.student.id): sub.score for a in gb.assignments for sub in a.submissions}


# --- the run ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile(tmp_path_factory, mnist_dir):
    # Outside /tmp: inside the sandbox /tmp is a private tmpfs, so a host path under it could be
    # "written" there without reaching the host, and the escape probe could not tell.
    base = Path("/var/tmp") if os.access("/var/tmp", os.W_OK) else tmp_path_factory.getbasetemp()
    world = Path(tempfile.mkdtemp(prefix="dgm-hostile-", dir=base))
    for folder, text in (("home", "notes.txt"), ("outside", "ta.txt")):
        (world / folder).mkdir()
        (world / folder / text).write_text(TA_SECRET)
    (world / "incoming").mkdir()
    course = copy_repo(world / "course")
    env = tool_env({"HOME": str(world / "home"), "DGM_DATA_DIR": str(mnist_dir), "DGM_FAST": "1",
                    "DGM_CELL_TIMEOUT": "60"})
    env.pop("PYTHONPATH", None)
    runs = {"release": make(course, env, "release")}
    assert runs["release"].returncode == 0, runs["release"].stdout[-3000:] + runs["release"].stderr[-3000:]
    # The instructor ran the hw2 source in full mode: its checkpoints lie beside it.
    for f in (REPO / "solutions" / HW2 / "reference").glob("*.bin"):
        shutil.copy2(f, course / "solutions" / HW2 / f.name)
    ps0_ids = sorted([*PS0_OUTCOMES, *ON_ROSTER_ONLY])
    zips = {gc.ASSIGNMENT: ps0_zip(course, world, mnist_dir), HW2: hw2_zip(course, world)}
    students = roster(world, ps0_ids + ["hnock", "hsol"])
    world_before = snapshot(world, skip=course)
    data_before, repo_before = snapshot(mnist_dir), snapshot(REPO / "dgm_utils")
    course_code_before = {d: snapshot(course / d) for d in ("dgm_utils", "course_tools", "solutions")}
    for a in (gc.ASSIGNMENT, HW2):
        runs[f"collect {a}"] = make(course, env, "collect", ASSIGNMENT=a, ZIP=str(zips[a]), STUDENTS=str(students))
        runs[f"autograde {a}"] = make(course, env, "autograde", ASSIGNMENT=a, JOBS="2")
        runs[f"feedback {a}"] = make(course, env, "feedback", ASSIGNMENT=a)
    runs["export"] = make(course, env, "export")
    scores_after_grading = gradebook_scores(course)
    runs["bundle"] = make(course, env, "bundle")
    summaries = {a: json.loads(p.read_text()) if (p := course / "exports" / "grading" / a / "summary.json").exists()
                 else {"students": {}, "needs_manual": []} for a in (gc.ASSIGNMENT, HW2)}
    grades = {}
    if (course / "grades.csv").exists():
        with open(course / "grades.csv", newline="", encoding="utf-8") as f:
            grades = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    result = {"world": world, "course": course, "runs": runs, "summaries": summaries, "grades": grades,
            "world_changed": _changed(world_before, snapshot(world, skip=course)),
            "data_changed": _changed(data_before, snapshot(mnist_dir)),
            "repo_changed": _changed(repo_before, snapshot(REPO / "dgm_utils")),
            "course_code_changed": {d: _changed(b, snapshot(course / d)) for d, b in course_code_before.items()},
            "scores_after_grading": scores_after_grading}
    yield result
    if not os.environ.get("DGM_KEEP_HOSTILE_WORLD"):
        shutil.rmtree(world, ignore_errors=True)


def test_every_make_target_finished(hostile):
    """Did collect, autograde, feedback, export and bundle each exit 0 on the hostile class?"""
    failed = {k: (r.returncode, (r.stdout + r.stderr)[-1500:]) for k, r in hostile["runs"].items() if r.returncode}
    assert not failed, f"expected every make target to exit 0, these did not: {failed}"


def test_collect_reported_every_bad_member(hostile):
    """Did collect skip and report each bad member, credit nobody with a classmate's name, and keep the newer duplicate?"""
    text = hostile["runs"][f"collect {gc.ASSIGNMENT}"].stdout
    for member in ("../../outside/slip.txt", "abs.txt", "x" * 40, "erin/ps0.ipynb", "zed/ps0.ipynb"):
        assert member in text, f"expected collect to report {member!r}, its report:\n{text[-3000:]}"
    collected = json.loads((hostile["course"] / "exports" / "collect" / f"{gc.ASSIGNMENT}.json").read_text())["collected"]
    assert sorted(collected) == sorted(PS0_OUTCOMES), f"expected {sorted(PS0_OUTCOMES)} collected, got {collected}"
    alice = hostile["course"] / "submitted" / "alice" / gc.ASSIGNMENT
    assert sorted(p.name for p in alice.iterdir()) == ["ps0.ipynb", "timestamp.txt"], list(alice.iterdir())


@pytest.mark.parametrize("student", sorted(PS0_OUTCOMES))
def test_ps0_outcome(hostile, student):
    """Does each ps0 student get the stated status and points, in the summary, the gradebook and grades.csv?"""
    status, points = PS0_OUTCOMES[student]
    got = hostile["summaries"][gc.ASSIGNMENT]["students"][student]
    assert (got["status"], got["score"]) == (status, points), (
        f"{student}: expected {status} {points}, got {got['status']} {got['score']} ({got['reason']}; {got['notes']})")
    row = hostile["grades"][(gc.ASSIGNMENT, student)]
    assert row["grading_status"] == status, f"{student}: grades.csv says {row['grading_status']}, expected {status}"
    if points is None:
        assert row["score"] == "", f"{student}: expected no score in grades.csv, got {row['score']!r}"
    else:
        assert scores(hostile["course"], gc.ASSIGNMENT, student).code_score == points, f"{student}: gradebook differs"


def test_attacks_are_flagged_for_a_ta(hostile):
    """Are the tamperer (forged kernel verdicts), the crasher and the renamed classmate file listed under Needs a TA?"""
    summary = hostile["summaries"][gc.ASSIGNMENT]
    tamperer = summary["students"]["tamperer"]
    assert any(tamper.FLAG in n for n in tamperer["notes"]), f"expected the forged-verdict flag, got {tamperer['notes']}"
    assert {"tamperer", "crasher", "jammer"} <= set(summary["needs_manual"]), summary["needs_manual"]
    jammer = " ".join(summary["students"]["jammer"]["notes"])
    assert "WorkerFailed" in jammer or "clean-room grading failed" in jammer, f"expected the jammed channel flagged, got {jammer}"
    assert any("renamed" in n for n in summary["students"]["mallory"]["notes"]), summary["students"]["mallory"]


def test_kernels_escaped_nothing(hostile):
    """Did the escaper's remounts and writes all fail, and the hog not push anyone past a limit?"""
    nb = json.loads((hostile["course"] / "autograded" / "escaper" / gc.ASSIGNMENT / "ps0.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "contained []" in printed, f"expected every escape to fail, the kernel printed: {printed[:800]}"
    slow = {s: o["notes"] for s, o in hostile["summaries"][gc.ASSIGNMENT]["students"].items()
            if any("timed out" in n for n in o["notes"])}
    assert not slow, f"expected no cell to time out beside the hog, got {slow}"


def test_nothing_outside_the_course_changed(hostile):
    """Are the TA's home, the files beside the course, the data, the repo's dgm_utils and the course code unchanged?"""
    # The TA's own tools (nbconvert, matplotlib) keep caches in $HOME; nothing else may appear.
    stray = [p for p in hostile["world_changed"] if p not in TA_TOOL_CACHES and not p.startswith(TA_TOOL_CACHE_FILES)]
    assert not stray, f"changed outside the course: {stray}"
    assert not hostile["data_changed"], f"the data folder changed: {hostile['data_changed']}"
    assert not hostile["repo_changed"], f"the repo's dgm_utils changed: {hostile['repo_changed']}"
    code = {d: c for d, c in hostile["course_code_changed"].items() if c}
    allowed = {f"{HW2}/{f.name}" for f in (REPO / "solutions" / HW2 / "reference").glob("*.bin")}
    code["solutions"] = [p for p in code.get("solutions", []) if p not in allowed]
    assert not any(code.values()), f"the course's code or source changed: {code}"


def test_gradebook_intact(hostile):
    """Is the gradebook a plain file holding every rostered student, unchanged by feedback and bundle?"""
    db = hostile["course"] / "gradebook.db"
    assert db.is_file() and not db.is_symlink(), "the gradebook is not a plain file"
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        ids = {s.id for s in gb.students}
    want = {*PS0_OUTCOMES, *ON_ROSTER_ONLY, "hnock", "hsol"}
    assert want <= ids, f"students missing from the gradebook: {want - ids}"
    assert gradebook_scores(hostile["course"]) == hostile["scores_after_grading"], "make bundle changed the grades"


def test_feedback_is_only_sanitised_html(hostile):
    """Is every file under feedback/ a plain HTML page with no script, no hidden test and no planted content?"""
    course = hostile["course"]
    files = [p for p in (course / "feedback").rglob("*") if p.is_symlink() or not mathjax_copy(course, p)]
    pages = [p for p in files if p.is_file()]
    assert pages, "no feedback was written"
    odd = [str(p) for p in files if p.is_symlink() or (p.is_file() and p.suffix != ".html")]
    assert not odd, f"expected only HTML pages (and their MathJax) under feedback/, found {odd}"
    for page in pages:
        text = page.read_text(errors="replace")
        for bad in (SENTINEL, TA_SECRET, PWNED, "SQLite format"):
            assert bad not in text, f"{page}: contains {bad!r}"
        text = body(page).lower()
        # an event handler is an attribute inside a tag ("AssertionError" in a message is not one)
        found = [m.group(0) for m in re.finditer(r"<[a-z][^>]*\son[a-z]+\s*=", text)]
        found += [a for a in ACTIVE_IN_BODY if not a.startswith("on") and a in text]
        assert not found, f"{page}: active content in the body: {found[:5]}"


def test_disk_use_stays_bounded(hostile):
    """Did the flooder's 300 MB scratch file and 5 MB line leave the course folder small?"""
    course = hostile["course"]
    # The feedback folders' MathJax (2 MB each, course_tools.mathjax) is the course's own, not the flooder's.
    used = sum(p.stat().st_size for p in course.rglob("*") if p.is_file() and not p.is_symlink()
               and not mathjax_copy(course, p))
    assert used < 60_000_000, f"the course folder grew to {used / 1e6:.0f} MB"


def test_hw2_from_an_lms_zip(hostile):
    """hw2 from a zip: the student with checkpoints gets full marks; the one without loses the NLL points and needs a TA,
    although the instructor's checkpoints lie beside the source."""
    students = hostile["summaries"][HW2]["students"]
    full = students["hsol"]
    assert full["status"] == "graded" and full["score"] == full["max_score"] > 0, (
        f"expected hsol graded with full marks, got {full['status']} {full['score']}/{full['max_score']} "
        f"({[c for c, v in full['by_cell'].items() if not v]})")
    bare = students["hnock"]
    assert bare["status"] == "graded" and bare["score"] <= full["max_score"] - 7, (
        f"expected hnock to lose at least the 7 NLL points, got {bare['score']}/{bare['max_score']}")
    assert any("submitted without" in n for n in bare["notes"]), bare["notes"]
    assert "hnock" in hostile["summaries"][HW2]["needs_manual"]
    assert not list((hostile["course"] / "submitted" / "hnock" / HW2).glob("*.bin")), "hnock was given checkpoints"


def test_student_bundle_ships_the_real_dgm_utils(hostile):
    """Is the student zip's dgm_utils byte for byte the repo's (no kernel wrote into it)?"""
    archive = hostile["course"] / "dist" / f"{course_id(hostile['course'])}-student.zip"
    with zipfile.ZipFile(archive) as zf:
        shipped = {n: zf.read(n) for n in zf.namelist() if "/dgm_utils/" in f"/{n}" and n.endswith(".py")}
    assert shipped, f"no dgm_utils in {archive}"
    for name, data in shipped.items():
        rel = name[name.index("dgm_utils/"):]
        assert data == (REPO / rel).read_bytes(), f"{name} in the student zip differs from the repo's"
