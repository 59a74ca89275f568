"""Operational state kept beside the baselines: alert records, due times,
heartbeat, daemon events.  Mixed into ``Store``; see tables.py for why none of
it is signed."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from baselines import tables
from baselines.manifest import format_time, parse_time
from baselines.outbox import Outgoing, enqueue


def _dumps(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _loads(text: Any) -> dict[str, Any] | None:
    """A stored state document, or None if it cannot be read.  Unsigned state
    that an edit or a crash damaged is treated as absent: the device is then
    judged afresh, which costs at most one repeated alert, never a silent one."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _time(text: Any, what: str) -> datetime | None:
    try:
        return parse_time(text, what)
    except ValueError:
        return None


class RuntimeStateMixin:
    """Needs ``self._tx(action, write=...)`` from Store."""

    def _upsert(self, table: Any, key_col: str, key: str, values: dict[str, Any], action: str) -> None:
        with self._tx(action, write=True) as conn:  # type: ignore[attr-defined]
            col = table.c[key_col]
            done = conn.execute(update(table).where(col == key).values(**values)).rowcount
            if not done:
                conn.execute(insert(table).values(**{key_col: key}, **values))

    # -- alert records -------------------------------------------------------------------
    def alert_record(self, device: str) -> dict[str, Any] | None:
        t = tables.device_state
        with self._tx(f"reading the alert state of {device}") as conn:  # type: ignore[attr-defined]
            row = conn.execute(select(t.c.record).where(t.c.device == device)).first()
        return _loads(row[0]) if row else None

    def save_alert_record(self, device: str, record: dict[str, Any],
                          now: datetime | None = None) -> None:
        from datetime import timezone
        stamp = format_time(now or datetime.now(timezone.utc))
        self._upsert(tables.device_state, "device", device,
                     {"record": _dumps(record), "updated_at": stamp},
                     f"saving the alert state of {device}")

    def alert_records(self, devices: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Alert records of all devices, or of the given ones (absent: never checked)."""
        t = tables.device_state
        query = select(t.c.device, t.c.record)
        with self._tx("reading alert states") as conn:  # type: ignore[attr-defined]
            if devices is None:
                rows = list(conn.execute(query))
            else:
                rows = []
                names = sorted(set(devices))
                for i in range(0, len(names), 500):
                    rows.extend(conn.execute(query.where(t.c.device.in_(names[i:i + 500]))))
        return {d: doc for d, r in rows if (doc := _loads(r)) is not None}

    def save_alert_records(self, records: dict[str, dict[str, Any]],
                           now: datetime | None = None, *, pending: "list[Outgoing] | None" = None,
                           sinks: "list[str] | None" = None,
                           events: "list[tuple[datetime, str, str]] | None" = None) -> None:
        """Save many alert records in one transaction, and with them the alerts
        they raised as pending in the outbox (one row per sink) and the events
        (at, kind, detail) that record why: the state and the news of it are
        stored together or not at all."""
        self._retrying(lambda: self._save_alert_records(records, now, pending, sinks,  # type: ignore[attr-defined]
                                                        events or []))

    def _save_alert_records(self, records: dict[str, dict[str, Any]], now: datetime | None,
                            pending: "list[Outgoing] | None", sinks: "list[str] | None",
                            events: "list[tuple[datetime, str, str]]") -> None:
        t = tables.device_state
        stamp = format_time(now or datetime.now(timezone.utc))
        with self._tx(f"saving the alert state of {len(records)} devices",  # type: ignore[attr-defined]
                      write=True) as conn:
            # Batched: which devices have a row (one query per 500), then one
            # UPDATE and one INSERT for all (a sweep that changes every record,
            # e.g. its first, or quick after deep, paid two statements a device).
            names = sorted(records)
            have: set[str] = set()
            for i in range(0, len(names), 500):
                have.update(conn.execute(select(t.c.device)
                                         .where(t.c.device.in_(names[i:i + 500]))).scalars())
            old = [{"key": d, "new_record": _dumps(records[d]), "new_at": stamp}
                   for d in names if d in have]
            new = [{"device": d, "record": _dumps(records[d]), "updated_at": stamp}
                   for d in names if d not in have]
            if old:
                conn.execute(update(t).where(t.c.device == bindparam("key")).values(
                    record=bindparam("new_record"), updated_at=bindparam("new_at")), old)
            if new:
                conn.execute(insert(t), new)
            for at, kind, detail in events:
                conn.execute(insert(tables.events).values(at=format_time(at), kind=kind,
                                                          detail=detail))
            if pending and sinks:
                enqueue(conn, pending, sinks, now or datetime.now(timezone.utc))

    # -- schedule ------------------------------------------------------------------------
    def due(self, job: str) -> datetime | None:
        t = tables.schedule
        with self._tx(f"reading the due time of {job}") as conn:  # type: ignore[attr-defined]
            row = conn.execute(select(t.c.next_due).where(t.c.job == job)).first()
        # A damaged due time reads as "not scheduled yet": the job is then
        # scheduled afresh (an interval job runs at once) rather than never.
        return _time(row[0], "next_due") if row else None

    def set_due(self, job: str, next_due: datetime, last_run: datetime | None) -> None:
        values: dict[str, Any] = {"next_due": format_time(next_due)}
        if last_run is not None:
            values["last_run"] = format_time(last_run)
        self._upsert(tables.schedule, "job", job, values, f"saving the due time of {job}")

    def schedule_rows(self) -> dict[str, tuple[datetime, datetime | None]]:
        t = tables.schedule
        with self._tx("reading due times") as conn:  # type: ignore[attr-defined]
            rows = conn.execute(select(t.c.job, t.c.next_due, t.c.last_run)).all()
        out = {}
        for job, n, last in rows:
            due = _time(n, "next_due")
            if due is not None:
                out[job] = (due, _time(last, "last_run") if last else None)
        return out

    def forget_jobs(self, keep: set[str]) -> None:
        """Drop due times of device jobs no longer scheduled.  The site's own
        jobs (named ``:...``, which no device name can be) are kept."""
        t = tables.schedule
        with self._tx("pruning due times", write=True) as conn:  # type: ignore[attr-defined]
            conn.execute(delete(t).where(t.c.job.not_in(sorted(keep)), ~t.c.job.startswith(":")))

    # -- heartbeat and events ------------------------------------------------------------
    def beat(self, name: str, at: datetime, info: dict[str, Any]) -> None:
        self._upsert(tables.heartbeat, "name", name, {"at": format_time(at), "info": _dumps(info)},
                     f"writing the {name} heartbeat")

    def heartbeat(self, name: str) -> tuple[datetime, dict[str, Any]] | None:
        t = tables.heartbeat
        with self._tx(f"reading the {name} heartbeat") as conn:  # type: ignore[attr-defined]
            row = conn.execute(select(t.c.at, t.c.info).where(t.c.name == name)).first()
        if not row or (at := _time(row[0], "heartbeat")) is None:
            return None  # no readable beat: status says "not running", never "running"
        return at, _loads(row[1]) or {}

    # -- site markers: the last store check, the keys seen in trust/ ---------------------
    # Kept as rows of the heartbeat table (name -> time + JSON): small, unsigned,
    # and losing one costs a repeated report at most, never a silent one.
    STORE_CHECK = "store-check"
    TRUST_SEEN = "trust-seen"

    def record_store_check(self, report: Any) -> None:
        """Remember a ContentsReport's outcome (status shows it); damage is also an event."""
        self.beat(self.STORE_CHECK, report.checked_at,
                  {"ok": report.ok, "summary": report.summary(),
                   "damaged": [p.line() for p in report.damaged[:20]]})
        self.add_event(report.checked_at, "store-check" if report.ok else "store-damaged",
                       report.summary())

    def last_store_check(self) -> tuple[datetime, dict[str, Any]] | None:
        return self.heartbeat(self.STORE_CHECK)

    def note_trust_keys(self, keyids: set[str], now: datetime) -> list[str] | None:
        """Remember the key ids now in trust/; return those not seen last time.

        None on the first call (nothing remembered yet: nothing to compare with).
        """
        seen = self.heartbeat(self.TRUST_SEEN)
        known = seen[1].get("keyids") if seen else None
        if seen is not None and isinstance(known, list) and set(known) == keyids:
            return []
        self.beat(self.TRUST_SEEN, now, {"keyids": sorted(keyids)})
        if not isinstance(known, list):
            return None
        return sorted(keyids - set(known))

    def add_event(self, at: datetime, kind: str, detail: str) -> None:
        with self._tx(f"recording event {kind}", write=True) as conn:  # type: ignore[attr-defined]
            conn.execute(insert(tables.events).values(at=format_time(at), kind=kind, detail=detail))

    def events(self, limit: int = 50, kind: str | None = None) -> list[dict[str, Any]]:
        """The latest events, newest first; only those of ``kind`` when given."""
        t = tables.events
        query = select(t.c.at, t.c.kind, t.c.detail)
        if kind is not None:
            query = query.where(t.c.kind == kind)
        with self._tx("reading events") as conn:  # type: ignore[attr-defined]
            rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit)).all()
        return [{"at": a, "kind": k, "detail": d} for a, k, d in rows]
