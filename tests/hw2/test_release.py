"""Do hw2's reference checkpoints stay with the instructors, small, and out of the release?

The reference checkpoints live in solutions/hw2_autoregressive/reference/. nbgrader's ignore list
(``reference``: course_tools.policy.RELEASE_IGNORE) keeps them out of the release; a student submits
checkpoints of their own under the names the notebook saves (``*.bin``, which nbgrader must copy from
a submission, so not on that list: policy.SUBMITTED_SUFFIXES).
"""

from __future__ import annotations

from pathlib import Path

from course_tools import policy
from course_tools.collect import load_spec

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "hw2_autoregressive"
SOURCE_DIR = REPO / "solutions" / ASSIGNMENT
RELEASE_DIR = REPO / "assignments" / ASSIGNMENT
REFERENCE = SOURCE_DIR / "reference"
CHECKPOINTS = load_spec(REPO, ASSIGNMENT).files  # collect.json (tests/grading/test_collect.py: = the notebook's)
CHECKPOINT_LIMIT_MB = load_spec(REPO, ASSIGNMENT).max_file_mb
REFERENCE_BUDGET_MB = 5.0  # all committed reference weights together

WEIGHT_SUFFIXES = policy.WEIGHT_SUFFIXES


def test_reference_checkpoints_are_committed_and_small():
    """Are both reference checkpoints there, each within the notebook's 2 MB limit and 5 MB in all?"""
    sizes = {}
    for name in CHECKPOINTS:
        path = REFERENCE / name
        assert path.is_file(), f"{path} is missing: run `make hw2-reference` and commit it"
        sizes[name] = path.stat().st_size / 1e6
        assert sizes[name] <= CHECKPOINT_LIMIT_MB, f"{name} is {sizes[name]:.2f} MB, over {CHECKPOINT_LIMIT_MB} MB"
    total = sum(p.stat().st_size for p in SOURCE_DIR.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES) / 1e6
    assert total <= REFERENCE_BUDGET_MB, f"weights under {SOURCE_DIR} take {total:.2f} MB, over {REFERENCE_BUDGET_MB} MB"


def test_no_checkpoint_next_to_the_source_notebook():
    """Is there no checkpoint beside the source notebook (generate_assignment would release it)?"""
    stray = sorted(p.name for p in SOURCE_DIR.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    assert not stray, (
        f"{stray} in {SOURCE_DIR}: a full-mode run of the solution wrote them; move them to reference/ "
        "(`make hw2-reference`) or delete them"
    )


def test_committed_release_has_no_weights_or_reference():
    """Does assignments/hw2_autoregressive hold the notebook and no weights, no reference folder?"""
    assert RELEASE_DIR.is_dir(), "assignments/hw2_autoregressive is missing: run `make release`"
    files = [p for p in RELEASE_DIR.rglob("*") if p.is_file()]
    weights = [str(p.relative_to(RELEASE_DIR)) for p in files if p.suffix in WEIGHT_SUFFIXES]
    assert not weights, f"weights in the release: {weights}"
    assert not (RELEASE_DIR / "reference").exists(), "reference/ was released"
    assert (RELEASE_DIR / f"{ASSIGNMENT}.ipynb").is_file()


# The graded round trip (the solution with the reference checkpoints -> full marks, the release and
# its tampered copies -> 0) is tests/course/test_roundtrip.py's, through course_tools/roundtrip.py.
