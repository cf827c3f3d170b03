"""Benchmark the TA grading pipeline: a synthetic class graded serially and in parallel, one run.

    python benchmarks/grading_bench.py                                   # 100 hw1 submissions, jobs 1 vs 2
    python benchmarks/grading_bench.py --assignment hw2_autoregressive --n 20 \
        --checkpoints solutions/hw2_autoregressive/reference --no-serial

A throw-away copy of the course is made; the class mixes (MIX) correct submissions (the source
notebook, solutions in place), wrong ones (the release, every task unanswered) and broken ones
(os._exit, malformed JSON, empty file, sys.exit). The same class is graded with --jobs 1 and
with --jobs J (sandboxed, as `make autograde` does). It reports wall times, the speed-up, the
per-submission time, and the per-submission overhead: serial time per submission minus the
notebook's own compute (one plain nbclient execution of the solution, no nbgrader, no sandbox).
Results go to benchmarks/results/grading_<assignment>.json. Timings on a shared machine are
only as good as its load, which is recorded (os.getloadavg) before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from course_tools import autograde as ag  # noqa: E402
from course_tools.nbgrader_course import copy_course, nbgrader  # noqa: E402

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--assignment", default="hw1_foundations")
    p.add_argument("--n", type=int, default=100, help="submissions (default %(default)s)")
    p.add_argument("--jobs", type=int, default=2, help="parallel processes (default %(default)s)")
    p.add_argument("--checkpoints", type=Path, help="files copied into every correct submission (hw2)")
    p.add_argument("--fast", action="store_true", help="grade with DGM_FAST=1 (CI-sized notebooks)")
    p.add_argument("--no-serial", action="store_true", help="only the parallel run")
    p.add_argument("--no-sandbox", action="store_true")
    a = p.parse_args(argv)
    env = {"DGM_FAST": "1"} if a.fast else {}
    checkpoints = (REPO / a.checkpoints).resolve() if a.checkpoints and not a.checkpoints.is_absolute() else a.checkpoints
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        base = copy_course(Path(tmp) / "base")
        nbgrader(base, "generate_assignment", a.assignment, "--force", env=ag._env())
        kinds = make_class(base, a.assignment, a.n, checkpoints)
        compute = notebook_compute_s(base, a.assignment, env, checkpoints)
        runs = {}
        for jobs in ([] if a.no_serial else [1]) + [a.jobs]:
            root = Path(tmp) / f"jobs{jobs}"
            shutil.copytree(base, root)
            start = time.perf_counter()
            summary = ag.grade_class(root, a.assignment, jobs, use_sandbox=not a.no_sandbox, env=env)
            wall = time.perf_counter() - start
            correct = [s for s, k in kinds.items() if k == "correct"]
            full = sum(1 for s in correct if summary["students"][s]["score"] == summary["students"][s]["max_score"])
            per_correct = [summary["students"][s]["seconds"] for s in correct]
            runs[jobs] = {"wall_s": round(wall, 1), "per_submission_s": round(wall / a.n, 2),
                          "correct_mean_s": round(sum(per_correct) / max(1, len(per_correct)), 2),
                          "counts": summary["counts"], "correct_with_full_marks": f"{full}/{len(correct)}"}
    result = {"assignment": a.assignment, "n": a.n, "fast": a.fast, "sandbox": not a.no_sandbox,
              "cpu_count": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg(),
              "notebook_compute_s": round(compute, 1), "runs": runs}
    if 1 in runs:
        result["speedup"] = round(runs[1]["wall_s"] / runs[a.jobs]["wall_s"], 2)
        # A correct submission graded serially, minus the bare execution of the same notebook.
        result["overhead_per_submission_s"] = round(runs[1]["correct_mean_s"] - compute, 2)
    out = REPO / "benchmarks" / "results" / f"grading_{a.assignment}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
