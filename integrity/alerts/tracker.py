"""Per-device alert state and its transitions: when does a check result alert?

Pure logic with the clock passed in (``now``): the caller (sweep, daemon)
loads a device's ``AlertRecord`` from the store, calls ``AlertTracker.observe``
with the new CheckResult, stores the returned record and dispatches the
returned alerts.

The record remembers two things apart: what the device *is* (``state``,
``since``, ``signature``) and what the receivers were last *told*
(``announced_state``, ``announced_signature``).  Alerts fire when the two
disagree and nothing suppresses the news, so:

- a state change alerts once (STATE_CHANGE, or RECOVERY when back to OK),
  not on every sweep, because after it the two agree again;
- a drift whose differences change (the signature: sorted keys and digests)
  alerts again (NEW_DRIFT);
- a drift that began inside a maintenance window is suppressed, the record
  still advances, and the first check after the window (or the verify of
  ``maintenance end``) finds the unannounced drift and alerts;
- a drift that began and was undone inside the window never alerts, nor does
  its "recovery";
- a non-OK state that persists alerts again every ``remind_after`` (REMINDER).

The first check of a device that is OK sends nothing; a first check in any
other state alerts (there is no "before", so previous_state is None).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from integrity import canonical
from integrity.alerts.model import Alert, AlertKind, bound, summarise_differences
from integrity.model import CheckResult, Mode, Status

RECORD_FORMAT = 1


def _aware(ts: datetime | None, what: str) -> datetime | None:
    if ts is None:
        return None
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {ts!r}")
    return ts.astimezone(timezone.utc)


def _now(now: datetime) -> datetime:
    result = _aware(now, "now")
    assert result is not None
    return result


def drift_signature(result: CheckResult) -> str | None:
    """Identity of a drift: SHA-256 of its sorted (key, change, digests).

    A changed value inside an already-drifted artifact changes its current
    digest, so it counts as new drift.  Non-DRIFT results have no signature:
    a timeout turning into "connection refused" is the same outage.
    """
    if result.status is not Status.DRIFT:
        return None
    items = sorted([d.key, d.change.value, d.baseline_digest, d.current_digest]
                   for d in result.differences)
    return canonical.sha256(canonical.encode(items))


MAX_MAINTENANCE = timedelta(days=7)


@dataclass(frozen=True)
class AlertRecord:
    """What the tracker remembers about one device between checks.

    ``state`` is None only for a device that was never checked (a record can
    exist earlier because a maintenance window was opened for it).
    """

    device: str
    state: Status | None = None
    since: datetime | None = None
    signature: str | None = None
    announced_state: Status | None = None
    announced_signature: str | None = None
    last_alert_at: datetime | None = None
    last_reminder_at: datetime | None = None
    maintenance_until: datetime | None = None
    maintenance_reason: str | None = None
    # The mode of the check that set ``state``, and the baseline it was held to:
    # a quick check cannot clear a drift that only a deep check can see.
    mode: str | None = None
    baseline_id: str | None = None

    def __post_init__(self) -> None:
        if not self.device:
            raise ValueError("alert record device must not be empty")
        for name in ("state", "announced_state"):
            value = getattr(self, name)
            if value is not None and type(value) is not Status:  # (an Enum call costs)
                object.__setattr__(self, name, Status(value))
        for name in ("since", "last_alert_at", "last_reminder_at", "maintenance_until"):
            object.__setattr__(self, name, _aware(getattr(self, name), f"alert record {name}"))

    def in_maintenance(self, now: datetime) -> bool:
        """True while a maintenance window is open; windows end on their own.

        A window reaching further than MAX_MAINTENANCE ahead is not honoured:
        the CLI never opens one, so it was written by hand (or by an attacker
        with database access) to silence drift alerts for good."""
        now = _now(now)
        return (self.maintenance_until is not None
                and now < self.maintenance_until <= now + MAX_MAINTENANCE)

    def to_dict(self) -> dict[str, Any]:
        def iso(ts: datetime | None) -> str | None:
            return ts.isoformat() if ts else None
        return {"format": RECORD_FORMAT, "device": self.device,
                "state": self.state.value if self.state else None, "since": iso(self.since),
                "signature": self.signature,
                "announced_state": self.announced_state.value if self.announced_state else None,
                "announced_signature": self.announced_signature,
                "last_alert_at": iso(self.last_alert_at),
                "last_reminder_at": iso(self.last_reminder_at),
                "maintenance_until": iso(self.maintenance_until),
                "maintenance_reason": self.maintenance_reason,
                "mode": self.mode, "baseline_id": self.baseline_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "AlertRecord":
        """Raises ValueError naming the bad field for anything malformed."""
        if not isinstance(data, Mapping):
            raise ValueError("alert record must be an object")
        if data.get("format") != RECORD_FORMAT:
            raise ValueError(f"alert record format {data.get('format')!r} is not supported")
        # (Field names listed once, statuses looked up: a sweep reads one
        # record per device.)
        unknown = sorted(set(data) - _KNOWN_FIELDS)
        if unknown:
            raise ValueError(f"alert record has unknown fields {unknown}")
        values: dict[str, Any] = {}
        for name in _RECORD_FIELDS:
            value = data.get(name)
            try:
                if value is not None and name in ("state", "announced_state"):
                    value = (_STATUSES.get(value) if type(value) is str else None) \
                        or Status(value)
                elif value is not None and name in ("since", "last_alert_at", "last_reminder_at",
                                                    "maintenance_until"):
                    value = datetime.fromisoformat(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"alert record field {name!r}: bad value {value!r}") from exc
            values[name] = value
        if not isinstance(values["device"], str):
            raise ValueError("alert record field 'device' must be a string")
        return cls(**values)


_STATUSES = {s.value: s for s in Status}
_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(AlertRecord))
_KNOWN_FIELDS = frozenset(_RECORD_FIELDS) | {"format"}


def start_maintenance(record: AlertRecord | None, device: str, *, until: datetime, reason: str,
                      now: datetime) -> AlertRecord:
    """Open (or extend/replace) a maintenance window for ``device`` until ``until``.

    Raises ValueError when ``until`` is not after ``now`` or ``reason`` is empty:
    a window must end on its own and say why it exists.
    """
    end = _aware(until, "maintenance until")
    assert end is not None
    if end <= _now(now):
        raise ValueError(f"maintenance window for {device} must end after now ({end.isoformat()})")
    if not reason or not reason.strip():
        raise ValueError("a maintenance window needs a reason")
    base = record if record is not None else AlertRecord(device)
    if base.device != device:
        raise ValueError(f"alert record of {base.device!r} given for device {device!r}")
    return dataclasses.replace(base, maintenance_until=end, maintenance_reason=reason.strip())


def end_maintenance(record: AlertRecord) -> AlertRecord:
    """Close the window now.  The caller verifies the device right after, and
    ``observe`` then announces whatever drift the window hid."""
    return dataclasses.replace(record, maintenance_until=None, maintenance_reason=None)


@dataclass(frozen=True)
class AlertTracker:
    """The transition rules, with their one knob.

    ``remind_after``: how long a non-OK state may persist before the receivers
    are reminded (and again each period); None disables reminders.
    """

    remind_after: timedelta | None = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.remind_after is not None and self.remind_after <= timedelta(0):
            raise ValueError("remind_after must be a positive duration")

    def observe(self, record: AlertRecord | None, result: CheckResult, *,
                now: datetime) -> tuple[AlertRecord, list[Alert]]:
        """Fold one check result into a device's record.

        Returns the new record (always advanced, even when alerts are
        suppressed) and the alerts to dispatch (zero or one).  Raises
        ValueError for a naive ``now`` or a record of another device.
        """
        now = _now(now)
        if record is None:
            record = AlertRecord(result.device)
        if record.device != result.device:
            raise ValueError(f"alert record of {record.device!r} given for a check of "
                             f"{result.device!r}")
        if record.maintenance_until is not None and not record.in_maintenance(now):
            record = end_maintenance(record)  # expired on its own
        in_maintenance = record.in_maintenance(now)

        if (result.status is Status.OK and result.mode is Mode.QUICK
                and record.state is Status.DRIFT and record.mode == Mode.DEEP.value
                and result.baseline_id == record.baseline_id):
            # A deep check found drift a quick check cannot see (e.g. one bit in
            # an uploaded block): the drift stands until a deep check, or a new
            # baseline, says otherwise.  No recovery notice from a blind spot.
            return record, []

        state = result.status
        signature = drift_signature(result)
        since = record.since if record.state is state and record.since else _checked_at(result, now)
        new = dataclasses.replace(record, state=state, since=since, signature=signature,
                                  mode=result.mode.value if result.mode else None,
                                  baseline_id=result.baseline_id)

        # Drift news waits for the end of the window; other states (a device
        # gone silent, a baseline that fails verification) are not what the
        # engineer's approved work explains, so they still alert.
        if in_maintenance and state is Status.DRIFT:
            return new, []

        announced = record.announced_state
        if announced is None and state is Status.OK:
            return dataclasses.replace(new, announced_state=state, announced_signature=None), []

        kind: AlertKind | None = None
        if announced is not state:
            kind = AlertKind.RECOVERY if state is Status.OK else AlertKind.STATE_CHANGE
        elif state is Status.DRIFT and signature != record.announced_signature:
            kind = AlertKind.NEW_DRIFT
        elif state is not Status.OK and self._reminder_due(record, now):
            kind = AlertKind.REMINDER
        if kind is None:
            return new, []

        alert = _alert(kind, result, previous=announced, since=since, now=now,
                       maintenance=in_maintenance)
        if kind is AlertKind.REMINDER:
            new = dataclasses.replace(new, last_reminder_at=now)
        else:
            new = dataclasses.replace(new, announced_state=state, announced_signature=signature,
                                      last_alert_at=now, last_reminder_at=None)
        return new, [alert]

    def _reminder_due(self, record: AlertRecord, now: datetime) -> bool:
        if self.remind_after is None:
            return False
        last = max([t for t in (record.last_alert_at, record.last_reminder_at) if t is not None],
                   default=None)
        return last is None or now - last >= self.remind_after


def _checked_at(result: CheckResult, now: datetime) -> datetime:
    ts = result.checked_at
    return ts.astimezone(timezone.utc) if ts.tzinfo is not None else now


def _alert(kind: AlertKind, result: CheckResult, *, previous: Status | None, since: datetime,
           now: datetime, maintenance: bool) -> Alert:
    if result.status is Status.DRIFT:
        summary = summarise_differences(result.differences)
    elif result.status is Status.OK:
        summary = "matches its baseline" + (f" {result.baseline_id}" if result.baseline_id else "")
    else:
        summary = bound(": ".join(p for p in (result.reason, result.message) if p))
    return Alert(kind=kind, device=result.device, state=result.status, at=now, since=since,
                 previous_state=previous, summary=summary,
                 differences=tuple(sorted({d.key for d in result.differences})),
                 baseline_id=result.baseline_id, signer=result.signer, reason=result.reason,
                 message=result.message, maintenance=maintenance, protocol=result.protocol)
