"""Build the student zip, dist/<course>-student.zip, and prove it holds nothing it must not.

    python -m course_tools.bundle          # or: make bundle (which runs make release first)

It holds lectures/, assignments/ (the nbgrader release), dgm_utils/, pyproject.toml,
requirements.lock, environment.yml, LICENSE, a Makefile (mk/student.mk: setup, lab, check, submit) and a student
README.md, all under one top
folder. Only regular files go in: `build` refuses a symlink anywhere in those trees (zipping
would follow it and ship its target).

`scan` then reads the zip back, every member whatever its name or type, with the one scanner
the feedback check uses (course_tools.feedback.scan_members), and fails on: a forbidden path
(solutions/, a gradebook or any *.db, weights: *.pt, *.pth, *.ckpt, *.bin, reference/), a
symlink member, a path that climbs out of the folder, an nbgrader solution or hidden-test
marker, and any solution or hidden-test line of solutions/ in any member except the few lines
of PUBLIC_LINES that the lectures teach in the open.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import stat
import sys
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterator

from course_tools import policy
from course_tools.feedback import MAX_SCAN_BYTES, Member, scan_members, secret_lines
from course_tools.nbgrader_course import REPO, SOLUTION_MARKERS, assignment_ids, course_id

INCLUDE = ("lectures", "assignments", "dgm_utils", "pyproject.toml", "requirements.lock",
           "environment.yml", "LICENSE")
# Shipped under another name: the student's part of the course's Makefile (setup, lab, check) is
# the pack's whole Makefile; the course's own (test, release, lock, grading) cannot work there.
RENAMED = {"mk/student.mk": "Makefile"}
# Never shipped, wherever they are, but for the lecture's demo checkpoints: course_tools.policy.
FORBIDDEN, ALLOWED = policy.NEVER_SHIPPED, policy.SHIPPED_WEIGHTS
# Lines that solutions/ writes only between markers but the lectures and dgm_utils also show:
# generic code, taught in the open, so no leak where the zip has them. The scan reports any other
# overlap; add a line here only after checking that it gives nothing of an answer away.
PUBLIC_LINES = frozenset({
    "rng = np.random.default_rng(seed)",  # lecture 01; hw1's own docstring says to write it
    "opt.zero_grad()",  # lecture 03 and dgm_utils/training.py: any training loop (hw1)
    "loss.backward()",
    "self.net = nn.Sequential(",  # lecture 04: the opening of any torch model (hw2)
    # dgm_utils/cleanroom/standins.py (hw2's stand-in models) reshapes samples the way every hw2
    # sampler does; the line gives no answer away (the docstrings state the shape).
    "return x.reshape(num_samples, 1, SIDE, SIDE)",
    # dgm_utils/cleanroom/library.py documents the harness call hw1's hidden tests make.
    "with lib.quiet():",
})

STUDENT_README = """\
# Deep Generative Models, lecture 1: student pack

## Setup (once)
You need Python 3.11 and `make` (or conda: `conda env create -f environment.yml`).

    make setup      # builds .venv/ from requirements.lock
    make lab        # JupyterLab on this folder

MNIST is downloaded once into a cache (set DGM_DATA_DIR to choose where).
Notebooks pick the GPU when there is one and run on a CPU otherwise.

## What is here
- `lectures/`: the lecture notebooks (open them in JupyterLab).
- `assignments/<id>/`: your homework. Fill in every `# YOUR CODE HERE` and `YOUR ANSWER HERE`.
- `dgm_utils/`: the course helpers the notebooks import (data, training, plotting).

## Before you hand in
1. Kernel > Restart Kernel and Run All Cells, then save the notebook (Ctrl+S).
2. Run the notebook's last cell again (or `python -m dgm_utils.submit <id> --student <your id>`
   in the notebook's folder). It checks the saved run and the files the assignment needs (hw2:
   the checkpoints the notebook saves next to itself; grading loads them and never retrains),
   runs the visible tests the way the grader runs them (`make check NB=assignments/<id>/<id>.ipynb`
   runs them alone), and writes `<your id>__<id>.zip` beside the notebook.
3. Do not rename the notebook, delete cells or change the test cells: test cells are restored
   from the original when grading, so edits to them are lost.
4. Upload that zip to the LMS. Hidden tests, run when the TA grades, check more.

The notebooks also run outside this folder (Colab, Kaggle, any Jupyter): their first code cell
installs the course's helper package where it is missing.
"""


def _members(root: Path) -> list[tuple[Path, str]]:
    """(file, name in the zip) for every regular file of INCLUDE; SystemExit on a symlink."""
    out, links = [], []
    for item, name in RENAMED.items():
        if (root / item).is_symlink() or not (root / item).is_file():
            raise SystemExit(f"{root / item} is missing or not a regular file: the student zip needs it.")
        out.append((root / item, name))
    for item in INCLUDE:
        src = root / item
        if src.is_symlink():
            links.append(item)
        elif src.is_file():
            out.append((src, item))
        elif src.is_dir():
            for dirpath, dirnames, filenames in os.walk(src):  # never follows a link
                here = Path(dirpath)
                for name in sorted(dirnames + filenames):
                    rel = str((here / name).relative_to(root))
                    if (here / name).is_symlink() and forbidden(rel) is None:
                        links.append(rel)
                dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
                out += [(here / f, str((here / f).relative_to(root))) for f in sorted(filenames)
                        if not (here / f).is_symlink() and (here / f).is_file()]
        else:
            raise SystemExit(f"{src} is missing: the student zip needs it (run `make release` for assignments/).")
    if links:
        raise SystemExit("Symlinks in what the student zip would hold (it takes regular files only; zipping "
                         "would ship the target): " + ", ".join(links))
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
    members = _members(root)  # refuses a symlink before anything is written
    top = f"{course_id(root)}-student"
    dest = dest or root / "dist" / f"{top}.zip"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for src, name in members:
            if forbidden(name) is None:
                zf.write(src, f"{top}/{name}")
        zf.writestr(f"{top}/README.md", STUDENT_README)
    tmp.replace(dest)
    return dest


def zip_members(zf: zipfile.ZipFile) -> Iterator[Member]:
    """Every file of ``zf`` as a scanner Member (a symlink entry is one; folders are skipped)."""
    for info in zf.infolist():
        if info.is_dir():
            continue
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip records no Unix type
        if kind == stat.S_IFLNK:
            yield Member(info.filename, "symbolic link")
        elif kind not in (0, stat.S_IFREG):
            yield Member(info.filename, "special file")
        else:
            yield Member(info.filename, "file", zf.read(info) if info.file_size <= MAX_SCAN_BYTES else None)


def rejected(name: str) -> str | None:
    """Why the zip member ``name`` must not be shipped, by its path alone (None: it may be)."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        return "a path outside the zip's folder"
    inner = name.split("/", 1)[1] if "/" in name else name
    pat = forbidden(inner)
    return None if pat is None else f"forbidden file ({pat})"


def scan(zip_path: Path, root: Path = REPO) -> list[str]:
    """Every reason ``zip_path`` must not go to students (empty list: it is clean)."""
    secret: dict[str, str] = {}
    if (root / "solutions").exists():
        for a in assignment_ids(root):
            # A line the source also gives outside the markers (provided code) is no secret.
            secret.update(secret_lines(root / "solutions" / a))
    secret = {line: kind for line, kind in secret.items() if line not in PUBLIC_LINES}
    with zipfile.ZipFile(zip_path) as zf:
        return scan_members(zip_members(zf), lambda name: secret, rejected, markers=SOLUTION_MARKERS)


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
