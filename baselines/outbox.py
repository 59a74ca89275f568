"""The alert outbox: alerts wait here, pending, until their sink accepted them.

An alert is written in the same transaction as the device's alert state that
raised it (``RuntimeStateMixin.save_alert_records(..., pending=...)``), one
row per configured sink.  Whichever process holds the outbox lease delivers
the pending rows and marks each sent only after its sink accepted it, so a
process killed during delivery leaves the row pending and the next holder
delivers it again: at least once, with the alert's stable id (Alert.id) for
the receiver to drop the duplicate.  Mixed into ``Store``; the delivery logic
lives in ``integrity.alerts.outbox``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import Connection, delete, func, insert, select, update

from baselines import tables
from baselines.manifest import format_time, parse_time

LEASE = "alerts"


@dataclass(frozen=True)
class Pending:
    """One undelivered (alert, sink) row."""

    row: int
    alert_id: str
    sink: str
    device: str
    alert: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Outgoing:
    """An alert to store as pending: its id, device and JSON document."""

    alert_id: str
    device: str
    alert: dict[str, Any]


def enqueue(conn: Connection, alerts: Iterable[Outgoing], sinks: Iterable[str],
            now: datetime) -> int:
    """Insert one pending row per (alert, sink) not stored yet; returns how many.
    Runs inside the caller's transaction: that is the point of an outbox."""
    t = tables.outbox
    alerts, sinks = list(alerts), sorted(set(sinks))
    if not alerts or not sinks:
        return 0
    ids = sorted({a.alert_id for a in alerts})
    have: set[tuple[str, str]] = set()
    for i in range(0, len(ids), 500):
        have.update(tuple(r) for r in conn.execute(
            select(t.c.alert_id, t.c.sink).where(t.c.alert_id.in_(ids[i:i + 500]))))
    stamp = format_time(now)
    rows = []
    for a in alerts:
        text = json.dumps(a.alert, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        for sink in sinks:
            if (a.alert_id, sink) not in have:
                have.add((a.alert_id, sink))
                rows.append({"alert_id": a.alert_id, "sink": sink, "device": a.device,
                             "created_at": stamp, "alert": text, "attempts": 0})
    if rows:
        conn.execute(insert(t), rows)
    return len(rows)


class OutboxMixin:
    """Needs ``self._tx(action, write=...)`` from Store."""

    def take_outbox_lease(self, holder: str, now: datetime, until: datetime,
                          is_dead: Callable[[str], bool] = lambda _h: False) -> bool:
        """Become the outbox's deliverer until ``until`` if nobody else is.

        A lease past its time, or one whose holder ``is_dead`` says is gone
        (a process on this host that no longer exists), is taken over."""
        t = tables.outbox_lease
        with self._tx("taking the alert outbox lease", write=True) as conn:  # type: ignore[attr-defined]
            row = conn.execute(select(t.c.holder, t.c.until).where(t.c.name == LEASE)).first()
            values = {"holder": holder, "until": format_time(until)}
            if row is None:
                conn.execute(insert(t).values(name=LEASE, **values))
                return True
            try:
                expired = parse_time(row[1], "until") <= now
            except ValueError:
                expired = True  # a damaged lease must not stop delivery for good
            if row[0] != holder and not expired and not is_dead(row[0]):
                return False
            conn.execute(update(t).where(t.c.name == LEASE).values(**values))
            return True

    def release_outbox_lease(self, holder: str) -> None:
        t = tables.outbox_lease
        with self._tx("releasing the alert outbox lease", write=True) as conn:  # type: ignore[attr-defined]
            conn.execute(delete(t).where(t.c.name == LEASE, t.c.holder == holder))

    def pending_alerts(self, sinks: Iterable[str], limit: int = 1000) -> list[Pending]:
        """Undelivered rows for the given sinks, oldest first.  Rows of sinks no
        longer configured wait (and are shown by ``outbox_summary``)."""
        t = tables.outbox
        names = sorted(set(sinks))
        query = (select(t.c.id, t.c.alert_id, t.c.sink, t.c.device, t.c.alert, t.c.attempts)
                 .where(t.c.sent_at.is_(None), t.c.sink.in_(names)).order_by(t.c.id).limit(limit))
        with self._tx("reading the alert outbox") as conn:  # type: ignore[attr-defined]
            rows = conn.execute(query).all()
        out = []
        for ident, alert_id, sink, device, text, attempts in rows:
            try:
                doc = json.loads(text)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                out.append(Pending(ident, alert_id, sink, device, doc, attempts))
        return out

    def mark_alerts_sent(self, rows: Iterable[int], now: datetime) -> None:
        self._outbox_update(list(rows), {"sent_at": format_time(now), "last_error": None},
                            "marking alerts sent")

    def mark_alerts_failed(self, failures: dict[int, str]) -> None:
        t = tables.outbox
        with self._tx("recording failed alert deliveries", write=True) as conn:  # type: ignore[attr-defined]
            for row, error in failures.items():
                conn.execute(update(t).where(t.c.id == row).values(
                    attempts=t.c.attempts + 1, last_error=error[:2000]))

    def _outbox_update(self, rows: list[int], values: dict[str, Any], action: str) -> None:
        t = tables.outbox
        with self._tx(action, write=True) as conn:  # type: ignore[attr-defined]
            for i in range(0, len(rows), 500):
                conn.execute(update(t).where(t.c.id.in_(rows[i:i + 500])).values(**values))

    def outbox_summary(self) -> dict[str, int]:
        """Pending rows per sink (status shows a backlog)."""
        t = tables.outbox
        with self._tx("reading the alert outbox") as conn:  # type: ignore[attr-defined]
            rows = conn.execute(select(t.c.sink, func.count()).where(t.c.sent_at.is_(None))
                                .group_by(t.c.sink)).all()
        return {sink: int(n) for sink, n in rows}
