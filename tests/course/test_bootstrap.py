"""Does every notebook carry the current bootstrap cells, written by course_tools.bootstrap from pyproject.toml?

Every lecture and every source notebook (and so its release) starts with an "Open in Colab" link and the
locked bootstrap cell that installs dgm_utils at the pinned tag where it is missing; every assignment
ends with the submit cell. A version bump, a new repository URL or a hand edit of these cells fails
here until ``python -m course_tools.bootstrap`` has run (then ``make release``).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from course_tools import bootstrap as bs
from course_tools.nbgrader_course import REPO, assignment_ids
from dgm_utils.meta import Source
from dgm_utils.submit import ASSIGNMENTS, SUBMIT_CELL_ID

SOURCE = Source.from_pyproject(bs.PYPROJECT)
NOTEBOOKS = bs.default_notebooks()
LOCKED = {"grade": False, "locked": True, "solution": False, "schema_version": 3}


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_notebook_has_the_current_bootstrap_cells(path):
    """Are the managed cells of this notebook what course_tools.bootstrap writes now? (lectures/: run the command
    the message gives; solutions/: the same, then make release)."""
    stale = bs.apply(path, SOURCE, write=False)
    assert not stale, (f"{path.relative_to(REPO)} lacks the current bootstrap cells: run "
                       f"`python -m course_tools.bootstrap {path.relative_to(REPO)}`"
                       + (" and `make release`" if bs.is_assignment(path) else ""))


def test_readme_links_every_notebook_in_colab():
    assert not bs.apply_readme(SOURCE, write=False), "README's Colab links are not current: python -m course_tools.bootstrap"
    readme = (REPO / "README.md").read_text()
    for nb in NOTEBOOKS:
        assert SOURCE.colab_url(bs.github_path(nb)) in readme


@pytest.mark.parametrize("assignment", assignment_ids())
def test_release_carries_locked_bootstrap_and_submit_cells(assignment):
    """Do the student's notebooks (assignments/, nbgrader's release) start with the locked bootstrap cell, checksummed,
    and end with the submit cell for their own assignment?"""
    release = cells(REPO / "assignments" / assignment / f"{assignment}.ipynb")
    code = [c for c in release if c["cell_type"] == "code"]
    first, last = code[0], code[-1]
    for cell, kind in ((first, bs.BOOTSTRAP_ID), (last, SUBMIT_CELL_ID)):
        meta = cell["metadata"]["nbgrader"]
        assert {k: meta.get(k) for k in LOCKED} == LOCKED and meta["grade_id"] == kind, meta
        assert meta.get("checksum") and cell["metadata"].get("editable") is False, f"{kind} is not locked in the release"
    assert "".join(first["source"]) == bs.bootstrap_source(SOURCE)
    assert f'submit_cell("{assignment}")' in "".join(last["source"]) and assignment in ASSIGNMENTS


def test_colab_links_open_files_of_this_repository_at_the_pinned_tag():
    """Does each notebook's link open a path that exists here (an assignment's release, never its source), at v<version>?"""
    for nb in NOTEBOOKS:
        link = "".join(next(c for c in cells(nb) if bs.kind_of(c) == bs.COLAB_ID)["source"]) if not bs.apply(nb, SOURCE, write=False) \
            else bs.colab_source(SOURCE, bs.github_path(nb))
        url = re.search(r"\((https://colab\.research\.google\.com/github/[^)]+)\)", link)[1]
        path = url.split(f"/blob/{SOURCE.ref}/", 1)[1]
        assert (REPO / path).is_file() and not path.startswith("solutions/"), url
        assert SOURCE.ref == f"v{SOURCE.version}" and SOURCE.slug in url


def test_bootstrap_cell_installs_the_pinned_version_and_only_when_missing():
    text = bs.bootstrap_source(SOURCE)
    assert f'%pip install --quiet "{SOURCE.pip_spec}"' in text and SOURCE.ref in SOURCE.pip_spec
    assert 'if importlib.util.find_spec("dgm_utils") is None:' in text


@pytest.mark.parametrize("executed", [False, True], ids=["release-like", "with-outputs"])
def test_apply_is_idempotent_and_touches_only_its_cells(tmp_path, executed):
    """On a copy of a lecture: does one run add the cells after the title slide (slide type skip), renumber a
    committed run by one (the new cell taking In [1]), a second run change nothing, and removing the cells give
    the original back?"""
    root = tmp_path
    (root / "lectures").mkdir()
    original = json.loads((REPO / "lectures" / "02_monte_carlo_lotus.ipynb").read_text())
    had_bootstrap = any(bs.kind_of(c) == bs.BOOTSTRAP_ID for c in original["cells"])
    original["cells"] = [c for c in original["cells"] if not bs.kind_of(c)]
    if executed and had_bootstrap:  # the committed lecture's run started with the bootstrap cell: number it without
        for c in original["cells"]:
            if c["cell_type"] == "code":
                c["execution_count"] -= 1
                for o in c["outputs"]:
                    if isinstance(o.get("execution_count"), int):
                        o["execution_count"] -= 1
    if not executed:
        for c in original["cells"]:
            if c["cell_type"] == "code":
                c["execution_count"], c["outputs"] = None, []
    path = root / "lectures" / "02_monte_carlo_lotus.ipynb"
    path.write_text(json.dumps(original, indent=1, ensure_ascii=False) + "\n")
    assert bs.apply(path, SOURCE, root=root) is True
    assert bs.apply(path, SOURCE, root=root) is False, "a second run changed the notebook"
    new = cells(path)
    assert [bs.kind_of(c) for c in new[:3]] == [None, bs.COLAB_ID, bs.BOOTSTRAP_ID], "expected title, link, bootstrap"
    assert all(c["metadata"]["slideshow"]["slide_type"] == "skip" for c in new[1:3])
    code = [c for c in new if c["cell_type"] == "code"]
    if executed:
        assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    rest = [c for c in copy.deepcopy(new) if not bs.kind_of(c)]
    if executed:
        for c in rest:
            if c["cell_type"] == "code":
                c["execution_count"] -= 1
                for o in c["outputs"]:
                    if isinstance(o.get("execution_count"), int):
                        o["execution_count"] -= 1
    assert rest == original["cells"], "apply changed cells it does not own"


def test_a_hand_edited_cell_is_put_back(tmp_path):
    root = tmp_path
    (root / "solutions" / "hw9").mkdir(parents=True)
    path = root / "solutions" / "hw9" / "hw9.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# hw9"}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    bs.apply(path, SOURCE, root=root)
    nb = json.loads(path.read_text())
    boot = next(c for c in nb["cells"] if bs.kind_of(c) == bs.BOOTSTRAP_ID)
    assert boot["metadata"]["nbgrader"] == {**LOCKED, "grade_id": bs.BOOTSTRAP_ID}
    assert bs.kind_of(nb["cells"][-1]) == SUBMIT_CELL_ID and 'submit_cell("hw9")' in "".join(nb["cells"][-1]["source"])
    boot["source"] = ["print('edited')"]
    path.write_text(json.dumps(nb))
    assert bs.apply(path, SOURCE, root=root) is True
    assert "".join(next(c for c in cells(path) if bs.kind_of(c) == bs.BOOTSTRAP_ID)["source"]) == bs.bootstrap_source(SOURCE)
