"""Run a notebook's visible tests the way the grader runs them.

    python -m dgm_utils.cleanroom hw1_foundations.ipynb

Your solution cells run in a fresh process of their own; the test cells run here and call your
functions through the clean room's channel, exactly as the grader will with its hidden tests.
Save the notebook first: this reads the file, not what your kernel has in memory.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from . import notebook
from .session import Session, run_tests


def is_emptied(source: str) -> bool:
    """A test cell with nothing to run (only a docstring or comments): in a release, a hidden
    test whose body nbgrader took out. It is graded when you submit, not here."""
    try:
        body = ast.parse("\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!")))).body
    except SyntaxError:
        return False
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def check(path: Path, *, progress: bool = True) -> int:
    nb = notebook.read(path)
    plan = notebook.plan(nb, nb)
    hidden = [c for c in plan["tests"] if is_emptied(c.source)]
    plan["tests"] = [c for c in plan["tests"] if c not in hidden]
    if not plan["tests"]:
        print(f"{path.name}: no test cells to run", file=sys.stderr)
        return 2
    with Session(cwd=str(path.resolve().parent)) as session:
        verdicts = run_tests(session, plan["harness"], [], plan["tests"], plan["contract"],
                             worker_cells=plan["worker_cells"], progress=False)
        errors = session.load_errors
    for cell_id, err in errors.items():
        print(f"! cell {cell_id} raised {err.get('type')}: {err.get('message', '')[:200]}")
    got = sum(v.points for v in verdicts)
    total = sum(v.max_points for v in verdicts)
    for v in verdicts:
        mark = "pass" if v.passed else "FAIL"
        print(f"{mark}  {v.cell:<28} {v.points:g}/{v.max_points:g}  {v.message[:300]}")
    for c in hidden:
        print(f"----  {c.id:<28} ?/{c.points:g}  hidden test: graded when you submit")
    print(f"visible tests: {got:g}/{total:g} points (the hidden tests add more when graded)")
    return 0 if got == total else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("notebook", type=Path)
    a = p.parse_args(argv)
    if not a.notebook.is_file():
        p.error(f"no such notebook: {a.notebook}")
    return check(a.notebook)


if __name__ == "__main__":
    sys.exit(main())
