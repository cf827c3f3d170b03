"""Per-student feedback HTML with the hidden tests taken out, then checked for leaks.

    python -m course_tools.feedback hw1_foundations        # or: make feedback ASSIGNMENT=...

nbgrader's generate_feedback renders the *autograded* notebook, in which autograde has put the
hidden tests back, with their source and tracebacks. `RedactHiddenTests` is an nbconvert
preprocessor that runs in generate_feedback before the HTML export: in every cell that holds a
``### BEGIN HIDDEN TESTS`` region it removes that region (nbgrader's own ClearHiddenTests logic)
and replaces the cell's outputs by one line that says whether it passed. After rendering,
`find_leaks` scans every HTML file for the hidden-test lines of the source notebooks and fails
the run if one is there.
"""

from __future__ import annotations

import argparse
import json
import html
import re
import sys
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode

from course_tools.nbgrader_course import REPO, marked_lines, nbgrader

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
WITHHELD = "A hidden test failed here. Its code and traceback are not shown in feedback."

# The list for nbgrader_config.py (c.GenerateFeedback.preprocessors) and for the CLI below.
FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "course_tools.feedback.RedactHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]


def strip_hidden(source: str) -> str:
    """``source`` without the lines between (and including) the hidden-test markers."""
    kept, inside = [], False
    for line in source.splitlines():
        if BEGIN in line:
            inside = True
        elif END in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


class RedactHiddenTests(Preprocessor):
    """Remove hidden-test code and everything it printed or raised from a graded notebook."""

    enabled = True  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type != "code" or BEGIN not in cell.source:
            return cell, resources
        cell.source = strip_hidden(cell.source).rstrip() + "\n# (hidden tests are not shown)"
        failed = any(o.output_type == "error" for o in cell.outputs)
        if failed:
            cell.outputs = [NotebookNode(output_type="error", ename="HiddenTestFailed",
                                         evalue=WITHHELD, traceback=[WITHHELD])]
        else:
            cell.outputs = []
        return cell, resources


def generate_feedback(root: Path, assignment: str, student: str | None = None) -> list[Path]:
    """Run nbgrader generate_feedback with the redaction; return the HTML files written."""
    args = ["generate_feedback", assignment, "--force"]
    if student:
        args += ["--student", student]
    args.append("--GenerateFeedback.preprocessors=" + json.dumps(FEEDBACK_PREPROCESSORS))
    from course_tools.autograde import _env

    env = _env({"PYTHONPATH": f"{REPO}"})
    nbgrader(root, *args, env=env)
    pattern = f"{student or '*'}/{assignment}/*.html"
    return sorted((root / "feedback").glob(pattern))


def hidden_lines(source_dir: Path) -> set[str]:
    """Non-trivial lines of the hidden-test regions of the source notebooks in ``source_dir``."""
    return marked_lines(source_dir, ("HIDDEN TESTS",))


def _html_text(path: Path) -> str:
    """The text of an HTML file: tags removed, entities decoded (so code reads as code)."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


def find_leaks(root: Path, assignment: str) -> list[str]:
    """'file: line' for every hidden-test source line found in a feedback HTML file."""
    secret = hidden_lines(root / "solutions" / assignment)
    leaks = []
    for page in sorted((root / "feedback").glob(f"*/{assignment}/*.html")):
        text = _html_text(page)
        flat = re.sub(r"\s+", " ", text)
        leaks += [f"{page.relative_to(root)}: {line}" for line in sorted(secret)
                  if line in text or re.sub(r"\s+", " ", line) in flat]
    return leaks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("assignment")
    p.add_argument("--root", type=Path, default=REPO)
    p.add_argument("--student")
    a = p.parse_args(argv)
    pages = generate_feedback(a.root, a.assignment, a.student)
    leaks = find_leaks(a.root, a.assignment)
    if leaks:
        print("Hidden tests leaked into feedback; do NOT send it:\n  " + "\n  ".join(leaks[:20]), file=sys.stderr)
        return 1
    print(f"{len(pages)} feedback file(s) under {a.root / 'feedback'}; no hidden-test line in any of them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
