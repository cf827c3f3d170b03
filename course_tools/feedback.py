"""Per-student feedback pages: hidden tests redacted, outputs sanitised, nothing else returned.

    python -m course_tools.feedback hw1_foundations        # or: make feedback ASSIGNMENT=...

The folder autograded/<student>/<assignment>/ is where the student's kernel ran, so it holds
whatever that kernel left there. nbgrader's generate_feedback copies every non-notebook file of
it into feedback/, following symlinks: a kernel that planted links got the gradebook, the
solutions, the hidden tests and a classmate's notebook into its own feedback, and a 300 MB file
was copied a second time.

Staging, not cleaning up afterwards. Deleting the extra files after nbgrader has run would still
let nbgrader read through the links, fill the disk and leave the copies behind when it fails
half way; a clean-up must also never follow a link itself. So nbgrader never sees the folder:
`stage` copies only the assignment's notebooks (the names in solutions/<id>/), each opened with
O_NOFOLLOW under folders opened with O_NOFOLLOW, and only if it is a regular file with one link
and at most MAX_NOTEBOOK_FILE_BYTES, into a staging folder under exports/feedback-staging/.
nbgrader runs with --CourseDirectory.autograded_directory and feedback_directory pointed there
(the gradebook, db_url, stays the course's). `publish` then empties feedback/<student>/<id>/
without following links and writes into it the expected <notebook>.html pages and, in mathjax/,
the MathJax they load (course_tools.mathjax: students open the pages offline), and nothing else
unless the course lists files to return (RETURNED_FILES or --return, copied the same careful way).

What a page may show. FEEDBACK_PREPROCESSORS, the list nbgrader_config.py also gives the
formgrader's button, runs nbgrader's GetGrades, then
- `RedactHiddenTests`: in every cell with a ``### BEGIN HIDDEN TESTS`` region that region is
  removed and the cell's outputs are replaced by one line that says whether it passed;
- `SanitiseOutputs`: the notebook is rebuilt from allow-lists. JavaScript, widget and unknown
  mime types are dropped; text/html and text/markdown outputs and markdown and raw cells become
  HTML cleaned by bleach (a tag and attribute allow-list: no script, iframe, object, embed, form,
  base or meta, no on* attribute, no javascript: URL); an SVG becomes an <img> (a browser runs
  no script in an image) and one that holds active content is dropped; PNG/JPEG are kept when
  they are base64. An output over max_output_chars (1 MB) becomes a one-line note, and so does
  every output once the notebook has used max_notebook_chars (20 MB).
Both run before nbconvert's HTML export.

The check. `find_leaks` reads every file under feedback/ as bytes (any name, any type; a symlink
or a special file is a finding by itself) and reports a file that is neither an expected page nor,
in the pages' mathjax/, byte for byte a file of course_tools.mathjax's copy, a hidden-test line or
marker, a solution-only line the student did not hand in themselves (their own correct answer is
no leak) and active HTML: a <script> other than the template's MathJax in
<head>, an iframe, object, embed, form, base or meta refresh, an on* attribute, a javascript:
URL. `scan_members` is that scanner; course_tools.bundle uses it for the student zip too.
"""

from __future__ import annotations

import argparse
import base64
import errno
import fnmatch
import html
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import bleach
import nbformat
from bs4 import BeautifulSoup
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Integer

from course_tools import markers as nbmarkers
from course_tools import mathjax
from course_tools.nbgrader_course import REPO, assignment_ids, marked_lines, nbgrader

WITHHELD = "A hidden test failed here. Its code and traceback are not shown in feedback."

# The list for nbgrader_config.py (c.GenerateFeedback.preprocessors) and for the CLI below.
FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "course_tools.feedback.RedactHiddenTests",
    "course_tools.feedback.SanitiseOutputs",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Files of autograded/<student>/<id>/ besides the pages that go back to the student (glob
# patterns on a file name, e.g. "*.png"). None by default: the folder is the kernel's.
RETURNED_FILES: tuple[str, ...] = ()

MAX_OUTPUT_CHARS = 1_000_000  # one output, or one cell's source
MAX_NOTEBOOK_CHARS = 20_000_000  # all outputs and sources of one notebook
MAX_NOTEBOOK_FILE_BYTES = 100_000_000  # a larger autograded notebook is not rendered at all
MAX_RETURNED_BYTES = 10_000_000  # one returned file
MAX_SCAN_BYTES = 64_000_000  # a larger file under feedback/ (or in the zip) is a finding unread

STAGING = Path("exports") / "feedback-staging"


# --- redaction ------------------------------------------------------------------------------

def strip_hidden(source: str) -> str:
    """``source`` without the lines between (and including) the hidden-test markers (an unclosed
    region runs to the end of the cell)."""
    return "\n".join(nbmarkers.outside(source, nbmarkers.HIDDEN_TESTS))


class RedactHiddenTests(Preprocessor):
    """Remove hidden-test code and everything it printed or raised from a graded notebook."""

    enabled = True  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type != "code" or not nbmarkers.has(cell.source, nbmarkers.HIDDEN_TESTS):
            return cell, resources
        cell.source = strip_hidden(cell.source).rstrip() + "\n# (hidden tests are not shown)"
        failed = any(o.output_type == "error" for o in cell.outputs)
        if failed:
            cell.outputs = [NotebookNode(output_type="error", ename="HiddenTestFailed",
                                         evalue=WITHHELD, traceback=[WITHHELD])]
        else:
            cell.outputs = []
        return cell, resources


# --- sanitising -----------------------------------------------------------------------------

SAFE_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "tt", "u", "ul", "var",
})
SAFE_ATTRIBUTES: dict[str, frozenset[str]] = {
    "*": frozenset({"class", "title"}),
    "a": frozenset({"href"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan", "align"}),
    "th": frozenset({"colspan", "rowspan", "align", "scope"}),
    "ol": frozenset({"start"}),
    "col": frozenset({"span"}),
    "colgroup": frozenset({"span"}),
}
SAFE_PROTOCOLS = frozenset({"http", "https", "mailto", "data"})  # data: only in <img src>, below
# Removed with everything inside them (bleach alone would keep their text, e.g. a script's code).
DROPPED_WITH_CONTENT = ["script", "style", "template", "noscript", "iframe", "frame", "frameset",
                        "object", "embed", "applet", "svg", "math", "textarea", "title", "xmp",
                        "noembed", "noframes", "select", "head"]
KEPT_TEXT_MIMES = ("text/plain", "text/latex")  # nbconvert's template escapes both
KEPT_IMAGE_MIMES = ("image/png", "image/jpeg")  # inserted as data: URLs: base64 only
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[a-z0-9+/=]*")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_ACTIVE_SVG = re.compile(r"<\s*(script|foreignobject|iframe|embed|object|handler)\b|\son[a-z]+\s*=|javascript:",
                         re.IGNORECASE)
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,64}")


def url_key(value: str) -> str:
    """A URL as a browser reads its scheme: entities decoded, controls and spaces gone, lower case."""
    value = re.sub(r"[`\x00-\x20\x7f-\xa0\s]+", "", html.unescape(value))
    return re.sub(r"[^\x00-\x7f]", "", value).lower()


def _attribute_ok(tag: str, name: str, value: str) -> bool:
    """bleach's attribute filter: allow-listed names, and data: URLs only for raster <img>."""
    if name not in SAFE_ATTRIBUTES.get(tag, frozenset()) and name not in SAFE_ATTRIBUTES["*"]:
        return False
    if name in ("href", "src") and url_key(value).startswith("data:"):
        return tag == "img" and name == "src" and bool(_DATA_IMAGE.fullmatch(url_key(value)))
    return True


def sanitise_html(source: str) -> str:
    """``source`` reduced to the SAFE_TAGS / SAFE_ATTRIBUTES allow-list (bleach)."""
    soup = BeautifulSoup(source, "html.parser")
    for element in soup.find_all(DROPPED_WITH_CONTENT):
        element.decompose()
    return bleach.clean(str(soup), tags=SAFE_TAGS, attributes=_attribute_ok, protocols=SAFE_PROTOCOLS,
                        strip=True, strip_comments=True)


def markdown_html(source: str, attachments: dict | None = None) -> str:
    """Markdown rendered as nbconvert renders it (math kept for MathJax), then sanitised."""
    def render(att: dict) -> str:
        renderer = IPythonRenderer(escape=False, attachments=att, exclude_anchor_links=True)
        return MarkdownWithMath(renderer=renderer).render(source)

    try:
        rendered = render(dict(attachments or {}))
    except Exception:  # a malformed attachment: render without attachments
        rendered = render({})
    return sanitise_html(rendered)


def as_markdown(safe_html: str) -> str:
    """Sanitised HTML as a markdown source that renders to exactly that HTML.

    The template renders markdown cells itself; one line that opens with <div> is an HTML block
    that markdown passes through untouched (no blank line can end it: newlines become &#10;).
    """
    one_line = safe_html.replace("\r", "&#13;").replace("\n", "&#10;")
    return f'<div class="sanitised-markdown">{one_line}</div>'


def svg_html(svg: str) -> str | None:
    """An SVG as an <img> (inert: no script runs in an image), or None if it holds active content."""
    if _ACTIVE_SVG.search(svg):
        return None
    encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img alt="SVG image" src="data:image/svg+xml;base64,{encoded}">'


def _text(value: Any) -> str:
    """A notebook string field (a str or a list of str) as one str."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "".join(v if isinstance(v, str) else str(v) for v in value)
    return value if isinstance(value, str) else str(value)


def _size(value: Any) -> int:
    """Characters in all strings of a nested notebook structure."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(len(str(k)) + _size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return 8


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def clean_data(data: Any) -> dict[str, str]:
    """The mime bundle of a display_data / execute_result output, reduced to what is safe."""
    if not isinstance(data, dict):
        return {}
    out: dict[str, str] = {}
    if "text/html" in data:
        out["text/html"] = sanitise_html(_text(data["text/html"]))
    elif "text/markdown" in data:
        out["text/html"] = markdown_html(_text(data["text/markdown"]))
    elif "image/svg+xml" in data and (img := svg_html(_text(data["image/svg+xml"]))):
        out["text/html"] = img
    for mime in KEPT_TEXT_MIMES:
        if mime in data:
            out[mime] = _text(data[mime])
    for mime in KEPT_IMAGE_MIMES:
        if mime in data and _BASE64.fullmatch(image := _text(data[mime])):
            out[mime] = image
    return out


def clean_image_metadata(metadata: Any) -> dict[str, dict[str, int]]:
    """Only numeric width/height of PNG/JPEG outputs (no file names, no isolated iframes)."""
    out: dict[str, dict[str, int]] = {}
    for mime in KEPT_IMAGE_MIMES:
        meta = metadata.get(mime) if isinstance(metadata, dict) else None
        if isinstance(meta, dict):
            sizes = {k: int(v) for k, v in meta.items() if k in ("width", "height")
                     and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 100_000}
            if sizes:
                out[mime] = sizes
    return out


def clean_output(output: Any) -> dict | None:
    """One output rebuilt from its safe fields, or None when nothing safe is left."""
    if not isinstance(output, dict):
        return None
    kind = output.get("output_type")
    if kind == "stream":
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return {"output_type": "stream", "name": name, "text": _text(output.get("text"))}
    if kind == "error":
        trace = output.get("traceback")
        lines = [_text(t) for t in trace] if isinstance(trace, list) else [_text(trace)]
        return {"output_type": "error", "ename": _text(output.get("ename")),
                "evalue": _text(output.get("evalue")), "traceback": lines}
    if kind in ("display_data", "execute_result"):
        data = clean_data(output.get("data"))
        if not data:
            return None
        clean = {"output_type": kind, "data": data, "metadata": clean_image_metadata(output.get("metadata"))}
        if kind == "execute_result":
            clean["execution_count"] = _count(output.get("execution_count"))
        return clean
    return None


def clean_nbgrader_metadata(meta: Any) -> dict:
    """A cell's nbgrader metadata with known keys of the right types (the template prints them raw)."""
    if not isinstance(meta, dict):
        return {}
    out: dict[str, Any] = {}
    for key in ("grade", "solution", "task", "locked"):
        if isinstance(meta.get(key), bool):
            out[key] = meta[key]
    for key in ("points", "score"):
        if isinstance(meta.get(key), (int, float)) and not isinstance(meta.get(key), bool):
            out[key] = meta[key]
    if isinstance(meta.get("schema_version"), int):
        out["schema_version"] = meta["schema_version"]
    if "grade_id" in meta:
        out["grade_id"] = re.sub(r"[^A-Za-z0-9_.-]", "_", _text(meta["grade_id"]))[:100] or "cell"
    if isinstance(meta.get("comment"), str) and meta["comment"].strip():
        out["comment"] = as_markdown(markdown_html(meta["comment"]))
    elif "comment" in meta:
        out["comment"] = None
    return out


def clean_notebook_metadata(meta: Any) -> dict:
    """Kernel and language names only: no widget state (the template embeds it in a <script>)."""
    meta = meta if isinstance(meta, dict) else {}
    out: dict[str, Any] = {}
    spec = meta.get("kernelspec")
    if isinstance(spec, dict):
        name = _text(spec.get("name"))
        out["kernelspec"] = {"name": name if _SAFE_NAME.fullmatch(name) else "python3",
                             "display_name": re.sub(r"[^\w .()+-]", "", _text(spec.get("display_name")))[:64]}
        if _SAFE_NAME.fullmatch(lang := _text(spec.get("language"))):
            out["kernelspec"]["language"] = lang
    info = meta.get("language_info")
    if isinstance(info, dict):
        kept = {k: info[k] for k in ("name", "pygments_lexer")
                if isinstance(info.get(k), str) and _SAFE_NAME.fullmatch(info[k])}
        if "name" in kept:
            out["language_info"] = kept
    return out


@dataclass
class _Budget:
    """Characters a notebook may still put on its page."""

    left: int

    def take(self, size: int) -> bool:
        if size > self.left:
            return False
        self.left -= size
        return True


def _too_large_note(size: int, what: str, per_output: int, per_notebook: int) -> str:
    return (f"[feedback] {what} of {size / 1e6:.1f} MB is not shown here: a page shows at most "
            f"{per_output / 1e6:g} MB per output and {per_notebook / 1e6:g} MB per notebook.")


class SanitiseOutputs(Preprocessor):
    """Rebuild every cell and output of a notebook from allow-lists, with size caps (see module doc)."""

    enabled = True
    max_output_chars = Integer(MAX_OUTPUT_CHARS, help="Largest output (or cell source) shown").tag(config=True)
    max_notebook_chars = Integer(MAX_NOTEBOOK_CHARS, help="Most output and source per notebook").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict):
        budget = _Budget(self.max_notebook_chars)
        nb.metadata = nbformat.from_dict(clean_notebook_metadata(nb.get("metadata")))
        nb.cells = [self.clean_cell(cell, i, budget) for i, cell in enumerate(nb.cells)
                    if cell.get("cell_type") in ("code", "markdown", "raw")]
        return nb, resources

    def _fits(self, size: int, budget: _Budget) -> bool:
        return size <= self.max_output_chars and budget.take(size)

    def _note(self, size: int, what: str = "An output") -> str:
        return _too_large_note(size, what, self.max_output_chars, self.max_notebook_chars)

    def clean_cell(self, cell: NotebookNode, index: int, budget: _Budget) -> NotebookNode:
        kind, source = cell.cell_type, _text(cell.get("source"))
        attachments = cell.get("attachments") if kind == "markdown" else None  # inlined as data: URLs
        if not self._fits(size := len(source) + _size(attachments or {}), budget):
            source, attachments = ("# " if kind == "code" else "") + self._note(size, "This cell's source"), None
        clean: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": source}
        if "id" in cell:
            clean["id"] = cell["id"] if _SAFE_ID.fullmatch(_text(cell["id"])) else f"cell-{index}"
        if "nbgrader" in cell.get("metadata", {}):
            clean["metadata"]["nbgrader"] = clean_nbgrader_metadata(cell.metadata["nbgrader"])
        if kind == "code":
            clean["execution_count"] = _count(cell.get("execution_count"))
            clean["outputs"] = self.clean_outputs(cell.get("outputs") or [], budget)
        elif kind == "markdown":
            clean["source"] = as_markdown(markdown_html(source, attachments))
        else:  # raw: nbconvert inserts it as HTML
            clean["source"] = sanitise_html(source)
            if isinstance(mime := cell.get("metadata", {}).get("raw_mimetype"), str) and len(mime) < 100:
                clean["metadata"]["raw_mimetype"] = mime
        return nbformat.from_dict(clean)

    def clean_outputs(self, outputs: list, budget: _Budget) -> list:
        kept = []
        for output in outputs:
            size = _size(output)
            if not self._fits(size, budget):
                kept.append({"output_type": "stream", "name": "stdout", "text": self._note(size) + "\n"})
            elif (clean := clean_output(output)) is not None:
                kept.append(clean)
        return kept


# --- staging and publishing -----------------------------------------------------------------

class UnsafeFile(Exception):
    """A path that is not what it must be: a symlink, a special file, a hard link, a folder link."""


class TooLarge(UnsafeFile):
    """A file over the size limit of what reads it."""


_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO cannot hang us


def _lexists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def open_dir(name: str, dir_fd: int | None, create: bool = False) -> int:
    """A descriptor of the real folder ``name`` in ``dir_fd``; never opened through a symlink."""
    if create:
        try:
            os.mkdir(name, 0o755, dir_fd=dir_fd)
        except FileExistsError:
            pass
    try:
        return os.open(name, _O_DIR, dir_fd=dir_fd)
    except OSError as err:
        why = "is a symbolic link or not a folder" if err.errno in (errno.ELOOP, errno.ENOTDIR) else err.strerror
        raise UnsafeFile(f"{name} {why}") from None


def read_regular(name: str, dir_fd: int | None, limit: int, single_link: bool = True) -> bytes:
    """The bytes of ``name`` (in ``dir_fd``): a regular file, not a symlink, at most ``limit`` bytes.

    With ``single_link`` a file with more than one hard link is refused too: it may be another
    file (the gradebook, a solution) that a kernel linked into its folder.
    """
    try:
        fd = os.open(name, _O_FILE, dir_fd=dir_fd)
    except OSError as err:
        raise UnsafeFile(f"{name} {'is a symbolic link' if err.errno == errno.ELOOP else err.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{name} is not a regular file")
        if single_link and st.st_nlink != 1:
            raise UnsafeFile(f"{name} has {st.st_nlink} hard links (it may be another file)")
        data = fh.read(limit + 1) if st.st_size <= limit else b""
    if st.st_size > limit or len(data) > limit:
        raise TooLarge(f"{name} is larger than {limit / 1e6:g} MB")
    return data


def write_new(name: str, dir_fd: int, data: bytes, mode: int = 0o644) -> None:
    """Create ``name`` in ``dir_fd`` (it must not exist, not even as a link) holding ``data``."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def remove_entry(name: str, dir_fd: int) -> None:
    """Delete ``name`` in ``dir_fd``: a link or file is unlinked, a real folder removed by shutil's fd-based rmtree."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def notebook_names(root: Path, assignment: str) -> list[str]:
    """The notebooks of ``assignment``: those of its source folder, solutions/<assignment>/."""
    names = sorted(p.name for p in (root / "solutions" / assignment).glob("*.ipynb"))
    if not names:
        raise SystemExit(f"solutions/{assignment}/ has no notebook: is {assignment!r} an assignment?")
    return names


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


@dataclass
class FeedbackRun:
    """What one run wrote, and what it refused (one line each: student and reason)."""

    pages: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _students(graded_fd: int, student: str | None, run: FeedbackRun) -> list[str]:
    """Students with a real folder under autograded/ (``student`` only, if given)."""
    found = []
    # nbgrader's own glob (autograded/*/<id>) skips dot-folders such as .ipynb_checkpoints; so do we.
    for name in [student] if student else sorted(n for n in os.listdir(graded_fd) if not n.startswith(".")):
        if not _plain_name(name):
            run.refused.append(f"{name!r}: not a student id")
        elif not _lexists(name, graded_fd):
            run.refused.append(f"{name}: has no autograded/{name}/")
        elif not stat.S_ISDIR(os.stat(name, dir_fd=graded_fd, follow_symlinks=False).st_mode):
            run.refused.append(f"{name}: autograded/{name} is a symbolic link or not a folder")
        else:
            found.append(name)
    return found


def _graded_folder(graded_fd: int, student: str, assignment: str) -> int | None:
    """A descriptor of autograded/<student>/<assignment>/, None if there is none; UnsafeFile if a link."""
    student_fd = open_dir(student, graded_fd)
    try:
        return open_dir(assignment, student_fd) if _lexists(assignment, student_fd) else None
    finally:
        os.close(student_fd)


def _autograded(root_fd: int) -> int:
    try:
        return open_dir("autograded", root_fd)
    except UnsafeFile as err:
        raise SystemExit(f"autograded/ is missing or not a folder ({err}): run `make autograde` first.") from None


def _read_graded(root_fd: int, student: str, assignment: str, names: Callable[[int], list[str]],
                 limit: int) -> tuple[dict[str, bytes], list[str]]:
    """({name: bytes}, [refusals]) for ``names(folder)`` of autograded/<student>/<assignment>/.

    Each file is read with `read_regular`; a folder on the way that is a link raises UnsafeFile.
    """
    graded_fd = _autograded(root_fd)
    try:
        folder_fd = _graded_folder(graded_fd, student, assignment)
        if folder_fd is None:
            return {}, []
        try:
            data, refused = {}, []
            for name in names(folder_fd):
                try:
                    data[name] = read_regular(name, folder_fd, limit)
                except UnsafeFile as err:
                    refused.append(str(err))
            return data, refused
        finally:
            os.close(folder_fd)
    finally:
        os.close(graded_fd)


def stage(root_fd: int, staging: Path, assignment: str, notebooks: Sequence[str],
          student: str | None, run: FeedbackRun) -> list[str]:
    """Copy each student's graded notebooks, and nothing else, to staging/autograded/; return the students."""
    graded_fd = _autograded(root_fd)
    try:
        students = _students(graded_fd, student, run)
    finally:
        os.close(graded_fd)
    staged = []
    for name in students:
        where = f"autograded/{name}/{assignment}"
        try:
            copies, refused = _read_graded(root_fd, name, assignment,
                                           lambda fd: [nb for nb in notebooks if _lexists(nb, fd)],
                                           MAX_NOTEBOOK_FILE_BYTES)
        except UnsafeFile as err:
            copies, refused = {}, [str(err)]
        if refused:
            run.refused.append(f"{name}: {where}: {'; '.join(refused)}; no feedback written")
            continue
        if not copies:
            if student:
                run.refused.append(f"{name}: no graded notebook in {where}/")
            continue
        dest = staging / "autograded" / name / assignment
        dest.mkdir(parents=True)
        for nb, data in copies.items():
            (dest / nb).write_bytes(data)
        staged.append(name)
    return staged


def _returned_files(root_fd: int, student: str, assignment: str, returned: Sequence[str],
                    skip: set[str], run: FeedbackRun) -> dict[str, bytes]:
    """The files of autograded/<student>/<assignment>/ whose names match ``returned``, each read safely."""
    if not returned:
        return {}

    def matching(fd: int) -> list[str]:
        return [n for n in sorted(os.listdir(fd)) if n not in skip and any(fnmatch.fnmatch(n, p) for p in returned)]

    try:
        files, refused = _read_graded(root_fd, student, assignment, matching, MAX_RETURNED_BYTES)
    except UnsafeFile as err:
        files, refused = {}, [str(err)]
    run.refused += [f"{student}: not returned: {why}" for why in refused]
    return files


def write_tree(dir_fd: int, top: str, files: dict[str, bytes]) -> None:
    """Create folder ``top`` in ``dir_fd`` holding ``files`` (relative posix path -> bytes), with the
    folders they need; every file is new (`write_new`) and no folder is opened through a link."""
    fds = {"": open_dir(top, dir_fd, create=True)}
    try:
        for rel, data in sorted(files.items()):
            parent, _, name = rel.rpartition("/")
            path = ""
            for part in parent.split("/") if parent else []:
                below = f"{path}/{part}" if path else part
                if below not in fds:
                    fds[below] = open_dir(part, fds[path], create=True)
                path = below
            write_new(name, fds[parent], data)
    finally:
        for fd in fds.values():
            os.close(fd)


def publish(root: Path, root_fd: int, staging: Path, student: str, assignment: str,
            notebooks: Sequence[str], returned: Sequence[str], run: FeedbackRun) -> None:
    """Replace feedback/<student>/<assignment>/ by the staged pages (and returned files) and the pages'
    MathJax (course_tools.mathjax, in mathjax/), nothing else."""
    src = staging / "feedback" / student / assignment
    made = {}
    for page in (Path(nb).stem + ".html" for nb in notebooks):
        if (src / page).exists():
            made[page] = read_regular(str(src / page), None, MAX_SCAN_BYTES, single_link=False)
    if not made:
        run.refused.append(f"{student}: nbgrader wrote no feedback page (see its log)")
        return
    taken = set(notebooks) | set(made) | {mathjax.FOLDER}
    extra = _returned_files(root_fd, student, assignment, returned, taken, run)
    feedback_fd = open_dir("feedback", root_fd, create=True)
    try:
        student_fd = open_dir(student, feedback_fd, create=True)
        try:
            remove_entry(assignment, student_fd)
            folder_fd = open_dir(assignment, student_fd, create=True)
            try:
                for name, data in {**extra, **made}.items():
                    write_new(name, folder_fd, data)
                # The pages' MathJax travels with them: a student opens a page offline, as a file.
                write_tree(folder_fd, mathjax.FOLDER, mathjax.feedback_files())
            finally:
                os.close(folder_fd)
        finally:
            os.close(student_fd)
    finally:
        os.close(feedback_fd)
    run.pages += [root / "feedback" / student / assignment / page for page in sorted(made)]


def run_feedback(root: Path, assignment: str, student: str | None = None,
                 returned: Sequence[str] = RETURNED_FILES) -> FeedbackRun:
    """Stage, render with FEEDBACK_PREPROCESSORS, publish; raise if nbgrader itself failed."""

    root = Path(root).resolve()
    notebooks = notebook_names(root, assignment)
    run = FeedbackRun()
    (root / STAGING).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="run-", dir=root / STAGING))
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        students = stage(root_fd, staging, assignment, notebooks, student, run)
        if not students:
            return run
        rel = staging.relative_to(root)
        args = ["generate_feedback", assignment, "--force",
                f"--CourseDirectory.autograded_directory={rel / 'autograded'}",
                f"--CourseDirectory.feedback_directory={rel / 'feedback'}",
                "--GenerateFeedback.preprocessors=" + json.dumps(FEEDBACK_PREPROCESSORS)]
        if student:
            args += ["--student", student]
        result = nbgrader(root, *args, check=False)
        for name in students:
            publish(root, root_fd, staging, name, assignment, notebooks, returned, run)
        if result.returncode != 0:
            raise RuntimeError(f"nbgrader generate_feedback failed (exit {result.returncode}) in {root}:\n"
                               f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    finally:
        os.close(root_fd)
        shutil.rmtree(staging, ignore_errors=True)
    return run


def generate_feedback(root: Path, assignment: str, student: str | None = None,
                      returned: Sequence[str] = RETURNED_FILES) -> list[Path]:
    """Feedback pages of ``assignment`` (one ``student`` or all) under feedback/; return the pages written."""
    return run_feedback(root, assignment, student, returned).pages


# --- the leak scan (feedback/ and, from course_tools.bundle, the student zip) ----------------

@dataclass(frozen=True)
class Member:
    """One file to scan: where it is (as reported), what it is, its bytes (None: too large, unread)."""

    name: str
    kind: str = "file"  # "file", "symbolic link", "special file"
    data: bytes | None = None


# The template's own scripts, in <head>: MathJax and its configuration. The page loads the copy beside
# it (course_tools.mathjax); pages made before it did load nbgrader's CDN copy, which is no leak either.
TEMPLATE_SCRIPT_SOURCES = (mathjax.src("feedback"), "https://cdnjs.cloudflare.com/ajax/libs/mathjax/")
ACTIVE_TAGS = frozenset({"iframe", "frame", "frameset", "object", "embed", "applet", "base", "form",
                         "portal", "link"})
_HARMFUL_URL = ("javascript:", "vbscript:", "data:text/html", "data:application/xhtml")


class _ActiveHtml(HTMLParser):
    """Start tags and attributes that run code or send the reader elsewhere."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_body = False
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.in_body = True
        if tag == "script":
            template = (not self.in_body and (values.get("type") == "text/x-mathjax-config" and "src" not in values
                        or values.get("src", "").startswith(TEMPLATE_SCRIPT_SOURCES)))
            if not template:
                self.found.append(f"a <script> tag ({values.get('src') or 'inline'})")
        elif tag in ACTIVE_TAGS and (self.in_body or tag != "link"):
            self.found.append(f"a <{tag}> tag")
        elif tag == "meta" and "http-equiv" in values:
            self.found.append(f"a <meta http-equiv={values['http-equiv']!r}> tag")
        for key, value in values.items():
            if key.startswith("on"):
                self.found.append(f"an event handler <{tag} {key}=...>")
            elif key == "srcdoc" or url_key(value).startswith(_HARMFUL_URL):
                self.found.append(f"an active URL <{tag} {key}={value[:40]!r}>")

    handle_startendtag = handle_starttag


def active_html(text: str) -> list[str]:
    """What in an HTML (or SVG) text can run script or redirect, beyond the template's MathJax."""
    parser = _ActiveHtml()
    try:
        parser.feed(text)
        parser.close()
    except Exception as err:  # HTMLParser is lenient; a failure is itself suspicious
        parser.found.append(f"unparseable markup ({err})")
    return parser.found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def text_views(data: bytes) -> list[str]:
    """The ways a reader may see ``data``: raw text, HTML text (tags out, entities in), JSON strings."""
    raw = data.decode("utf-8", errors="replace")
    views = [raw]
    if "<" in raw:
        views.append(html.unescape(re.sub(r"<[^>]*>", "", raw)))
    if raw.lstrip()[:1] in ("{", "["):
        try:
            views.append("\n".join(_strings(json.loads(raw))))
        except ValueError:
            pass
    return views


def scan_content(data: bytes, secret: dict[str, str], markers: Sequence[str], check_html: bool) -> list[str]:
    """Findings in one file's bytes: secret lines (line -> kind), markers, active HTML."""
    views = text_views(data)
    flat = [re.sub(r"\s+", " ", v) for v in views]
    found = []
    for marker in markers:
        if any(marker in v for v in views):
            found.append(f"contains the nbgrader marker {marker!r}")
    for line in sorted(secret):
        one = re.sub(r"\s+", " ", line)
        if any(line in v for v in views) or any(one in f for f in flat):
            found.append(f"contains a {secret[line]} line: {line}")
    if check_html:
        found += [f"contains {what}" for what in active_html(views[0])]
    return found


def scan_members(members: Iterable[Member], secret_for: Callable[[str], dict[str, str]],
                 reject: Callable[[str], str | None], markers: Sequence[str] = (),
                 check_html: bool = False) -> list[str]:
    """Every reason one of ``members`` must not reach a student ('name: reason' each).

    A member that is not a regular file is a finding; so is one ``reject`` names a reason for, one
    too large to read, and any finding of `scan_content` with the secret lines of ``secret_for``.
    """
    problems = []
    for member in members:
        if member.kind != "file":
            problems.append(f"{member.name}: is a {member.kind}, not a regular file")
            continue
        if (why := reject(member.name)) is not None:
            problems.append(f"{member.name}: {why}")
        if member.data is None:
            problems.append(f"{member.name}: larger than {MAX_SCAN_BYTES / 1e6:g} MB, not scanned")
            continue
        problems += [f"{member.name}: {p}" for p in
                     scan_content(member.data, secret_for(member.name), markers, check_html)]
    return problems


def tree_members(top: Path, base: Path) -> Iterator[Member]:
    """Every entry under ``top`` (named relative to ``base``), without following any link."""
    with os.scandir(top) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            name = str(Path(entry.path).relative_to(base))
            if entry.is_symlink():
                yield Member(name, "symbolic link")
            elif entry.is_dir(follow_symlinks=False):
                yield from tree_members(Path(entry.path), base)
            elif not entry.is_file(follow_symlinks=False):
                yield Member(name, "special file")
            else:
                try:
                    yield Member(name, "file", read_regular(entry.path, None, MAX_SCAN_BYTES, single_link=False))
                except TooLarge:
                    yield Member(name, "file", None)
                except UnsafeFile:  # replaced by a link or a FIFO since the listing
                    yield Member(name, "special file")


def secret_lines(source_dir: Path) -> dict[str, str]:
    """Line -> 'hidden-test' or 'solution' for the lines only the marked regions of ``source_dir`` hold."""
    hidden = hidden_lines(source_dir)
    return {line: "hidden-test" if line in hidden else "solution" for line in marked_lines(source_dir)}


def hidden_lines(source_dir: Path) -> set[str]:
    """Non-trivial lines of the hidden-test regions of the source notebooks in ``source_dir``."""
    return marked_lines(source_dir, ("HIDDEN TESTS",))


def submitted_text(root: Path, student: str, assignment: str) -> str:
    """The cell sources of the notebooks ``student`` handed in (submitted/<student>/<id>/), joined."""
    folder = root / "submitted" / student / assignment
    if not _plain_name(student) or folder.is_symlink() or not folder.is_dir():
        return ""
    sources = []
    for nb in sorted(folder.glob("*.ipynb")):
        try:
            cells = json.loads(read_regular(str(nb), None, MAX_NOTEBOOK_FILE_BYTES)).get("cells", [])
            sources += [_text(cell.get("source")) for cell in cells]
        except (UnsafeFile, ValueError, AttributeError):
            continue
    return "\n".join(sources)


def is_mathjax_copy(member: Member, pages: dict[str, set[str]]) -> bool:
    """True for a regular file feedback/<student>/<assignment>/mathjax/<path> that is byte for byte the
    file of course_tools.mathjax's copy at <path>: public code the pages load, not the student's or ours."""
    parts = Path(member.name).parts[1:]  # without the leading "feedback"
    return (member.kind == "file" and member.data is not None and len(parts) > 3 and parts[1] in pages
            and parts[2] == mathjax.FOLDER and mathjax.is_copy("/".join(parts[3:]), member.data))


def find_leaks(root: Path, assignment: str | None = None, returned: Sequence[str] = RETURNED_FILES) -> list[str]:
    """Every reason a file under feedback/ must not be sent ('feedback/...: reason'); [] when clean.

    All of feedback/ is read, whatever ``assignment`` (if given, it must be an assignment of the
    course, so that a typo cannot scan against nothing). A page of feedback/<s>/<a>/ is held to
    the hidden-test lines of solutions/<a>/ and to those of its solution-only lines that the
    notebooks <s> handed in (submitted/<s>/<a>/) do not hold: a student's own answer is no leak.
    """
    root = Path(root)
    ids = assignment_ids(root)
    if assignment is not None and assignment not in ids:
        raise ValueError(f"{assignment!r} is not an assignment of {root} (solutions/ has {ids})")
    top = root / "feedback"
    if top.is_symlink():
        return ["feedback: is a symbolic link, not a folder"]
    if not top.is_dir():
        return []
    pages = {a: {Path(nb).stem + ".html" for nb in notebook_names(root, a)} for a in ids}
    secrets = {a: secret_lines(root / "solutions" / a) for a in ids}
    every = {line: kind for s in secrets.values() for line, kind in s.items()}
    own: dict[tuple[str, str], str] = {}  # (student, assignment) -> what they handed in, whitespace flattened

    def parts(name: str) -> list[str]:
        return Path(name).parts[1:]  # without the leading "feedback"

    def reject(name: str) -> str | None:
        p = parts(name)
        if len(p) == 3 and p[1] in pages and (p[2] in pages[p[1]] or any(fnmatch.fnmatch(p[2], r) for r in returned)):
            return None
        return (f"not a feedback page (only feedback/<student>/<assignment>/<notebook>.html is sent, with an "
                f"unchanged copy of MathJax in {mathjax.FOLDER}/)")

    def secret_for(name: str) -> dict[str, str]:
        p = parts(name)
        if len(p) < 3 or p[1] not in secrets:
            return every
        key = (p[0], p[1])
        if key not in own:
            own[key] = re.sub(r"\s+", " ", submitted_text(root, *key))
        return {line: kind for line, kind in secrets[p[1]].items()
                if kind == "hidden-test" or re.sub(r"\s+", " ", line) not in own[key]}

    members = (m for m in tree_members(top, root) if not is_mathjax_copy(m, pages))
    return scan_members(members, secret_for, reject, markers=nbmarkers.MARKER_LINES[nbmarkers.HIDDEN_TESTS], check_html=True)


# --- command line ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("assignment")
    p.add_argument("--root", type=Path, default=REPO)
    p.add_argument("--student")
    p.add_argument("--return", dest="returned", action="append", default=list(RETURNED_FILES), metavar="GLOB",
                   help="also return files of autograded/<student>/<id>/ whose name matches GLOB")
    a = p.parse_args(argv)
    run = run_feedback(a.root, a.assignment, a.student, a.returned)
    leaks = find_leaks(a.root, a.assignment, a.returned)
    if leaks:
        print(f"feedback/ must NOT be sent: {len(leaks)} finding(s):\n  " + "\n  ".join(leaks[:40]), file=sys.stderr)
    if run.refused:
        print("No feedback (or not every file) for:\n  " + "\n  ".join(run.refused), file=sys.stderr)
    if leaks or run.refused:
        return 1
    print(f"{len(run.pages)} feedback page(s) under {a.root / 'feedback'}: only pages, no hidden test, "
          "no solution the student did not write, no script.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
