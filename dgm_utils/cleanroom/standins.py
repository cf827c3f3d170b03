"""Stand-in models of known behaviour for hw2's tests (registered in the clean room's library).

A test of one task must not depend on another task's student code: a completion test uses a
stand-in model whose conditionals the grader knows, never the student's own LSTM.
"""

from __future__ import annotations
