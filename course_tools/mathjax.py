"""Maths offline in the formgrader and in the feedback pages: MathJax from the lock, never a CDN.

nbgrader 0.9's two page templates (``formgrade`` for the formgrader's submission view, ``feedback``
for ``make feedback``) call nbconvert's ``mathjax()`` macro without an argument, so both load
MathJax 2.7 from cdnjs: offline, every formula shows as raw TeX. The MathJax used instead is the
one requirements.lock already installs, jupyter-server-mathjax's MathJax 2.7.9 (the lecture slides
copy the same one):

- the formgrader's page asks the Jupyter server for it: the extension serves it at
  ``<base_url>/static/jupyter_server_mathjax/``, reached from ``<base_url>/formgrader/submissions/<id>/``;
- a feedback page is a file a student opens anywhere, so its MathJax travels with it: `make
  feedback` copies :func:`feedback_files` (2.1 MB in 188 files) into ``mathjax/`` beside the
  pages of every feedback/<student>/<assignment>/ folder, and the page loads ``mathjax/MathJax.js``.

How the templates are switched: nbgrader_config.py puts :data:`TEMPLATES` before nbgrader's own
templates (:func:`template_basedirs`); its ``formgrade/`` and ``feedback/`` folders each hold a
``mathjax.html.j2`` whose ``mathjax()`` macro renders :func:`head_html` through the Jinja filter
:data:`TEMPLATE_FILTERS` names. nbgrader's templates are otherwise used unchanged.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

PACKAGE = "jupyter_server_mathjax"  # requirements.lock: jupyter-server-mathjax
CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"  # the combined configuration it ships, plus the Safe extension
FOLDER = "mathjax"  # feedback/<student>/<assignment>/mathjax/, beside the pages
# Left out of the feedback copy (7 of its 12 MB): the accessibility extensions, the SVG fonts (this
# MathJax has no SVG output to use them) and the menu's translations (the pages are in English).
NOT_COPIED = ("extensions/a11y/", "jax/output/SVG/", "localization/")
TEMPLATES = Path(__file__).resolve().parent / "templates"

# Where each page finds MathJax.js, relative to the page itself.
PAGE_ROOTS = {
    "formgrade": f"../../../static/{PACKAGE}/",  # <base_url>/formgrader/submissions/<id>/ -> <base_url>/
    "feedback": f"{FOLDER}/",
}

# The typesetting options of nbconvert's macro, and the fonts this MathJax has (STIX-Web only).
MATHJAX_CONFIG = r"""MathJax.Hub.Config({
    TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
    tex2jax: {
        inlineMath: [['$', '$'], ['\\(', '\\)']],
        displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true,
        processEnvironments: true
    },
    "HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", webFont: "STIX-Web", imageFont: null,
                 linebreaks: {automatic: true}},
    displayAlign: 'center',
    messageStyle: 'none'
});"""


def source_dir() -> Path:
    """The MathJax 2.7 folder that jupyter-server-mathjax installs (MathJax.js, config/, jax/, fonts/)."""
    spec = importlib.util.find_spec(PACKAGE)
    folder = Path(list(spec.submodule_search_locations)[0]) / "static" if spec and spec.submodule_search_locations else None
    if folder is None or not (folder / "MathJax.js").is_file():
        raise SystemExit(f"MathJax not found (package {PACKAGE}): run `make setup`, which installs "
                         "jupyter-server-mathjax from requirements.lock")
    return folder


def src(page: str) -> str:
    """The ``src`` of the MathJax <script> of ``page`` ("formgrade" or "feedback")."""
    try:
        root = PAGE_ROOTS[page]
    except KeyError:
        raise ValueError(f"no MathJax location for page {page!r}; known: {sorted(PAGE_ROOTS)}") from None
    return f"{root}MathJax.js?config={CONFIG}"


def head_html(page: str) -> str:
    """What ``mathjax()`` puts in the <head> of ``page``: the configuration, then the local MathJax."""
    return (f'<script type="text/x-mathjax-config">\n{MATHJAX_CONFIG}\n</script>\n'
            f'<script src="{src(page)}"></script>')


# Jinja filters for nbconvert (HTMLExporter.filters): ``{{ "feedback" | offline_mathjax }}``.
TEMPLATE_FILTERS = {"offline_mathjax": f"{__name__}.head_html"}


def template_basedirs() -> list[str]:
    """HTMLExporter.extra_template_basedirs: this module's templates first, then nbgrader's own
    (the formgrade and feedback templates, found there as nbgrader itself configures them)."""
    spec = importlib.util.find_spec("nbgrader")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("nbgrader is not installed: run `make setup`")
    nbgrader_templates = Path(list(spec.submodule_search_locations)[0]) / "server_extensions" / "formgrader" / "templates"
    return [str(TEMPLATES), str(nbgrader_templates)]


@functools.lru_cache(maxsize=1)
def feedback_files() -> dict[str, bytes]:
    """Relative path (posix) -> bytes of every file copied into a feedback folder's ``mathjax/``."""
    top = source_dir()
    files = {}
    for path in sorted(top.rglob("*")):
        rel = path.relative_to(top).as_posix()
        if path.is_file() and not path.is_symlink() and not rel.startswith(NOT_COPIED):
            files[rel] = path.read_bytes()
    return files


def is_copy(rel: str, data: bytes) -> bool:
    """True when ``data`` at ``rel`` (inside ``mathjax/``) is byte for byte the file the copy holds."""
    return feedback_files().get(rel) == data
