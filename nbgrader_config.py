"""nbgrader configuration of the course (read by nbgrader's CLI and JupyterLab extensions).

Layout: the nbgrader *source* is solutions/, the student *release* is assignments/, and an
assignment id is its folder name (hw1_foundations, hw2_autoregressive). Everything nbgrader
writes while grading (submitted/, autograded/, feedback/, gradebook.db, exports) is git-ignored.
"""

import os

c = get_config()  # noqa: F821 (injected by traitlets)

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "dgm-lecture1"
c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")

# Only notebooks and the data files a student needs go from solutions/ to assignments/:
# no Python sources, no reference weights, no caches.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*",
    "*.py", "*.pt", "*.pth", "*.ckpt", "reference", "*.db", "collect.json",
]
c.CourseDirectory.max_file_size = 10_000  # kB; larger files are not copied (with a warning)

# Time limits, chosen rather than inherited: nbgrader's default is 30 s per cell.
# A cell of our notebooks runs in seconds on a CPU in grading mode (hw2 loads checkpoints and does
# not train), so 120 s is a generous cap; an infinite loop costs this much, then grading goes on.
c.Execute.timeout = int(os.environ.get("DGM_CELL_TIMEOUT", "120"))
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
# course_tools must be importable: in this repo it is (ROOT goes on sys.path below); a copy of
# the course elsewhere needs PYTHONPATH=<repo>, else nbgrader's plain Execute runs, with a warning.
import importlib.util  # noqa: E402
import sys  # noqa: E402

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if importlib.util.find_spec("course_tools") and importlib.util.find_spec("course_tools.execute_limits"):
    c.Autograde.autograde_preprocessors = [
        "course_tools.execute_limits.LimitedExecute",
        "nbgrader.preprocessors.IgnorePattern",
        "nbconvert.preprocessors.ClearMetadataPreprocessor",
        "nbgrader.preprocessors.LimitOutput",
        "nbgrader.preprocessors.SaveAutoGrades",
        "nbgrader.preprocessors.AssignLatePenalties",
        "nbgrader.preprocessors.CheckCellMetadata",
    ]
elif "autograde" in sys.argv[1:2]:
    print("nbgrader_config.py: course_tools is not importable (set PYTHONPATH to the course repo): "
          "autograde runs WITHOUT the output byte caps of course_tools/execute_limits.py", file=sys.stderr)

# The exchange (nbgrader's release/fetch/submit between accounts) lives inside the repo, so the
# assignment-list extension finds a writable folder instead of logging a critical error about
# /srv/nbgrader/exchange. `make lab` creates it. On a shared JupyterHub set it to a common path.
c.Exchange.root = os.path.join(ROOT, ".exchange")
c.Exchange.path_includes_course = True

# Feedback must never show hidden tests or a student's active HTML: nbgrader's own feedback keeps
# both, so `make feedback` and the formgrader's button render with one list, defined once in
# course_tools/feedback.py (hidden tests redacted, outputs sanitised). sys.path holds ROOT (above).
try:
    from course_tools.feedback import FEEDBACK_PREPROCESSORS  # noqa: E402
except ImportError as err:  # a copy of the course elsewhere without PYTHONPATH=<repo>
    if "generate_feedback" in sys.argv[1:2]:
        print(f"nbgrader_config.py: course_tools is not importable ({err}): set PYTHONPATH to the course "
              "repo; this feedback is nbgrader's own, WITH hidden tests (use make feedback)", file=sys.stderr)
else:
    c.GenerateFeedback.preprocessors = list(FEEDBACK_PREPROCESSORS)
