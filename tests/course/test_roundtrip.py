"""Does every assignment survive the release round trip?

For each folder of solutions/, on a throw-away copy of the course: is the committed
assignments/<id>/ exactly what generate_assignment makes; does the source score full marks and
the release zero, also when it tampers with its kernel; does the release hold no solution or hidden-test text, code or weights?
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course_tools import roundtrip, tamper
from course_tools.nbgrader_course import REPO, assignment_ids

ASSIGNMENTS = assignment_ids()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def trip(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> roundtrip.RoundTrip:
    return roundtrip.run(request.param, workdir=tmp_path_factory.mktemp(request.param))


def test_expected_assignments_exist() -> None:
    """Are both course assignments present as nbgrader sources and as releases?"""
    for name in ("hw1_foundations", "hw2_autoregressive"):
        assert name in ASSIGNMENTS, f"solutions/{name}/ with a notebook is missing; found {ASSIGNMENTS}"
        assert (REPO / "assignments" / name).is_dir(), f"assignments/{name}/ is missing: run `make release`"


def test_release_is_in_sync(trip: roundtrip.RoundTrip) -> None:
    """Is the committed release exactly what generate_assignment makes of solutions/?"""
    assert trip.stale == [], f"{trip.assignment}: {trip.stale}; fix: {roundtrip.FIX_RELEASE}"


def test_release_leaks_nothing(trip: roundtrip.RoundTrip) -> None:
    """Does the release hold no solution line, hidden test, marker, code file or weights?"""
    assert trip.leaks == [], trip.leaks


def test_source_scores_full_marks(trip: roundtrip.RoundTrip) -> None:
    """Does the solution notebook autograde to full marks?"""
    score = trip.source_score
    assert score is not None and score.full_marks, trip.problems


def test_release_scores_zero(trip: roundtrip.RoundTrip) -> None:
    """Do the released stubs autograde to zero?"""
    score = trip.release_score
    assert score is not None and score.max_code_score > 0 and score.code_score == 0, trip.problems


def test_tampered_release_scores_zero_and_is_flagged(trip: roundtrip.RoundTrip) -> None:
    """Does the blank release that tampers with its kernel (each route of course_tools/tamper.py) get 0 and a flag?"""
    assert set(trip.tampered) == set(tamper.ROUTES), f"routes graded: {sorted(trip.tampered)}"
    for route, (points, flagged) in trip.tampered.items():
        assert points == 0 and flagged, (
            f"{trip.assignment} {route}: expected 0 points and a flag for a TA, got {points} points, flagged={flagged}")


def test_no_stray_files_in_assignments() -> None:
    """Does assignments/ hold only released assignments (each with a source in solutions/)?"""
    released = sorted(p.name for p in (REPO / "assignments").iterdir() if p.is_dir())
    assert set(released) <= set(ASSIGNMENTS), f"assignments without a source: {set(released) - set(ASSIGNMENTS)}"
