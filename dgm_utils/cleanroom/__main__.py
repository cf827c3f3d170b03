"""Run a notebook's visible tests the way the grader runs them.

    python -m dgm_utils.cleanroom hw1_foundations.ipynb

Your solution cells run in a fresh process of their own; the test cells run here and call your
functions through the clean room's channel, exactly as the grader will with its hidden tests.
Save the notebook first: this reads the file, not what your kernel has in memory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .check import is_emptied, run_visible

__all__ = ["check", "is_emptied", "main"]


def check(path: Path, *, progress: bool = True) -> int:
    result = run_visible(path)
    if not result.verdicts:
        print(f"{path.name}: no test cells to run", file=sys.stderr)
        return 2
    for line in result.lines():
        print(line)
    return 0 if result.passed else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("notebook", type=Path)
    a = p.parse_args(argv)
    if not a.notebook.is_file():
        p.error(f"no such notebook: {a.notebook}")
    return check(a.notebook)


if __name__ == "__main__":
    sys.exit(main())
