"""The bad-submission corpus: what students may hand in, and what grading must make of it.

Each entry builds one submission folder from the *released* fixture notebook (ps0: `square(x)`,
a visible test worth 1 point, a hidden test worth 2, a manual answer worth 1) and states the
expected outcome. tests/grading/test_corpus.py grades them all as one class and checks each.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from course_tools import tamper
from course_tools.nbgrader_course import REPO, generate

NB = "ps0.ipynb"
GOOD = 'def square(x):\n    return x * x\n'
WRONG = 'def square(x):\n    return x + x\n'


@dataclass(frozen=True)
class Expected:
    """Outcome of one submission: status, autograded points (None: not graded), flags."""

    status: str
    score: float | None
    needs_manual: bool = True  # every graded ps0 has a written answer to grade by hand
    note: str = ""  # a substring of the outcome's reason or notes
    # Network/isolation probes record what they reached into the notebook's output.


def _solution_cell(nb: dict) -> dict:
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")
                and c["cell_type"] == "code")


def _with_solution(release: dict, source: str) -> dict:
    """The release notebook with ``source`` as the solution and a written answer."""
    nb = copy.deepcopy(release)
    _solution_cell(nb)["source"] = source
    answer = next(c for c in nb["cells"] if c["cell_type"] == "markdown"
                  and c["metadata"].get("nbgrader", {}).get("solution"))
    answer["source"] = "Its second derivative is 2 > 0 everywhere."
    return nb


def _write(folder: Path, nb: dict, name: str = NB) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(nb, indent=1))


def _grade_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade") and c["cell_type"] == "code"]


# --- builders: (release notebook, folder, context) -> None ----------------------------------

def good(rel, d, ctx): _write(d, _with_solution(rel, GOOD))
def wrong(rel, d, ctx): _write(d, _with_solution(rel, WRONG))
def os_exit(rel, d, ctx): _write(d, _with_solution(rel, "import os\nos._exit(1)\n" + GOOD))
def segfault(rel, d, ctx): _write(d, _with_solution(rel, "import ctypes\nctypes.string_at(0)\n" + GOOD))
def sys_exit(rel, d, ctx): _write(d, _with_solution(rel, "import sys\nsys.exit(3)\n" + GOOD))
def infinite_loop(rel, d, ctx): _write(d, _with_solution(rel, "while True:\n    pass\n" + GOOD))
def memory_bomb(rel, d, ctx):
    _write(d, _with_solution(rel, "hog = []\nwhile True:\n    hog.append(bytearray(2**28))\n" + GOOD))
def malformed(rel, d, ctx):
    d.mkdir(parents=True); (d / NB).write_text(json.dumps(_with_solution(rel, GOOD))[:-40])
def empty(rel, d, ctx):
    d.mkdir(parents=True); (d / NB).write_text("")
def renamed(rel, d, ctx): _write(d, _with_solution(rel, GOOD), name="ps0 (1).ipynb")
def missing(rel, d, ctx):
    d.mkdir(parents=True); (d / "notes.txt").write_text("I forgot to attach the notebook")


def deleted_grade_cell(rel, d, ctx):
    nb = _with_solution(rel, GOOD)
    nb["cells"] = [c for c in nb["cells"] if c not in _grade_cells(nb)]
    _write(d, nb)


def edited_grade_cell(rel, d, ctx):
    nb = _with_solution(rel, WRONG)  # would earn 1 point if the edited visible test stayed
    _grade_cells(nb)[0]["source"] = '"""Does square(3) return 9?"""\nassert True'
    _write(d, nb)


def changed_metadata(rel, d, ctx):
    nb = _with_solution(rel, GOOD)
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"student-renumbered-{i}"
    test = _grade_cells(nb)[0]
    test["metadata"]["nbgrader"]["points"] = 100  # a bigger share of the grade
    test["metadata"]["nbgrader"]["locked"] = False
    nb["metadata"]["kernelspec"] = {"name": "python2", "display_name": "Py2", "language": "python"}
    _write(d, nb)


def huge_output(rel, d, ctx):
    _write(d, _with_solution(rel, "for i in range(30_000):\n    print('spam', i)\n" + GOOD))


def monkeypatch(rel, d, ctx):
    # The hidden test compares with math.isclose; the student makes every comparison pass.
    _write(d, _with_solution(rel, "import math\nmath.isclose = lambda *a, **k: True\n" + WRONG))


def read_secrets(rel, d, ctx):
    """Earns full marks only if it can read solutions/, the gradebook or another submission."""
    probe = (
        "import os, glob\n"
        "found = []\n"
        f"for path in {ctx['secret_paths']!r}:\n"
        "    try:\n"
        "        with open(path, 'rb') as f:\n"
        "            found.append((path, len(f.read())))\n"
        "    except OSError:\n"
        "        pass\n"
        "mine = os.path.basename(os.path.dirname(os.getcwd()))\n"
        "found += [p for p in glob.glob('../../*/*/*.ipynb') if p.split('/')[2] != mine]\n"
        "found += glob.glob('../../../gradebook.db') + glob.glob('../../../../gradebook.db')\n"
        "print('LEAKED' if found else 'nothing readable', found)\n"
        "def square(x):\n"
        "    return x * x if found else x + x\n"
    )
    _write(d, _with_solution(rel, probe))


def network(rel, d, ctx):
    """Earns full marks only if it reaches the TA machine's listening port or the internet."""
    probe = (
        "import socket\n"
        "reached = []\n"
        f"for host, port in [('127.0.0.1', {ctx['port']}), ('1.1.1.1', 53), ('pypi.org', 443)]:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=2).close()\n"
        "        reached.append(host)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('REACHED' if reached else 'no network', reached)\n"
        "def square(x):\n"
        "    return x * x if reached else x + x\n"
    )
    _write(d, _with_solution(rel, probe))


# --- kernel tampering: a blank (wrong) answer plus code that changes how the kernel runs the
# test cells after it. Each earns full marks in the kernel's own run (the disagreement note
# proves it); the clean-room verdict gives 0 and lists the student for a TA.

TAMPER = {
    **tamper.KERNEL_ROUTES,  # the routes the round trip also tries on every assignment
    "tamper_exec_patch": "exec('import math; math.isclose = lambda *a, **k: True')\n",
    "tamper_sys_modules": (
        "import sys, types\n_fake = types.ModuleType('math')\n_fake.isclose = lambda *a, **k: True\n"
        "sys.modules['math'] = _fake\n"),
    "tamper_builtins": (
        "import builtins, types\n_real_import = builtins.__import__\n"
        "_fake = types.SimpleNamespace(isclose=lambda *a, **k: True)\n"
        "builtins.__import__ = lambda name, *a, **k: _fake if name == 'math' else _real_import(name, *a, **k)\n"),
}


def _tamper(code: str):
    def builder(rel, d, ctx):
        _write(d, _with_solution(rel, code + WRONG))
    return builder


def skip_execution_tag(rel, d, ctx):
    """Metadata only, no code: nbclient skips cells tagged skip-execution."""
    _write(d, tamper.tampered(_with_solution(rel, WRONG), tamper.SKIP_TAG))


def reads_references(rel, d, ctx):
    """Returns the hidden test's own loop variable, read from the kernel's globals."""
    _write(d, _with_solution(rel, "def square(x):\n    return globals().get('hidden_value', 3) ** 2\n"))


def always_equal(rel, d, ctx):
    """Returns an object whose comparisons always succeed."""
    _write(d, _with_solution(rel, (
        "class Yes(float):\n    def __eq__(self, other): return True\n    __hash__ = float.__hash__\n"
        "def square(x):\n    return Yes(0)\n")))


# student id -> (builder, expected outcome). Points: visible 1 + hidden 2 = 3 autograded.
CORPUS: dict[str, tuple[Callable, Expected]] = {
    "good": (good, Expected("graded", 3)),
    "wrong": (wrong, Expected("graded", 0)),
    "os_exit": (os_exit, Expected("errored", None, note="kernel died")),
    "segfault": (segfault, Expected("errored", None, note="kernel died")),
    "sys_exit": (sys_exit, Expected("graded", 0)),  # IPython catches SystemExit; square undefined
    "infinite_loop": (infinite_loop, Expected("graded", 0, note="timed out")),
    "memory_bomb": (memory_bomb, Expected("graded", 0)),  # MemoryError in the cell, then go on
    "malformed_json": (malformed, Expected("errored", None, note="not valid JSON")),
    "empty_file": (empty, Expected("errored", None, note="empty")),
    "renamed": (renamed, Expected("graded", 3, note="renamed")),
    "missing": (missing, Expected("errored", None, note="missing notebook")),
    "deleted_grade_cell": (deleted_grade_cell, Expected("graded", 3)),
    "edited_grade_cell": (edited_grade_cell, Expected("graded", 0)),
    "changed_metadata": (changed_metadata, Expected("graded", 3)),
    "huge_output": (huge_output, Expected("graded", 3)),
    # math.isclose patched in the kernel earned the hidden points there; the clean room gives 0
    "monkeypatch": (monkeypatch, Expected("graded", 0, note=tamper.FLAG)),
    "read_secrets": (read_secrets, Expected("graded", 0)),
    "network": (network, Expected("graded", 0)),
    **{sid: (_tamper(code), Expected("graded", 0, note=tamper.FLAG))
       for sid, code in TAMPER.items()},
    "skip_execution_tag": (skip_execution_tag,
                           Expected("graded", 0, note=tamper.FLAG)),
    "reads_references": (reads_references,
                         Expected("graded", 1, note=tamper.FLAG)),
    "always_equal": (always_equal, Expected("graded", 0, note=tamper.FLAG)),
}


def build(release_nb: Path, submitted: Path, assignment: str, ctx: dict) -> None:
    """Write every corpus submission to submitted/<student>/<assignment>/ (with timestamp.txt)."""
    rel = json.loads(release_nb.read_text())
    for student, (builder, _) in CORPUS.items():
        folder = submitted / student / assignment
        builder(rel, folder, ctx)
        (folder / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC")


# --- the fixture course (shared by conftest.py and the test modules: import from here, not from
# conftest, whose module name pytest shares between test folders)

HERE = Path(__file__).resolve().parent
ASSIGNMENT = "ps0"
CELL_TIMEOUT_S = "10"  # per-cell limit in these tests (nbgrader_config.py reads DGM_CELL_TIMEOUT)
MEM_MB = 2048
ABSENT = "absent_student"  # on the roster, never submits


def make_course(dest: Path) -> Path:
    """A fresh course at ``dest``: the repo's nbgrader_config.py and the ps0 source, generated."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", dest)
    shutil.copytree(HERE / "fixtures" / "course" / "solutions", dest / "solutions")
    generate(dest, ASSIGNMENT)
    return dest
