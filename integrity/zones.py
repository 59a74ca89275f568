"""Network zones and their collectors.

OT networks are segmented: the devices of one berth are reachable only from
inside it, so each zone runs its own collector (``plc-integrity run --zone
berth-3``), and all of them share one store (PostgreSQL).  Each device belongs
to one zone (``zone = "berth-3"``; default: ``[settings] zone``, else
"default").  Several collectors may serve one zone; they share its due jobs
through claims in the store (baselines/claims.py) and each beats its own
heartbeat.  ``status`` shows every zone's collectors, and a zone whose jobs no
live collector serves is a site warning, sent through the alert path.

A collector never holds a signing key: it reads devices and records results;
baselines are signed elsewhere and verified against trust/ on every read.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from integrity.errors import ConfigError
from integrity.evidence import SiteWarning

DEFAULT_LEASE = timedelta(minutes=5)
# A STALLED collector whose every zone another collector serves was replaced
# (killed, its host retired): after this long without a beat status lists it
# as "gone" and stops warning about it, until `collectors forget` removes it.
# A zone's only collector never becomes gone: its zone is unwatched.
GONE_AFTER = timedelta(hours=24)
# Heartbeats (and claim renewals) come at least this often per lease, so a
# live collector's claims never expire between two of its beats.
BEATS_PER_LEASE = 3
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}")


@dataclass(frozen=True)
class Collector:
    """One collector process: its id, the zones it serves, its claim lease."""

    id: str
    zones: tuple[str, ...]
    lease: timedelta = DEFAULT_LEASE
    # A host:pid id never comes back: its row is dropped at a clean stop rather
    # than left "stopped" for ever (a named collector's row stays, stopped).
    ephemeral: bool = False

    @property
    def heartbeat_every(self) -> timedelta:
        return min(timedelta(seconds=30), self.lease / BEATS_PER_LEASE)


def collector_id(given: str | None = None) -> str:
    """``--collector-id`` if given (validated), else ``host:pid``."""
    if given is None:
        return f"{socket.gethostname()}:{os.getpid()}"[:200]
    if not _ID_RE.fullmatch(given):
        raise ConfigError(f"a collector id is 1-200 letters, digits, '_', '.', ':', '@', '-', "
                          f"got {given!r}", field="--collector-id")
    return given


def site_zones(devices: Iterable[Any]) -> list[str]:
    return sorted({d.zone for d in devices})


def zone_devices(devices: Iterable[Any], zone: str) -> list[Any]:
    """The devices of ``zone``; ConfigError naming the zones in use if it has none."""
    devices = list(devices)
    chosen = [d for d in devices if d.zone == zone]
    if not chosen:
        raise ConfigError(f"no device is in zone {zone!r} (zones in use: "
                          f"{', '.join(site_zones(devices)) or 'none'})", field="--zone")
    return chosen


# -- liveness ---------------------------------------------------------------------------------

def stalled_since(now: datetime, info: dict[str, Any]) -> datetime | None:
    """When a check last completed in a sweep whose checks have since stalled
    (none completed within the slowest device's check deadline plus a margin)."""
    try:
        last = datetime.fromisoformat(str(info["last_progress"]))
        if info.get("stalled") is True and last.tzinfo:
            return last  # the daemon saw it itself
        allowed = timedelta(seconds=float(info["stall_after_s"]))
    except (KeyError, TypeError, ValueError):
        return None  # idle, or an unreadable (unsigned, operational) row
    return last if last.tzinfo and now - last > allowed else None


def beat_state(now: datetime, at: datetime | None, info: dict[str, Any] | None) -> str:
    """running, STALLED (no beat for three intervals, or checks that stopped
    completing), stopped or not running.

    A daemon beats at least once per interval, while idle and during long
    sweeps alike, so no next-due slack is allowed: a daemon hung right after a
    beat must not look alive until its next job a day later.
    """
    if at is None:
        return "not running"
    info = info or {}
    if info.get("stopped"):
        return "stopped"
    try:
        interval = float(info.get("interval_s", 30))
    except (TypeError, ValueError):
        interval = 30.0
    if now - at > timedelta(seconds=3 * interval) or stalled_since(now, info) is not None:
        return "STALLED"
    return "running"


@dataclass(frozen=True)
class ZoneStatus:
    zone: str
    devices: int
    scheduled: bool                       # has [[schedules]] jobs: wants a collector
    collectors: tuple[dict[str, Any], ...]  # id, state, at, claims

    @property
    def state(self) -> str:
        """running (a live collector), STALLED (only stalled ones) or none (gone
        and stopped collectors do not count)."""
        states = {c["state"] for c in self.collectors}
        if "running" in states:
            return "running"
        return "STALLED" if "STALLED" in states else "none"

    def to_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "state": self.state, "devices": self.devices,
                "scheduled": self.scheduled, "collectors": list(self.collectors)}


def zone_statuses(beats: list[dict[str, Any]], devices: Iterable[Any], scheduled: set[str],
                  now: datetime) -> list[ZoneStatus]:
    """Every zone of ``devices`` with the collectors (``store.collector_beats()``) serving it."""
    devices = list(devices)
    states = collector_states(beats, now)
    out = []
    for zone in site_zones(devices):
        mine = [b for b in beats if zone in b["zones"]]
        collectors = tuple({
            "id": b["id"], "state": states[b["id"]],
            "at": b["at"].isoformat() if b["at"] else None,
            "claims": b["info"].get("claims")} for b in mine)
        out.append(ZoneStatus(zone, sum(1 for d in devices if d.zone == zone),
                              zone in scheduled, collectors))
    return out


def collector_states(beats: list[dict[str, Any]], now: datetime) -> dict[str, str]:
    """Each collector's state: beat_state's, or "gone" for a STALLED one silent
    for GONE_AFTER whose every zone has another running collector."""
    states = {b["id"]: beat_state(now, b["at"], b["info"]) for b in beats}
    live = {z for b in beats if states[b["id"]] == "running" for z in b["zones"]}
    for b in beats:
        replaced = bool(b["zones"]) and all(z in live for z in b["zones"])
        if states[b["id"]] == "STALLED" and replaced and (b["at"] is None
                                                           or now - b["at"] > GONE_AFTER):
            states[b["id"]] = "gone"
    return states


def forget_collector(store: Any, ident: str, now: datetime) -> dict[str, Any]:
    """Remove a collector that is not running from the store (its heartbeat row,
    claims and zone leases, so its jobs are free at once).  Returns what it was.
    Raises ConfigError for an unknown id or a running collector (it would beat
    its row back within seconds)."""
    beats = store.collector_beats()
    states = collector_states(beats, now)
    [beat] = [b for b in beats if b["id"] == ident] or [None]
    if beat is None:
        known = ", ".join(sorted(states)) or "none"
        raise ConfigError(f"no collector {ident!r} in the store (collectors: {known})",
                          field="ID")
    if states[ident] == "running":
        raise ConfigError(f"collector {ident!r} is running (last beat "
                          f"{beat['at']:%Y-%m-%d %H:%M:%S} UTC): stop it first", field="ID")
    store.forget_collector(ident)
    return {"id": ident, "state": states[ident], "zones": beat["zones"],
            "at": beat["at"].isoformat() if beat["at"] else None}


def zone_warnings(zones: list[ZoneStatus], any_collector: bool) -> list[SiteWarning]:
    """A zone with scheduled jobs and no live collector, once the site runs collectors
    at all (a site checked by cron `sweep` alone has none, and is not warned); and
    a STALLED collector whose zone another collector serves (its jobs are taken
    over), until it is gone (GONE_AFTER) or forgotten (`collectors forget`)."""
    if not any_collector:
        return []
    out = []
    told: set[str] = set()
    for z in zones:
        if z.scheduled and z.state != "running":
            last = max((c["at"] for c in z.collectors if c["at"]), default=None)
            seen = f"last collector beat {last[:19].replace('T', ' ')} UTC" if last \
                else "no collector ever ran for it"
            out.append(SiteWarning("zone-unwatched", f"zone {z.zone} has no live collector "
                                   f"({z.state}; {seen}): its {z.devices} device(s) are not "
                                   f"being checked; start `plc-integrity run --zone {z.zone}`",
                                   key=f"zone-unwatched:{z.zone}"))
            continue
        for c in z.collectors:
            if c["state"] == "STALLED" and c["id"] not in told:
                told.add(c["id"])
                last = (c["at"] or "never")[:19].replace("T", " ")
                out.append(SiteWarning(
                    "collector-stalled", f"collector {c['id']} of zone {z.zone} is STALLED "
                    f"(last beat {last} UTC): the zone's other collectors take over its jobs; "
                    f"it is listed as gone after {_hours(GONE_AFTER)} h, or run `plc-integrity "
                    f"collectors forget {c['id']}` once it is retired",
                    key=f"collector-stalled:{c['id']}"))
    return out


def _hours(d: timedelta) -> str:
    return f"{d.total_seconds() / 3600:g}"


def scheduled_zones(site: Any) -> set[str]:
    """The zones with [[schedules]] jobs: those that want a collector."""
    from integrity.scheduler import parse_schedules

    by_name = {d.name: d for d in site.devices}
    # Drill and backup jobs carry no single device (a backup covers many): only
    # device checks decide which zones want a collector.
    return {by_name[j.device].zone for j in parse_schedules(site.schedules, site.devices)
            if getattr(j, "device", None) in by_name}


def site_zone_warnings(store: Any, site: Any, now: datetime) -> list[SiteWarning]:
    """zone_warnings for the whole site: what the daemon alerts."""
    beats = store.collector_beats()
    zones = zone_statuses(beats, site.devices, scheduled_zones(site), now)
    return zone_warnings(zones, bool(beats))


def collector_for(site: Any, jobs: list[Any], zone: str | None, given_id: str | None,
                  lease_text: str) -> tuple[Collector, list[Any]]:
    """``run``'s collector and the jobs it serves: its zone's, or every zone's.
    Raises ConfigError for an unknown zone, a zone without jobs, a bad id or lease."""
    from integrity.cron import parse_duration

    try:
        lease = parse_duration(lease_text)
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"{exc}", field="--lease") from None
    if lease < timedelta(seconds=1):
        raise ConfigError(f"must be at least 1s, got {lease_text!r}", field="--lease")
    ident, ephemeral = collector_id(given_id), given_id is None
    if zone is None:
        return Collector(ident, tuple(site_zones(site.devices)), lease, ephemeral), jobs
    names = {d.name for d in zone_devices(site.devices, zone)}
    # A device's checks and drills go with its zone; a scheduled backup (many
    # devices, one folder, read from the store) is the site's: every collector
    # offers to run it and one claim decides (integrity.maintenance_jobs.offered).
    mine = [j for j in jobs if getattr(j, "device", None) in names]
    if not mine:
        raise ConfigError(f"zone {zone!r} has devices but no [[schedules]] job: nothing to run",
                          field="--zone")
    return Collector(ident, (zone,), lease, ephemeral), mine + [
        j for j in jobs if not hasattr(j, "device")]
