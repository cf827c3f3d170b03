"""Do the notebooks work outside this repository, and does their one-step submission reach the TA?

What Colab or any Jupyter has is a Python with the heavy libraries and our package installed by pip,
and a notebook in a folder of its own. So: the package is built as a wheel and installed into a
fresh virtual environment that cannot see this checkout (its heavy dependencies come from the
course venv's site-packages through a .pth file, minus the editable dgm_utils; no network). Then,
from empty folders, a lecture and both assignments (their student release with the solutions typed
in, as a student who solved them would have it) run in fast mode, ``python -m dgm_utils.submit``
writes their zips, and the TA's collect takes them; hw1's is graded by autograde, in the sandbox.

Colab itself cannot be reached from here: its notebook hook is stood in for in tests/unit/test_submit.py.
"""

from __future__ import annotations

import email.parser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from course_tools import collect, markers
from course_tools import autograde as ag
from course_tools.bootstrap import BOOTSTRAP_ID, PYPROJECT, bootstrap_source, kind_of
from course_tools.nbgrader_course import REPO, copy_course, generate
from course_tools.submission import missing_files
from dgm_utils.meta import Source
from dgm_utils.submit import ASSIGNMENTS

pytestmark = pytest.mark.slow

SOURCE = Source.from_pyproject(PYPROJECT)
SITE = Path(next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()))
LECTURE = REPO / "lectures" / "01_problem_and_histograms.ipynb"  # the cheapest lecture in fast mode (~15 s)
STUDENTS = {"hw1_foundations": "alice", "hw2_autoregressive": "bob"}
RUN_NOTEBOOK = """\
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, kernel_name="python3", timeout=900, resources={"metadata": {"path": "."}}).execute()
nbformat.write(nb, sys.argv[1])
"""


def editable_entry(name: str) -> bool:
    """The course venv's own install of dgm_utils (the editable finder, its .pth, its metadata)."""
    low = name.lower().replace("-", "_")
    return low.startswith(("dgm_utils", "__editable__")) or low.endswith(".pth")


@dataclass
class Clean:
    """A virtual environment that sees the course venv's libraries but neither this checkout nor its dgm_utils."""

    root: Path
    python: Path
    env: dict[str, str]

    def run(self, args: list[str], cwd: Path, timeout: float = 900, extra: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(self.python), *args], cwd=cwd, env={**self.env, **(extra or {})},
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{args} exited {proc.returncode} in {cwd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def notebook(self, path: Path) -> dict:
        """Run ``path`` top to bottom in a kernel of this venv, in its folder, and save it (nbconvert's way)."""
        self.run([str(self.root / "run_notebook.py"), path.name], cwd=path.parent)
        return json.loads(path.read_text())


def make_clean(root: Path, mnist: Path) -> Clean:
    """A venv at root/venv without pip or dgm_utils, whose .pth adds a copy of the course venv's
    site-packages made of symlinks, leaving out dgm_utils' editable install; a kernel spec of its own."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=120)
    python = root / "venv" / "bin" / "python"
    shadow = root / "course-site-packages"
    shadow.mkdir()
    for entry in SITE.iterdir():
        if not editable_entry(entry.name):
            (shadow / entry.name).symlink_to(entry)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "course-libraries.pth").write_text(f"{shadow}\n")
    spec = root / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                                  "display_name": "clean", "language": "python"}))
    (root / "run_notebook.py").write_text(RUN_NOTEBOOK)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "PYTHONHOME")}
    env.update(PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}", JUPYTER_PATH=str(root / "jupyter"),
               JUPYTER_PLATFORM_DIRS="1", HOME=str(root / "home"), DGM_FAST="1", DGM_DATA_DIR=str(mnist),
               OMP_NUM_THREADS="1", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", MPLBACKEND="Agg")
    (root / "home").mkdir()
    return Clean(root, python, env)


def build_wheel(dest: Path) -> Path:
    """The wheel of what pip would build from the repository: the package's files only, copied first
    (a build in place would write build/ and *.egg-info into the checkout)."""
    src = dest / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "dgm_utils", src / "dgm_utils", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(dest / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    return next((dest / "dist").glob("dgm_utils-*.whl"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def clean(tmp_path_factory, wheel, mnist_dir) -> Clean:
    venv = make_clean(tmp_path_factory.mktemp("clean"), mnist_dir)
    venv.run(["-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], cwd=venv.root)
    return venv


def printed(cell: dict) -> str:
    """What a code cell printed (nbformat stores a stream's text as a string or a list of lines)."""
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))


def solved_release(assignment: str) -> dict:
    """The student release with each solution cell holding the source's solution (a student who solved it)."""
    release = json.loads((REPO / "assignments" / assignment / f"{assignment}.ipynb").read_text())
    source = json.loads((REPO / "solutions" / assignment / f"{assignment}.ipynb").read_text())
    solutions = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in source["cells"]
                 if c["metadata"].get("nbgrader", {}).get("solution")}
    for cell in release["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if cell["metadata"].get("nbgrader", {}).get("solution") and gid in solutions:
            lines = "".join(solutions[gid]).splitlines(keepends=True)
            cell["source"] = [line for line in lines if not any(m in line for m in markers.MARKERS)]
    return release


def test_wheel_holds_the_package_and_asks_only_for_a_notebooks_libraries(wheel):
    """Is the wheel dgm_utils alone (no course_tools, tests, notebooks), with torch, numpy, matplotlib and tqdm
    as its only unconditional requirements, no exact torch pin, and the repository URL in its metadata?"""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(zf.read(meta_name).decode())
    tops = {n.split("/")[0] for n in names}
    assert tops == {"dgm_utils", meta_name.split("/")[0]}, f"the wheel holds more than the package: {sorted(tops)}"
    assert "dgm_utils/submit.py" in names and "dgm_utils/cleanroom/check.py" in names
    core = sorted(r.split(";")[0].strip() for r in meta.get_all("Requires-Dist") if "extra ==" not in r)
    assert [r.split(">")[0].split("=")[0] for r in core] == ["matplotlib", "numpy", "torch", "tqdm"], core
    assert not [r for r in core if "==" in r], f"exact pins would replace Colab's libraries: {core}"
    assert f"Repository, {SOURCE.repository}" in meta.get_all("Project-URL"), meta.get_all("Project-URL")
    assert meta["Version"] == SOURCE.version


def test_clean_venv_cannot_see_the_checkout(clean, tmp_path):
    """From an empty folder, is dgm_utils the wheel's copy inside the clean venv, with its version from the
    metadata, and are neither course_tools nor the checkout importable?"""
    probe = ("import dgm_utils, importlib.util, sys; print(dgm_utils.__file__); print(dgm_utils.__version__); "
             "print(importlib.util.find_spec('course_tools')); print(any(p.startswith(sys.argv[1]) for p in sys.path))")
    out = clean.run(["-c", probe, str(REPO)], cwd=tmp_path).stdout.split()
    assert Path(out[0]).is_relative_to(clean.root / "venv"), f"dgm_utils came from {out[0]}, not the clean venv"
    assert out[1:] == [SOURCE.version, "None", "False"], out


def test_bootstrap_cell_installs_the_package_where_it_is_missing(tmp_path, wheel, mnist_dir):
    """In a kernel without dgm_utils, does the notebooks' bootstrap cell say so, %pip install it (here from
    the wheel instead of GitHub, with no index) and leave it importable without a restart?"""
    bare = make_clean(tmp_path / "bare", mnist_dir)
    cell = bootstrap_source(SOURCE)
    assert SOURCE.pip_spec in cell
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": cell.replace(SOURCE.pip_spec, str(wheel))},
                    {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": "import dgm_utils\nprint('version', dgm_utils.__version__, dgm_utils.__file__)"}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "boot.ipynb").write_text(json.dumps(nb))
    ran = bare.notebook(folder / "boot.ipynb")
    said = [printed(c) for c in ran["cells"]]
    assert "dgm_utils is not installed here: installing" in said[0] and "installed: go on" in said[0], said
    version, where = said[-1].split()[1:3]
    assert version == SOURCE.version and Path(where).is_relative_to(bare.root / "venv"), said[-1]


def test_lecture_runs_from_an_empty_folder(clean, tmp_path):
    """Does a lecture run top to bottom from a folder holding only itself, its bootstrap cell doing nothing?"""
    nb_path = tmp_path / LECTURE.name
    shutil.copy2(LECTURE, nb_path)
    ran = clean.notebook(nb_path)
    errors = [o for c in ran["cells"] if c["cell_type"] == "code" for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{LECTURE.name} failed outside the checkout: {errors[0]['ename']}: {errors[0]['evalue']}"
    boot = [c for c in ran["cells"] if kind_of(c) == BOOTSTRAP_ID]
    if boot:  # the lectures carry it once `python -m course_tools.bootstrap` has run on them
        assert boot[0]["outputs"] == [], f"the bootstrap cell printed where dgm_utils is installed: {boot[0]['outputs']}"


@pytest.fixture(scope="module")
def zips(clean, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """assignment -> (the student's folder after the run, the zip dgm_utils.submit wrote there)."""
    out = {}
    for assignment, student in STUDENTS.items():
        folder = tmp_path_factory.mktemp(assignment)
        for name in ASSIGNMENTS[assignment].files:  # hw2: the checkpoints a student trained earlier
            shutil.copy2(REPO / "solutions" / assignment / "reference" / name, folder / name)
        nb_path = folder / f"{assignment}.ipynb"
        nb_path.write_text(json.dumps(solved_release(assignment), indent=1))
        ran = clean.notebook(nb_path)
        last = printed(ran["cells"][-1])
        assert "saved before this kernel's run began" in last, (
            f"{assignment}: the last cell, run inside Run All, should ask to save first; it said:\n{last}")
        proc = clean.run(["-m", "dgm_utils.submit", assignment, "--student", student], cwd=folder, check=False)
        assert proc.returncode == 0, f"{assignment}: submit exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        assert "visible tests:" in proc.stdout and "PROBLEM" not in proc.stdout, proc.stdout
        out[assignment] = folder, folder / f"{student}__{assignment}.zip"
    return out


def test_submission_zips_hold_what_collect_credits(zips):
    """Does each zip hold <student>__<file> for the notebook and every file the assignment needs, byte for byte?"""
    for assignment, (folder, archive) in zips.items():
        student, req = STUDENTS[assignment], ASSIGNMENTS[assignment]
        with zipfile.ZipFile(archive) as zf:
            got = {n: zf.read(n) for n in zf.namelist()}
        want = {f"{student}__{name}": (folder / name).read_bytes() for name in (req.notebook, *req.files)}
        assert got == want, f"{archive.name}: {sorted(got)} instead of {sorted(want)}"


@pytest.fixture(scope="module")
def course(tmp_path_factory, zips) -> Path:
    """A course copy where both zips, each in an LMS download of the class, went through the TA's collect, with a
    roster of the two students."""
    root = copy_course(tmp_path_factory.mktemp("course"))
    generate(root, "hw1_foundations")
    roster = root / "students.csv"
    roster.write_text("id,first_name,last_name,email\n" + "".join(f"{s},{s},X,{s}@example.org\n" for s in STUDENTS.values()))
    for assignment, (_, archive) in zips.items():
        # As the LMS's "download all submissions" gives it: a folder per student, holding the zip they uploaded.
        download = archive.parent / f"lms-download-{assignment}.zip"
        with zipfile.ZipFile(download, "w") as zf:
            zf.write(archive, f"{STUDENTS[assignment]}/{archive.name}")
        report = collect.collect(root, assignment, download, roster)
        student = STUDENTS[assignment]
        assert report.collected == [student] and not report.missing_files and not report.skipped, report.text()
        assert not report.unmatched and not report.notes, report.text()
    return root


def test_collect_puts_each_zip_where_autograde_reads_it(course, zips):
    """Are the submitted folders the student's files under their plain names, dated, with nothing missing?"""
    for assignment, (folder, _) in zips.items():
        got = course / "submitted" / STUDENTS[assignment] / assignment
        req = ASSIGNMENTS[assignment]
        for name in (req.notebook, *req.files):
            assert (got / name).read_bytes() == (folder / name).read_bytes(), f"{assignment}: {name} changed on the way"
        assert (got / "timestamp.txt").is_file()
        assert missing_files(course, assignment, got) == []


def test_hw1_zip_is_graded_with_full_marks(course, mnist_dir):
    """Does autograde (sandboxed kernel and clean room) give the collected hw1 zip full marks?"""
    summary = ag.grade_class(course, "hw1_foundations", 1, env={"DGM_FAST": "1"}, progress=False)
    outcome = summary.students[STUDENTS["hw1_foundations"]]
    assert outcome.status == "graded" and outcome.score == outcome.max_score > 0, (
        f"{outcome.status} {outcome.score}/{outcome.max_score}: {outcome.reason}")


def test_hw2_zip_is_graded_with_full_marks(course, mnist_dir):
    """Does autograde give the collected hw2 zip (notebook and both checkpoints) full marks?"""
    generate(course, "hw2_autoregressive")
    summary = ag.grade_class(course, "hw2_autoregressive", 1, env={"DGM_FAST": "1"}, progress=False)
    outcome = summary.students[STUDENTS["hw2_autoregressive"]]
    assert outcome.status == "graded" and outcome.score == outcome.max_score > 0, (
        f"{outcome.status} {outcome.score}/{outcome.max_score}: {outcome.reason}")
