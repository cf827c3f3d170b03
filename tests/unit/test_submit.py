"""Does dgm_utils.submit refuse what the grader cannot use, say how to fix it, and write the zip collect credits?

Notebooks here are small JSON stand-ins; the visible tests (the clean room) are left out (run_tests=False),
tests/course/test_anywhere.py runs them on the real assignments.
"""

from __future__ import annotations

import json
import os
import sys
import time
import types
import zipfile
from pathlib import Path

import pytest
import torch

from dgm_utils import submit as sub
from dgm_utils.scoring import CHECKPOINT_LIMIT_MB, HW2_CHECKPOINT_FILES

HW1, HW2 = "hw1_foundations", "hw2_autoregressive"


def code(n: int | None, source: str = "x = 1", error: bool = False, grade_id: str | None = None) -> dict:
    outputs = [{"output_type": "error", "ename": "NotImplementedError", "evalue": "", "traceback": []}] if error else []
    meta = {"nbgrader": {"grade_id": grade_id, "grade": False, "locked": True, "solution": False}} if grade_id else {}
    return {"cell_type": "code", "execution_count": n, "metadata": meta, "outputs": outputs, "source": source}


def notebook(*cells: dict) -> dict:
    return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# title"}, *cells],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def write(folder: Path, nb: dict, assignment: str = HW1) -> Path:
    path = folder / f"{assignment}.ipynb"
    path.write_text(json.dumps(nb))
    return path


def checkpoint(path: Path, size: int = 10) -> None:
    torch.save({"w": torch.zeros(size)}, path)


@pytest.fixture(autouse=True)
def _no_student_env(monkeypatch):
    for name in sub.STUDENT_ENV:
        monkeypatch.delenv(name, raising=False)


# --- was it saved after Restart & Run All -----------------------------------------------------

@pytest.mark.parametrize(("counts", "level", "words"), [
    ([1, 2, 3], "ok", "In [1]..In [3]"),
    ([None, None, None], "error", "no cell as run"),
    ([1, 3, 2], "error", "ran as In [3], not In [2]"),
    ([2, 3, 4], "error", "ran as In [2], not In [1]"),
    ([1, None, 3], "error", "never ran, but cell 3 did"),
    ([1, 2, None], "error", "never ran"),
])
def test_run_order(counts, level, words):
    """Are counts 1..n ok, and a rerun, a skipped cell, a restart-less run or an unrun tail an error that says which?"""
    found = sub.check_run(notebook(*(code(n) for n in counts)))
    assert [f.level for f in found] == [level] and words in found[0].text, found


def test_run_all_stopped_at_an_error_is_a_problem_not_an_error():
    """A partly done homework: Run All stopped at a failing cell. Is that a problem (the zip is written) naming the cell?"""
    found = sub.check_run(notebook(code(1), code(2, "check()", error=True), code(None), code(None)))
    assert [f.level for f in found] == ["problem"], found
    assert "stopped at code cell 2 ('check()') with NotImplementedError" in found[0].text and "2 cells below" in found[0].text


def test_the_submit_cell_itself_is_not_counted():
    """Whatever the submit cell's own count (run again after saving), does a clean run pass?"""
    nb = notebook(code(1), code(2), code(7, grade_id=sub.SUBMIT_CELL_ID))
    assert [f.level for f in sub.check_run(nb)] == ["ok"]


def test_in_a_kernel_a_file_saved_before_the_run_is_refused(tmp_path, monkeypatch):
    """Does the submit cell, run inside Run All before the student saved, ask to save and run it again?"""
    path = write(tmp_path, notebook(code(1), code(2)))
    monkeypatch.setattr(sub, "IMPORTED_AT", time.time() + 60)
    found = sub.check_saved(path, json.loads(path.read_text()), in_kernel=True)
    assert found[0].level == "error" and "Save the notebook now" in found[0].text
    monkeypatch.setattr(sub, "IMPORTED_AT", time.time() - 60)
    monkeypatch.setattr(sub, "_kernel_count", lambda: 30)  # the kernel ran In [29]; an autosave shows In [2]
    found = sub.check_saved(path, json.loads(path.read_text()), in_kernel=True)
    assert found[0].level == "error" and "autosave" in found[0].text
    monkeypatch.setattr(sub, "_kernel_count", lambda: 3)
    assert sub.check_saved(path, json.loads(path.read_text()), in_kernel=True)[0].level == "ok"


def test_from_a_shell_an_old_save_is_pointed_out(tmp_path):
    path = write(tmp_path, notebook(code(1)))
    old = time.time() - 3 * 86400
    os.utime(path, (old, old))
    found = sub.check_saved(path, {}, in_kernel=False)
    assert found[0].level == "problem" and "72 hours ago" in found[0].text


# --- the files and the zip --------------------------------------------------------------------

def test_hw1_zip_is_named_and_dated_the_way_collect_reads_it(tmp_path):
    """Is <student>__<id>.zip written with <student>__<id>.ipynb, dated with the file's time in UTC
    (what the TA's collect takes for late penalties), and exit 0?"""
    from course_tools.collect import member_time  # the TA's reader of member dates

    path = write(tmp_path, notebook(code(1), code(2)))
    result = sub.submit(HW1, "alice", tmp_path, run_tests=False)
    assert result.exit_code == 0 and result.zip_path == tmp_path / f"alice__{HW1}.zip", result.report()
    with zipfile.ZipFile(result.zip_path) as zf:
        assert zf.namelist() == [f"alice__{HW1}.ipynb"]
        assert zf.read(f"alice__{HW1}.ipynb") == path.read_bytes()
        when = member_time(zf.getinfo(f"alice__{HW1}.ipynb"))
    assert abs(when.timestamp() - path.stat().st_mtime) < 1, (when, path.stat().st_mtime)
    assert "Upload this zip" in result.report()


def test_hw2_checkpoints_checked_and_zipped(tmp_path):
    """With both checkpoints: do they go in the zip, each reported with its size and limit?"""
    write(tmp_path, notebook(code(1)), HW2)
    for name in HW2_CHECKPOINT_FILES:
        checkpoint(tmp_path / name)
        os.utime(tmp_path / name, (time.time() - 60, time.time() - 60))
    result = sub.submit(HW2, "bob", tmp_path, run_tests=False)
    assert result.exit_code == 0, result.report()
    assert result.members == [f"bob__{HW2}.ipynb", *(f"bob__{n}" for n in HW2_CHECKPOINT_FILES)]
    assert all(f"limit {CHECKPOINT_LIMIT_MB:g} MB" in result.report() for _ in HW2_CHECKPOINT_FILES)


@pytest.mark.parametrize(("damage", "words", "zipped"), [
    ("missing", "is missing", False),
    ("too_big", f"over the {CHECKPOINT_LIMIT_MB:g} MB limit: it is left out", False),
    ("not_torch", "cannot be read by torch.load(weights_only=True)", True),
    ("not_a_state_dict", "is not a state_dict", True),
    ("newer", "written after the notebook was saved", True),
])
def test_a_bad_checkpoint_is_a_problem_that_says_what_to_do(tmp_path, damage, words, zipped):
    """Is each bad checkpoint a PROBLEM (zip written, exit 1) that says what is wrong, and left out of the zip
    where the grader would not take it anyway?"""
    nb_path = write(tmp_path, notebook(code(1)), HW2)
    past = time.time() - 600
    os.utime(nb_path, (past, past))
    good, bad = HW2_CHECKPOINT_FILES
    checkpoint(tmp_path / good)
    os.utime(tmp_path / good, (past - 60, past - 60))
    target = tmp_path / bad
    if damage == "too_big":
        checkpoint(target, size=int(CHECKPOINT_LIMIT_MB * 1e6 / 4) + 1000)
    elif damage == "not_torch":
        target.write_bytes(b"not a checkpoint")
    elif damage == "not_a_state_dict":
        torch.save([1, 2, 3], target)
    elif damage == "newer":
        checkpoint(target)
    if target.exists() and damage != "newer":
        os.utime(target, (past - 60, past - 60))
    result = sub.submit(HW2, "bob", tmp_path, run_tests=False)
    assert result.exit_code == 1, result.report()
    problems = [f.text for f in result.problems]
    assert len(problems) == 1 and bad in problems[0] and words in problems[0], problems
    assert (f"bob__{bad}" in result.members) is zipped, result.members


def test_renamed_notebook_writes_no_zip_and_names_the_fix(tmp_path):
    (tmp_path / f"{HW1} (1).ipynb").write_text(json.dumps(notebook(code(1))))
    result = sub.submit(HW1, "alice", tmp_path, run_tests=False)
    assert result.exit_code == 2 and not list(tmp_path.glob("*.zip"))
    assert f"rename yours to {HW1}.ipynb" in result.report()


def test_unrun_notebook_writes_no_zip(tmp_path):
    write(tmp_path, notebook(code(None), code(None)))
    result = sub.submit(HW1, "alice", tmp_path, run_tests=False)
    assert result.exit_code == 2 and result.zip_path is None and not list(tmp_path.glob("*.zip"))
    assert "Restart Kernel and Run All Cells" in result.report()


@pytest.mark.parametrize("student", ["", "../x", "a__b", "x" * 65, "-lead"])
def test_bad_student_ids_are_refused(tmp_path, student):
    write(tmp_path, notebook(code(1)))
    result = sub.submit(HW1, student, tmp_path, run_tests=False)
    assert result.exit_code == 2 and not list(tmp_path.glob("*.zip")), result.report()


def test_student_id_from_the_environment_or_asked(tmp_path, monkeypatch):
    write(tmp_path, notebook(code(1)))
    monkeypatch.setenv("JUPYTERHUB_USER", "hubuser")
    assert sub.submit(HW1, None, tmp_path, run_tests=False).zip_path.name == f"hubuser__{HW1}.zip"
    monkeypatch.delenv("JUPYTERHUB_USER")
    assert sub.submit(HW1, None, tmp_path, run_tests=False, ask=lambda: "asked").zip_path.name == f"asked__{HW1}.zip"
    assert sub.submit(HW1, None, tmp_path, run_tests=False).exit_code == 2


def test_unknown_assignment_is_refused():
    with pytest.raises(sub.SubmitError, match="unknown assignment"):
        sub.submit("hw9", "alice", ".")
    with pytest.raises(SystemExit):
        sub.main(["hw9"])


# --- in a notebook ----------------------------------------------------------------------------

def test_submit_cell_does_nothing_while_graded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    write(tmp_path, notebook(code(1)))
    assert sub.submit_cell(HW1, "alice", tmp_path) is None
    assert "skipped while the notebook is graded" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.zip"))


def test_in_colab_the_notebook_comes_from_colab_and_the_zip_is_downloaded(tmp_path, monkeypatch, capsys):
    """With google.colab stood in for: is the live notebook asked for, saved beside the checkpoints, zipped,
    and the zip handed to files.download? (Colab itself cannot be reached from the tests.)"""
    live = notebook(code(1), code(2), code(None, grade_id=sub.SUBMIT_CELL_ID))
    asked, downloaded = [], []
    message = types.SimpleNamespace(blocking_request=lambda kind, **kw: asked.append(kind) or {"ipynb": live})
    files = types.SimpleNamespace(download=downloaded.append)
    colab = types.ModuleType("google.colab")
    colab._message, colab.files = message, files
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab._message", message)
    monkeypatch.setitem(sys.modules, "google.colab.files", files)
    sub.submit_cell(HW1, "carol", tmp_path)
    out = capsys.readouterr().out
    assert asked == ["get_ipynb"], asked
    assert json.loads((tmp_path / f"{HW1}.ipynb").read_text()) == live
    assert downloaded == [str(tmp_path / f"carol__{HW1}.zip")], out
    assert "Your browser downloads the zip" in out
