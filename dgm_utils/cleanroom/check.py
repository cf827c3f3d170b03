"""A notebook's visible tests, run the way the grader runs them (``make check``, ``dgm_utils.submit``).

    >>> result = run_visible(Path("hw1_foundations.ipynb"))
    >>> result.points, result.max_points, result.lines()

The solution cells run in a fresh worker process of their own; the test cells run in this process
and call the student's functions through the clean room's channel, exactly as the grader will with
its hidden tests. It reads the saved file, not what a kernel has in memory.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from . import notebook
from .session import Cell, Session, Verdict, run_tests


def is_emptied(source: str) -> bool:
    """A test cell with nothing to run (only a docstring or comments): in a release, a hidden
    test whose body nbgrader took out. It is graded when you submit, not here."""
    try:
        body = ast.parse("\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!")))).body
    except SyntaxError:
        return False
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


@dataclass
class VisibleRun:
    """The verdicts of a notebook's visible tests, its hidden (emptied) test cells, and the errors of its
    solution cells while they loaded."""

    verdicts: list[Verdict] = field(default_factory=list)
    hidden: list[Cell] = field(default_factory=list)
    load_errors: dict[str, dict] = field(default_factory=dict)

    @property
    def points(self) -> float:
        return sum(v.points for v in self.verdicts)

    @property
    def max_points(self) -> float:
        return sum(v.max_points for v in self.verdicts)

    @property
    def passed(self) -> bool:
        return bool(self.verdicts) and self.points == self.max_points

    def lines(self) -> list[str]:
        """The report ``make check`` prints, one line per cell, then the total."""
        out = [f"! cell {cell_id} raised {err.get('type')}: {err.get('message', '')[:200]}"
               for cell_id, err in self.load_errors.items()]
        for v in self.verdicts:
            mark = "pass" if v.passed else "FAIL"
            out.append(f"{mark}  {v.cell:<28} {v.points:g}/{v.max_points:g}  {v.message[:300]}")
        for c in self.hidden:
            out.append(f"----  {c.id:<28} ?/{c.points:g}  hidden test: graded when you submit")
        out.append(f"visible tests: {self.points:g}/{self.max_points:g} points (the hidden tests add more when graded)")
        return out


def run_visible(path: Path) -> VisibleRun:
    """Run the visible test cells of the saved notebook ``path`` in the clean room, from its folder
    (where the files it loads, such as hw2's checkpoints, lie). No test cell: an empty VisibleRun."""
    path = Path(path)
    nb = notebook.read(path)
    plan = notebook.plan(nb, nb)
    hidden = [c for c in plan["tests"] if is_emptied(c.source)]
    tests = [c for c in plan["tests"] if c not in hidden]
    if not tests:
        return VisibleRun(hidden=hidden)
    with Session(cwd=str(path.resolve().parent)) as session:
        verdicts = run_tests(session, plan["harness"], [], tests, plan["contract"],
                             worker_cells=plan["worker_cells"], progress=False)
        errors = session.load_errors
    return VisibleRun(verdicts=verdicts, hidden=hidden, load_errors=errors)
