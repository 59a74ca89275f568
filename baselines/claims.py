"""Collectors per zone: who checks which due job, and who is alive.  Mixed into ``Store``.

Several collectors may serve one zone.  Before checking a due job a collector
claims it in the database, for a lease it renews while it works; a claim
expires when its collector dies (kill -9, power loss), and the job is then
claimed by another.  So no device is checked twice at once, and none is left
unchecked for longer than one lease after its collector died.  Restore drills
(``:drill/<device>``) and backups (``:backup/<folder>``) are claimed the same
way, so each runs in one collector per round.

- PostgreSQL: the claim transaction locks the due jobs' schedule rows with
  ``SELECT ... FOR UPDATE SKIP LOCKED``: two collectors claiming at once each
  get different jobs, neither waits for the other.  The row's ``next_due`` is
  re-read under the lock, so a job another collector finished a moment ago is
  not taken again.
- SQLite has no row locks (a write locks the whole file), so one collector per
  zone runs there: it holds the zone's lease row, and a second collector of the
  zone stands by until the lease expires.  Claims are taken as on PostgreSQL,
  serialised by BEGIN IMMEDIATE.

Times are the caller's clock (``now``), so tests drive leases without waiting.
Nothing here is signed or trusted: a forged claim can delay a check by one
lease at most, never make a device look checked.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import Connection, delete, insert, select, update

from baselines import tables
from baselines.manifest import format_time, parse_time

_CHUNK = 500  # keeps IN lists well under every backend's parameter limit


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


class ClaimsMixin:
    """Needs ``self._tx(action, write=...)`` and ``self._engine`` from Store."""

    def _is_postgres(self) -> bool:
        return self._engine.dialect.name == "postgresql"  # type: ignore[attr-defined]

    # -- claiming ------------------------------------------------------------------------
    def claim_jobs(self, collector: str, zones: Iterable[str], jobs: Iterable[str],
                   now: datetime, lease: timedelta) -> list[str]:
        """Claim those of ``jobs`` that are due at ``now`` and not claimed by another
        live collector; returns the claimed ones (already held ones included).

        On SQLite, first takes or renews the lease of each of ``zones``; if another
        collector holds one, nothing is claimed (this collector stands by).
        """
        wanted = sorted(set(jobs))
        stamp, expires = format_time(now), format_time(now + lease)
        with self._tx(f"claiming due jobs for {collector}", write="claim") as conn:  # type: ignore[attr-defined]
            if not self._is_postgres() and not self._take_zone_leases(conn, collector, zones,
                                                                       stamp, expires):
                return []
            s, c = tables.schedule, tables.claims
            due: list[str] = []
            for part in _chunks(wanted):
                query = select(s.c.job).where(s.c.job.in_(part), s.c.next_due <= stamp)
                if self._is_postgres():
                    query = query.with_for_update(skip_locked=True)
                due.extend(r[0] for r in conn.execute(query))
            held: dict[str, tuple[str, str]] = {}
            for part in _chunks(due):
                held.update({j: (who, exp) for j, who, exp in conn.execute(
                    select(c.c.job, c.c.collector, c.c.expires).where(c.c.job.in_(part)))})
            others = {job for job, (who, exp) in held.items()
                      if who != collector and not _expired(exp, now)}
            # A device's jobs ("<device>/<mode>") go together: if another collector
            # holds (or has just finished) one of them, this one takes none of them,
            # so a device is never read by two collectors at once.
            contested = {_device(j) for j in (set(wanted) - set(due)) | others}
            got = []
            for job in sorted(due):
                if _device(job) in contested:
                    continue
                owner = held.get(job)
                if owner is None:
                    conn.execute(insert(c).values(job=job, collector=collector, expires=expires))
                else:
                    conn.execute(update(c).where(c.c.job == job)
                                 .values(collector=collector, expires=expires))
                got.append(job)
        return got

    def _take_zone_leases(self, conn: Connection, collector: str, zones: Iterable[str],
                          stamp: str, expires: str) -> bool:
        t = tables.zone_leases
        now = parse_time(stamp, "now")
        for zone in sorted(set(zones)):
            row = conn.execute(select(t.c.collector, t.c.expires).where(t.c.zone == zone)).first()
            if row is not None and row[0] != collector and not _expired(row[1], now):
                return False
            if row is None:
                conn.execute(insert(t).values(zone=zone, collector=collector, expires=expires))
            else:
                conn.execute(update(t).where(t.c.zone == zone)
                             .values(collector=collector, expires=expires))
        return True

    def renew_claims(self, collector: str, now: datetime, lease: timedelta) -> int:
        """Extend this collector's claims and zone leases; returns how many claims it holds."""
        expires = format_time(now + lease)
        with self._tx(f"renewing the claims of {collector}", write="claim") as conn:  # type: ignore[attr-defined]
            for t in (tables.claims, tables.zone_leases):
                n = conn.execute(update(t).where(t.c.collector == collector)
                                 .values(expires=expires)).rowcount
                if t is tables.claims:
                    held = n
        return held

    def finish_jobs(self, collector: str, dues: dict[str, datetime], finished: datetime) -> None:
        """Record the jobs' next due times and drop this collector's claims on them,
        in one transaction: a job is either claimed or has its new due time."""
        s, c = tables.schedule, tables.claims
        with self._tx(f"finishing jobs of {collector}", write="claim") as conn:  # type: ignore[attr-defined]
            for job, next_due in sorted(dues.items()):
                conn.execute(update(s).where(s.c.job == job).values(
                    next_due=format_time(next_due), last_run=format_time(finished)))
            for part in _chunks(sorted(dues)):
                conn.execute(delete(c).where(c.c.job.in_(part), c.c.collector == collector))

    def release_claims(self, collector: str) -> None:
        """At a clean stop: give up claims and zone leases, so others need not wait."""
        with self._tx(f"releasing the claims of {collector}", write="claim") as conn:  # type: ignore[attr-defined]
            for t in (tables.claims, tables.zone_leases):
                conn.execute(delete(t).where(t.c.collector == collector))

    def claims_held(self) -> dict[str, tuple[str, datetime | None]]:
        """job -> (collector, expiry) of every claim (for status and tests)."""
        c = tables.claims
        with self._tx("reading claims") as conn:  # type: ignore[attr-defined]
            rows = conn.execute(select(c.c.job, c.c.collector, c.c.expires)).all()
        return {j: (who, _time(exp)) for j, who, exp in rows}

    # -- collectors' heartbeats ----------------------------------------------------------
    def collector_beat(self, collector: str, zones: Iterable[str], at: datetime,
                       info: dict[str, Any]) -> None:
        t = tables.collectors
        values = {"zones": json.dumps(sorted(set(zones))), "at": format_time(at),
                  "info": json.dumps(info, sort_keys=True, default=str)}
        with self._tx(f"writing the heartbeat of collector {collector}", write="claim") as conn:  # type: ignore[attr-defined]
            if not conn.execute(update(t).where(t.c.id == collector).values(**values)).rowcount:
                conn.execute(insert(t).values(id=collector, **values))

    def collector_beats(self) -> list[dict[str, Any]]:
        """Every collector that ever beat: id, zones, at (None if unreadable), info."""
        t = tables.collectors
        with self._tx("reading collector heartbeats") as conn:  # type: ignore[attr-defined]
            rows = conn.execute(select(t.c.id, t.c.zones, t.c.at, t.c.info).order_by(t.c.id)).all()
        out = []
        for ident, zones, at, info in rows:
            out.append({"id": ident, "zones": _json(zones, list), "at": _time(at),
                        "info": _json(info, dict)})
        return out

    def forget_collector(self, collector: str) -> None:
        """Drop a collector's heartbeat row, and its claims and zone leases with it:
        a collector forgotten by hand (or stopped cleanly) holds no job."""
        with self._tx(f"forgetting collector {collector}", write="claim") as conn:  # type: ignore[attr-defined]
            for t in (tables.claims, tables.zone_leases):
                conn.execute(delete(t).where(t.c.collector == collector))
            conn.execute(delete(tables.collectors).where(tables.collectors.c.id == collector))


def _device(job: str) -> str:
    """What a job reads: a device's checks ("<device>/<mode>") go together; a
    site job (":drill/<device>", ":backup/<folder>": no device name starts with
    ':') reads no device and is its own."""
    return job if job.startswith(":") else job.rsplit("/", 1)[0]


def _time(text: Any) -> datetime | None:
    try:
        return parse_time(text, "time")
    except (ValueError, TypeError):
        return None


def _expired(text: Any, now: datetime) -> bool:
    # An unreadable expiry is treated as expired: a damaged row must not keep a job unchecked.
    at = _time(text)
    return at is None or at <= now


def _json(text: Any, kind: type) -> Any:
    try:
        doc = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return kind()
    return doc if isinstance(doc, kind) else kind()
