"""``plc-integrity status``: where every device stands, in one table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from integrity.bulk import paused_collector
from integrity.errors import BaselineInvalidError, NoBaselineError
from integrity.evidence import SiteWarning, site_warnings
from integrity.render import short, signer as signer_label
from integrity.scheduler import HEARTBEAT_NAME
from integrity.zones import (ZoneStatus, beat_state, scheduled_zones, stalled_since, zone_statuses,
                             zone_warnings)


@dataclass(frozen=True)
class DeviceStatus:
    device: str
    protocol: str
    state: str | None            # from the alert record: the last sweep's view
    since: str | None
    last_check: str | None
    last_status: str | None
    next_due: str | None
    baseline_id: str | None
    baseline_sequence: int | None
    signer: str | None
    baseline_problem: str | None
    maintenance_until: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SiteStatus:
    now: datetime
    devices: tuple[DeviceStatus, ...]
    heartbeat_at: datetime | None
    heartbeat_info: dict[str, Any] | None
    warnings: tuple[SiteWarning, ...] = ()
    store_check_at: datetime | None = None
    store_check: str | None = None     # the last store check's summary
    proposals: tuple[dict[str, Any], ...] = ()   # pending, waiting for approvals
    zones: tuple[ZoneStatus, ...] = ()  # each zone's collectors (integrity.zones)

    @property
    def scheduler(self) -> str:
        """running, STALLED, stopped or not running (see integrity.zones.beat_state)."""
        return beat_state(self.now, self.heartbeat_at, self.heartbeat_info)

    @property
    def checks_stalled_since(self) -> datetime | None:
        return stalled_since(self.now, self.heartbeat_info or {})

    def to_dict(self) -> dict[str, Any]:
        with paused_collector():  # a dict per device (integrity.bulk)
            return self._to_dict()

    def _to_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "scheduler": self.scheduler,
                "heartbeat_at": self.heartbeat_at.isoformat() if self.heartbeat_at else None,
                "store_check": ({"at": self.store_check_at.isoformat(), "summary": self.store_check}
                                if self.store_check_at else None),
                "warnings": [w.to_dict() for w in self.warnings],
                "zones": [z.to_dict() for z in self.zones],
                "checks_stalled_since": (self.checks_stalled_since.isoformat()
                                         if self.checks_stalled_since else None),
                "proposals": list(self.proposals),
                "devices": [d.to_dict() for d in self.devices]}

    def render(self, names: Any = None) -> str:
        """The table for people; ``names`` maps a key id to its trust name."""
        beat = (f"last heartbeat {self.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC"
                if self.heartbeat_at else "no heartbeat recorded")
        stalled = self.checks_stalled_since
        if stalled is not None:
            beat += f"; no check completed since {stalled:%Y-%m-%d %H:%M:%S} UTC"
        lines = [f"scheduler: {self.scheduler} ({beat})"]
        if self.store_check_at:
            lines.append(f"store check: {self.store_check} "
                         f"({self.store_check_at:%Y-%m-%d %H:%M:%S} UTC)")
        for z in self.zones:
            if z.collectors or len(self.zones) > 1:
                who = ", ".join(f"{c['id']} {c['state']}" for c in z.collectors) or "no collector"
                lines.append(f"zone {z.zone}: {z.state} ({who}; {z.devices} device(s))")
        lines += [f"warning: {w.message}" for w in self.warnings]
        for p in self.proposals:
            a = p["approvals"] or {}
            lines.append(f"pending: {p['device']} proposal {p['id'][:12]} (#{p['sequence']}, "
                         f"{p['reason']!r}) signed by {', '.join(a.get('signed_by') or []) or '-'};"
                         f" needs {a.get('needs') or 'nothing'}")
        w = max([len(d.device) for d in self.devices] + [6])
        lines.append(f"{'DEVICE':<{w}} {'STATE':<16} {'SINCE':<20} {'LAST CHECK':<37} "
                     f"{'NEXT DUE':<20} BASELINE")
        for d in self.devices:
            state = d.state or d.last_status or "never checked"
            if d.maintenance_until:
                state += " (maint.)"
            base = (f"#{d.baseline_sequence} {short(d.baseline_id)} by {signer_label(d.signer, names)}"
                    if d.baseline_id else (d.baseline_problem or "none"))
            lines.append(f"{d.device:<{w}} {state:<16} {_t(d.since):<20} {_last(d):<37} "
                         f"{_t(d.next_due):<20} {base}")
        return "\n".join(lines)


def _recent(at: str, now: datetime) -> bool:
    try:
        return datetime.fromisoformat(at) >= now - timedelta(days=1)
    except ValueError:
        return False


def _last(d: DeviceStatus) -> str:
    # The last check of any kind (a verify too, which does not move the alert
    # state), with its own outcome, so a newer finding is never hidden.
    return f"{_t(d.last_check)} {d.last_status}" if d.last_check else "-"


def _t(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "-"


def _drift_baseline(check: dict[str, Any], *latest: Any) -> tuple[Any, Any, Any]:
    # A drift was found against one baseline; a newer one captured since must
    # not be shown as if the drift were about it.
    if check.get("baseline_id"):
        return check["baseline_id"], check.get("baseline_sequence"), check.get("signer")
    return latest  # type: ignore[return-value]


def collect_status(site: Any, store: Any, trust: Any, *, now: datetime,
                   latest: dict[str, Any] | None = None) -> SiteStatus:
    """``latest``: store.latest_many of every device, when the caller already has it."""
    with paused_collector():  # (integrity.bulk: 10,000 devices' rows, baselines, checks)
        return _collect(site, store, trust, now, latest)


def _collect(site: Any, store: Any, trust: Any, now: datetime,
             latest: dict[str, Any] | None) -> SiteStatus:
    names = [d.name for d in site.devices]
    records: dict[str, Any] = {}
    due: dict[str, Any] = {}
    lasts: dict[str, Any] = {}

    def read_the_rest() -> None:
        records.update(store.alert_records())
        due.update(store.schedule_rows())
        lasts.update(store.last_checks(names))  # one query, not one per device

    # Every device's baseline verified in one transaction, exactly as latest()
    # would; the rest is read while a worker verifies (baselines.parallel).
    if latest is None:
        latest = store.latest_many(names, trust, meanwhile=read_the_rest)
    else:
        read_the_rest()
    next_due: dict[str, datetime] = {}  # per device, not a scan of every job per device
    for job, (n, _) in due.items():
        name = job.split("/")[0]
        next_due[name] = min(n, next_due.get(name, n))
    rows = []
    for d in site.devices:
        rec = records.get(d.name) or {}
        last = [lasts[d.name]] if d.name in lasts else []
        baseline_id = seq = signer = problem = None
        b = latest[d.name]
        if isinstance(b, NoBaselineError):
            problem = "none"
        elif isinstance(b, BaselineInvalidError):
            problem = f"INVALID ({b.reason})"
        else:
            baseline_id, seq, signer = b.id, b.manifest.sequence, b.keyid
        if last and last[0].get("status") == "DRIFT":
            baseline_id, seq, signer = _drift_baseline(last[0], baseline_id, seq, signer)
        until = rec.get("maintenance_until")
        if until and datetime.fromisoformat(until.replace("Z", "+00:00")) <= now:
            until = None
        rows.append(DeviceStatus(
            device=d.name, protocol=d.protocol, state=rec.get("state"), since=rec.get("since"),
            last_check=last[0]["checked_at"] if last else None,
            last_status=last[0]["status"] if last else None,
            next_due=next_due[d.name].isoformat() if d.name in next_due else None,
            baseline_id=baseline_id, baseline_sequence=seq, signer=signer,
            baseline_problem=problem, maintenance_until=until))
    beat = store.heartbeat(HEARTBEAT_NAME)
    checked = store.last_store_check()
    beats = store.collector_beats()
    zones = zone_statuses(beats, site.devices, scheduled_zones(site), now)
    warnings = (site_warnings(store, trust, now) + _due_warnings(site, due, store, now)
                + zone_warnings(zones, bool(beats)))
    return SiteStatus(now, tuple(rows), beat[0] if beat else None, beat[1] if beat else None,
                      warnings=tuple(warnings), store_check_at=checked[0] if checked else None,
                      store_check=checked[1].get("summary") if checked else None,
                      proposals=tuple(_pending(store, trust)), zones=tuple(zones))


def _pending(store: Any, trust: Any) -> list[dict[str, Any]]:
    """Proposals waiting for approvals; one that fails verification is a
    warning line of its own rather than a reason to hide the rest."""
    try:
        return [p.to_dict() for p in store.proposals(trust)]
    except BaselineInvalidError as exc:
        return [{"device": "?", "id": "-" * 12, "sequence": 0, "reason": str(exc),
                 "approvals": {"needs": "a valid proposal"}}]


def _due_warnings(site: Any, due: dict[str, tuple[datetime, Any]], store: Any,
                  now: datetime) -> list[SiteWarning]:
    """Due times beyond what their schedule allows (the daemon recomputes them
    at its next step), and the resets it recorded in the last day."""
    from integrity.scheduler import latest_due, parse_schedules

    out = []
    for job in parse_schedules(site.schedules, site.devices):
        if job.key in due and due[job.key][0] > latest_due(job, now):
            out.append(SiteWarning("due-reset", f"{job.key}: stored due time "
                                   f"{due[job.key][0]:%Y-%m-%d %H:%M:%S} is beyond its schedule "
                                   f"({job.spec.text}): damaged; the scheduler recomputes it"))
    for e in store.events(limit=200):
        if e["kind"] == "due-reset" and _recent(e["at"], now):
            out.append(SiteWarning("due-reset", f"the scheduler reset a damaged due time at "
                                   f"{_t(e['at'])}: {e['detail']}"))
    return out
