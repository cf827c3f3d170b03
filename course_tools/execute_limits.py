"""nbgrader's Execute with output bounds in bytes, enforced while the notebook runs.

nbgrader's LimitOutput counts lines, after the fact: a 60 MB single line passes it whole, and
600 MB printed in a loop is first held in the grader's memory. `LimitedExecute` (wired for
`nbgrader autograde` in nbgrader_config.py: `c.Autograde.autograde_preprocessors`) stops
storing output in a cell past `max_cell_output_bytes` (1 MiB) and in the notebook past
`max_notebook_output_bytes` (10 MiB), counted as UTF-8 bytes of stream text, error text and
display data as they arrive over iopub (a single long stream message is cut inside), and
puts one note at the end of the cut cell: "[output cut at N bytes ...]" (on stdout).

The grade must not depend on the cut. nbgrader scores a test cell by its *first* output that is
an error, a stderr stream or an execute_result (utils.determine_grade): so past the limit the
first error, the first stderr stream and the first execute_result of a cell are still kept,
shrunk to `kept_signal_bytes`; only further ones, stdout and display data are dropped. Errors the
execute reply adds afterwards (timeouts) are shrunk too. Display updates (display_id) and comm
(widget) messages past the notebook limit are dropped.

The limits bound what is *stored*; one message is still received whole by jupyter_client before
it is cut, so a single huge message costs the nbgrader process its size a few times over (its
RLIMIT_AS, set by the grader, bounds that).

Configure like nbgrader's Execute (``c.Execute.timeout`` etc. apply to this subclass), plus
``c.LimitedExecute.max_cell_output_bytes`` and friends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output
from traitlets import Integer

from nbgrader.preprocessors import Execute

NOTE_MARK = "[output cut at "
SIGNALS = ("error", "stderr", "execute_result")  # what determine_grade looks at


def _blen(text) -> int:
    if isinstance(text, str):
        return len(text.encode("utf-8", "surrogatepass"))
    try:
        return len(json.dumps(text))
    except (TypeError, ValueError):
        return len(str(text))


def _cut(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` UTF-8 bytes, at a character boundary."""
    if len(text) <= n // 4:
        return text
    return text.encode("utf-8", "surrogatepass")[:max(n, 0)].decode("utf-8", "ignore")


def message_size(msg: dict) -> int:
    """Bytes an output message would add to the notebook."""
    msg_type = msg["header"]["msg_type"]
    content = msg.get("content", {})
    if msg_type == "stream":
        return _blen(content.get("text", ""))
    if msg_type == "error":
        return (_blen(content.get("ename", "")) + _blen(content.get("evalue", ""))
                + sum(_blen(line) for line in content.get("traceback", [])))
    size = sum(_blen(v) for v in (content.get("data") or {}).values())
    return size + (_blen(content["metadata"]) if content.get("metadata") else 0)


def _kind(msg: dict) -> str:
    msg_type = msg["header"]["msg_type"]
    if msg_type == "stream":
        return "stderr" if msg["content"].get("name") == "stderr" else "stdout"
    return msg_type


def _shrunk(msg: dict, n: int) -> dict:
    """A copy of output message ``msg`` whose content is cut to about ``n`` bytes."""
    content = dict(msg["content"])
    msg_type = msg["header"]["msg_type"]
    if msg_type == "stream":
        content["text"] = _cut(content.get("text", ""), n)
    elif msg_type == "error":
        content["ename"] = _cut(content.get("ename", ""), 200)
        content["evalue"] = _cut(content.get("evalue", ""), n // 2)
        lines, room = [], n // 2
        for line in reversed(content.get("traceback", [])):  # the end says what was raised
            line = _cut(line, room)
            lines.insert(0, line)
            room -= _blen(line)
            if room <= 0:
                break
        content["traceback"] = lines
    else:
        data = content.get("data") or {}
        content["data"] = {"text/plain": _cut(str(data.get("text/plain", "")), n)}
        content["metadata"] = {}
    return {**msg, "content": content}


@dataclass
class _CellBudget:
    used: int = 0
    cut: bool = False
    kept_after_cut: tuple[str, ...] = ()
    note: NotebookNode | None = None


class LimitedExecute(Execute):
    """nbgrader's Execute preprocessor with byte caps on stored output (see the module doc)."""

    max_cell_output_bytes = Integer(
        1024 * 1024, help="Bytes of output stored per cell; later output is dropped (with a note)."
    ).tag(config=True)
    max_notebook_output_bytes = Integer(
        10 * 1024 * 1024, help="Bytes of output stored per notebook, all cells together."
    ).tag(config=True)
    kept_signal_bytes = Integer(
        16 * 1024, help="Past a limit, the first error, stderr and execute_result of a cell are "
                        "still kept (nbgrader grades by them), cut to this many bytes."
    ).tag(config=True)

    _notebook_used = 0

    def reset_execution_trackers(self) -> None:
        super().reset_execution_trackers()
        self._notebook_used = 0
        self._budgets: dict[int, _CellBudget] = {}

    def _budget(self, cell_index: int) -> _CellBudget:
        if not hasattr(self, "_budgets"):
            self._notebook_used, self._budgets = 0, {}
        return self._budgets.setdefault(cell_index, _CellBudget())

    def _room(self, budget: _CellBudget) -> int:
        return max(0, min(self.max_cell_output_bytes - budget.used,
                          self.max_notebook_output_bytes - self._notebook_used))

    def _note(self, budget: _CellBudget) -> NotebookNode:
        return new_output("stream", name="stdout", text=(
            f"{NOTE_MARK}{budget.used} bytes: the grader keeps {self.max_cell_output_bytes} bytes of "
            f"output per cell and {self.max_notebook_output_bytes} per notebook; the rest of this "
            "cell's output was dropped]\n"))

    def output(self, outs, msg, display_id, cell_index):
        msg_type = msg["header"]["msg_type"]
        if msg_type not in ("stream", "error", "execute_result", "display_data"):
            return super().output(outs, msg, display_id, cell_index)
        budget = self._budget(cell_index)
        size = message_size(msg)
        room = self._room(budget)
        if not budget.cut and size <= room:
            budget.used += size
            self._notebook_used += size
            return super().output(outs, msg, display_id, cell_index)
        first_cut, budget.cut = not budget.cut, True
        kind = _kind(msg)
        kept = None
        if kind in SIGNALS and kind not in budget.kept_after_cut:
            budget.kept_after_cut += (kind,)
            kept = _shrunk(msg, max(room, self.kept_signal_bytes))
        elif first_cut and msg_type == "stream" and room > 0:
            kept = _shrunk(msg, room)
        out = None
        if kept is not None:
            add = message_size(kept)
            budget.used += add
            self._notebook_used += add
            out = super().output(outs, kept, None, cell_index)
        if first_cut:
            budget.note = self._note(budget)
            outs.append(budget.note)
        return out

    def _update_display_id(self, display_id, msg):
        size = message_size(msg)
        if size > self.max_cell_output_bytes or size > self.max_notebook_output_bytes - self._notebook_used:
            self.log.warning("display update of %d bytes dropped (output limits)", size)
            return
        self._notebook_used += size
        super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs, msg, cell_index):
        size = _blen(msg.get("content", {}).get("data", {})) + sum(len(b) for b in msg.get("buffers") or [])
        if size > self.max_notebook_output_bytes - self._notebook_used:
            self.log.warning("comm message of %d bytes dropped (output limits)", size)
            return
        self._notebook_used += size
        super().handle_comm_msg(outs, msg, cell_index)

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)  # may append the reply's error (a timeout)
        cell, index = kwargs["cell"], kwargs["cell_index"]
        budget = self._budget(index)
        limit = max(self.kept_signal_bytes, self.max_cell_output_bytes)
        for i, out in enumerate(cell.outputs):
            if out.get("output_type") == "error" and out is not budget.note:
                fake = {"header": {"msg_type": "error"}, "content": dict(out)}
                if message_size(fake) > limit:
                    cell.outputs[i] = new_output("error", **_shrunk(fake, self.kept_signal_bytes)["content"])
        if budget.note is not None:  # the note goes last
            cell.outputs = [o for o in cell.outputs if o is not budget.note] + [budget.note]
