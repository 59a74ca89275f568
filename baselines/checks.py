"""The check history.  Mixed into ``Store``.

Every check that says something new is one row with the full
CheckResult.to_dict() as JSON: a state change, a drift, a failure, the first
OK after anything else.  An OK check identical to the device's previous row
(OK, same mode, baseline and fingerprint) only extends that row's run
(``repeats`` further checks, the latest at ``last_at``): a year of
15-minute sweeps of an unchanged fleet is one row per device and mode, not
35,000.  What a run drops is only the time of each check inside it, which
retention (``prune.py``) would drop anyway.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Connection, bindparam, func, insert, select, update

from integrity.errors import ConfigError, StoreError
from integrity.model import CheckResult, Status

from baselines import tables
from baselines.manifest import format_time, parse_time

CHUNK = 500  # devices per IN (...) list: well under every backend's parameter limit


def run_key(status: str, mode: str | None, baseline_id: str | None,
            fingerprint: str | None) -> tuple[Any, ...] | None:
    """What an OK check must share with the row before it to extend its run."""
    if status != Status.OK.value or not fingerprint:
        return None  # never fold a check whose state cannot be proven unchanged
    return (mode, baseline_id, fingerprint)


class CheckHistoryMixin:
    """Needs ``self._tx`` and ``self.where`` from Store."""

    def record_check(self, result: CheckResult) -> int:
        """Append one check result; returns its row id.  StoreError if it cannot be written."""
        return self.record_checks([result])[0]

    def record_checks(self, results: "list[CheckResult]") -> list[int]:
        """Append check results in one transaction (a sweep writes many at once:
        one commit, batched statements).  Returns the row id of each (a folded
        check: the id of the run it extended).  A locked database or a lost
        connection is retried, bounded; then StoreError."""
        return self._retrying(lambda: self._record_checks(results))  # type: ignore[attr-defined]

    def _record_checks(self, results: "list[CheckResult]") -> list[int]:
        t = tables.checks
        devices = sorted({r.device for r in results})
        action = f"recording checks of {len(devices)} device(s)" if len(devices) > 5 else \
            f"recording checks of {', '.join(devices)}"
        with self._tx(action, write=True) as conn:  # type: ignore[attr-defined]
            # Per (device, mode): the row a check may extend, and whether the
            # device's newest row of any mode is OK (a quick run does not go
            # on across a deep check's drift).
            last: dict[tuple[str, Any], tuple[Any, Any]] = {}
            newest: dict[str, tuple[int, bool]] = {}
            for (d, m), (ref, *key) in _latest_rows(conn, devices, t.c.status, t.c.mode,
                                                    t.c.baseline_id, t.c.fingerprint).items():
                last[(d, m)] = (ref, run_key(*key))
                if ref[1] > newest.get(d, (-1, False))[0]:
                    newest[d] = (ref[1], key[0] == Status.OK.value)
            ok_now = {d: ok for d, (_, ok) in newest.items()}
            new: list[dict[str, Any]] = []      # rows to insert, in order
            where: list[tuple[str, Any]] = []   # per result: ("new", index) or ("row", id)
            grow: dict[int, list[Any]] = {}     # existing row id -> [repeats to add, last_at]
            for result in results:
                mode = result.mode.value if result.mode else None
                key = run_key(result.status.value, mode, result.baseline_id, result.fingerprint)
                at = format_time(result.checked_at)
                prev = last.get((result.device, mode))
                if key is not None and prev is not None and prev[1] == key \
                        and ok_now.get(result.device):
                    kind, ref = prev[0]
                    if kind == "new":
                        new[ref]["repeats"] += 1
                        new[ref]["last_at"] = at
                    else:
                        g = grow.setdefault(ref, [0, at])
                        g[0], g[1] = g[0] + 1, at
                    where.append(prev[0])
                    continue
                doc = json.dumps(result.to_dict(), sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False, default=_json_fallback)
                new.append({"device": result.device, "checked_at": at, "mode": mode,
                            "status": result.status.value, "fingerprint": result.fingerprint,
                            "baseline_id": result.baseline_id, "result": doc, "repeats": 0,
                            "last_at": None})
                last[(result.device, mode)] = (("new", len(new) - 1), key)
                ok_now[result.device] = result.status is Status.OK
                where.append(("new", len(new) - 1))
            new_ids: list[int] = []
            if new:
                stmt = insert(t).returning(t.c.id, sort_by_parameter_order=True)
                new_ids = [int(r[0]) for r in conn.execute(stmt, new)]
            if grow:
                conn.execute(update(t).where(t.c.id == bindparam("rid")).values(
                    repeats=t.c.repeats + bindparam("n"), last_at=bindparam("at")),
                    [{"rid": rid, "n": n, "at": at} for rid, (n, at) in grow.items()])
        return [new_ids[ref] if kind == "new" else ref for kind, ref in where]

    def checks(self, device: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Recorded checks, newest first: each CheckResult.to_dict() plus
        ``check_id``; a run of unchanged checks is one entry whose ``checked_at``
        is its latest check, with ``run`` = {"first": time, "checks": count}."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"limit must be a positive integer, got {limit!r}", field="limit")
        t = tables.checks
        query = select(t.c.id, t.c.result, t.c.repeats, t.c.last_at).order_by(t.c.id.desc()) \
            .limit(limit)
        if device is not None:
            query = query.where(t.c.device == device)
        with self._tx("reading check history") as conn:  # type: ignore[attr-defined]
            rows = conn.execute(query).all()
        return [self._check_doc(*row) for row in rows]

    def last_checks(self, devices: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """The newest check of each device (absent: never checked; None: every
        device with a check), in one query per few hundred devices rather than
        one per device."""
        t = tables.checks
        with self._tx("reading check history") as conn:  # type: ignore[attr-defined]
            if devices is None:
                devices = [r[0] for r in conn.execute(select(t.c.device).distinct())]
            rows = _latest_rows(conn, sorted(set(devices)), t.c.result, t.c.repeats, t.c.last_at)
        # A quick run's row can be older than the device's last deep check yet
        # hold a later check: the newest check is the one with the latest time.
        best: dict[str, tuple[datetime, dict[str, Any]]] = {}
        for (d, _mode), (ref, *rest) in rows.items():
            doc = self._check_doc(ref[1], *rest)
            try:
                when = datetime.fromisoformat(doc["checked_at"])
            except (KeyError, TypeError, ValueError):
                raise StoreError(f"check #{ref[1]} in {self.where} has no valid time") from None  # type: ignore[attr-defined]
            if d not in best or when >= best[d][0]:
                best[d] = (when, doc)
        return {d: doc for d, (_, doc) in best.items()}

    # -- read in bulk: the dashboard, reports and /metrics (issue 15) ----------------------

    def checks_between(self, since: datetime, until: datetime,
                       device: str | None = None) -> list[dict[str, Any]]:
        """Recorded checks whose run starts with since <= checked_at < until,
        oldest first (a compact run of unchanged OK checks is one document with
        its ``run``)."""
        t = tables.checks
        query = (select(t.c.id, t.c.result, t.c.repeats, t.c.last_at)
                 .where(t.c.checked_at >= format_time(since), t.c.checked_at < format_time(until))
                 .order_by(t.c.checked_at, t.c.id))
        if device is not None:
            query = query.where(t.c.device == device)
        with self._tx("reading check history") as conn:  # type: ignore[attr-defined]
            return [self._check_doc(*row) for row in conn.execute(query).all()]

    def check_counts(self) -> dict[tuple[str, str | None], int]:
        """How many checks were recorded, by (status, mode); a compact run counts
        every check it stands for."""
        t = tables.checks
        with self._tx("counting checks") as conn:  # type: ignore[attr-defined]
            rows = conn.execute(select(t.c.status, t.c.mode, func.sum(1 + t.c.repeats))
                                .group_by(t.c.status, t.c.mode)).all()
        return {(status, mode): int(n) for status, mode, n in rows}

    def _check_doc(self, ident: int, text: str, repeats: int, last_at: str | None
                   ) -> dict[str, Any]:
        try:
            doc = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"check #{ident} in {self.where} is not valid JSON") from exc  # type: ignore[attr-defined]
        if not isinstance(doc, dict):
            raise StoreError(f"check #{ident} in {self.where} is not a JSON object")  # type: ignore[attr-defined]
        doc["check_id"] = ident
        if repeats and last_at:
            doc["run"] = {"first": doc.get("checked_at"), "checks": int(repeats) + 1}
            try:
                doc["checked_at"] = parse_time(last_at, "last_at").isoformat()
            except ValueError as exc:
                raise StoreError(f"check #{ident} in {self.where}: bad last_at") from exc  # type: ignore[attr-defined]
        return doc


def _latest_rows(conn: Connection, devices: list[str], *cols: Any
                 ) -> dict[tuple[str, Any], tuple[Any, ...]]:
    """(device, mode) -> (("row", id), *cols) of the newest row of each device and mode."""
    t = tables.checks
    out: dict[tuple[str, Any], tuple[Any, ...]] = {}
    for i in range(0, len(devices), CHUNK):
        newest = (select(func.max(t.c.id).label("id")).where(t.c.device.in_(devices[i:i + CHUNK]))
                  .group_by(t.c.device, t.c.mode).subquery())
        query = select(t.c.device, t.c.mode, t.c.id, *cols).join(newest, t.c.id == newest.c.id)
        for device, mode, ident, *rest in conn.execute(query):
            out[(device, mode)] = (("row", ident), *rest)
    return out


def _json_fallback(value: Any) -> Any:
    # Check history must never be lost to an odd value in a difference.
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
