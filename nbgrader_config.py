"""nbgrader configuration of the course (read by nbgrader's CLI and JupyterLab extensions).

Layout: the nbgrader *source* is solutions/, the student *release* is assignments/, and an
assignment id is its folder name (hw1_foundations, hw2_autoregressive). Everything nbgrader
writes while grading (submitted/, autograded/, feedback/, gradebook.db, exports) is git-ignored.
"""

import os
import sys

c = get_config()  # noqa: F821 (injected by traitlets)

ROOT = os.path.dirname(os.path.abspath(__file__))
# The course's facts (id, what is never released, limits) are defined once, in course_tools/policy.py.
# In this repo it is importable from ROOT; a copy of the course elsewhere needs PYTHONPATH=<repo>.
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
try:
    from course_tools import policy
except ImportError as err:
    raise SystemExit(f"nbgrader_config.py: course_tools is not importable ({err}): set PYTHONPATH to the "
                     "course repo (course_tools/policy.py holds the course id and limits)") from None

c.CourseDirectory.course_id = policy.COURSE_ID
c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")

# Only notebooks and the data files a student needs go from solutions/ to assignments/:
# no Python sources, no reference weights, no caches.
c.CourseDirectory.ignore = list(policy.RELEASE_IGNORE)
c.CourseDirectory.max_file_size = 10_000  # kB; larger files are not copied (with a warning)

# Time limits, chosen rather than inherited: nbgrader's default is 30 s per cell (policy.CELL_TIMEOUT_S).
c.Execute.timeout = policy.CELL_TIMEOUT_S.value()
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120

# Deleted grade/test cells are put back from the gradebook, and edited ones are overwritten.
c.OverwriteCells.add_missing_cells = True

# Runaway output (a print in a loop) is cut in the autograded copy.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# ...and bounded in bytes while it runs (course_tools/execute_limits.py): `nbgrader autograde`
# executes with LimitedExecute, nbgrader's Execute plus caps on stored output (1 MiB per cell,
# 10 MiB per notebook; c.LimitedExecute.max_cell_output_bytes / max_notebook_output_bytes).
# c.Execute.* above still applies (it is a subclass). The list is nbgrader 0.9's
# Autograde.autograde_preprocessors with Execute replaced (tests/grading/test_sandbox.py checks).
c.Autograde.autograde_preprocessors = [
    "course_tools.execute_limits.LimitedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Due dates, one per assignment, set here and nowhere else (course_tools/duedates.py): `make release`
# and `make export` write them into the gradebook as nbgrader's due date (its late penalty and export
# read it; a date typed into the formgrader is overwritten), and grades.csv says how late each
# submission came. In UTC, or with a zone: {"hw1_foundations": "2026-03-02 23:59:00 Europe/Berlin"}.
c.DueDates.by_assignment = {}

# canvas.csv (`make export`, Canvas's gradebook import; docs/ta.md): the Canvas id of an assignment
# (the number in its URL, .../assignments/12345) names its column "hw1_foundations (12345)", which
# Canvas matches by id; without one the column is the assignment's name, matched by title or created.
c.CanvasExport.assignment_ids = {}
# The Canvas column that holds the nbgrader student id (the roster's id): SIS User ID, SIS Login ID or ID.
c.CanvasExport.student_id_column = "SIS User ID"

# The exchange (nbgrader's release/fetch/submit between accounts) lives inside the repo, so the
# assignment-list extension finds a writable folder instead of logging a critical error about
# /srv/nbgrader/exchange. `make lab` creates it. On a shared JupyterHub set it to a common path.
c.Exchange.root = os.path.join(ROOT, ".exchange")
c.Exchange.path_includes_course = True

# Feedback must never show hidden tests or a student's active HTML: nbgrader's own feedback keeps
# both, so `make feedback` and the formgrader's button render with one list, defined once in
# course_tools/feedback.py (hidden tests redacted, outputs sanitised).
from course_tools.feedback import FEEDBACK_PREPROCESSORS  # noqa: E402

c.GenerateFeedback.preprocessors = list(FEEDBACK_PREPROCESSORS)

# Maths offline: the formgrader's submission view and the feedback pages load the MathJax that
# requirements.lock installs (jupyter-server-mathjax), not nbgrader's CDN copy (course_tools/mathjax.py).
from course_tools import mathjax  # noqa: E402

c.HTMLExporter.extra_template_basedirs = mathjax.template_basedirs()
c.HTMLExporter.filters = dict(mathjax.TEMPLATE_FILTERS)
