"""``plc-integrity status``: where every device stands, in one table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from integrity.errors import BaselineInvalidError, NoBaselineError
from integrity.evidence import SiteWarning, site_warnings
from integrity.render import short, signer as signer_label
from integrity.scheduler import HEARTBEAT_NAME


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

    @property
    def scheduler(self) -> str:
        """running, STALLED (no beat for three intervals, or checks that stopped
        completing), stopped or not running.

        The daemon beats at least once per interval, while idle and during long
        sweeps alike, so no next-due slack is allowed: a daemon hung right
        after a beat must not look alive until its next job a day later.
        """
        if self.heartbeat_at is None:
            return "not running"
        info = self.heartbeat_info or {}
        if info.get("stopped"):
            return "stopped"
        allowed = timedelta(seconds=3 * _seconds(info.get("interval_s"), 30))
        if self.now - self.heartbeat_at > allowed or self.checks_stalled_since is not None:
            return "STALLED"
        return "running"

    @property
    def checks_stalled_since(self) -> datetime | None:
        """When a check last completed in a sweep whose checks have since stalled
        (none completed within the slowest device's check deadline plus a margin)."""
        info = self.heartbeat_info or {}
        try:
            last = datetime.fromisoformat(str(info["last_progress"]))
            if info.get("stalled") is True and last.tzinfo:
                return last  # the daemon saw it itself
            allowed = timedelta(seconds=float(info["stall_after_s"]))
        except (KeyError, TypeError, ValueError):
            return None  # idle, or an unreadable (unsigned, operational) row
        return last if last.tzinfo and self.now - last > allowed else None

    def to_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "scheduler": self.scheduler,
                "heartbeat_at": self.heartbeat_at.isoformat() if self.heartbeat_at else None,
                "store_check": ({"at": self.store_check_at.isoformat(), "summary": self.store_check}
                                if self.store_check_at else None),
                "warnings": [w.to_dict() for w in self.warnings],
                "checks_stalled_since": (self.checks_stalled_since.isoformat()
                                         if self.checks_stalled_since else None),
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
        lines += [f"warning: {w.message}" for w in self.warnings]
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


def _seconds(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


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


def collect_status(site: Any, store: Any, trust: Any, *, now: datetime) -> SiteStatus:
    records = store.alert_records()
    due = store.schedule_rows()
    # Every device's baseline verified in one transaction, exactly as latest() would.
    latest = store.latest_many([d.name for d in site.devices], trust)
    lasts = store.last_checks([d.name for d in site.devices])
    rows = []
    for d in site.devices:
        rec = records.get(d.name) or {}
        last = [lasts[d.name]] if d.name in lasts else []
        nexts = [n for job, (n, _) in due.items() if job.split("/")[0] == d.name]
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
            next_due=min(nexts).isoformat() if nexts else None,
            baseline_id=baseline_id, baseline_sequence=seq, signer=signer,
            baseline_problem=problem, maintenance_until=until))
    beat = store.heartbeat(HEARTBEAT_NAME)
    checked = store.last_store_check()
    warnings = site_warnings(store, trust, now) + _due_warnings(site, due, store, now)
    return SiteStatus(now, tuple(rows), beat[0] if beat else None, beat[1] if beat else None,
                      warnings=tuple(warnings), store_check_at=checked[0] if checked else None,
                      store_check=checked[1].get("summary") if checked else None)


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
