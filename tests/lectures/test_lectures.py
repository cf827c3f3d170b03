"""Checks of the lecture notebooks (lectures/) and of their offline slides (`make slides`).

Executing the notebooks themselves is nbval's job (`pytest --nbval-lax lectures/` in CI);
these tests read the committed notebooks and build the decks into a temporary folder.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
LECTURES = ROOT / "lectures"
NOTEBOOKS = sorted(LECTURES.glob("[0-9][0-9]_*.ipynb"))
MAX_NOTEBOOK_BYTES = 3 * 1024 * 1024
MAX_CHECKPOINT_BYTES = 5 * 1024 * 1024
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}


def _load_slides_builder():
    """lectures/_slides/build.py as a module (loaded by path: `build` is also the name of setuptools' folder)."""
    spec = importlib.util.spec_from_file_location("lecture_slides_build", LECTURES / "_slides" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


slides_build = _load_slides_builder()


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


# ---------------------------------------------------------------------------- notebooks


def test_the_lecture_is_split_into_numbered_notebooks():
    """Are there numbered lecture notebooks covering the four parts, in order?"""
    names = [p.stem for p in NOTEBOOKS]
    assert names == sorted(names) and len(names) >= 4, f"expected >= 4 numbered notebooks, found {names}"
    for part in ("histogram", "monte_carlo", "kl", "autoregressive"):
        assert any(part in n for n in names), f"no notebook named after {part!r} among {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_commit_ready(path: Path):
    """Is every cell given a slide type, is the notebook small, executed in order, and with outputs?"""
    size = path.stat().st_size
    assert size < MAX_NOTEBOOK_BYTES, f"{path.name} is {size / 1e6:.2f} MB; keep it under 3 MB"
    cells = _cells(path)
    missing = [i for i, c in enumerate(cells) if c["metadata"].get("slideshow", {}).get("slide_type") not in SLIDE_TYPES]
    assert not missing, f"{path.name}: cells {missing} have no slideshow.slide_type"
    assert cells[0]["cell_type"] == "markdown" and cells[0]["metadata"]["slideshow"]["slide_type"] == "slide", (
        f"{path.name}: expected a markdown title slide first")
    code = [c for c in cells if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert all(counts) and counts == sorted(counts), f"{path.name}: not executed top to bottom, execution counts {counts}"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name}: committed with an error output: {errors[0].get('ename')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checked_cells_assert_and_print_no_timing(path: Path):
    """Do the NBVAL_CHECK_OUTPUT cells explain themselves, assert, print something, and avoid timings?"""
    checked = [c for c in _cells(path) if c["cell_type"] == "code" and _source(c).startswith("# NBVAL_CHECK_OUTPUT")]
    assert checked, f"{path.name}: expected NBVAL_CHECK_OUTPUT cells for its key numbers"
    for cell in checked:
        src = _source(cell)
        assert src.splitlines()[1].startswith("'''"), f"{path.name}: checked cell lacks a one-line docstring:\n{src[:200]}"
        assert "assert " in src, f"{path.name}: checked cell must also assert its numbers in code:\n{src[:200]}"
        text = "".join("".join(o.get("text", "")) for o in cell["outputs"])
        assert text.strip(), f"{path.name}: checked cell has no printed output to compare:\n{src[:200]}"
        assert not re.search(r"\d\s*(?:ms|s|sec|seconds)\b(?![.\w])|\btim(?:e|ing)\b", text), f"{path.name}: a checked output looks like a timing: {text!r}"


def test_parameter_counts_printed_match_the_closed_forms():
    """Do the committed outputs print the exact parameter counts of the slide (784, 1 + 2*783)?"""
    cells = _cells(LECTURES / "01_problem_and_histograms.ipynb")
    text = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c["outputs"])
    assert str(2**784 - 1) in text, "the exact integer 2^784 - 1 is not printed"
    assert re.search(r"independent \(d = 0\)\s+784\n", text), "784 parameters for independent pixels not printed"
    assert re.search(r"first order \(d = 1\)\s+1567\n", text), "1 + 2*783 = 1567 parameters not printed"


def test_checkpoints_are_small_and_loadable():
    """Are the committed checkpoints a few MB at most, and do they hold a state dict and a full-mode history?"""
    import torch

    paths = sorted((LECTURES / "checkpoints").glob("*.pt"))
    assert {p.stem for p in paths} >= {"markov_mlp", "pixel_rnn"}, f"missing checkpoints, found {[p.name for p in paths]}"
    total = sum(p.stat().st_size for p in paths)
    assert total < MAX_CHECKPOINT_BYTES, f"checkpoints weigh {total / 1e6:.1f} MB; keep them under 5 MB"
    for path in paths:
        checkpoint = torch.load(path, map_location="cpu")
        assert checkpoint["history"]["fast_mode"] is False, f"{path.name} was trained in fast mode; retrain in full mode"
        assert checkpoint["history"]["unit"] == "nats/dim"
        assert all(t.device.type == "cpu" for t in checkpoint["state_dict"].values()), f"{path.name}: save CPU tensors"


# ---------------------------------------------------------------------------- slides


class _Refs(HTMLParser):
    """Collects every src/href/srcset/data attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in {"src", "href", "srcset", "data", "poster"} and value:
                self.refs.append((tag, name, value))


def _off_machine(url: str) -> bool:
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme in {"http", "https", "ftp", "ws", "wss"}


def test_remote_reference_detector_flags_cdn_loads():
    """Does the builder's own offline check catch the loads nbconvert's stock template makes?"""
    stock = ('<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"></script>'
             '<link rel="stylesheet" href="//unpkg.com/reveal.js@4.0.2/dist/reveal.css">'
             "<style>@import url(https://fonts.googleapis.com/css?family=Lato);</style>"
             "<script type=\"module\">import mermaid from 'https://cdn/mermaid.mjs';</script>")
    assert len(slides_build.remote_references(stock)) == 4
    assert slides_build.remote_references('<script src="_static/reveal.js/dist/reveal.js"></script>') == []


@pytest.fixture(scope="module")
def decks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("slides")
    # -o: take .venv/ as up to date; a test must never reinstall the environment it runs in.
    command = ["make", "-s", "-o", ".venv/.installed", "slides", f"SLIDES_DIR={out}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"make slides failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    return out


@pytest.mark.slow
def test_make_slides_builds_one_deck_per_notebook(decks: Path):
    """Does `make slides` write a reveal.js deck for every lecture notebook, with its slides and math?"""
    for notebook in NOTEBOOKS:
        deck = decks / f"{notebook.stem}.slides.html"
        assert deck.is_file(), f"no deck for {notebook.name} in {sorted(p.name for p in decks.iterdir())}"
        html = deck.read_text(encoding="utf-8")
        sections = html.count("<section")
        slides = sum(c["metadata"]["slideshow"]["slide_type"] in {"slide", "subslide"} for c in _cells(notebook))
        assert sections >= slides, f"{deck.name}: {sections} <section>s for {slides} slides"
        assert "Reveal.initialize" in html and "MathJax.Hub.Config" in html
        assert "data:image/png;base64" in html, f"{deck.name}: the figures (outputs) are missing"


@pytest.mark.slow
def test_slides_load_nothing_from_the_network(decks: Path):
    """Does every src/href of every deck resolve to a file next to it, and no CSS import a remote URL?"""
    for deck in sorted(decks.glob("*.slides.html")):
        parser = _Refs()
        parser.feed(deck.read_text(encoding="utf-8"))
        assert parser.refs, f"{deck.name}: found no src/href at all; the parser is not seeing the page"
        remote = [r for r in parser.refs if _off_machine(r[2])]
        assert not remote, f"{deck.name} loads from the network: {remote}"
        for tag, attr, value in parser.refs:
            if value.startswith(("data:", "#", "javascript:")):
                continue
            local = decks / unquote(urlsplit(value).path)
            assert local.is_file(), f"{deck.name}: <{tag} {attr}={value!r}> points at {local}, which does not exist"
    for css in decks.rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        remote = re.findall(r"(?:url\(|@import)\s*['\"]?\s*((?:https?:)?//[^'\")\s]+)", text)
        assert not remote, f"{css.relative_to(decks)} imports from the network: {remote}"
