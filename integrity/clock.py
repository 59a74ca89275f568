"""Time for the bottom layer: timezone-aware UTC, with "now" as a parameter.

Functions take ``now=None`` and call ``utcnow(now)``, so tests pass a fixed time
instead of patching the clock (STYLE rule 4).  Part of the bottom layer with
model, errors and canonical: it imports nothing of ours.
"""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow(now: datetime | None = None) -> datetime:
    """``now`` when given, else the current time (aware, UTC)."""
    return now if now is not None else datetime.now(timezone.utc)


def as_utc(ts: datetime) -> datetime:
    """``ts`` in UTC.  Raises ValueError for a naive datetime, whose zone is a guess."""
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(timezone.utc)
