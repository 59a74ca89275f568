"""What the dashboard's pages and JSON endpoints show, as plain documents.

Every function reads the store (never a device) and returns a JSON-able dict
with ``"schema": 1``; the HTML templates render the same documents, so a page
and its JSON endpoint can never disagree.  Features that other parts of
plc-integrity record later (pending approvals, the watcher's heartbeat,
backup and drill results, zones) are looked up when the store or inventory
offers them and shown as "none recorded" until then: one lookup each here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from integrity.model import CheckResult, Difference, Mode, Status
from integrity.render import diff_report
from integrity.status import collect_status

SCHEMA = 1
STATES = ("OK", "DRIFT", "UNREACHABLE", "NO_BASELINE", "INVALID", "MAINTENANCE", "NEVER_CHECKED")
WATCHER_HEARTBEAT = "watcher"       # a heartbeat the watcher may write (none on main yet)
TIMELINE_CHECKS = 500               # checks drawn on a device's timeline
EVENT_KINDS_BACKUP = ("backup", "restore", "drill")   # event kinds of backups and drills
WATCH_EVENTS = "watch"              # the watcher's event kinds (watch, watch-check)
SINK_FAILURES = "sink-fail"         # sink-failure (evidence), sink-failed (daemon)


def display_state(row: dict[str, Any]) -> str:
    """The one word the fleet page shows: the alert state (the last sweep's
    view), else the last check's outcome; maintenance and an invalid baseline
    override both, since they change what the state means."""
    if row.get("maintenance_until"):
        return "MAINTENANCE"
    if (row.get("baseline_problem") or "").startswith("INVALID"):
        return "INVALID"
    state = row.get("state") or row.get("last_status")
    if state == Status.BASELINE_INVALID.value:
        return "INVALID"
    return state or "NEVER_CHECKED"


def zone_of(device: Any) -> str | None:
    return getattr(device, "zone", None)  # zones arrive with issue 13


def fleet_snapshot(site: Any, store: Any, trust: Any, *, now: datetime,
                   latest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``status --json`` document, each device with its tags, zone and
    shown state, and the count of devices per shown state (unfiltered: the
    dashboard keeps one and filters it per request).  ``latest``: as for
    collect_status."""
    status = collect_status(site, store, trust, now=now, latest=latest)
    doc = {"schema": SCHEMA, **status.to_dict()}
    by_name = {d.name: d for d in site.devices}
    names = trust.snapshot()  # signer names for people; the key id stays the evidence
    counts = dict.fromkeys(STATES, 0)
    rows = []
    for row in doc["devices"]:
        dev = by_name[row["device"]]
        row = {**row, "tags": list(dev.tags), "zone": zone_of(dev), "shown": display_state(row),
               "signer_name": names.name_of(row["signer"]) if row["signer"] else None}
        counts[row["shown"]] = counts.get(row["shown"], 0) + 1
        rows.append(row)
    doc.update(devices=rows, counts=counts, total=len(rows),
               choices={"tags": sorted({t for d in site.devices for t in d.tags}),
                        "zones": sorted({z for d in site.devices if (z := zone_of(d))}),
                        "protocols": sorted({d.protocol for d in site.devices}),
                        "states": list(STATES)})
    return doc


def fleet(snapshot: dict[str, Any], *, flags: dict[str, list[dict[str, str]]] | None = None,
          tag: str | None = None, zone: str | None = None, protocol: str | None = None,
          state: str | None = None) -> dict[str, Any]:
    """A fleet snapshot filtered by tag, zone, protocol and shown state, each
    device with its supplier flags (the fleet page and /api/status)."""
    rows = [{**row, "flags": (flags or {}).get(row["device"], [])}
            for row in snapshot["devices"]
            if not ((tag and tag not in row["tags"]) or (zone and row["zone"] != zone)
                    or (protocol and row["protocol"] != protocol)
                    or (state and row["shown"] != state))]
    return {**snapshot, "devices": rows,
            "filters": {"tag": tag, "zone": zone, "protocol": protocol, "state": state}}


def result_from_dict(doc: dict[str, Any]) -> CheckResult:
    """A recorded check (CheckResult.to_dict()) back as a CheckResult, for the CLI's renderer."""
    return CheckResult(
        device=doc["device"], protocol=doc.get("protocol") or "-", status=Status(doc["status"]),
        checked_at=datetime.fromisoformat(doc["checked_at"]),
        mode=Mode(doc["mode"]) if doc.get("mode") else None, fingerprint=doc.get("fingerprint"),
        baseline_id=doc.get("baseline_id"), baseline_sequence=doc.get("baseline_sequence"),
        signer=doc.get("signer"), reason=doc.get("reason"), message=doc.get("message"),
        note=doc.get("note"),
        differences=tuple(Difference.from_dict(d) for d in doc.get("differences") or ()))


def latest_drift(checks: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest DRIFT among ``checks`` (newest first) as ``diff --json`` shows
    a check, plus ``text`` (the CLI's diff) and ``current`` (no later check
    has cleared it); or None."""
    cleared = False
    for c in checks:
        if c["status"] == Status.DRIFT.value:
            return {**c, "schema": SCHEMA, "current": not cleared,
                    "text": diff_report(result_from_dict(c))}
        if c["status"] == Status.OK.value:
            cleared = True
    return None


def pending_approvals(store: Any, trust: Any, device: str) -> list[dict[str, Any]]:
    """Proposals awaiting approval (``Store.proposals``, with the multi-party
    approvals of issue 14), or [] from a store that keeps none."""
    lookup = getattr(store, "proposals", None)
    if lookup is None:
        return []
    return [p.to_dict() for p in lookup(trust, device=device)]


def device_page(site: Any, store: Any, trust: Any, name: str, *, now: datetime,
                asset: Any = None) -> dict[str, Any]:
    """Everything the device page shows.  ConfigError for a device not in the inventory."""
    dev = site.device(name)
    checks = store.checks(name, limit=TIMELINE_CHECKS)
    return {
        "schema": SCHEMA, "now": now.isoformat(), "device": name, "protocol": dev.protocol,
        "endpoint": dev.endpoint, "tags": list(dev.tags), "zone": zone_of(dev),
        "checks": [{k: c.get(k) for k in ("check_id", "checked_at", "status", "mode", "reason",
                                          "baseline_sequence")} for c in checks],
        "baselines": [e.to_dict() for e in store.history(name, trust)],
        "pending_approvals": pending_approvals(store, trust, name),
        "drift": latest_drift(checks),
        "asset": asset.to_dict() if asset is not None else None,
        "events": [e for e in store.events(limit=500) if name in e["detail"].split()
                   or e["detail"].startswith(f"{name}:") or e["detail"].startswith(f"{name}/")][:50],
    }


def health(store: Any, *, now: datetime, scheduler: str | None = None,
           heartbeat_at: str | None = None, events: int = 100) -> dict[str, Any]:
    """The scheduler's and the watcher's health, open alerts, recent events."""
    watcher = store.heartbeat(WATCHER_HEARTBEAT)
    records = store.alert_records()
    recent = store.events(limit=events)
    # The watcher records what it sees as "watch..." events; without a
    # heartbeat of its own, its newest event is the sign of life shown.
    seen = next((e for e in recent if e["kind"].startswith(WATCH_EVENTS)), None)
    return {
        "schema": SCHEMA, "now": now.isoformat(),
        "scheduler": {"state": scheduler, "heartbeat_at": heartbeat_at},
        "watcher": None if watcher is None and seen is None else {
            "heartbeat_at": watcher[0].isoformat() if watcher else None,
            "info": watcher[1] if watcher else None,
            "last_event_at": seen["at"] if seen else None},
        "alerts": sorted(({"device": d, "state": r.get("state"), "since": r.get("since")}
                          for d, r in records.items() if r.get("state") not in (None, "OK")),
                         key=lambda a: a["device"]),
        "events": recent,
        "sink_failures": [e for e in recent if e["kind"].startswith(SINK_FAILURES)],
        "backups": [e for e in recent if e["kind"].startswith(EVENT_KINDS_BACKUP)],
    }
