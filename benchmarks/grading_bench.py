"""Benchmark the TA grading pipeline against stock nbgrader on one synthetic class, one run.

    python benchmarks/grading_bench.py                     # 100 hw1 submissions: stock vs make autograde JOBS=2
    python benchmarks/grading_bench.py --assignment hw2_autoregressive --n 1 \
        --checkpoints solutions/hw2_autoregressive/reference --no-stock

A throw-away copy of the course is made; the class mixes (MIX) correct submissions (the source
notebook, solutions in place), wrong ones (the release, every task unanswered) and broken ones
(os._exit, malformed JSON, empty file, sys.exit). The same class is graded twice:

- **stock**: ``nbgrader autograde <assignment> --force``, nbgrader's own command: one process,
  serial, no sandbox, verdicts computed in the student's kernel;
- **ours**: ``make autograde``'s command (``python -m course_tools.autograde --jobs J``):
  sandboxed kernels, clean-room verdicts, limits, J jobs each pinned to its share of the cores
  (one core each when J >= the cores; a job's kernel and clean room run side by side).

It reports both wall times, the throughput ratio (stock wall / ours wall), and the per-submission
overhead beyond the notebook's own compute: ours' mean time for a correct submission (its slot)
minus one plain nbclient execution of the solution (no nbgrader, no sandbox, no clean room).
Results go to benchmarks/results/grading_<assignment>.json. Timings on a shared machine are only
as good as its load, which is recorded (os.getloadavg) before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from course_tools.nbgrader_course import copy_course, generate, nbgrader, tool_env  # noqa: E402
from course_tools.state import state_dir  # noqa: E402

# Every 20 submissions: 11 correct, 5 wrong (the release), 4 broken; mixed from the start so
# that a small --n has all kinds too.
MIX = ("correct", "wrong", "correct", "os_exit", "correct", "wrong", "correct", "malformed", "correct", "correct",
       "wrong", "correct", "empty", "correct", "wrong", "correct", "sys_exit", "correct", "wrong", "correct")


def make_class(root: Path, assignment: str, n: int, checkpoints: Path | None) -> dict[str, str]:
    """Write n submissions under root/submitted, kinds cycling through MIX; return student -> kind."""
    source = root / "solutions" / assignment / f"{assignment}.ipynb"
    release = root / "assignments" / assignment / f"{assignment}.ipynb"
    kinds = {}
    for i in range(n):
        kind = MIX[i % len(MIX)]
        student = f"s{i:03d}_{kind}"
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nb = json.loads((release if kind == "wrong" else source).read_text())
        if kind in ("os_exit", "sys_exit"):
            # Into a solution cell: locked cells are restored from the source by autograde.
            first_code = next(c for c in nb["cells"] if c["cell_type"] == "code"
                              and c["metadata"].get("nbgrader", {}).get("solution"))
            first_code["source"] = ("import os\nos._exit(1)\n" if kind == "os_exit" else "import sys\nsys.exit(2)\n") \
                + "".join(first_code["source"])
        text = json.dumps(nb)
        text = {"malformed": text[: len(text) // 2], "empty": ""}.get(kind, text)
        (folder / f"{assignment}.ipynb").write_text(text)
        (folder / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC")
        if checkpoints and kind == "correct":
            for f in checkpoints.iterdir():
                if f.is_file():
                    shutil.copy2(f, folder / f.name)
        kinds[student] = kind
    return kinds


def notebook_compute_s(root: Path, assignment: str, env: dict[str, str], checkpoints: Path | None) -> float:
    """Seconds to execute the solution notebook once with nbclient (no nbgrader, no sandbox)."""
    import nbformat
    from nbclient import NotebookClient

    work = Path(tempfile.mkdtemp(prefix="bench-nb-"))
    try:
        shutil.copy2(root / "solutions" / assignment / f"{assignment}.ipynb", work)
        if checkpoints:
            for f in checkpoints.iterdir():
                if f.is_file():
                    shutil.copy2(f, work / f.name)
        nb = nbformat.read(work / f"{assignment}.ipynb", as_version=4)
        old = dict(os.environ)
        os.environ.update({"NBGRADER_EXECUTION": "autograde", **env})
        try:
            start = time.perf_counter()
            NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}},
                           allow_errors=True).execute()
            return time.perf_counter() - start
        finally:
            os.environ.clear()
            os.environ.update(old)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def phase_seconds(root: Path, assignment: str, students: list[str]) -> dict[str, float]:
    """Mean seconds of the two phases of a grading job (nbgrader with its kernel; the clean room),
    read from the lines course_tools.gradejob writes to each student's log."""
    kernel, clean = [], []
    for s in students:
        log = state_dir(root, assignment) / "logs" / f"{s}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        kernel += [float(m) for m in re.findall(r"gradejob: nbgrader autograde exit 0 in ([0-9.]+) s", text)]
        clean += [float(m) for m in re.findall(r"gradejob: clean room .*? in ([0-9.]+) s", text)]
    mean = lambda xs: round(sum(xs) / len(xs), 2) if xs else None  # noqa: E731
    return {"nbgrader_and_kernel_s": mean(kernel), "clean_room_s": mean(clean)}


def make_autograde_command(assignment: str, jobs: int) -> list[str]:
    """The command `make autograde` runs (as `make -n` prints it), without its PATH= prefix."""
    out = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO), "autograde",
                          f"ASSIGNMENT={assignment}", f"JOBS={jobs}"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    line = next(x for x in out.splitlines() if "course_tools.autograde" in x).replace("\\", " ")
    words = shlex.split(line)
    return words[next(i for i, w in enumerate(words) if not ("=" in w and not w.startswith("-"))):]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--assignment", default="hw1_foundations")
    p.add_argument("--n", type=int, default=100, help="submissions (default %(default)s)")
    p.add_argument("--jobs", type=int, default=2, help="parallel processes (default %(default)s)")
    p.add_argument("--checkpoints", type=Path, help="files copied into every correct submission (hw2)")
    p.add_argument("--fast", action="store_true", help="grade with DGM_FAST=1 (CI-sized notebooks)")
    p.add_argument("--no-stock", action="store_true", help="only our run")
    a = p.parse_args(argv)
    env = {"DGM_FAST": "1"} if a.fast else {}
    checkpoints = (REPO / a.checkpoints).resolve() if a.checkpoints and not a.checkpoints.is_absolute() else a.checkpoints
    load_before = os.getloadavg()
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        base = copy_course(Path(tmp) / "base")
        generate(base, a.assignment)
        kinds = make_class(base, a.assignment, a.n, checkpoints)
        compute = notebook_compute_s(base, a.assignment, env, checkpoints)
        correct = [s for s, k in kinds.items() if k == "correct"]
        if not a.no_stock:
            root = Path(tmp) / "stock"
            shutil.copytree(base, root)
            start = time.perf_counter()
            proc = nbgrader(root, "autograde", a.assignment, "--force", env=env, timeout=24 * 3600, check=False)
            wall = time.perf_counter() - start
            graded = {p.parent.name for p in (root / "autograded").glob(f"*/{a.assignment}")}
            runs["stock"] = {"command": f"nbgrader autograde {a.assignment} --force", "exit": proc.returncode,
                             "wall_s": round(wall, 1), "per_submission_s": round(wall / a.n, 2),
                             "autograded_folders": len(graded)}
        root = Path(tmp) / "ours"
        shutil.copytree(base, root)
        cmd = make_autograde_command(a.assignment, a.jobs) + ["--root", str(root)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=tool_env(env), stdout=subprocess.DEVNULL, timeout=24 * 3600)
        wall = time.perf_counter() - start
        summary = json.loads((state_dir(root, a.assignment) / "summary.json").read_text())
        students = summary["students"]
        full = sum(1 for s in correct if students[s]["score"] == students[s]["max_score"])
        per_correct = [students[s]["seconds"] for s in correct]
        wrong_zero = sum(1 for s, k in kinds.items() if k == "wrong" and students[s]["score"] == 0)
        runs["ours"] = {"command": " ".join(cmd[1:]).replace(str(root), "<copy>"), "exit": proc.returncode,
                        "jobs": a.jobs, "wall_s": round(wall, 1), "per_submission_s": round(wall / a.n, 2),
                        "correct_mean_s": round(sum(per_correct) / max(1, len(per_correct)), 2),
                        # the two run side by side in a job (course_tools/gradejob.py)
                        "correct_phases": phase_seconds(root, a.assignment, correct),
                        "counts": summary["counts"], "correct_with_full_marks": f"{full}/{len(correct)}",
                        "wrong_with_zero": f"{wrong_zero}/{sum(1 for k in kinds.values() if k == 'wrong')}"}
    result = {"assignment": a.assignment, "n": a.n, "fast": a.fast, "cpu_count": os.cpu_count(),
              "load_before": load_before, "load_after": os.getloadavg(), "mix": dict(sorted(
                  {k: list(kinds.values()).count(k) for k in set(kinds.values())}.items())),
              "notebook_compute_s": round(compute, 1), "runs": runs,
              # one correct submission on one core, minus the bare execution of the same notebook
              "overhead_per_submission_s": round(runs["ours"]["correct_mean_s"] - compute, 2)}
    if "stock" in runs:
        result["throughput_vs_stock"] = round(runs["stock"]["wall_s"] / runs["ours"]["wall_s"], 2)
    out = REPO / "benchmarks" / "results" / f"grading_{a.assignment}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
