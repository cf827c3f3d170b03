"""One-step submission: check a saved assignment notebook and its files, then write the zip to upload.

    python -m dgm_utils.submit hw2_autoregressive --student alice      # in the notebook's folder
    # or the last cell of the notebook: submit_cell("hw2_autoregressive")

It checks, in order, and says how to fix what it finds:

1. the notebook ``<assignment>.ipynb`` is there (not renamed), under MAX_NOTEBOOK_MB, and was saved
   after Kernel > Restart Kernel and Run All Cells: its code cells ran as In [1], In [2], ... in
   order, none left unrun (unless Run All stopped at an error: then it says which cell), and it was
   saved recently (in a kernel: after this kernel's run began; from a shell: it says how long ago);
2. every file the assignment needs is there, loadable and under its size cap (hw2: the two
   checkpoints of dgm_utils.scoring.HW2_CHECKPOINTS, at most CHECKPOINT_LIMIT_MB each, read with
   ``torch.load(weights_only=True)``);
3. the visible tests pass when run the way the grader runs them (the clean room:
   dgm_utils.cleanroom.check, which also loads hw2's checkpoints into the notebook's own models).

Then it writes ``<student>__<assignment>.zip`` beside the notebook, whose members are named the way
the TA's ``make collect`` expects them (``<student>__<file>``, docs/ta.md), dated in UTC. Problems
of kind 1 (the notebook itself) write no zip; the others write it anyway, since a partly done
homework still earns points, and are listed: what they concern scores 0.

In Colab the notebook is not a file on the machine: the last cell reads it from Colab, saves it
beside the checkpoints, and offers the zip as a download.

Exit status of the command: 0 zip written, nothing to fix; 1 zip written, with problems listed;
2 no zip.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import scoring
from .runtime import IMPORTED_AT, grading_mode

MB = 1_000_000  # the unit of every cap here and in the TA's collect (10**6 bytes)
MAX_NOTEBOOK_MB = 20.0  # one notebook (solutions/<id>/collect.json reads it from here)
MAX_SUBMISSION_MB = 50.0  # all of a student's files together (collect.json reads it from here)
# A student id as the TA's collect and nbgrader accept it: a safe folder name (course_tools.collect uses this).
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
FLAT_SEPARATOR = "__"  # <student>__<file>: a member name the TA's collect credits to <student>
SUBMIT_CELL_ID = "submit"  # nbgrader grade id of the notebooks' last cell (course_tools.bootstrap writes it)
STALE_AFTER_H = 24.0  # from a shell: a notebook saved longer ago than this is pointed out
STUDENT_ENV = ("DGM_STUDENT_ID", "JUPYTERHUB_USER")  # where the student id is read when not given


@dataclass(frozen=True)
class Requirements:
    """What a submission of one assignment holds: its notebook and the files it loads, with caps in MB."""

    assignment: str
    files: tuple[str, ...] = ()
    max_file_mb: float | None = None  # per file of ``files``

    @property
    def notebook(self) -> str:
        return f"{self.assignment}.ipynb"


# Every assignment of the course. The TA's collect reads the same facts (solutions/<id>/collect.json
# names these constants; tests/course/test_submit_facts.py checks that the two agree).
ASSIGNMENTS = {
    "hw1_foundations": Requirements("hw1_foundations"),
    "hw2_autoregressive": Requirements("hw2_autoregressive", files=scoring.HW2_CHECKPOINT_FILES,
                                       max_file_mb=scoring.CHECKPOINT_LIMIT_MB),
}


class SubmitError(Exception):
    """The submission cannot be checked at all (an unknown assignment, a bad student id)."""


@dataclass
class Finding:
    """One thing the check found: ``error`` (no zip), ``problem`` (zip, but it costs points) or ``ok``."""

    level: str
    text: str

    def line(self) -> str:
        return {"error": "ERROR  ", "problem": "PROBLEM", "ok": "ok     "}[self.level] + " " + self.text


@dataclass
class Submission:
    """What ``submit`` found and wrote."""

    assignment: str
    findings: list[Finding] = field(default_factory=list)
    test_lines: list[str] = field(default_factory=list)
    zip_path: Path | None = None
    members: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "problem"]

    @property
    def exit_code(self) -> int:
        return 2 if self.zip_path is None else (1 if self.problems else 0)

    def add(self, level: str, text: str) -> None:
        self.findings.append(Finding(level, text))

    def report(self) -> str:
        lines = [f"Submission check of {self.assignment}:"] + [f.line() for f in self.findings]
        if self.test_lines:
            lines += ["Visible tests, run the way the grader runs them:"] + [f"    {t}" for t in self.test_lines]
        if self.zip_path is None:
            lines.append("No zip written: fix the ERROR lines above, then run this again.")
        else:
            lines.append(f"Wrote {self.zip_path} ({', '.join(self.members)}).")
            if self.problems:
                lines.append("It holds what there is; each PROBLEM above costs the points of what it concerns. "
                             "Fix them and run this again to replace the zip.")
            lines.append("Upload this zip to the LMS as your submission.")
        return "\n".join(lines)


# --- the checks ----------------------------------------------------------------------------------

def requirements(assignment: str) -> Requirements:
    if assignment not in ASSIGNMENTS:
        raise SubmitError(f"unknown assignment {assignment!r}: one of {', '.join(sorted(ASSIGNMENTS))}")
    return ASSIGNMENTS[assignment]


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]


def _is_submit_cell(cell: dict) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return isinstance(meta, dict) and meta.get("grade_id") == SUBMIT_CELL_ID


def _first_line(cell: dict) -> str:
    src = cell.get("source", "")
    src = "".join(src) if isinstance(src, list) else str(src)
    line = next((l.strip() for l in src.splitlines() if l.strip()), "(empty)")
    return line[:70]


def check_run(nb: dict) -> list[Finding]:
    """Was this notebook saved right after Restart & Run All? Its code cells (but the submit cell) must have
    run as In [1], In [2], ... in order; cells after the last that ran are allowed only below an error,
    where Run All stops."""
    cells = [c for c in _code_cells(nb) if not _is_submit_cell(c)]
    counts = [c.get("execution_count") for c in cells]
    fix = "Kernel > Restart Kernel and Run All Cells, save the notebook, then run this again"
    if not cells:
        return [Finding("error", "the notebook has no code cells: is it the assignment's notebook?")]
    if not any(counts):
        return [Finding("error", f"the saved notebook shows no cell as run: {fix}")]
    ran = next((i for i, n in enumerate(counts) if not n), len(counts))
    for i, n in enumerate(counts[:ran]):
        if n != i + 1:
            return [Finding("error", f"code cell {i + 1} ({_first_line(cells[i])!r}) ran as In [{n}], not In [{i + 1}]: "
                                     f"cells were run out of order or again by hand. {fix}")]
    later = [i for i in range(ran, len(counts)) if counts[i]]
    if later:
        i = later[0]
        return [Finding("error", f"code cell {ran + 1} ({_first_line(cells[ran])!r}) never ran, but cell {i + 1} "
                                 f"did (In [{counts[i]}]): not a top-to-bottom run. {fix}")]
    if ran == len(counts):
        return [Finding("ok", f"saved after a top-to-bottom run: {len(counts)} code cells ran as In [1]..In [{ran}]")]
    last = cells[ran - 1]
    error = next((o for o in last.get("outputs", []) if o.get("output_type") == "error"), None)
    if error is None:
        return [Finding("error", f"code cells {ran + 1}..{len(counts)} never ran (the first: {_first_line(cells[ran])!r}). {fix}")]
    return [Finding("problem", f"Run All stopped at code cell {ran} ({_first_line(last)!r}) with {error.get('ename')}: "
                               f"{str(error.get('evalue', ''))[:150]}. The {len(counts) - ran} cells below did not run here; "
                               "the grader runs every cell, and what needs them fails")]


def check_saved(path: Path, nb: dict, *, in_kernel: bool, now: float | None = None) -> list[Finding]:
    """Does the saved file show the latest run? In a kernel it must be saved after this kernel imported
    dgm_utils (its setup cell) and after the cell before this one ran; from a shell, say how old it is."""
    now = time.time() if now is None else now
    mtime = path.stat().st_mtime
    if in_kernel:
        fix = "Save the notebook now (Ctrl+S, or File > Save), then run this cell again"
        if mtime < IMPORTED_AT:
            return [Finding("error", f"{path.name} was saved before this kernel's run began: it does not show it. {fix}")]
        current = _kernel_count()
        saved = max((c.get("execution_count") or 0 for c in _code_cells(nb)), default=0)
        if current is not None and saved < current - 1:
            return [Finding("error", f"the saved {path.name} shows cells up to In [{saved}], this kernel has run "
                                     f"In [{current - 1}] (an autosave in mid-run?). {fix}")]
        return [Finding("ok", f"{path.name} saved after this kernel's run")]
    age_h = (now - mtime) / 3600
    if age_h > STALE_AFTER_H:
        return [Finding("problem", f"{path.name} was saved {age_h:.0f} hours ago: if you changed anything since, "
                                   "Restart & Run All, save, and run this again")]
    return [Finding("ok", f"{path.name} saved {max(age_h * 60, 0):.0f} minutes ago")]


def check_file(folder: Path, name: str, req: Requirements, notebook_mtime: float) -> tuple[Finding, bool]:
    """(what was found of the required file ``name``, whether it goes into the zip)."""
    path = folder / name
    if not path.is_file():
        return Finding("problem", f"{name} is missing in {folder.resolve()}: run the cells that make it (hw2: "
                                  "the training cells save the checkpoints beside the notebook), then run this again. "
                                  "Without it the tests that need it score 0"), False
    size = path.stat().st_size
    if req.max_file_mb is not None and size > req.max_file_mb * MB:
        return Finding("problem", f"{name} is {size / MB:.2f} MB, over the {req.max_file_mb:g} MB limit: it is left out "
                                  "of the zip (the grader would not take it). Make the model smaller"), False
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (whatever fails, the grader could not load it either)
        return Finding("problem", f"{name} cannot be read by torch.load(weights_only=True) ({type(err).__name__}: "
                                  f"{str(err)[:200]}): save it with torch.save(model.state_dict(), ...)"), True
    if not (isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values())):
        return Finding("problem", f"{name} is not a state_dict (a dict of tensors): save it with "
                                  "torch.save(model.state_dict(), ...)"), True
    note = " (written after the notebook was saved: does the notebook show the run that made it?)" \
        if path.stat().st_mtime > notebook_mtime + 1 else ""
    limit = f", limit {req.max_file_mb:g} MB" if req.max_file_mb is not None else ""
    return Finding("problem" if note else "ok", f"{name}: {size / MB:.2f} MB{limit}, {len(state)} tensors{note}"), True


def valid_student(student: str) -> str:
    student = student.strip()
    if not STUDENT_ID.fullmatch(student) or FLAT_SEPARATOR in student:
        raise SubmitError(f"{student!r} is not a student id: letters, digits and _ . @ - (no '__'), at most 64, "
                          "starting with a letter or digit; use your id as the LMS roster has it")
    return student


def _student_from_env() -> str | None:
    return next((os.environ[k].strip() for k in STUDENT_ENV if os.environ.get(k, "").strip()), None)


# --- the zip -------------------------------------------------------------------------------------

def _utc_member(name: str, mtime: float) -> zipfile.ZipInfo:
    """A member dated ``mtime`` in UTC: the DOS date in UTC and Info-ZIP's UTC timestamp (0x5455), which the
    TA's collect reads for late penalties."""
    info = zipfile.ZipInfo(name, date_time=time.gmtime(max(mtime, 315532800))[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.extra = struct.pack("<HHBi", 0x5455, 5, 1, int(mtime))
    return info


def write_zip(dest: Path, student: str, files: list[Path]) -> list[str]:
    """Write ``files`` into the zip ``dest`` as ``<student>__<name>`` members, atomically; their names."""
    members = [f"{student}{FLAT_SEPARATOR}{p.name}" for p in files]
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for path, member in zip(files, members):
                zf.writestr(_utc_member(member, path.stat().st_mtime), path.read_bytes())
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return members


# --- the whole check -----------------------------------------------------------------------------

def submit(assignment: str, student: str | None = None, folder: str | Path = ".", *, in_kernel: bool = False,
           run_tests: bool = True, ask: Any = None) -> Submission:
    """Check the submission of ``assignment`` in ``folder`` and write its zip there (see the module's doc).

    ``student``: the id for the zip (else $DGM_STUDENT_ID, $JUPYTERHUB_USER, or ``ask()`` if given).
    ``in_kernel``: called from the notebook's own kernel (checks the file was saved after its run).
    """
    req = requirements(assignment)
    folder = Path(folder)
    result = Submission(assignment)
    path = folder / req.notebook
    if not path.is_file():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        hint = (f"; found {', '.join(others)}: rename yours to {req.notebook} (the grader looks for that name)"
                if others else ": run this in the folder of the notebook, or pass --folder")
        result.add("error", f"no {req.notebook} in {folder.resolve()}{hint}")
        return result
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_MB * MB:
        result.add("error", f"{req.notebook} is {size / MB:.1f} MB, over the {MAX_NOTEBOOK_MB:g} MB limit: clear big "
                            "outputs (Edit > Clear Outputs of a plotting cell), run and save again")
        return result
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            raise ValueError("no list of cells")
    except (ValueError, UnicodeDecodeError) as err:
        result.add("error", f"{req.notebook} is not a readable notebook ({err}): save it again from Jupyter")
        return result
    saved = check_saved(path, nb, in_kernel=in_kernel)
    if in_kernel and any(f.level == "error" for f in saved):
        result.findings += saved  # the file predates this run: what it shows of an older run does not matter
        return result
    result.findings += check_run(nb) + saved
    if result.errors:
        return result

    kept = [path]
    for name in req.files:
        finding, keep = check_file(folder, name, req, path.stat().st_mtime)
        result.findings.append(finding)
        if keep:
            kept.append(folder / name)
    total = sum(p.stat().st_size for p in kept)
    if total > MAX_SUBMISSION_MB * MB:
        result.add("error", f"the files weigh {total / MB:.1f} MB together, over the {MAX_SUBMISSION_MB:g} MB limit")
        return result

    if run_tests:
        result.findings.append(_visible_tests(path, result))

    try:
        student = student or _student_from_env() or (ask() if ask is not None else None)
        if not student:
            raise SubmitError("no student id: pass --student <your id as on the LMS roster> (in a notebook: "
                              f"submit_cell({assignment!r}, student=\"...\") in a new cell), or set DGM_STUDENT_ID")
        student = valid_student(student)
    except SubmitError as err:
        result.add("error", str(err))
        return result
    dest = folder / f"{student}{FLAT_SEPARATOR}{assignment}.zip"
    result.members = write_zip(dest, student, kept)
    result.zip_path = dest
    return result


def _visible_tests(path: Path, result: Submission) -> Finding:
    from .cleanroom.check import run_visible

    try:
        run = run_visible(path)
    except Exception as err:  # noqa: BLE001 (a broken harness is reported, never a crash of the check)
        return Finding("problem", f"the visible tests could not run ({type(err).__name__}: {str(err)[:300]})")
    result.test_lines = run.lines()
    if not run.verdicts:
        return Finding("ok", "no visible tests in this notebook")
    failed = [v.cell for v in run.verdicts if not v.passed]
    if failed:
        return Finding("problem", f"visible tests: {run.points:g}/{run.max_points:g} points; failing: {', '.join(failed)} "
                                  "(lines below; hidden tests are graded after you submit)")
    return Finding("ok", f"visible tests: {run.points:g}/{run.max_points:g} points (hidden tests are graded after you submit)")


# --- in a notebook -------------------------------------------------------------------------------

def _kernel() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _kernel_count() -> int | None:
    shell = _kernel()
    return getattr(shell, "execution_count", None) if shell is not None else None


def in_colab() -> bool:
    return "google.colab" in sys.modules


def _colab_notebook() -> dict:
    """The notebook open in Colab, as Colab's frontend holds it (Colab keeps no .ipynb on the machine)."""
    from google.colab import _message  # type: ignore[import-not-found]

    reply = _message.blocking_request("get_ipynb", request="", timeout_sec=60)
    if not isinstance(reply, dict) or not isinstance(reply.get("ipynb"), dict):
        raise SubmitError("Colab did not give the notebook: File > Download > Download .ipynb, then upload it with "
                          "the checkpoints to the LMS")
    return reply["ipynb"]


def _ask() -> str | None:
    try:
        return input("Your student id (as on the LMS roster): ")
    except Exception:  # noqa: BLE001 (no stdin: nbconvert, a frontend without input)
        return None


def submit_cell(assignment: str, student: str | None = None, folder: str | Path = ".") -> None:
    """The last cell of an assignment notebook: ``submit`` from the notebook's own kernel, printed.

    Nothing happens while nbgrader grades or validates. In Colab the notebook is read from Colab, saved
    beside the checkpoints, and the zip is offered as a download.
    """
    if grading_mode() is not None:
        print("submission check: skipped while the notebook is graded")
        return
    folder = Path(folder)
    colab = in_colab()
    if colab:
        try:
            nb = _colab_notebook()
        except Exception as err:  # noqa: BLE001
            print(f"ERROR   could not read the notebook from Colab: {err}")
            return
        (folder / requirements(assignment).notebook).write_text(json.dumps(nb, indent=1), encoding="utf-8")
    result = submit(assignment, student, folder, in_kernel=not colab, ask=_ask)
    print(result.report())
    if colab and result.zip_path is not None:
        from google.colab import files  # type: ignore[import-not-found]

        files.download(str(result.zip_path))
        print("Your browser downloads the zip now (allow the download if it asks); Colab deletes its files when the "
              "session ends.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dgm_utils.submit", description=__doc__.split("\n")[0])
    p.add_argument("assignment", help=f"one of: {', '.join(sorted(ASSIGNMENTS))}")
    p.add_argument("--student", help=f"your id as on the LMS roster (default: ${STUDENT_ENV[0]}, ${STUDENT_ENV[1]}, or asked)")
    p.add_argument("--folder", type=Path, default=Path("."), help="the notebook's folder (default: here)")
    a = p.parse_args(argv)
    try:
        requirements(a.assignment)
    except SubmitError as err:
        p.error(str(err))
    result = submit(a.assignment, a.student, a.folder, ask=_ask if sys.stdin.isatty() else None)
    print(result.report())
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
