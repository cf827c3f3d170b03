"""nbgrader's solution and hidden-test markers, parsed in one place.

The delimiters are nbgrader's own (the defaults of ClearSolutions.begin_solution_delimeter,
ClearHiddenTests.begin_test_delimeter and their end twins), and a line is a marker when it
*contains* one, as nbgrader reads them; ``strict`` parsing raises nbgrader's errors for a nested
begin or a missing end. The tools use them to strip hidden tests from feedback, to find the lines
a release must never show, and to read a solution's body; ``MARKERS`` are the marker lines as the
course writes them (``### BEGIN SOLUTION``), which no release, feedback page or bundle may contain.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

SOLUTION = "SOLUTION"
HIDDEN_TESTS = "HIDDEN TESTS"
DELIMITERS = {
    SOLUTION: (ClearSolutions.begin_solution_delimeter.default_value,
               ClearSolutions.end_solution_delimeter.default_value),
    HIDDEN_TESTS: (ClearHiddenTests.begin_test_delimeter.default_value,
                   ClearHiddenTests.end_test_delimeter.default_value),
}
MARKER_LINES = {region: tuple(f"### {d}" for d in pair) for region, pair in DELIMITERS.items()}
MARKERS = MARKER_LINES[SOLUTION] + MARKER_LINES[HIDDEN_TESTS]


class MarkerError(RuntimeError):
    """Unbalanced markers in a cell (nbgrader's RuntimeError, with its wording)."""


@dataclass(frozen=True)
class Block:
    """One marked region of a cell: its lines between the markers, and the markers' line numbers."""

    region: str
    begin: int  # index of the BEGIN line in source.splitlines()
    end: int  # index of the END line (len(lines) when it is missing and parsing is lenient)
    lines: tuple[str, ...]


def has(source: str, region: str) -> bool:
    """Does ``source`` hold a BEGIN marker of ``region``?"""
    return DELIMITERS[region][0] in source


def blocks(source: str, region: str, *, strict: bool = False) -> list[Block]:
    """The marked regions of ``source``, in order.

    Lenient (the default, for redaction): a nested BEGIN stays inside, a missing END runs to the
    end of the cell (so nothing after an unclosed BEGIN is ever shown), a stray END is dropped.
    ``strict``: raise MarkerError as nbgrader would.
    """
    begin_mark, end_mark = DELIMITERS[region]
    lines = source.splitlines()
    found: list[Block] = []
    start: int | None = None
    for i, line in enumerate(lines):
        if begin_mark in line:
            if start is not None:
                if strict:
                    raise MarkerError(f"Encountered nested begin {region.lower()} statements")
                continue
            start = i
        elif end_mark in line:
            if start is not None:
                found.append(Block(region, start, i, tuple(lines[start + 1:i])))
                start = None
            elif strict:
                raise MarkerError(f"{end_mark} without {begin_mark}")
    if start is not None:
        if strict:
            raise MarkerError(f"No end {region.lower()} statement found")
        found.append(Block(region, start, len(lines), tuple(lines[start + 1:])))
    return found


def outside(source: str, region: str) -> list[str]:
    """The lines of ``source`` outside every ``region`` block, marker lines left out."""
    lines = source.splitlines()
    dropped: set[int] = set()
    for b in blocks(source, region):
        dropped.update(range(b.begin, min(b.end, len(lines) - 1) + 1))
    begin_mark, end_mark = DELIMITERS[region]
    return [line for i, line in enumerate(lines)
            if i not in dropped and begin_mark not in line and end_mark not in line]


def inside(source: str, region: str) -> list[str]:
    """The lines of ``source`` inside ``region`` blocks."""
    return [line for b in blocks(source, region) for line in b.lines]
