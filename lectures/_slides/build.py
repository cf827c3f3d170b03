"""Build the lecture notebooks into reveal.js decks that work offline: `make slides`.

    python lectures/_slides/build.py [--out slides] [NOTEBOOK ...]

Each lectures/NN_*.ipynb becomes <out>/NN_*.slides.html, from its committed outputs (nothing is
executed). reveal.js and MathJax are copied from installed Python packages into <out>/_static/, and
the decks refer to them by relative paths, so the folder can be copied to a USB stick and opened
in a browser with no network. Sources of the assets (override with environment variables):

    REVEAL_DIR   a reveal.js distribution (dist/, plugin/): default sphinx-revealjs's copy
    MATHJAX_DIR  a MathJax 2.7 tree (MathJax.js, config/, jax/, fonts/): default jupyter-server-mathjax's

After building, every deck is checked for src/href/url()/import that point off the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LECTURES = HERE.parent
TEMPLATE_NAME = "offline_reveal"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
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
    config.HTMLExporter.mathjax_url = f"_static/mathjax/MathJax.js?config={MATHJAX_CONFIG}"
    exporter = SlidesExporter(config=config)
    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("widgets", None)  # progress-bar widget state: it would pull in a CDN widget manager
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
