"""How long ago a saved time was, as the sidebar and `history list` say it."""

from __future__ import annotations

from datetime import UTC, datetime

from chattui.transcript import age

NOW = datetime(2026, 1, 2, 0, 0, tzinfo=UTC)


def test_a_time_with_a_zone() -> None:
    assert age("2026-01-01T23:55:00+00:00", NOW) == "5 min ago"


def test_a_time_without_a_zone_is_taken_as_utc() -> None:
    # Written by another tool (an imported chat): it must not stop the sidebar.
    assert age("2026-01-01T00:00:00", NOW) == "1 d ago"


def test_what_is_not_a_time() -> None:
    assert age("yesterday", NOW) == "?"
