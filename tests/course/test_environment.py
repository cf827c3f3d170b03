"""Do the environment files agree: pyproject.toml, requirements.lock and environment.yml?"""

from __future__ import annotations

import re
import tomllib

import yaml

from course_tools.nbgrader_course import REPO

LOCK = REPO / "requirements.lock"


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert "==" in line, f"requirements.lock: {line!r} is not an exact pin (name==version)"
        name, version = line.split("==", 1)
        pins[_norm(name)] = version
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> str:
    return _norm(re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0])


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_lock_pins_every_declared_dependency() -> None:
    """Is every dependency of pyproject.toml (core, course, dev) pinned exactly in the lock?"""
    project = _pyproject()["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    pins = _lock()
    missing = sorted({_requirement_name(r) for r in declared} - set(pins))
    assert missing == [], f"not in requirements.lock: {missing}; run `make lock`"


def test_torch_pin_is_the_same_everywhere() -> None:
    """Is torch pinned to one plain version (no +cpu local tag) in the course extra and the lock, with no
    torchvision? The package itself asks only for a floor, so that a pip install on Colab keeps its torch."""
    pins = _lock()
    project = _pyproject()["project"]
    course_torch = [r for r in project["optional-dependencies"]["course"] if _requirement_name(r) == "torch"]
    assert course_torch == [f"torch=={pins['torch']}"], (course_torch, pins["torch"])
    core_torch = [r for r in project["dependencies"] if _requirement_name(r) == "torch"]
    assert len(core_torch) == 1 and "==" not in core_torch[0], (
        f"dgm_utils must not pin torch exactly ({core_torch}): pip would replace Colab's own torch")
    assert "+" not in pins["torch"], "the lock must pin torch without a local tag so one pin serves CPU and CUDA"
    assert "torchvision" not in pins and "torchaudio" not in pins, "nothing may pull torchvision/torchaudio"
    assert not [n for n in pins if n.startswith("nvidia-")], "CUDA runtime wheels must not be in the lock"


def test_course_stack_versions() -> None:
    """Does the lock hold the stack the course is built for: JupyterLab 4, nbgrader 0.9, nbval?"""
    pins = _lock()
    assert pins["jupyterlab"].startswith("4."), pins["jupyterlab"]
    assert pins["nbgrader"].startswith("0.9."), pins["nbgrader"]
    for name in ("nbval", "numpy", "matplotlib", "tqdm", "pytest"):
        assert name in pins, f"{name} missing from the lock"


def test_environment_yml_uses_the_lock_and_python() -> None:
    """Does environment.yml give the same Python as pyproject and install exactly the lock?"""
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    deps = env["dependencies"]
    python = [d for d in deps if isinstance(d, str) and d.startswith("python")]
    assert python == ["python=3.11"], python
    # The lock is built for 3.11 (make setup insists on it); the package installs on newer ones (Colab).
    assert _pyproject()["project"]["requires-python"] == ">=3.11"
    assert "pip" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert pip_section == ["-r requirements.lock", "-e ."], pip_section


def test_makefile_installs_from_the_lock(tmp_path) -> None:
    """Does `make setup` (as `make -n` prints it for a venv not built yet) install the lock, not loose
    requirements, and then the package without deps?"""
    import subprocess

    recipe = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO), "setup", f"VENV={tmp_path / 'venv'}"],
                            capture_output=True, text=True, check=True, timeout=60).stdout
    assert "pip install -r requirements.lock" in recipe, recipe
    assert "pip install --no-deps --no-build-isolation -e ." in recipe, recipe


def test_every_make_recipe_runs_with_the_venv_first_on_path(tmp_path) -> None:
    """Do the course's recipes (make lab among them) find the venv's helpers by name (nbgrader runs
    `alembic`, JupyterLab runs `jupyter-*`) even when the caller's PATH lacks the venv? A recipe added
    with --eval prints the PATH every recipe gets (make lab once had the caller's, and the formgrader
    failed on its first visit)."""
    import os
    import subprocess

    bare = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    for venv in (REPO / ".venv", tmp_path / "elsewhere"):
        out = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), f"VENV={venv}",
                              "--eval", 'dgm-show-path: ; @echo "$$PATH"', "dgm-show-path"],
                             capture_output=True, text=True, check=True, timeout=60, env={**os.environ, "PATH": bare},
                             cwd=tmp_path).stdout.strip()
        assert out.split(os.pathsep)[0] == str(venv / "bin"), f"expected {venv / 'bin'} first on PATH, got {out}"
