"""The check history: one row per device check, the CheckResult as JSON.
Mixed into ``Store``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from integrity.errors import ConfigError, StoreError
from integrity.model import CheckResult

from baselines import tables
from baselines.manifest import format_time


class CheckHistoryMixin:
    """Needs ``self._tx`` and ``self.where`` from Store."""

    # -- check history -----------------------------------------------------------------------

    def record_check(self, result: CheckResult) -> int:
        """Append one check result; returns its row id.  StoreError if it cannot be written."""
        return self.record_checks([result])[0]

    def record_checks(self, results: "list[CheckResult]") -> list[int]:
        """Append check results in one transaction (a sweep writes many at once:
        one commit, not one per device).  Returns their row ids."""
        ids = []
        devices = ", ".join(sorted({r.device for r in results}))
        with self._tx(f"recording checks of {devices}", write=True) as conn:
            for result in results:
                doc = json.dumps(result.to_dict(), sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False, default=_json_fallback)
                res = conn.execute(insert(tables.checks).values(
                    device=result.device, checked_at=format_time(result.checked_at),
                    mode=result.mode.value if result.mode else None, status=result.status.value,
                    fingerprint=result.fingerprint, baseline_id=result.baseline_id, result=doc))
                ids.append(int(res.inserted_primary_key[0]))
        return ids

    def checks(self, device: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Recorded checks, newest first: each CheckResult.to_dict() plus ``check_id``."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"limit must be a positive integer, got {limit!r}", field="limit")
        t = tables.checks
        query = select(t.c.id, t.c.result).order_by(t.c.id.desc()).limit(limit)
        if device is not None:
            query = query.where(t.c.device == device)
        with self._tx("reading check history") as conn:
            return self._docs(conn.execute(query).all())

    # -- read in bulk: the dashboard, reports and /metrics (issue 15) ----------------------

    def _docs(self, rows: Any) -> list[dict[str, Any]]:
        out = []
        for ident, text in rows:
            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise StoreError(f"check #{ident} in {self.where} is not valid JSON") from exc
            doc["check_id"] = ident
            out.append(doc)
        return out

    def last_checks(self) -> dict[str, dict[str, Any]]:
        """Every device's newest recorded check, in one query (not one per device)."""
        t = tables.checks
        newest = select(func.max(t.c.id)).group_by(t.c.device).scalar_subquery()
        with self._tx("reading the last checks") as conn:
            rows = conn.execute(select(t.c.id, t.c.result).where(t.c.id.in_(newest))).all()
        return {doc["device"]: doc for doc in self._docs(rows)}

    def checks_between(self, since: datetime, until: datetime,
                       device: str | None = None) -> list[dict[str, Any]]:
        """Recorded checks with since <= checked_at < until, oldest first."""
        t = tables.checks
        query = (select(t.c.id, t.c.result)
                 .where(t.c.checked_at >= format_time(since), t.c.checked_at < format_time(until))
                 .order_by(t.c.checked_at, t.c.id))
        if device is not None:
            query = query.where(t.c.device == device)
        with self._tx("reading check history") as conn:
            return self._docs(conn.execute(query).all())

    def check_counts(self) -> dict[tuple[str, str | None], int]:
        """How many checks were recorded, by (status, mode)."""
        t = tables.checks
        with self._tx("counting checks") as conn:
            rows = conn.execute(select(t.c.status, t.c.mode, func.count())
                                .group_by(t.c.status, t.c.mode)).all()
        return {(status, mode): int(n) for status, mode, n in rows}



def _json_fallback(value: Any) -> Any:
    # Check history must never be lost to an odd value in a difference.
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
