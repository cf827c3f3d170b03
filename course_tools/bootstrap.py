"""The cells that let every notebook run outside this repository, written into each notebook.

    python -m course_tools.bootstrap              # lectures/NN_*.ipynb and solutions/*/*.ipynb
    python -m course_tools.bootstrap --check      # exit 1, naming each notebook that is not current
    python -m course_tools.bootstrap solutions/   # only these (notebooks or folders)

Each notebook gets, at its top (after a lecture's title slide), two locked cells, and each
assignment also a last one:

- ``colab`` (markdown): an "Open in Colab" link to the notebook on GitHub at the pinned tag (an
  assignment's link opens its student release, ``assignments/<id>/<id>.ipynb``);
- ``bootstrap`` (code): when the kernel cannot import dgm_utils, it says so and ``%pip install``s
  the package at the pinned tag; in the course's own environment it does nothing;
- ``submit`` (code, assignments only): ``dgm_utils.submit.submit_cell(<id>)``, the one-step check
  and zip of the submission.

Without paths it also rewrites the README's table of "Open in Colab" links (between its
``colab-links`` markers).

Their text comes from pyproject.toml (version and [project.urls] Repository, through
dgm_utils.meta.Source), so bumping the version and running this updates every notebook; a test
(tests/course/test_bootstrap.py) fails while a notebook is not current. Running it again changes
nothing. In solutions/ the cells carry nbgrader metadata (locked, not graded): regenerate the
release afterwards (``make release``, or ``nbgrader generate_assignment <id> --force``).

In a notebook committed with outputs (the lectures), a newly inserted bootstrap cell takes In [1]
and the code cells below move up by one, as a Run All with it would number them; it prints
nothing in the course's environment, so no output is made up.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dgm_utils.meta import Source
from dgm_utils.submit import SUBMIT_CELL_ID

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = REPO / "pyproject.toml"
COLAB_ID, BOOTSTRAP_ID = "colab", "bootstrap"
MANAGED = (COLAB_ID, BOOTSTRAP_ID, SUBMIT_CELL_ID)  # each cell's tag, nbgrader grade id and cell id suffix


def default_notebooks(root: Path = REPO) -> list[Path]:
    return sorted((root / "lectures").glob("[0-9][0-9]_*.ipynb")) + sorted((root / "solutions").glob("*/*.ipynb"))


def github_path(path: Path, root: Path = REPO) -> str:
    """The path of the notebook students open on GitHub: a source notebook's is its release's."""
    rel = Path(path).resolve().relative_to(root.resolve())
    if rel.parts[0] == "solutions":
        rel = Path("assignments", *rel.parts[1:])
    return rel.as_posix()


def is_assignment(path: Path, root: Path = REPO) -> bool:
    return Path(path).resolve().relative_to(root.resolve()).parts[0] in ("solutions", "assignments")


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def colab_source(source: Source, nb_path: str) -> str:
    return (f"[Open in Colab]({source.colab_url(nb_path)}) · This notebook also runs outside the course's "
            f"folder (Colab, Kaggle, any Jupyter): the next cell installs the course's helper package, "
            f"`dgm-utils` {source.version}, where it is missing. The README's \"Colab and Kaggle\" section says "
            "how to use a GPU there and what to download at the end.")


def bootstrap_source(source: Source) -> str:
    return (
        f"# Colab, Kaggle, any Jupyter: install the course's helpers (dgm-utils {source.version}, tag {source.ref}) if this\n"
        "# kernel lacks them. In the course's own environment (make lab) this cell does nothing.\n"
        "import importlib.util\n"
        "\n"
        "if importlib.util.find_spec(\"dgm_utils\") is None:\n"
        f"    print(\"dgm_utils is not installed here: installing dgm-utils {source.version} from {source.repository} "
        f"(tag {source.ref}) ...\")\n"
        f"    %pip install --quiet \"{source.pip_spec}\"\n"
        "    importlib.invalidate_caches()\n"
        "    print(\"dgm_utils installed: go on, no restart needed\")"
    )


def submit_source(assignment: str) -> str:
    return (
        "# Submit: Kernel > Restart Kernel and Run All Cells, save the notebook (Ctrl+S), then run this cell again.\n"
        "# It checks the saved notebook and the files it needs, runs the visible tests as the grader does, and\n"
        f"# writes <your id>__{assignment}.zip beside the notebook: upload that zip. (Shell: python -m dgm_utils.submit {assignment})\n"
        "from dgm_utils.submit import submit_cell\n"
        "\n"
        f"submit_cell(\"{assignment}\")"
    )


def _metadata(kind: str, assignment: bool) -> dict:
    meta: dict = {"deletable": False, "editable": False, "tags": [kind]}
    if assignment:
        meta["nbgrader"] = {"grade": False, "grade_id": kind, "locked": True, "schema_version": 3, "solution": False}
    else:
        meta["slideshow"] = {"slide_type": "skip"}
    return meta


def _cell(kind: str, cell_type: str, text: str, assignment: bool) -> dict:
    cell = {"cell_type": cell_type, "id": f"dgm-{kind}", "metadata": _metadata(kind, assignment), "source": _lines(text)}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def wanted_cells(path: Path, source: Source, root: Path = REPO) -> dict[str, dict]:
    """kind -> the managed cell this notebook must have."""
    assignment = is_assignment(path, root)
    cells = {COLAB_ID: _cell(COLAB_ID, "markdown", colab_source(source, github_path(path, root)), assignment),
             BOOTSTRAP_ID: _cell(BOOTSTRAP_ID, "code", bootstrap_source(source), assignment)}
    if assignment:
        cells[SUBMIT_CELL_ID] = _cell(SUBMIT_CELL_ID, "code", submit_source(Path(path).parent.name), assignment)
    return cells


def kind_of(cell: dict) -> str | None:
    """Which managed cell this is (by its tag), if any."""
    tags = cell.get("metadata", {}).get("tags") or []
    return next((k for k in MANAGED if k in tags), None)


def _top(cells: list[dict]) -> int:
    """Where the managed cells go: after a lecture's title slide, else first."""
    first = cells[0] if cells else {}
    is_title = first.get("cell_type") == "markdown" and first.get("metadata", {}).get("slideshow", {}).get("slide_type") == "slide"
    return 1 if is_title else 0


def updated(nb: dict, path: Path, source: Source, root: Path = REPO) -> dict:
    """The notebook with its managed cells current (same object, changed in place)."""
    wanted = wanted_cells(path, source, root)
    old = {kind_of(c): c for c in nb["cells"] if kind_of(c)}
    rest = [c for c in nb["cells"] if not kind_of(c)]
    new_bootstrap = BOOTSTRAP_ID not in old
    for kind, cell in wanted.items():
        if kind in old and cell["cell_type"] == "code":  # keep what a run wrote into it
            cell["execution_count"] = old[kind].get("execution_count")
            cell["outputs"] = old[kind].get("outputs", [])
    code = [c for c in rest if c.get("cell_type") == "code"]
    if new_bootstrap and code and all(isinstance(c.get("execution_count"), int) for c in code):
        for c in code:  # a committed run: number it as a Run All with the new first cell would
            c["execution_count"] += 1
            for out in c.get("outputs", []):
                if isinstance(out.get("execution_count"), int):
                    out["execution_count"] += 1
        wanted[BOOTSTRAP_ID]["execution_count"] = 1
    at = _top(rest)
    top = [wanted[COLAB_ID], wanted[BOOTSTRAP_ID]]
    bottom = [wanted[SUBMIT_CELL_ID]] if SUBMIT_CELL_ID in wanted else []
    nb["cells"] = rest[:at] + top + rest[at:] + bottom
    return nb


def _dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def apply(path: Path, source: Source, *, write: bool = True, root: Path = REPO) -> bool:
    """Bring ``path``'s managed cells up to date; True if that changed (or, with write=False, would change) it."""
    text = Path(path).read_text(encoding="utf-8")
    new = _dump(updated(json.loads(text), path, source, root))
    if new == text:
        return False
    if write:
        Path(path).write_text(new, encoding="utf-8")
    return True


README = REPO / "README.md"
LINKS_BEGIN = "<!-- colab-links: written by python -m course_tools.bootstrap; do not edit by hand -->"
LINKS_END = "<!-- /colab-links -->"


def readme_links(source: Source, root: Path = REPO) -> str:
    """The README's table of "Open in Colab" links, one per notebook a student opens, between its markers."""
    rows = [f"| `{path}` | [Open in Colab]({source.colab_url(path)}) |"
            for path in dict.fromkeys(github_path(nb, root) for nb in default_notebooks(root))]
    return "\n".join([LINKS_BEGIN, "| notebook | |", "|---|---|", *rows, LINKS_END])


def apply_readme(source: Source, *, write: bool = True, path: Path = README, root: Path = REPO) -> bool:
    """Bring the README's link table up to date; True if that changed (or would change) it."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(LINKS_BEGIN), text.find(LINKS_END)
    if start < 0 or end < start:
        raise SystemExit(f"{path}: no {LINKS_BEGIN!r} ... {LINKS_END!r} block to write the Colab links into")
    new = text[:start] + readme_links(source, root) + text[end + len(LINKS_END):]
    if new == text:
        return False
    if write:
        path.write_text(new, encoding="utf-8")
    return True


def _expand(paths: list[Path], root: Path) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = p if p.is_absolute() else Path.cwd() / p
        out += sorted(p.glob("**/*.ipynb")) if p.is_dir() else [p]
    return [p for p in out if ".ipynb_checkpoints" not in p.parts and "fixtures" not in p.parts]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("paths", nargs="*", type=Path, help="notebooks or folders (default: lectures/ and solutions/)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is not current")
    a = p.parse_args(argv)
    source = Source.from_pyproject(PYPROJECT)
    notebooks = _expand(a.paths, REPO) if a.paths else default_notebooks()
    stale = [nb for nb in notebooks if apply(nb, source, write=not a.check)]
    if not a.paths and apply_readme(source, write=not a.check):
        stale.append(README)
    for nb in stale:
        print(f"{'not current' if a.check else 'updated'}: {nb.relative_to(REPO)}")
    if a.check and stale:
        print("run: python -m course_tools.bootstrap" + "".join(f" {nb.relative_to(REPO)}" for nb in stale if nb != README))
        return 1
    if not a.check and any(is_assignment(nb) for nb in stale):
        print("then regenerate the release: make release (or nbgrader generate_assignment <id> --force)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
