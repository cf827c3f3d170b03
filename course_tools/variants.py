"""Grade plausible student answers against an assignment's hidden tests, without a gradebook.

An nbgrader *source* notebook holds the reference solutions and the hidden tests. To show that the
tests separate right from wrong, we swap the code of chosen solution cells for another answer
(a plausible bug, or a different correct implementation) and grade it the way the course grades a
submission: in the clean room (dgm_utils.cleanroom). The solution cells (the source's, some
replaced) run in a worker process of their own; every autograded test cell of the source (visible
and hidden) runs in this process against proxies of the worker's functions. A test cell scores its
points when it raises nothing; what it or the student's code prints (stderr included) and the
warnings it emits do not matter.

    >>> from course_tools.variants import grade_variant, points_by_task
    >>> wrong = "def mc_estimate(f, x):\\n    v = np.asarray(f(x))\\n    return v.mean(), v.var() / len(v)\\n"
    >>> scores = grade_variant(Path("solutions/hw1_foundations/hw1_foundations.ipynb"), {"t2_mc": wrong})
    >>> points_by_task(scores)["t2"]          # (points, max_points) of task 2
    (0.0, 5.0)

Grade ids name their task before the first "_" (``t2_mc_hidden_rate`` is task ``t2``).
This gives the clean-room verdicts that ``course_tools.verdicts`` writes into the gradebook, for
a submission whose notebook is the source with some solution cells replaced; there is no nbgrader
run, no kernel, no sandbox and no database.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import tempfile
from pathlib import Path

from dgm_utils.cleanroom import notebook
from dgm_utils.cleanroom.session import Session, run_tests


class Scores(dict[str, tuple[float, float]]):
    """grade_id -> (points, max_points) of each autograded test cell, in notebook order.

    ``errors`` maps the grade ids that scored 0 to their failure (the exception the test cell
    raised in the grader: a failed assertion, or the student's code's error), so that a test can
    say *why* a cell lost its points. ``load_errors`` maps solution cells that raised when the
    worker ran them to their error.
    """

    errors: dict[str, str]
    load_errors: dict[str, str]

    def __init__(self) -> None:
        super().__init__()
        self.errors = {}
        self.load_errors = {}

    @property
    def total(self) -> tuple[float, float]:
        return sum(p for p, _ in self.values()), sum(m for _, m in self.values())


def _grade_id(cell: dict) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if isinstance(meta, dict) else None


def grade_variant(
    source_notebook: Path,
    replacements: dict[str, str] | None = None,
    *,
    workdir: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> Scores:
    """Grade ``source_notebook`` with some solution cells replaced, in the clean room.

    Args:
        source_notebook: an nbgrader source notebook (solutions and hidden tests included).
        replacements: grade_id of a solution cell -> the code to put there instead. An id that is
            not a solution cell of the notebook raises ``KeyError`` (a typo must not pass silently).
        workdir: folder the student's worker runs in (and the tests, here); default a fresh
            temporary copy of the notebook's folder (removed afterwards), so files the code writes
            never touch the repo.
        env: extra environment variables for the student's worker, on top of ``os.environ`` plus
            ``NBGRADER_EXECUTION=autograde`` (as ``nbgrader autograde`` sets). They are also set in
            this process while the test cells run (and restored after), so that the course's setup
            cells, which run on both sides, see the same settings (``DGM_FAST``, ``DGM_DEVICE``).
        timeout: limit per test cell in seconds (and per call of the student's code); a cell past
            it scores 0, and the worker is restarted for the next one.

    Returns:
        ``Scores``: grade_id -> (points, max_points) for every autograded code test cell
        (manually graded cells are left out), with ``.errors`` for the cells that scored 0 and
        ``.load_errors`` for solution cells that raised.
    """
    source_notebook = Path(source_notebook).resolve()
    source = notebook.read(source_notebook)
    replacements = dict(replacements or {})
    solution_ids = set(notebook.solution_cells(source))
    unknown = sorted(set(replacements) - solution_ids)
    if unknown:
        raise KeyError(f"not solution cells of {source_notebook.name}: {unknown}; "
                       f"solution cells are {sorted(solution_ids)}")
    student = copy.deepcopy(source)
    for cell in student.get("cells", []):
        if cell.get("cell_type") == "code" and _grade_id(cell) in replacements:
            cell["source"] = replacements[_grade_id(cell)]
    plan = notebook.plan(source, student)

    tmp = None
    if workdir is not None:
        workdir = Path(workdir).resolve()
    else:
        tmp = tempfile.mkdtemp(prefix="dgm_variant_")
        workdir = Path(tmp) / source_notebook.parent.name
        shutil.copytree(source_notebook.parent, workdir,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    extra = {"NBGRADER_EXECUTION": "autograde", **(env or {})}
    try:
        with contextlib.chdir(workdir), _environ(extra), \
                Session(cwd=str(workdir), env=dict(os.environ), call_timeout_s=timeout) as session:
            verdicts = run_tests(session, plan["harness"], [], plan["tests"], plan["contract"],
                                 worker_cells=plan["worker_cells"], cell_timeout_s=timeout)
            load_errors = dict(session.load_errors)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    scores = Scores()
    for v in verdicts:
        scores[v.cell] = (float(v.points), float(v.max_points))
        if v.points < v.max_points:
            scores.errors[v.cell] = v.message or "failed"
    scores.load_errors = {cell: f"{err.get('type')}: {err.get('message', '')}" if isinstance(err, dict) else str(err)
                          for cell, err in load_errors.items()}
    return scores


@contextlib.contextmanager
def _environ(extra: dict[str, str]):
    """``os.environ`` with ``extra`` set, restored afterwards."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update({k: str(v) for k, v in extra.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
