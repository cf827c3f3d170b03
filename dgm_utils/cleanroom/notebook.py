"""Which cells of a notebook go where in the clean room.

- **harness** cells: code cells tagged ``harness`` in the course's source notebook (imports,
  constants, helpers such as ``pattern_index``). They run in the grader and in the worker.
- **solution** cells: nbgrader solution code cells, taken from the *student's* notebook by
  grade id. They run in the worker only.
- **test** cells: nbgrader autograded code cells (visible and hidden tests), taken from the
  *source*. They run in the grader only, against proxies of the names the solution cells of
  the source define (the contract).

Everything else (plots, demos, training) is left to the notebook's own run in the kernel.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .session import Cell, defined_names

HARNESS_TAG = "harness"


def read(path: str | Path) -> dict:
    """A notebook as JSON (any nbformat 4 minor version)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _nbgrader(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _code(nb: dict) -> list[dict]:
    return [c for c in nb.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]


def by_id(nb: dict) -> dict[str, str]:
    """nbgrader grade id -> source of each code cell that has one (a repeated id keeps its first
    cell, as nbgrader does)."""
    out: dict[str, str] = {}
    for c in _code(nb):
        gid = _nbgrader(c).get("grade_id")
        if isinstance(gid, str):
            out.setdefault(gid, _source(c))
    return out


def by_tag(nb: dict) -> dict[str, str]:
    """Cell tag -> source of the first code cell with that tag (cells nbgrader does not grade, such as a
    model's configuration, are found by tag)."""
    out: dict[str, str] = {}
    for c in _code(nb):
        for tag in c.get("metadata", {}).get("tags") or []:
            out.setdefault(tag, _source(c))
    return out


def is_harness(cell: dict) -> bool:
    return HARNESS_TAG in (cell.get("metadata", {}).get("tags") or [])


def is_solution(cell: dict) -> bool:
    return bool(_nbgrader(cell).get("solution")) and not is_harness(cell)


def is_test(cell: dict) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def harness_cells(nb: dict) -> list[Cell]:
    return [Cell(_nbgrader(c).get("grade_id") or f"harness-{i}", _source(c))
            for i, c in enumerate(_code(nb)) if is_harness(c)]


def test_cells(nb: dict) -> list[Cell]:
    return [Cell(_nbgrader(c)["grade_id"], _source(c), float(_nbgrader(c).get("points", 0)))
            for c in _code(nb) if is_test(c)]


def solution_cells(nb: dict) -> dict[str, Cell]:
    """grade id -> solution cell. A repeated id keeps its first cell (as nbgrader does)."""
    out: dict[str, Cell] = {}
    for c in _code(nb):
        gid = _nbgrader(c).get("grade_id")
        if is_solution(c) and isinstance(gid, str) and gid not in out:
            out[gid] = Cell(gid, _source(c))
    return out


def worker_cells(source: dict, student: dict) -> list[Cell]:
    """The worker's program: the source's harness cells and the student's solution cells, in
    the source's order. A solution cell the student deleted is simply absent."""
    theirs = solution_cells(student)
    cells: list[Cell] = []
    for i, c in enumerate(_code(source)):
        gid = _nbgrader(c).get("grade_id")
        if is_harness(c):
            cells.append(Cell(gid or f"harness-{i}", _source(c)))
        elif is_solution(c) and gid in theirs:
            cells.append(theirs[gid])
    return cells


def contract(source: dict) -> list[str]:
    """Names the source's solution cells define: what tests may call from the student's code."""
    return defined_names(list(solution_cells(source).values()))


def plan(source: dict, student: dict) -> dict[str, Any]:
    """Everything run_tests needs, from a source notebook and a student's notebook."""
    return {"harness": harness_cells(source), "tests": test_cells(source),
            "worker_cells": worker_cells(source, student), "contract": contract(source)}
