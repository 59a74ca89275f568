"""Retention: thin the check history older than a cutoff.  Mixed into ``Store``.

What is kept, whatever its age:
- every state change: a row whose (status, mode, baseline, fingerprint) differs
  from the device's previous row of the same mode, or whose status differs
  from the device's previous row of any mode;
- the first and last row of each unchanged run (the first is a state change);
- every row an open alert refers to: for a device that is not OK now, or
  that has an alert still pending in the outbox, everything since that
  state began.

What goes: the rows inside unchanged runs older than the cutoff, and outbox
rows delivered before it.  Baselines and blobs are never touched: they are
the evidence, and ``store check`` accounts for every one of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from baselines import tables
from baselines.manifest import format_time

CHUNK = 500


@dataclass(frozen=True)
class PruneReport:
    before: datetime
    examined: int
    removed: int
    outbox_removed: int
    dry_run: bool = False

    @property
    def kept(self) -> int:
        return self.examined - self.removed

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before.isoformat(), "examined": self.examined,
                "removed": self.removed, "kept": self.kept,
                "outbox_removed": self.outbox_removed, "dry_run": self.dry_run}

    def render(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (f"check history before {self.before:%Y-%m-%d %H:%M} UTC: {verb} {self.removed} "
                f"of {self.examined} rows (every state change and the ends of every unchanged "
                f"run kept); {self.outbox_removed} delivered alert row(s) {verb}")


def removable(rows: list[tuple[Any, ...]], cutoff: str, protect_from: str | None) -> list[int]:
    """Row ids to delete among one device's rows, oldest first.

    ``rows``: (id, checked_at, last_at, status, mode, baseline_id, fingerprint).
    ``protect_from``: rows at or after this time belong to an open alert.
    Times are format_time text, which sorts as time.
    """
    # The key of the next row of the same mode, for each row (None: the last).
    following: list[tuple[Any, ...] | None] = [None] * len(rows)
    seen: dict[Any, tuple[Any, ...]] = {}
    for i in range(len(rows) - 1, -1, -1):
        r = rows[i]
        following[i] = seen.get(r[4])
        seen[r[4]] = (r[3], r[5], r[6])
    out = []
    last_of_mode: dict[Any, tuple[Any, ...]] = {}
    prev_status = None
    for i, (ident, at, last_at, status, mode, baseline_id, fingerprint) in enumerate(rows):
        key = (status, baseline_id, fingerprint)
        change = last_of_mode.get(mode) != key or status != prev_status
        last_of_mode[mode], prev_status = key, status
        if change:
            continue  # a state change, and the first of its run
        if following[i] != key:
            continue  # the last of its run
        if (last_at or at) >= cutoff or (protect_from is not None and (last_at or at) >= protect_from):
            continue
        out.append(ident)
    return out


class PruneMixin:
    """Needs ``self._tx`` and ``self._retrying`` from Store."""

    def prune_checks(self, before: datetime, *, dry_run: bool = False) -> PruneReport:
        """Thin the check history older than ``before`` (see the module docstring)."""
        t, o, s = tables.checks, tables.outbox, tables.device_state
        cutoff = format_time(before)
        with self._tx("reading the check history to prune") as conn:  # type: ignore[attr-defined]
            devices = [d for (d,) in conn.execute(select(t.c.device).distinct())]
            protect = _open_alert_times(conn.execute(select(s.c.device, s.c.record)).all())
            for device, created in conn.execute(
                    select(o.c.device, o.c.created_at).where(o.c.sent_at.is_(None))):
                protect[device] = min(protect.get(device, created), created)
        examined, doomed = 0, []
        for device in devices:  # one device at a time: memory bounded by one device's rows
            with self._tx(f"reading the check history of {device}") as conn:  # type: ignore[attr-defined]
                rows = [tuple(r) for r in conn.execute(
                    select(t.c.id, t.c.checked_at, t.c.last_at, t.c.status, t.c.mode,
                           t.c.baseline_id, t.c.fingerprint)
                    .where(t.c.device == device).order_by(t.c.id))]
            examined += len(rows)
            doomed += removable(rows, cutoff, protect.get(device))
        outbox_removed = 0
        if not dry_run:
            def write() -> int:
                with self._tx("pruning the check history", write=True) as conn:  # type: ignore[attr-defined]
                    for i in range(0, len(doomed), CHUNK):
                        conn.execute(delete(t).where(t.c.id.in_(doomed[i:i + CHUNK])))
                    return conn.execute(delete(o).where(o.c.sent_at.is_not(None),
                                                        o.c.sent_at < cutoff)).rowcount
            outbox_removed = self._retrying(write)  # type: ignore[attr-defined]
        return PruneReport(before, examined, len(doomed), outbox_removed, dry_run)


def _open_alert_times(records: list[tuple[str, str]]) -> dict[str, str]:
    """device -> since when its current non-OK state (an open alert) has lasted."""
    out = {}
    for device, text in records:
        try:
            doc = json.loads(text)
            if doc.get("state") not in (None, "OK"):
                since = doc.get("since")
                out[device] = format_time(datetime.fromisoformat(since)) if since else ""
        except (TypeError, ValueError, AttributeError):
            out[device] = ""  # unreadable state: protect the device's whole history
    return out
