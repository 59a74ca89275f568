"""When does a restore drill alert?  Each device's drill verdict has its own state.

A drill verdict is not a check state: a device can check OK while its backup
could not rebuild it.  So the verdict keeps a record of its own beside the
device's alert record (the store key ``:drill/<device>``; no device name can
start with ':'), folded by the same rules as the check tracker:

- the first drill of a device that is RESTORABLE sends nothing;
- NOT RESTORABLE alerts once (DRILL_FAILED, the summary says what the backup
  lacks), and again when what it lacks changes;
- a failure that persists is repeated every ``remind_after`` (reason
  ``reminder``), as a persisting check state is;
- RESTORABLE after an announced failure sends DRILL_RECOVERED.

Maintenance windows do not hold drill alerts back: a drill touches no device,
and no approved work explains a backup that cannot restore.

A DRILL_FAILED alert's state is NO_BASELINE: the backup holds no baseline that
rebuilds the device (the device's own check state is the check tracker's).
This module sees results by their fields only (device, restorable, missing,
differences, error, baseline_id, protocol), like the rest of this package.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from integrity import canonical
from integrity.alerts.model import Alert, AlertKind, bound
from integrity.model import Status

RECORD_PREFIX = ":drill/"
RECORD_FORMAT = 1


def findings(result: Any) -> list[str]:
    """What a drill found, in the order people read it."""
    return ([f"missing: {m}" for m in result.missing]
            + [f"rebuilt device differs: {d}" for d in result.differences]
            + ([result.error] if result.error else []))


def _signature(result: Any) -> str | None:
    if result.restorable:
        return None
    return canonical.sha256(canonical.encode(sorted(findings(result))))


@dataclass(frozen=True)
class DrillRecord:
    """The last drill verdict of one device, and what the receivers were told."""

    device: str
    restorable: bool | None = None
    since: datetime | None = None
    signature: str | None = None
    announced: bool | None = None            # restorable, as last told (None: never told)
    announced_signature: str | None = None
    last_alert_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": RECORD_FORMAT}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DrillRecord":
        """Raises ValueError for anything malformed."""
        if not isinstance(data, Mapping) or data.get("format") != RECORD_FORMAT:
            raise ValueError("not a drill record")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = data.get(f.name)
            if value is not None and f.name in ("since", "last_alert_at"):
                value = datetime.fromisoformat(value).astimezone(timezone.utc)
            elif value is not None and f.name in ("restorable", "announced") \
                    and not isinstance(value, bool):
                raise ValueError(f"drill record field {f.name!r}: {value!r}")
            values[f.name] = value
        if not isinstance(values["device"], str) or not values["device"]:
            raise ValueError("drill record without a device")
        return cls(**values)


def observe_drill(record: DrillRecord | None, result: Any, *, now: datetime,
                  remind_after: timedelta | None) -> tuple[DrillRecord, list[Alert]]:
    """Fold one drill result into the device's drill record: (new record, alerts)."""
    record = record or DrillRecord(result.device)
    signature = _signature(result)
    since = record.since if record.restorable is result.restorable and record.since else now
    new = dataclasses.replace(record, restorable=result.restorable, since=since,
                              signature=signature)
    told = record.announced
    if result.restorable:
        if told is False:
            return _told(new, now), [_alert(AlertKind.DRILL_RECOVERED, result, now, since)]
        return dataclasses.replace(new, announced=True, announced_signature=None), []
    reminder = (remind_after is not None and record.last_alert_at is not None
                and now - record.last_alert_at >= remind_after)
    if told is False and signature == record.announced_signature and not reminder:
        return new, []
    alert = _alert(AlertKind.DRILL_FAILED, result, now, since,
                   reason="reminder" if told is False and signature ==
                   record.announced_signature else "restore-drill")
    return _told(new, now), [alert]


def _told(record: DrillRecord, now: datetime) -> DrillRecord:
    return dataclasses.replace(record, announced=record.restorable,
                               announced_signature=record.signature, last_alert_at=now)


def _alert(kind: AlertKind, result: Any, now: datetime, since: datetime, *,
           reason: str = "restore-drill") -> Alert:
    found = findings(result)
    if kind is AlertKind.DRILL_RECOVERED:
        summary = "the backup alone rebuilds a device that matches its baseline"
        state, previous = Status.OK, Status.NO_BASELINE
    else:
        summary = "; ".join(found) or "the backup does not rebuild the device"
        state, previous = Status.NO_BASELINE, None
    return Alert(kind=kind, device=result.device, state=state, at=now, since=since,
                 previous_state=previous, summary=bound(summary),
                 differences=tuple(result.differences), baseline_id=result.baseline_id,
                 reason=reason, message=bound("; ".join(found)) if found else None,
                 protocol=result.protocol)


def drill_alerts(results: Iterable[Any], store: Any, *, now: datetime,
                 remind_after: timedelta | None, sinks: list[str] | None = None) -> list[Alert]:
    """Advance each drilled device's record in ``store``; return the alerts raised.

    As for checks (integrity.sweep), the alerts are stored pending in the
    outbox for each of ``sinks`` in the transaction that saves the records;
    the caller then delivers the outbox.
    """
    from integrity.alerts.outbox import outgoing

    results = list(results)
    keys = {r.device: RECORD_PREFIX + r.device for r in results}
    raw = store.alert_records(list(keys.values()))
    alerts: list[Alert] = []
    changed: dict[str, dict[str, Any]] = {}
    for result in results:
        key = keys[result.device]
        try:
            record = DrillRecord.from_dict(raw[key]) if key in raw else None
        except (TypeError, ValueError):
            store.add_event(now, "state-reset", f"{key}: unreadable drill record reset")
            record = None
        new, found = observe_drill(record, result, now=now, remind_after=remind_after)
        if new.to_dict() != raw.get(key):
            changed[key] = new.to_dict()
        alerts.extend(found)
    if changed or alerts:
        store.save_alert_records(changed, now=now, pending=outgoing(alerts), sinks=sinks)
    return alerts
