"""Build the lecture notebooks into reveal.js decks for a lecture hall, working offline: `make slides`.

    python lectures/_slides/build.py [--out slides] [NOTEBOOK ...]

Each lectures/NN_*.ipynb becomes <out>/NN_*.slides.html, from its committed outputs (nothing is
executed). reveal.js and MathJax are copied from installed Python packages into <out>/_static/, and
the decks refer to them by relative paths, so the folder can be copied to a USB stick and opened
in a browser with no network. Sources of the assets (override with environment variables):

    REVEAL_DIR   a reveal.js distribution (dist/, plugin/): default sphinx-revealjs's copy
    MATHJAX_DIR  a MathJax 2.7 tree (MathJax.js, config/, jax/, fonts/): default jupyter-server-mathjax's

What the build does to every notebook, so that no cell needs editing for the slides
(:class:`LectureHallPreprocessor`; the frame is 1280x720):

- the input of every code cell is hidden; a cell tagged ``show-code`` shows it;
- each figure (image/png, image/svg+xml, image/jpeg output) gets a slide of its own, sized to fill
  the frame; whatever followed it in the same slide moves to the next (vertical) slide;
- left out: stderr (progress bars, warnings), widget outputs (a static page cannot run them: their
  text is a progress bar at 0%), and bare text results such as ``<matplotlib.legend.Legend at
  0x...>`` (any text-only result of a cell that also draws a figure, and any object repr);
- cells of slide type ``notes`` become reveal.js speaker notes (press S in the deck);
- a code cell left with nothing to show is dropped, and the slide it started starts at the next cell.

After building, every deck is checked for src/href/url()/import that point off the machine.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

from nbconvert.preprocessors import Preprocessor

HERE = Path(__file__).resolve().parent
LECTURES = HERE.parent
TEMPLATE_NAME = "offline_reveal"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
FRAME = (1280, 720)  # reveal.js width and height: a 16:9 projector
SHOW_CODE_TAG = "show-code"
FIGURE_MIMES = ("image/png", "image/svg+xml", "image/jpeg")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# The text repr of an object (`<matplotlib.legend.Legend at 0x7f...>`, `[<matplotlib.lines.Line2D
# at 0x...>]`) or of a figure (`<Figure size 640x480 with 1 Axes>`): never worth a line on a slide.
OBJECT_REPR = re.compile(r"<[^<>\n]*(?: at 0x[0-9a-fA-F]+|Figure size [^<>\n]*)>")
# A reference that makes the browser fetch something from another machine.
REMOTE_REF = re.compile(
    r"""(?:\b(?:src|href|srcset|data|poster|action)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:@import\s+["']\s*(?:https?:)?//)"""
    r"""|(?:\bimport\b[^;\n]*?\bfrom\s*["']\s*(?:https?:)?//)""",
    re.IGNORECASE,
)


# ---------------------------------------------------------------------------- assets


def _package_dir(module: str, *parts: str) -> Path | None:
    """Folder `parts` inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if path.is_dir() else None


def find_assets() -> tuple[Path, Path]:
    """Return (reveal.js dir, MathJax dir); raise SystemExit saying what to install if one is missing."""
    reveal = Path(os.environ["REVEAL_DIR"]) if os.environ.get("REVEAL_DIR") else _package_dir("sphinx_revealjs", "_static", "revealjs")
    mathjax = Path(os.environ["MATHJAX_DIR"]) if os.environ.get("MATHJAX_DIR") else _package_dir("jupyter_server_mathjax", "static")
    problems = []
    if reveal is None or not (reveal / "dist" / "reveal.js").is_file():
        problems.append(f"reveal.js not found (looked at {reveal}): `pip install sphinx-revealjs` (it ships "
                        "reveal.js 5) or set REVEAL_DIR to a folder with dist/reveal.js")
    if mathjax is None or not (mathjax / "MathJax.js").is_file():
        problems.append(f"MathJax not found (looked at {mathjax}): `pip install jupyter-server-mathjax` "
                        "or set MATHJAX_DIR to a MathJax 2.7 folder with MathJax.js")
    if problems:
        raise SystemExit("Cannot build offline slides:\n  - " + "\n  - ".join(problems))
    return reveal, mathjax


def copy_assets(reveal: Path, mathjax: Path, static: Path) -> None:
    """Copy what the decks load into `static`: reveal.js's core, its white theme with the theme's
    local fonts (the other themes import web fonts from the network), the notes plugin, and MathJax."""
    dest = static / "reveal.js"
    (dest / "dist" / "theme").mkdir(parents=True, exist_ok=True)
    for name in ("reveal.js", "reveal.css", "reset.css", "theme/white.css"):
        shutil.copy2(reveal / "dist" / name, dest / "dist" / name)
    shutil.copytree(reveal / "dist" / "theme" / "fonts", dest / "dist" / "theme" / "fonts", dirs_exist_ok=True)
    shutil.copytree(reveal / "plugin" / "notes", dest / "plugin" / "notes",
                    ignore=shutil.ignore_patterns("*.map", "*.esm.js"), dirs_exist_ok=True)
    if (reveal / "LICENSE").is_file():
        shutil.copy2(reveal / "LICENSE", dest / "LICENSE")
    shutil.copytree(mathjax, static / "mathjax", dirs_exist_ok=True)


# ---------------------------------------------------------------------------- preprocessing


def _slide_type(cell) -> str:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-") or "-"


def _set_slide_type(cell, slide_type: str) -> None:
    cell.metadata.setdefault("slideshow", {})["slide_type"] = slide_type


def _text(output) -> str:
    if output.get("output_type") == "stream":
        text = output.get("text", "")
    else:
        text = output.get("data", {}).get("text/plain", "")
    return "".join(text) if isinstance(text, list) else text


def _is_figure(output) -> bool:
    return any(mime in output.get("data", {}) for mime in FIGURE_MIMES)


def _without_overwritten_lines(text: str) -> str:
    """What a terminal shows of text that rewrites its lines with carriage returns (progress bars)."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def slide_outputs(outputs: list) -> list:
    """The outputs of one code cell that are worth showing on a slide (see the module docstring)."""
    has_figure = any(_is_figure(o) for o in outputs)
    kept = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            if output.get("name") != "stdout":
                continue
            output = copy.deepcopy(output)
            output["text"] = _without_overwritten_lines(_text(output))
            if not output["text"].strip():
                continue
        elif kind in ("display_data", "execute_result"):
            data = output.get("data", {})
            if WIDGET_MIME in data:
                continue
            if set(data) <= {"text/plain"}:
                text = _text(output)
                if (kind == "execute_result" and has_figure) or not OBJECT_REPR.sub("", text).strip(" \n,[]()"):
                    continue
        kept.append(output)
    return kept


class LectureHallPreprocessor(Preprocessor):
    """Turns a lecture notebook into the cells of a lecture-hall deck (see the module docstring).

    Runs before nbconvert's reveal preprocessor, which then places the <section>s from the slide
    types this one leaves. A figure's cell starts its slide and carries ``slideshow.data.dgm_figure``,
    which nbconvert writes as ``<section data-dgm-figure="1">`` (deck.css sizes the figure)."""

    def preprocess(self, nb, resources=None):
        nb = copy.deepcopy(nb)
        nb.metadata.pop("widgets", None)  # widget state would pull in a CDN widget manager
        cells = []
        pending = None       # a slide start whose cell showed nothing: the next visible part gets it
        has_content = False  # the current (sub)slide already shows something
        after_figure = False # the last visible part was a figure: the next one starts a new slide
        for cell in nb.cells:
            slide_type = _slide_type(cell)
            if slide_type == "skip":
                continue
            if slide_type == "notes":
                if cell.cell_type == "code":
                    cell.metadata["transient"] = {"remove_source": True}
                    cell.outputs = slide_outputs(cell.get("outputs", []))
                cells.append(cell)
                continue
            parts = self._parts(cell)
            if not parts and slide_type in ("slide", "subslide"):
                pending = "slide" if "slide" in (pending, slide_type) else "subslide"
            for index, (part, is_figure) in enumerate(parts):
                kind = slide_type if index == 0 else "-"
                if pending:
                    kind = "slide" if "slide" in (pending, kind) else "subslide"
                    pending = None
                if kind not in ("slide", "subslide") and (after_figure or (is_figure and has_content)):
                    kind = "subslide"
                if kind in ("slide", "subslide"):
                    has_content = False
                elif kind == "fragment" and is_figure:
                    kind = "-"
                _set_slide_type(part, kind)
                if is_figure:  # nbconvert writes it as <section data-dgm-figure="1">
                    part.metadata.slideshow.setdefault("data", {})["dgm_figure"] = "1"
                cells.append(part)
                has_content, after_figure = True, is_figure
        if not any(_slide_type(c) != "notes" for c in cells):
            raise ValueError("every cell of this notebook is skipped or empty: no slide to show")
        nb.cells = cells
        return nb, resources

    @staticmethod
    def _parts(cell) -> list:
        """(cell, is_figure) pieces of `cell` in order: a markdown cell whole; a code cell as the
        text before its first figure (its input when tagged show-code, and text outputs), then each
        figure alone, then the text after it, and so on. Empty pieces are left out."""
        if cell.cell_type != "code":
            return [(cell, False)]
        show_code = SHOW_CODE_TAG in cell.metadata.get("tags", [])
        parts, text_outputs, input_shown = [], [], False

        def piece(outputs, with_input: bool):
            part = copy.deepcopy(cell)
            part.outputs = outputs
            if parts and "id" in cell:  # cell ids must stay unique
                part.id = f"{cell.id}-{len(parts)}"[-64:]
            if not with_input:
                part.metadata["transient"] = {"remove_source": True}
            return part

        def flush():
            nonlocal text_outputs, input_shown
            with_input = show_code and not input_shown and bool(cell.source.strip())
            if text_outputs or with_input:
                parts.append((piece(text_outputs, with_input), False))
                input_shown = input_shown or with_input
            text_outputs = []

        for output in slide_outputs(cell.get("outputs", [])):
            if _is_figure(output):
                flush()
                parts.append((piece([output], False), True))
            else:
                text_outputs.append(output)
        flush()
        return parts


# ---------------------------------------------------------------------------- decks


def remote_references(html: str) -> list[str]:
    """Snippets of `html` that would load something from another machine (empty list: offline)."""
    return [html[max(m.start() - 40, 0): m.end() + 60].replace("\n", " ") for m in REMOTE_REF.finditer(html)]


def build_deck(notebook: Path, out_dir: Path) -> Path:
    """Convert one notebook (with its committed outputs) into out_dir/<stem>.slides.html."""
    import nbformat
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    config = Config()
    config.TemplateExporter.extra_template_basedirs = [str(HERE)]
    config.SlidesExporter.template_name = TEMPLATE_NAME
    config.SlidesExporter.reveal_url_prefix = "_static/reveal.js"
    config.SlidesExporter.reveal_theme = "white"
    config.SlidesExporter.reveal_scroll = True
    config.SlidesExporter.reveal_width = str(FRAME[0])
    config.SlidesExporter.reveal_height = str(FRAME[1])
    config.TemplateExporter.exclude_input_prompt = True   # no "In [12]:" / "Out[12]:" on a slide
    config.TemplateExporter.exclude_output_prompt = True
    config.HTMLExporter.mathjax_url = f"_static/mathjax/MathJax.js?config={MATHJAX_CONFIG}"
    exporter = SlidesExporter(config=config)
    nb, _ = LectureHallPreprocessor().preprocess(nbformat.read(notebook, as_version=4), {})
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    target = out_dir / f"{notebook.stem}.slides.html"
    target.write_text(html, encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=LECTURES.parent / "slides", help="output folder (default: slides/)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lectures/[0-9]*.ipynb")
    args = parser.parse_args(argv)

    notebooks = args.notebooks or sorted(LECTURES.glob("[0-9]*.ipynb"))
    if not notebooks:
        raise SystemExit(f"no lecture notebooks found in {LECTURES}")
    reveal, mathjax = find_assets()
    args.out.mkdir(parents=True, exist_ok=True)
    copy_assets(reveal, mathjax, args.out / "_static")

    failures = [f"{css.relative_to(args.out)}: ...{snippet}..."
                for css in sorted((args.out / "_static").rglob("*.css"))
                for snippet in remote_references(css.read_text(encoding="utf-8", errors="replace"))]
    for notebook in notebooks:
        deck = build_deck(notebook, args.out)
        remote = remote_references(deck.read_text(encoding="utf-8"))
        print(f"{deck}  ({deck.stat().st_size / 1e6:.1f} MB){'' if not remote else f'  {len(remote)} REMOTE LOADS'}")
        failures += [f"{deck.name}: ...{snippet}..." for snippet in remote]
    if failures:
        print("Decks that would load from the network:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print(f"open {args.out / notebooks[0].stem}.slides.html in a browser (no network needed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
