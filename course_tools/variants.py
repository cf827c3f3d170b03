"""Grade plausible student answers against an assignment's hidden tests, without a gradebook.

An nbgrader *source* notebook holds the reference solutions and the hidden tests. To show that the
tests separate right from wrong, we swap the code of chosen solution cells for another answer
(a plausible bug, or a different correct implementation), execute the notebook in a fresh kernel,
and score every autograded test cell with nbgrader's own rule (``nbgrader.utils.determine_grade``:
an error or any stderr output gives 0, otherwise full points).

    >>> from course_tools.variants import grade_variant, points_by_task
    >>> wrong = "def mc_estimate(f, x):\\n    v = np.asarray(f(x))\\n    return v.mean(), v.var() / len(v)\\n"
    >>> scores = grade_variant(Path("solutions/hw1_foundations/hw1_foundations.ipynb"), {"t2_mc": wrong})
    >>> points_by_task(scores)["t2"]          # (points, max_points) of task 2
    (0.0, 5.0)

Grade ids name their task before the first "_" (``t2_mc_hidden_rate`` is task ``t2``).
This is faster than ``nbgrader autograde`` (no course copy, no database) and gives the same points
as long as the notebook's cells are the ones in the source, which is the case here by design.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbgrader.utils import determine_grade, is_grade, is_solution


class Scores(dict[str, tuple[float, float]]):
    """grade_id -> (points, max_points) of each autograded test cell, in notebook order.

    ``errors`` maps the grade ids that scored 0 to the last lines of their error (or stderr),
    so that a test can say *why* a cell lost its points.
    """

    errors: dict[str, str]

    def __init__(self) -> None:
        super().__init__()
        self.errors = {}

    @property
    def total(self) -> tuple[float, float]:
        return sum(p for p, _ in self.values()), sum(m for _, m in self.values())


def _grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _error_text(cell: nbformat.NotebookNode) -> str:
    for out in cell.get("outputs", []):
        if out.output_type == "error":
            return f"{out.ename}: {out.evalue}"
        if out.output_type == "stream" and out.name == "stderr":
            return "stderr: " + "".join(out.text)[-500:]
    return "not executed (the kernel died or timed out before this cell)"


def grade_variant(
    source_notebook: Path,
    replacements: dict[str, str] | None = None,
    *,
    workdir: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> Scores:
    """Execute ``source_notebook`` with some solution cells replaced, and score its test cells.

    Args:
        source_notebook: an nbgrader source notebook (solutions and hidden tests included).
        replacements: grade_id of a solution cell -> the code to put there instead. An id that is
            not a solution cell of the notebook raises ``KeyError`` (a typo must not pass silently).
        workdir: folder the kernel runs in; default a fresh temporary copy of the notebook's folder
            (removed afterwards), so files the notebook writes never touch the repo.
        env: extra environment variables for the kernel, on top of ``os.environ`` plus
            ``NBGRADER_EXECUTION=autograde`` (as ``nbgrader autograde`` sets).
        timeout: limit per cell in seconds, like nbgrader's ``Execute.timeout``; a cell past it is
            interrupted and counts as an error.

    Returns:
        ``Scores``: grade_id -> (points, max_points) for every autograded code test cell
        (manually graded cells are left out), with ``.errors`` for the cells that scored 0.
        A test cell that never ran (dead kernel) scores 0, unlike nbgrader which would skip it.
    """
    source_notebook = Path(source_notebook).resolve()
    nb = nbformat.read(source_notebook, as_version=4)
    replacements = dict(replacements or {})
    solution_ids = {_grade_id(c) for c in nb.cells if is_solution(c) and _grade_id(c)}
    unknown = sorted(set(replacements) - solution_ids)
    if unknown:
        raise KeyError(f"not solution cells of {source_notebook.name}: {unknown}; "
                       f"solution cells are {sorted(solution_ids)}")
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid in replacements:
            cell.source = replacements[gid]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None

    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix="dgm_variant_")
        workdir = Path(tmp) / source_notebook.parent.name
        shutil.copytree(source_notebook.parent, workdir,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    kernel_env = {**os.environ, "NBGRADER_EXECUTION": "autograde", **(env or {})}
    client = NotebookClient(
        nb, timeout=int(timeout), interrupt_on_timeout=True, allow_errors=True,
        kernel_name="python3", resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute(env=kernel_env, cwd=str(workdir))
    except DeadKernelError:
        pass  # cells after the crash keep no outputs and are scored 0 below
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    scores = Scores()
    for cell in nb.cells:
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            continue
        gid = _grade_id(cell)
        executed = cell.get("execution_count") is not None
        points, max_points = determine_grade(cell)
        if not executed:
            points = 0.0
        scores[gid] = (float(points), float(max_points))
        if points < max_points:
            scores.errors[gid] = _error_text(cell) if executed else _error_text({})
    return scores


def points_by_task(scores: dict[str, tuple[float, float]], prefix_sep: str = "_") -> dict[str, tuple[float, float]]:
    """Sum (points, max_points) per task, the task being the grade id up to ``prefix_sep``.

    ``{"t1_count": (2, 2), "t1_hist": (0, 3), "t2_mc": (4, 4)}`` -> ``{"t1": (2, 5), "t2": (4, 4)}``.
    """
    out: dict[str, tuple[float, float]] = {}
    for gid, (points, max_points) in scores.items():
        task = gid.split(prefix_sep, 1)[0]
        p, m = out.get(task, (0.0, 0.0))
        out[task] = (p + points, m + max_points)
    return out
