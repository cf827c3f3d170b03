"""Work on a course with nbgrader: throw-away copies, the nbgrader CLI, gradebook scores.

The tests and the TA scripts use these so that nothing grades inside the real repo by accident.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from course_tools import markers

REPO = Path(__file__).resolve().parent.parent

# What a course copy needs: config, source, release, and the lectures the notebooks may cite.
COURSE_ITEMS = ("nbgrader_config.py", "solutions", "assignments")

SOLUTION_MARKERS = markers.MARKERS  # the marker lines no release, feedback page or bundle may contain


def course_config(root: Path = REPO):
    """The course's nbgrader configuration (root/nbgrader_config.py), loaded as nbgrader loads it."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def course_id(root: Path = REPO) -> str:
    """The course id, defined once: nbgrader_config.py's CourseDirectory.course_id."""
    return str(course_config(root).CourseDirectory.course_id)


def assignment_ids(root: Path = REPO) -> list[str]:
    """Every assignment in solutions/: a folder holding at least one notebook."""
    source = root / "solutions"
    return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def copy_course(dest: Path, root: Path = REPO, items: tuple[str, ...] = COURSE_ITEMS) -> Path:
    """Copy the course (config, solutions/, assignments/) into ``dest``; return ``dest``.

    Ignored state (gradebook, submitted/, checkpoints of a local run) is not copied.
    """
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc", "gradebook.db")
    for item in items:
        src = root / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=ignore, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dest / item)
    return dest


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with its interpreter's bin folder first on PATH, this repo
    first on PYTHONPATH, plus ``extra``.

    nbgrader and JupyterLab run helper executables by name (alembic, jupyter, kernels): they must
    find this environment's, also when called as ``.venv/bin/python`` without an activated venv.
    A course copy's nbgrader_config.py imports course_tools (policy, execute_limits, feedback):
    it finds this repo's.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def nbgrader(root: Path, *args: str, timeout: float = 900, env: dict[str, str] | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader ARGS`` in course root ``root`` with this interpreter's nbgrader."""
    full_env = tool_env(env)
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root, env=full_env, capture_output=True, text=True, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(args)} failed (exit {result.returncode}) in {root}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def generate(root: Path, assignment: str) -> Path:
    """``nbgrader generate_assignment`` into root/assignments/<assignment>; return that folder."""
    nbgrader(root, "generate_assignment", assignment, "--force")
    return root / "assignments" / assignment


def submit(root: Path, assignment: str, student: str, files_from: Path) -> Path:
    """Place the files of ``files_from`` as ``student``'s submission of ``assignment``."""
    dest = root / "submitted" / student / assignment
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(files_from, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (dest / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC")
    return dest


def autograde(root: Path, assignment: str, student: str, env: dict[str, str] | None = None) -> None:
    """Autograde one student's submission exactly as ``make autograde`` does (sandboxed kernel,
    clean-room verdicts; course_tools.autograde), creating the student in the gradebook.

    There is no second, unsandboxed path: the round trip, the tests and the TA all grade here.
    """
    from course_tools.autograde import grade_class

    summary = grade_class(root, assignment, 1, students=[student], force=True, env=env, progress=False)
    outcome = summary.students[student]
    if outcome.status != "graded":
        raise RuntimeError(f"autograde of {student} in {root} ended {outcome.status}: {outcome.reason}")


def notebook_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def marked_lines(source_dir: Path, regions: tuple[str, ...] = ("SOLUTION", "HIDDEN TESTS")) -> set[str]:
    """Non-trivial lines that the source notebooks write only inside the given marker regions.

    A line counts when it is at least 12 characters, not a comment, stands between
    ``### BEGIN <region>`` and ``### END <region>``, and never appears outside those regions
    (so a line the release legitimately shares, such as a stub's signature, is not a secret).
    """
    inside_lines: set[str] = set()
    outside_lines: set[str] = set()
    for nb_path in sorted(source_dir.glob("*.ipynb")):
        for cell in notebook_json(nb_path)["cells"]:
            rest = "".join(cell["source"])
            for region in regions:
                inside_lines.update(line.strip() for line in markers.inside(rest, region))
                rest = "\n".join(markers.outside(rest, region))
            outside_lines.update(line.strip() for line in rest.splitlines())
    return {line for line in inside_lines - outside_lines if len(line) >= 12 and not line.startswith("#")}


def solution_lines(source_dir: Path) -> set[str]:
    """Lines written only between solution or hidden-test markers in a source folder."""
    return marked_lines(source_dir)
