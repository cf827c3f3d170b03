"""Can a student's kernel get anything but its own sanitised page into its feedback?

The attacks of the corpus, planted the way a grading kernel can plant them: files and symlinks in
autograded/<student>/<assignment>/ (the folder it ran in), active HTML and huge outputs in the
notebook it produced, the graded notebook itself replaced by a link. Each test grades a small
class (students "attacker" and "classmate") with plain nbgrader, plants the attack, runs what
`make feedback` runs (course_tools.feedback.main) and checks every file under feedback/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from nbformat import from_dict

from grading_corpus import ASSIGNMENT, GOOD, NB, _with_solution, make_course
from course_tools import feedback, mathjax
from course_tools.nbgrader_course import REPO, nbgrader

SENTINEL = "HIDDEN_SENTINEL_7Q"  # in the hidden test's assertion message (fixture source)
STUDENTS = ("attacker", "classmate")
TA_SECRET = "TA_PRIVATE_NOTE_4F"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
ACTIVE_IN_BODY = ("<script", "onerror", "onload", "javascript:", "<iframe", "<object", "<embed", "http-equiv",
                  "<base", "<form")


@pytest.fixture(scope="module")
def graded_pair(tmp_path_factory) -> Path:
    """The ps0 fixture course with two correct submissions, autograded by plain nbgrader (no sandbox)."""
    root = make_course(tmp_path_factory.mktemp("attacks") / "course")
    release = json.loads((root / "assignments" / ASSIGNMENT / NB).read_text())
    for student in STUDENTS:
        nbgrader(root, "db", "student", "add", student)
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / NB).write_text(json.dumps(_with_solution(release, GOOD), indent=1))
        (folder / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC")
        nbgrader(root, "autograde", ASSIGNMENT, "--student", student, "--force", "--create")
    return root


@pytest.fixture
def course(graded_pair, tmp_path) -> Path:
    """A private copy of the graded pair to attack."""
    dest = tmp_path / "course"
    shutil.copytree(graded_pair, dest)
    return dest


def assert_reported(leaks: str, expected: dict[str, str]) -> None:
    """Does the leak scan's text name each finding (a needle -> what it is, for the message)?"""
    for needle, what in expected.items():
        assert needle in leaks, f"expected the scan to report {what} ({needle!r}); it reported:\n{leaks}"


def make_feedback(root: Path, *args: str) -> int:
    """What `make feedback ASSIGNMENT=ps0` runs, on ``root``."""
    return feedback.main([ASSIGNMENT, "--root", str(root), *args])


def graded_notebook(root: Path, student: str = "attacker") -> Path:
    return root / "autograded" / student / ASSIGNMENT / NB


def feedback_files(root: Path) -> list[Path]:
    """Every entry under feedback/, links included and not followed."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root / "feedback"):
        out += [Path(dirpath) / n for n in dirnames + filenames if (Path(dirpath) / n).is_symlink()]
        out += [Path(dirpath) / n for n in filenames if not (Path(dirpath) / n).is_symlink()]
    return out


def mathjax_copy(root: Path, path: Path) -> bool:
    """True for a plain file root/feedback/<student>/<assignment>/mathjax/... that is byte for byte the
    file of course_tools.mathjax's copy (the MathJax a page loads)."""
    parts = path.relative_to(root).parts
    return (len(parts) > 4 and parts[0] == "feedback" and parts[3] == mathjax.FOLDER and path.is_file()
            and not path.is_symlink() and mathjax.is_copy("/".join(parts[4:]), path.read_bytes()))


def body(page: Path) -> str:
    """The page after its first <body> tag: where a cell's content goes (the head is the template's)."""
    text = page.read_text()
    return text[text.index("<body"):]


def edit_notebook(path: Path, change) -> None:
    nb = json.loads(path.read_text())
    change(nb)
    path.write_text(json.dumps(nb, indent=1))


def solution_cell(nb: dict) -> dict:
    return next(c for c in nb["cells"] if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution"))


def test_make_feedback_runs_this_module():
    """Is `make feedback` the code these tests exercise: mk/grading.mk's recipe runs `python -m course_tools.feedback`?"""
    makefile = (REPO / "mk" / "grading.mk").read_text()
    recipe = re.search(r"^feedback:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "expected a feedback: target in mk/grading.mk"
    assert re.search(r"python -m course_tools\.feedback \$\(ASSIGNMENT\)", recipe.group(1)), (
        f"expected the feedback recipe to run `python -m course_tools.feedback $(ASSIGNMENT)`; it is:\n{recipe.group(1)}")


def test_formgrader_button_renders_with_the_same_preprocessors():
    """Does nbgrader_config.py give the formgrader's Generate Feedback the list make feedback uses (sanitiser included)?"""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    assert list(config.GenerateFeedback.preprocessors) == feedback.FEEDBACK_PREPROCESSORS


@pytest.mark.slow
def test_planted_files_and_links_never_reach_feedback(course, tmp_path):
    """Links to the gradebook, the solutions, a TA file and a classmate's notebook, a 50 MB file: is only ps0.html sent?"""
    ta_file = tmp_path / "ta_private" / "notes.txt"
    ta_file.parent.mkdir()
    ta_file.write_text(TA_SECRET)
    ta_file.chmod(0o600)
    folder = graded_notebook(course).parent
    links = {"gradebook.db": course / "gradebook.db", "solution.txt": course / "solutions" / ASSIGNMENT / NB,
             "ta_notes.txt": ta_file, "classmate.json": graded_notebook(course, "classmate"),
             "solutions_dir": course / "solutions"}
    for name, target in links.items():
        (folder / name).symlink_to(target)
    hidden = feedback.hidden_lines(course / "solutions" / ASSIGNMENT)
    (folder / "hidden_tests.txt").write_text("\n".join(sorted(hidden)))  # what a kernel that read them writes
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.txt").write_text("PLANTED_DEEP_FILE")
    with open(folder / "big.bin", "wb") as fh:  # sparse: 50 MB to copy, nothing on this disk
        fh.truncate(50_000_000)

    # Both pages show the student's own correct answer, a solution line: theirs, so no finding.
    assert make_feedback(course) == 0, "expected clean feedback for both students"

    for student in STUDENTS:
        held = sorted(os.listdir(course / "feedback" / student / ASSIGNMENT))
        assert held == sorted(["ps0.html", mathjax.FOLDER]), (
            f"expected feedback/{student}/ps0/ to hold only ps0.html and its MathJax, it holds {held}")
    total = 0
    for path in feedback_files(course):
        assert not path.is_symlink(), f"{path}: a symlink in feedback/"
        if mathjax_copy(course, path):
            continue
        data = path.read_bytes()
        total += len(data)
        for secret in (SENTINEL.encode(), b"SQLite format 3", TA_SECRET.encode(), b"PLANTED_DEEP_FILE"):
            assert secret not in data, f"{path}: holds {secret!r}"
    assert total < 2_000_000, f"expected two pages of well under 1 MB each in feedback/, found {total} bytes"
    assert ta_file.read_text() == TA_SECRET and stat.S_IMODE(ta_file.stat().st_mode) == 0o600, \
        "the TA's file outside the course was changed"
    assert not list((course / "exports" / "feedback-staging").glob("*")), "expected no staging folder left behind"
    assert feedback.find_leaks(course, ASSIGNMENT) == []


def _attack_outputs(nb: dict) -> None:
    """Active HTML of every kind in the notebook's outputs, cells and metadata (each payload says PWN)."""
    cell = solution_cell(nb)
    cell["outputs"] = [
        {"output_type": "display_data", "metadata": {}, "data": {
            "text/plain": "<IPython.core.display.HTML object>",
            "text/html": ("<b>SAFE_HTML_OK</b><script>alert('PWN_1')</script>"
                          "<img src=x onerror=\"alert('PWN_2')\"><a href=\"javascript:alert('PWN_3')\">link</a>"
                          "<iframe src=\"https://evil.example/PWN_4\"></iframe><object data=\"PWN_5\"></object>"
                          "<embed src=\"PWN_6\"><meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/PWN_7\">"
                          "<base href=\"https://evil.example/PWN_8\"><form action=\"https://evil.example/PWN_9\">"
                          "<input name=\"q\"></form><div onmouseover=\"alert('PWN_10')\">hover</div>")}},
        {"output_type": "display_data", "metadata": {}, "data": {
            "application/javascript": "alert('PWN_11')", "text/plain": "<IPython.core.display.Javascript object>"}},
        {"output_type": "display_data", "metadata": {}, "data": {
            "image/svg+xml": "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert('PWN_12')</script></svg>"}},
        {"output_type": "display_data", "metadata": {}, "data": {
            "text/markdown": "**SAFE_MDOUT_OK** [x](javascript:alert('PWN_13')) <script>alert('PWN_14')</script>"}},
        {"output_type": "display_data", "metadata": {}, "data": {
            "application/vnd.jupyter.widget-view+json": {"model_id": "PWN_15", "version_major": 2, "version_minor": 0},
            "text/plain": "widget"}},
        {"output_type": "execute_result", "execution_count": 1, "metadata": {"isolated": True}, "data": {
            "image/png": PNG, "text/plain": "<Figure>"}},
    ]
    nb["cells"].insert(nb["cells"].index(cell) + 1, {
        "cell_type": "markdown", "id": "planted-markdown", "metadata": {},
        "source": ("**SAFE_MD_OK** <script>alert('PWN_16')</script> <img src=\"x\" onerror=\"alert('PWN_17')\"> "
                   "[click](javascript:alert('PWN_18')) <iframe src=\"https://evil.example/PWN_19\"></iframe>")})
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"m": {"model_name": "</script><script>alert('PWN_20')</script>", "model_module": "x",
                        "model_module_version": "1", "state": {}}}, "version_major": 2, "version_minor": 0}}


@pytest.mark.slow
def test_active_html_in_outputs_and_markdown_is_removed(course):
    """Script, event handlers, javascript: URLs, iframes, forms, SVG script, widgets: is none left in the page?"""
    edit_notebook(graded_notebook(course), _attack_outputs)
    assert make_feedback(course) == 0
    page = course / "feedback" / "attacker" / ASSIGNMENT / "ps0.html"
    text, rest = page.read_text(), body(page).lower()
    assert "PWN" not in text, "a payload reached the page: " + ", ".join(sorted(set(re.findall(r"PWN_\d+", text))))
    for needle in ACTIVE_IN_BODY:
        assert needle not in rest, f"expected no {needle!r} in the page's body"
    assert "<b>SAFE_HTML_OK</b>" in text, "expected the harmless part of the HTML output kept"
    assert "<strong>SAFE_MD_OK</strong>" in text, "expected the markdown cell rendered"
    assert "<strong>SAFE_MDOUT_OK</strong>" in text, "expected the markdown output rendered"
    assert PNG in text, "expected the PNG output kept"
    assert "return x * x" in re.sub(r"<[^>]+>", "", text), "expected the student's code in the page"
    assert feedback.find_leaks(course, ASSIGNMENT) == []


@pytest.mark.slow
def test_huge_outputs_are_cut(course):
    """A 5 MB print and a 3 MB HTML output: is the page small, with a note saying what was left out?"""
    def flood(nb: dict) -> None:
        solution_cell(nb)["outputs"] = [
            {"output_type": "stream", "name": "stdout", "text": "spam " * 1_000_000},
            {"output_type": "display_data", "metadata": {}, "data": {"text/html": "<p>ham</p>" * 300_000}}]
    edit_notebook(graded_notebook(course), flood)
    assert make_feedback(course) == 0
    page = course / "feedback" / "attacker" / ASSIGNMENT / "ps0.html"
    assert page.stat().st_size < 1_000_000, f"expected a page under 1 MB, it is {page.stat().st_size} bytes"
    assert page.read_text().count("is not shown here") == 2, "expected one note per oversized output"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["symlink", "hardlink"])
def test_graded_notebook_replaced_by_a_link_is_refused(course, how, capsys):
    """The kernel links its graded notebook to the solution: no page for it, a non-zero exit, the classmate served."""
    nb, solution = graded_notebook(course), course / "solutions" / ASSIGNMENT / NB
    nb.unlink()
    (nb.symlink_to if how == "symlink" else nb.hardlink_to)(solution)
    assert make_feedback(course) != 0, "expected make feedback to fail when a graded notebook is a link"
    err = capsys.readouterr().err
    assert "attacker" in err and ("symbolic link" in err or "hard links" in err), \
        f"expected the refusal to name the student and the link; stderr:\n{err}"
    assert not (course / "feedback" / "attacker" / ASSIGNMENT / "ps0.html").exists(), \
        "expected no page rendered from a linked notebook"
    assert (course / "feedback" / "classmate" / ASSIGNMENT / "ps0.html").is_file(), "expected the classmate's page"
    for path in feedback_files(course):
        data = path.read_bytes()
        assert b"### BEGIN SOLUTION" not in data and SENTINEL.encode() not in data, f"{path}: holds the solution source"


@pytest.mark.slow
def test_returned_files_only_when_listed_and_plain(course, tmp_path, capsys):
    """With --return '*.png': is a plain plot.png returned, a linked one refused, and a .txt still kept back?"""
    folder = graded_notebook(course).parent
    (folder / "plot.png").write_bytes(b"\x89PNG plot")
    (folder / "notes.txt").write_text("not listed")
    (tmp_path / "secret.png").write_bytes(b"\x89PNG " + TA_SECRET.encode())
    (folder / "stolen.png").symlink_to(tmp_path / "secret.png")
    assert make_feedback(course, "--return", "*.png") == 1, "expected the linked file to fail the run"
    assert "stolen.png is a symbolic link" in capsys.readouterr().err
    held = sorted(os.listdir(course / "feedback" / "attacker" / ASSIGNMENT))
    assert held == sorted([mathjax.FOLDER, "plot.png", "ps0.html"]), f"expected the page, its MathJax and plot.png only, got {held}"
    assert feedback.find_leaks(course, ASSIGNMENT, returned=["*.png"]) == []


@pytest.mark.slow
def test_leak_scan_reads_every_file_and_make_feedback_fails(course, capsys):
    """Text files, a copied notebook, a symlink, a FIFO, a stray file, script in a page: all reported, exit 1?"""
    source = (course / "solutions" / ASSIGNMENT / NB).read_text()
    hidden = sorted(feedback.hidden_lines(course / "solutions" / ASSIGNMENT))
    clean = "<html><head><title>ps0</title></head><body><p>ok</p></body></html>"
    attacker = course / "feedback" / "attacker" / ASSIGNMENT
    attacker.mkdir(parents=True)
    (attacker / "ps0.html").write_text(clean)
    (attacker / "notes.txt").write_text("\n".join(hidden))
    (attacker / "solution.ipynb").write_text(source)  # hidden lines JSON-escaped
    (attacker / "gradebook.html").symlink_to(course / "gradebook.db")
    os.mkfifo(attacker / "pipe")
    (attacker / "evil.html").write_text("<html><body><script>alert(1)</script></body></html>")
    (course / "feedback" / "stray.txt").write_text("hello")
    ghost = course / "feedback" / "ghost" / ASSIGNMENT
    ghost.mkdir(parents=True)
    (ghost / "ps0.html").write_text("<html><body><img src=x onerror=alert(1)><pre>return x * x</pre></body></html>")

    leaks = "\n".join(feedback.find_leaks(course, ASSIGNMENT))
    expected = {
        "feedback/attacker/ps0/notes.txt: contains a hidden-test line": "hidden lines in a text file",
        "feedback/attacker/ps0/solution.ipynb: contains a hidden-test line: assert math.isclose":
            "a hidden line with quotes, JSON-escaped in a notebook",
        "feedback/attacker/ps0/solution.ipynb: contains the nbgrader marker '### BEGIN HIDDEN TESTS'": "a marker",
        "feedback/attacker/ps0/solution.ipynb: not a feedback page": "a notebook that is not a page",
        "feedback/attacker/ps0/gradebook.html: is a symbolic link": "a symlink",
        "feedback/attacker/ps0/pipe: is a special file": "a FIFO",
        "feedback/attacker/ps0/evil.html: contains a <script> tag": "a script in a page",
        "feedback/stray.txt: not a feedback page": "a stray file",
        "feedback/ghost/ps0/ps0.html: contains an event handler": "an on* attribute",
        "feedback/ghost/ps0/ps0.html: contains a solution line: return x * x": "a solution line ghost never handed in",
    }
    assert_reported(leaks, expected)
    assert "feedback/attacker/ps0/ps0.html" not in leaks, f"expected the clean page not reported:\n{leaks}"

    # make feedback regenerates only what it grades; the planted files stay and fail the run.
    assert make_feedback(course, "--student", "classmate") == 1
    err = capsys.readouterr().err
    assert "must NOT be sent" in err and "notes.txt" in err, f"expected the findings printed; stderr:\n{err}"


@pytest.mark.slow
def test_mathjax_copy_travels_with_the_pages_and_is_checked_file_by_file(course, capsys):
    """Does each feedback folder get the MathJax its page loads (from the lock, not a CDN), and is anything
    in mathjax/ that is not byte for byte that copy (an edited file, an added one, a link) still a finding?"""
    assert make_feedback(course) == 0, f"expected clean feedback; stderr:\n{capsys.readouterr().err}"
    folder = course / "feedback" / "attacker" / ASSIGNMENT
    page = (folder / "ps0.html").read_text()
    assert f'<script src="{mathjax.src("feedback")}"></script>' in page, "expected the page to load the MathJax beside it"
    assert "cdnjs" not in page, "expected no CDN address in the page"
    copy = {p.relative_to(folder / mathjax.FOLDER).as_posix(): p.read_bytes()
            for p in (folder / mathjax.FOLDER).rglob("*") if p.is_file()}
    assert copy == mathjax.feedback_files(), "expected mathjax/ to hold exactly course_tools.mathjax's copy"
    assert feedback.find_leaks(course, ASSIGNMENT) == []

    hidden = sorted(feedback.hidden_lines(course / "solutions" / ASSIGNMENT))
    with open(folder / mathjax.FOLDER / "MathJax.js", "a") as fh:
        fh.write("\n// " + hidden[0] + "\n")
    (folder / mathjax.FOLDER / "config" / "extra.js").write_text("\n".join(hidden))
    (folder / mathjax.FOLDER / "jax" / "page.html").write_text("<html><body><script>alert(1)</script></body></html>")
    (folder / mathjax.FOLDER / "fonts" / "gradebook.woff").symlink_to(course / "gradebook.db")
    (course / "feedback" / "attacker" / mathjax.FOLDER).mkdir()
    (course / "feedback" / "attacker" / mathjax.FOLDER / "MathJax.js").write_bytes(mathjax.feedback_files()["MathJax.js"])
    leaks = "\n".join(feedback.find_leaks(course, ASSIGNMENT))
    expected = {
        "feedback/attacker/ps0/mathjax/MathJax.js: not a feedback page": "an edited MathJax file",
        "feedback/attacker/ps0/mathjax/MathJax.js: contains a hidden-test line": "the hidden line written into it",
        "feedback/attacker/ps0/mathjax/config/extra.js: contains a hidden-test line": "an added file",
        "feedback/attacker/ps0/mathjax/jax/page.html: contains a <script> tag": "an added page with a script",
        "feedback/attacker/ps0/mathjax/fonts/gradebook.woff: is a symbolic link": "a link",
        "feedback/attacker/mathjax/MathJax.js: not a feedback page": "a true copy in the wrong folder",
    }
    assert_reported(leaks, expected)
    assert "feedback/classmate/" not in leaks, f"expected the classmate's untouched copy not reported:\n{leaks}"


# --- the sanitiser on its own (no nbgrader) --------------------------------------------------

def _notebook(outputs: list[dict], markdown: str = "") -> dict:
    cells = [{"cell_type": "code", "id": "c0", "execution_count": 1, "metadata": {}, "source": "x", "outputs": outputs}]
    if markdown:
        cells.append({"cell_type": "markdown", "id": "m0", "metadata": {}, "source": markdown})
    return from_dict({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_sanitiser_drops_active_mime_types_and_keeps_images():
    """JavaScript and widget outputs go, HTML is cleaned, an SVG becomes an inert <img>, a PNG stays."""
    nb = _notebook([
        {"output_type": "display_data", "metadata": {}, "data": {"application/javascript": "alert(1)",
                                                                   "text/javascript": "alert(2)"}},
        {"output_type": "display_data", "metadata": {}, "data": {
            "application/vnd.jupyter.widget-view+json": {"model_id": "m"}, "text/plain": "w"}},
        {"output_type": "display_data", "metadata": {}, "data": {"image/svg+xml": "<svg><rect/></svg>"}},
        {"output_type": "display_data", "metadata": {"image/png": {"width": "1\"><script>"}}, "data": {"image/png": PNG}},
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": "\"><script>alert(3)</script>"}},
    ])
    nb, _ = feedback.SanitiseOutputs().preprocess(nb, {})
    outs = nb.cells[0].outputs
    mimes = [sorted(o.data) for o in outs]
    assert mimes == [["text/plain"], ["text/html"], ["image/png"]], f"unexpected outputs after sanitising: {mimes}"
    assert outs[1].data["text/html"].startswith('<img alt="SVG image" src="data:image/svg+xml;base64,')
    assert outs[2].data["image/png"] == PNG and outs[2].metadata == {}, "expected the PNG kept, its bad width dropped"


def test_notebook_budget_caps_the_page():
    """25 outputs of 0.9 MB each: does the notebook keep at most 20 MB, with notes for the rest?"""
    nb = _notebook([{"output_type": "stream", "name": "stdout", "text": "x" * 900_000} for _ in range(25)])
    nb, _ = feedback.SanitiseOutputs().preprocess(nb, {})
    kept = sum(len(o.text) for o in nb.cells[0].outputs)
    notes = sum("is not shown here" in o.text for o in nb.cells[0].outputs)
    assert kept <= feedback.MAX_NOTEBOOK_CHARS + 25 * 200, f"expected at most 20 MB kept, kept {kept}"
    assert notes == 25 - feedback.MAX_NOTEBOOK_CHARS // 900_000, f"expected a note for each output over budget, {notes}"
