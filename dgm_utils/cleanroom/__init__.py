"""The clean room: grade a notebook's functions from a process where no student code ran.

A test cell that runs in the student's own kernel can be fooled by that kernel (a patched
``np.abs``, a replaced ``run_cell``, a skipped cell). Here the student's solution cells run in a
worker process of their own (worker.py) and the tests run in the grader (session.py), which
calls the student's functions through a narrow channel of plain data (wire.py). Arguments that
are functions come from a fixed library (library.py, imported here as ``lib``).

    python -m dgm_utils.cleanroom hw1_foundations.ipynb     # run its visible tests this way

The course's TA tools use the same harness with the hidden tests (course_tools/verdicts.py).
"""

from . import library as lib
from .session import Cell, Session, StudentCodeError, Verdict, WorkerFailed, run_tests

__all__ = ["Cell", "Session", "StudentCodeError", "Verdict", "WorkerFailed", "lib", "run_tests"]
