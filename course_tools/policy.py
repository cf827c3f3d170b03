"""The course's policy: every fact a TA or instructor may want to change, defined here once.

nbgrader_config.py, the tools in course_tools/ and the tests import these names; the Makefiles
pass a limit only when it is given on the command line (``make autograde WALL=900``), so the
defaults below are the only ones. A test (tests/course/test_course_facts.py) fails on a stray
copy of any of them in code.

Not here, because they have a home of their own: the files a submission brings and their size
limits (``solutions/<id>/collect.json``, course_tools.collect), hw2's pass marks and checkpoint
limits (``dgm_utils.assignments``, which the student's notebook imports too), nbgrader's markers
(course_tools.markers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

COURSE_ID = "dgm-lecture1"

# --- what never leaves the source for a student ----------------------------------------------

WEIGHT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")  # model weights of any framework
DATABASE_SUFFIXES = (".db", ".db-journal", ".sqlite", ".sqlite3")  # the gradebook and its kind
CODE_SUFFIXES = (".py", ".pyc")  # source-folder helpers, reference scripts

# Files that may never be in a release (assignments/<id>/): the round trip checks every file.
NEVER_RELEASED_SUFFIXES = CODE_SUFFIXES + WEIGHT_SUFFIXES + DATABASE_SUFFIXES
# The weights students submit (hw2's checkpoints, named in its collect.json). nbgrader applies its
# ignore list to submissions too (autograde copies a submission's other files with it), so these
# cannot be on it: a stray one beside a source notebook is caught by the round trip's release scan
# and by tests/hw2/test_release.py instead.
SUBMITTED_SUFFIXES = (".bin",)
# nbgrader's CourseDirectory.ignore: what generate_assignment does not copy from solutions/<id>/.
RELEASE_IGNORE = (".ipynb_checkpoints", "__pycache__", "feedback", ".*", "reference", "collect.json",
                  *(f"*{s}" for s in NEVER_RELEASED_SUFFIXES if s not in SUBMITTED_SUFFIXES))

# The student bundle (make bundle): fnmatch patterns of paths never shipped, wherever they are...
NEVER_SHIPPED = ("solutions/*", "*gradebook.db*", "submitted/*", "autograded/*", "feedback/*",
                 "*/reference/*", "*/.ipynb_checkpoints/*", "*__pycache__*", "*.egg-info*",
                 "*/.exchange/*", "*/exports/*", "*/mk/*", "*/tests/*", "*/course_tools/*",
                 *(f"*{s}" for s in WEIGHT_SUFFIXES + DATABASE_SUFFIXES + (".pyc",)))
# ... but for these: lecture 04's demo checkpoints let the lecture load instead of retrain.
SHIPPED_WEIGHTS = ("lectures/checkpoints/*.pt",)


# --- grading limits ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Limit:
    """A grading limit: its default, and the environment variable that overrides it."""

    env: str
    default: int
    unit: str
    about: str

    def value(self) -> int:
        """The limit in force: the environment's value, else the default."""
        raw = os.environ.get(self.env, "").strip()
        if not raw:
            return self.default
        try:
            return int(float(raw))
        except ValueError:
            raise SystemExit(f"{self.env}={raw!r} is not a number of {self.unit}; unset it for the "
                             f"default ({self.default} {self.unit})") from None


# A cell of our notebooks runs in seconds on a CPU in grading mode (hw2 loads checkpoints and does
# not train): 120 s is a generous cap, and an infinite loop costs this much before grading goes on.
CELL_TIMEOUT_S = Limit("DGM_CELL_TIMEOUT", 120, "s", "one cell in the kernel, one test call in the clean room")
WALL_S = Limit("DGM_GRADE_WALL_S", 600, "s", "one submission, all notebooks, kernel and clean room")
MEM_MB = Limit("DGM_GRADE_MEM_MB", 4096, "MiB", "address space of a grading job and of its kernel")
SCRATCH_MB = Limit("DGM_GRADE_SCRATCH_MB", 512, "MiB", "the sandboxed kernel's writable folder and /tmp (RAM)")
LOG_FSIZE_MB = 512  # RLIMIT_FSIZE of a grading job: its log and the autograded notebook it writes
LIMITS = (CELL_TIMEOUT_S, WALL_S, MEM_MB, SCRATCH_MB)
