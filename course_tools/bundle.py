"""Build the student zip, dist/<course>-student.zip, and prove it holds nothing it must not.

    python -m course_tools.bundle          # or: make bundle (which runs make release first)

It holds lectures/, assignments/ (the nbgrader release), dgm_utils/, pyproject.toml,
requirements.lock, environment.yml, the Makefile and a student README.md, all under one top
folder. `scan` then reads the zip back and fails on: solutions/, a gradebook, weights
(*.pt, *.pth, *.ckpt, reference/), nbgrader solution or hidden-test markers, or any solution /
hidden-test line of solutions/ inside a released notebook.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import zipfile
from pathlib import Path

from course_tools.nbgrader_course import REPO, SOLUTION_MARKERS, assignment_ids, solution_lines

COURSE_ID = "dgm-lecture1"
INCLUDE = ("lectures", "assignments", "dgm_utils", "pyproject.toml", "requirements.lock",
           "environment.yml", "Makefile")
# Never shipped, wherever they are.
FORBIDDEN = ("solutions/*", "*gradebook.db*", "*.pt", "*.pth", "*.ckpt", "*/reference/*", "submitted/*",
             "autograded/*", "feedback/*", "*/.ipynb_checkpoints/*", "*__pycache__*", "*.pyc", "*.egg-info*",
             "*/.exchange/*", "*/exports/*", "*/mk/*", "*/tests/*", "*/course_tools/*")
# Lecture demo checkpoints are not assignment weights: they let lecture 04 load instead of retrain.
ALLOWED = ("lectures/checkpoints/*.pt",)

STUDENT_README = """\
# Deep Generative Models, lecture 1: student pack

## Setup (once)
You need Python 3.11 and `make` (or conda: `conda env create -f environment.yml`).

    make setup      # builds .venv/ from requirements.lock
    make lab        # JupyterLab on this folder

MNIST is downloaded once into a cache (set DGM_DATA_DIR to choose where).
Notebooks pick the GPU when there is one and run on a CPU otherwise.

## What is here
- `lectures/`: the lecture notebooks (open them in JupyterLab; RISE shows them as slides).
- `assignments/<id>/`: your homework. Fill in every `# YOUR CODE HERE` and `YOUR ANSWER HERE`.
- `dgm_utils/`: the course helpers the notebooks import (data, training, plotting).

## Before you hand in
1. Kernel > Restart Kernel and Run All Cells: it must run top to bottom without errors.
2. Validate in JupyterLab (the nbgrader "Validate" button), or in a terminal:
   `.venv/bin/nbgrader validate assignments/<id>/<id>.ipynb`
   The visible tests must pass. Hidden tests, run at grading time, check more.
3. Do not rename the notebook, delete cells or change the test cells: test cells are restored
   from the original when grading, so edits to them are lost.
4. Upload the notebook to the LMS as `<id>.ipynb` (the LMS puts it in a folder with your id).
   For hw2_autoregressive also upload the checkpoint files the notebook saves next to itself:
   grading loads them and never retrains.
"""


def _members(root: Path) -> list[tuple[Path, str]]:
    out = []
    for item in INCLUDE:
        src = root / item
        if src.is_file():
            out.append((src, item))
        elif src.is_dir():
            out += [(p, str(p.relative_to(root))) for p in sorted(src.rglob("*")) if p.is_file()]
        else:
            raise SystemExit(f"{src} is missing: the student zip needs it (run `make release` for assignments/).")
    return out


def forbidden(name: str) -> str | None:
    """The FORBIDDEN pattern ``name`` (a path inside the zip) matches, or None."""
    if any(fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(name, "*/" + pat) for pat in ALLOWED):
        return None
    for pat in FORBIDDEN:
        if fnmatch.fnmatch(name, pat) or fnmatch.fnmatch("/" + name, "*/" + pat):
            return pat
    return None


def build(root: Path = REPO, dest: Path | None = None) -> Path:
    """Write dist/<course>-student.zip from ``root``; return its path."""
    root = Path(root).resolve()
    released = {p.name for p in (root / "assignments").iterdir() if p.is_dir()} if (root / "assignments").exists() else set()
    missing = sorted(set(assignment_ids(root)) - released) if (root / "solutions").exists() else []
    if missing:
        raise SystemExit(f"assignments/ lacks {', '.join(missing)}: run `make release` first.")
    dest = dest or root / "dist" / f"{COURSE_ID}-student.zip"
    dest.parent.mkdir(parents=True, exist_ok=True)
    top = f"{COURSE_ID}-student"
    tmp = dest.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for src, name in _members(root):
            if forbidden(name) is None:
                zf.write(src, f"{top}/{name}")
        zf.writestr(f"{top}/README.md", STUDENT_README)
    tmp.replace(dest)
    return dest


def scan(zip_path: Path, root: Path = REPO) -> list[str]:
    """Every reason ``zip_path`` must not go to students (empty list: it is clean)."""
    problems = []
    secret = set()
    if (root / "solutions").exists():
        for a in assignment_ids(root):
            # A line the source also gives outside the markers (provided code) is no secret.
            secret |= solution_lines(root / "solutions" / a)
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            inner = name.split("/", 1)[1] if "/" in name else name
            if (pat := forbidden(inner)) is not None:
                problems.append(f"{name}: forbidden file ({pat})")
                continue
            if not name.endswith((".ipynb", ".py", ".md", ".txt", ".json", ".yml", ".toml")):
                continue
            text = zf.read(name).decode("utf-8", errors="replace")
            for marker in SOLUTION_MARKERS:
                if marker in text:
                    problems.append(f"{name}: contains the nbgrader marker {marker!r}")
            if inner.startswith("assignments/") and name.endswith(".ipynb"):
                problems += [f"{name}: contains a solution line: {line}" for line in sorted(secret) if line in text]
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, default=REPO)
    a = p.parse_args(argv)
    path = build(a.root)
    problems = scan(path, a.root)
    if problems:
        path.unlink()
        print("The student zip would leak; it was deleted:\n  " + "\n  ".join(problems[:30]), file=sys.stderr)
        return 1
    with zipfile.ZipFile(path) as zf:
        n = len(zf.namelist())
    print(f"{path} ({n} files, {path.stat().st_size / 1e6:.1f} MB): no solutions, hidden tests, weights or gradebook.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
