"""Checks of a submission folder (submitted/<student>/<assignment>/) before and after grading.

No student code runs here: these read files. ``preflight`` fixes a renamed notebook and refuses an
empty or broken one, ``missing_files`` lists what collect.json asks for and the folder lacks,
``monkey_patches`` finds module attributes the code rebinds, ``fingerprint`` says whether a
submission changed since it was graded.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path


def submitted_students(root: Path, assignment: str) -> list[str]:
    """Students with a folder submitted/<student>/<assignment>/ under the course ``root``, sorted."""
    base = root / "submitted"
    return sorted(p.parent.name for p in base.glob(f"*/{assignment}") if p.is_dir()) if base.exists() else []


def fingerprint(folder: Path) -> str:
    """Hash of the submission's file names, sizes and contents: a changed file means regrade."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def preflight(folder: Path, expected: list[str]) -> tuple[list[str], str]:
    """Fix what can be fixed in a submission folder; return (notes, fatal reason or "").

    A single unexpected notebook where one expected notebook is missing is taken as renamed and
    moved to the expected name (noted, so the TA sees it). A notebook that is empty or not
    valid JSON cannot be graded: that is fatal, with the reason.
    """
    notes: list[str] = []
    present = {p.stem for p in folder.glob("*.ipynb")}
    missing = [n for n in expected if n not in present]
    extra = sorted(present - set(expected))
    if len(missing) == 1 and len(extra) == 1:
        (folder / f"{extra[0]}.ipynb").rename(folder / f"{missing[0]}.ipynb")
        notes.append(f"renamed {extra[0]}.ipynb -> {missing[0]}.ipynb")
        missing = []
    if missing:
        return notes, "missing notebook(s): " + ", ".join(f"{n}.ipynb" for n in missing)
    for name in expected:
        path = folder / f"{name}.ipynb"
        text = path.read_text(encoding="utf-8", errors="replace")
        if not text.strip():
            return notes, f"{name}.ipynb is empty (0 cells): nothing to grade"
        try:
            json.loads(text)
        except json.JSONDecodeError as err:
            return notes, f"{name}.ipynb is not valid JSON (line {err.lineno}: {err.msg})"
    return notes, ""


def missing_files(root: Path, assignment: str, folder: Path) -> list[str]:
    """Files the assignment's collect.json lists (hw2's checkpoints) that the submission lacks."""
    from course_tools.collect import CollectError, load_spec

    try:
        spec = load_spec(root, assignment)
    except CollectError:
        return []  # no usable list: nothing to check (collect reports a broken collect.json)
    return [name for name in spec.files if not (folder / name).is_file()]


def monkey_patches(folder: Path) -> list[str]:
    """Module attributes a submission rebinds (``math.isclose = ...``, ``setattr(np, ...)``).

    In-process patching of what the tests call cannot be prevented (the tests run in the
    student's kernel), so it is detected in the source and flagged for a TA. A static scan:
    code hidden in exec() or getattr() chains is not seen.
    """
    found: list[str] = []
    for _, cell in cells(folder):
        if cell.get("cell_type") != "code":
            continue
        src = "".join(cell.get("source", ""))
        try:
            tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            continue
        modules = {a.asname or a.name.split(".")[0] for n in ast.walk(tree)
                   if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names} | {"builtins", "__builtins__"}
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            for t in targets:
                base = t
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(t, ast.Attribute) and isinstance(base, ast.Name) and base.id in modules:
                    found.append(ast.unparse(t))
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
                    and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in modules):
                found.append(f"setattr({node.args[0].id}, ...)")
    return sorted(set(found))


def cells(folder: Path) -> Iterator[tuple[Path, dict]]:
    """(notebook path, cell) for every cell of every readable notebook in ``folder``."""
    for nb_path in sorted(folder.glob("*.ipynb")):
        try:
            cells = json.loads(nb_path.read_text())["cells"]
        except (OSError, ValueError, KeyError):
            continue
        for cell in cells:
            yield nb_path, cell
