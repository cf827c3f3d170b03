"""Instructor and TA tools: nbgrader round trips, release checks, grading.

Not student-facing and not part of the student bundle: dgm_utils is what students import.
Run from the repo root, e.g. ``python -m course_tools.roundtrip hw1_foundations``.
"""
