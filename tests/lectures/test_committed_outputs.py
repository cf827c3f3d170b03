"""No stale or machine-specific output in any committed notebook (lectures/, solutions/, assignments/).

The committed outputs are what students read on a code host and what the decks show. This scans
the text of every output (streams, text/plain, text/markdown, text/latex, text/html without its
embedded data: URIs, error tracebacks) for:

- an absolute path of the machine that ran it: ``/work/``, ``/home/``, ``/root/``, ``/tmp/``,
  ``/Users/``, ``C:\\`` (a path inside a URL, ``https://host/home/...``, is not one);
- an object repr with its address, ``<matplotlib.legend.Legend at 0x7f...>`` (end the line with
  ``;``, or assign the result to ``_``);
- a progress bar stuck at 0 % (``  0%|``): tqdm's notebook widget, committed without its widget
  state, shows the text it had when it was created.

Images (base64 PNG, SVG) are never scanned: their bytes can spell anything. A failure names the
notebook, the cell id and the offending text; fix it by re-running the notebook (a path: print it
relative to the repository or the data folder's name). Runs in well under a second.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("lectures", "solutions", "assignments")
NOTEBOOKS = sorted(p for folder in SCANNED for p in (ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
TEXT_MIMES = ("text/plain", "text/markdown", "text/latex", "text/html")

# (kind, pattern). A path must not follow a word character, a dot, a slash or ~ (so that
# `host.org/home/` in a URL and `~/home/` do not count).
STALE = [
    ("machine path", re.compile(r"(?<![\w.~/\-])/(?:work|home|root|tmp|Users)/[^\s'\"<>]*")),
    ("machine path", re.compile(r"(?<![A-Za-z])[A-Za-z]:\\\\?[^\s'\"<>]*")),
    ("object repr with an address", re.compile(r"<[^<>\n]{1,200}? at 0x[0-9a-fA-F]{4,}>")),
    ("progress bar stuck at 0%", re.compile(r"(?<![\d.])0%\|[^\n]*")),
]
DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+")


def _join(text) -> str:
    return "".join(text) if isinstance(text, list) else (text or "")


def output_texts(output: dict) -> list[str]:
    """The text of one output that a reader sees (never image data)."""
    kind = output.get("output_type")
    if kind == "stream":
        return [_join(output.get("text"))]
    if kind == "error":
        return [f"{output.get('ename')}: {output.get('evalue')}", *output.get("traceback", [])]
    data = output.get("data", {})
    return [DATA_URI.sub("data:...", _join(data[m])) for m in TEXT_MIMES if m in data]


def stale_outputs(notebook: dict, name: str) -> list[str]:
    """'<name> cell <id>: <kind>: <text>' for each stale or machine-specific piece of output."""
    found = []
    for index, cell in enumerate(notebook.get("cells", [])):
        cell_id = cell.get("id") or f"#{index}"
        for output in cell.get("outputs", []):
            for text in output_texts(output):
                for kind, pattern in STALE:
                    for match in pattern.finditer(text):
                        found.append(f"{name} cell {cell_id}: {kind}: {match.group(0)[:120]!r}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_outputs_are_clean(path: Path):
    """Are the notebook's committed outputs free of machine paths, object reprs and 0% progress bars?"""
    found = stale_outputs(json.loads(path.read_text(encoding="utf-8")), str(path.relative_to(ROOT)))
    assert not found, (f"{len(found)} stale or machine-specific output(s); re-run the notebook after "
                       "fixing the cell:\n  " + "\n  ".join(found))


def test_there_are_notebooks_to_scan():
    """Does the scan see the lecture, source and release notebooks at all?"""
    folders = {p.relative_to(ROOT).parts[0] for p in NOTEBOOKS}
    assert folders == set(SCANNED), f"expected notebooks in each of {SCANNED}, found them in {sorted(folders)}"


# --------------------------------------------------------------------------- the scan itself


def _nb(*outputs: dict) -> dict:
    return {"cells": [{"cell_type": "code", "id": f"cell-{i}", "source": "", "metadata": {},
                       "outputs": [o], "execution_count": 1} for i, o in enumerate(outputs)]}


def _stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def _data(**data) -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {k.replace("_", "/", 1).replace("_", "-"): v for k, v in data.items()}}


def test_the_scan_catches_each_kind_and_names_the_cell():
    """Does the scan flag each kind of stale output, naming notebook, cell and text?"""
    bad = _nb(
        _stream("MNIST from /work/shared/data/mnist\n"),
        _stream("saved to /home/alice/ckpt.pt\n", "stderr"),
        _stream("cache: /root/.cache/dgm_utils\n"),
        _stream("wrote /tmp/tmpab12/x.zip\n"),
        _data(text_plain="loaded C:\\Users\\bob\\mnist"),
        {"output_type": "execute_result", "metadata": {}, "execution_count": 1,
         "data": {"text/plain": "<matplotlib.legend.Legend at 0x7f250bfc5190>"}},
        _data(text_plain="[<matplotlib.lines.Line2D at 0x7f25>]"),
        _data(**{"application_vnd.jupyter.widget-view+json": {"model_id": "x"},
                 "text_plain": "epochs:   0%|          | 0/2 [00:00<?, ?it/s]"}),
        {"output_type": "error", "ename": "OSError", "evalue": "no file",
         "traceback": ["File /home/carol/x.py, line 3"]},
    )
    found = stale_outputs(bad, "synthetic.ipynb")
    kinds = [f.split(": ")[1] for f in found]
    assert kinds.count("machine path") == 6, found
    assert kinds.count("object repr with an address") == 2, found
    assert kinds.count("progress bar stuck at 0%") == 1, found
    assert found[0] == "synthetic.ipynb cell cell-0: machine path: '/work/shared/data/mnist'", found[0]
    assert {f.split(":")[0] for f in found} == {f"synthetic.ipynb cell cell-{i}" for i in range(9)}


def test_the_scan_leaves_legitimate_output_alone():
    """Does the scan pass URLs, relative and home-relative paths, finished bars, hex numbers and images?"""
    png_spelling_a_path = "iVBORw0KGgo/tmp/AAAA/home/root/work/0x1234+C/"
    good = _nb(
        _stream("docs at https://example.org/home/tmp/page and http://host/work/x\n"),
        _stream("MNIST from ~/.cache/dgm_utils (DGM_DATA_DIR unset); checkpoints/markov_mlp.pt\n"),
        _stream("epochs: 100%|██████████| 2/2 [00:03<00:00]\n  10%|█ | 1/10\n"),
        _stream("address 0x7f25 is a hex number; ratio C: 3\n"),
        _data(image_png=png_spelling_a_path + " at 0x1234> 0%|", text_plain="<Figure size 640x480 with 1 Axes>"),
        _data(text_html=f'<img src="data:image/png;base64,{png_spelling_a_path}">'),
        _data(**{"image_svg+xml": "<svg><!-- /tmp/ at 0x1234> --></svg>"}),
    )
    assert stale_outputs(good, "good.ipynb") == []
