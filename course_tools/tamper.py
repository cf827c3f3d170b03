"""Kernel tampering: blank submissions that make nbgrader's own run of the test cells pass.

Each route takes a notebook whose solutions are still blank (the release) and adds what a hostile
student would add: a few lines in the first solution cell that change how the kernel runs every
cell after it, or metadata that makes nbclient skip the test cells. In nbgrader's kernel each of
them earns the visible and hidden points; the clean-room verdicts (course_tools/verdicts.py) must
give 0 and list the student under "Needs a TA" ("passed in the kernel but failed in the clean
room"). The round trip (course_tools/roundtrip.py) grades every route against every assignment;
tests/grading/grading_corpus.py grades them, and routes aimed at one test, on its fixture course.
"""

from __future__ import annotations

import copy

from course_tools.verdicts import FORGED

# Code a student prepends to a solution cell: every later cell in the kernel runs as a no-op.
KERNEL_ROUTES: dict[str, str] = {
    "tamper_input_transformer": "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n",
    "tamper_run_cell": (
        "_ip = get_ipython()\n_orig = _ip.run_cell\n"
        "_ip.run_cell = lambda raw_cell, *a, **k: _orig('None', *a, **k)\n"
        "_ip.should_run_async = lambda *a, **k: False\n"),
    "tamper_ast_transformer": (
        "import ast\n"
        "class _Blank(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        node.body = [ast.Pass()]\n"
        "        return node\n"
        "get_ipython().ast_transformers.append(_Blank())\n"),
}
SKIP_TAG = "skip_execution_tag"  # metadata only: nbclient skips cells tagged skip-execution
ROUTES = (*KERNEL_ROUTES, SKIP_TAG)
FLAG = FORGED  # what the TA's summary says of a tampered cell


def _nbgrader(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def tampered(nb: dict, route: str) -> dict:
    """A copy of notebook ``nb`` (JSON) with ``route`` applied (one of ROUTES)."""
    out = copy.deepcopy(nb)
    code = [c for c in out["cells"] if c.get("cell_type") == "code"]
    if route == SKIP_TAG:
        for cell in code:
            if _nbgrader(cell).get("grade") and not _nbgrader(cell).get("solution"):
                cell.setdefault("metadata", {})["tags"] = ["skip-execution"]
        return out
    first = next(c for c in code if _nbgrader(c).get("solution"))
    src = first["source"]
    first["source"] = KERNEL_ROUTES[route] + ("".join(src) if isinstance(src, list) else src)
    return out
