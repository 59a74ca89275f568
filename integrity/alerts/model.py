"""What an alert says: the frozen ``Alert`` value every sink renders.

An alert is built by the tracker (a device's state or drift changed, a
reminder is due, the device recovered) or by the dispatcher (a sink failed).
It is plain data: sinks never look anything up, so an alert rendered to
syslog, a webhook and an e-mail says exactly the same thing.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from integrity import canonical
from integrity.model import Difference, Status

# Version of the JSON form (to_dict).  Receivers (webhooks, jsonl readers) can
# refuse a document they do not understand instead of misreading it.
SCHEMA = 1

# Bounds keep an alert deliverable everywhere: a UDP syslog datagram should
# stay under 2 KB (RFC 5426 receivers need only accept 480..2048 bytes) and an
# e-mail subject under a line.  The full differences live in the check history.
SUMMARY_MAX = 600
KEYS_MAX = 50
VALUE_MAX = 40
VALUES_PER_DIFFERENCE = 3


class AlertKind(str, enum.Enum):
    STATE_CHANGE = "STATE_CHANGE"  # the device entered another state (first alert of a drift too)
    NEW_DRIFT = "NEW_DRIFT"        # still DRIFT, but the set of differences changed
    REMINDER = "REMINDER"          # a non-OK state persists past the reminder period
    RECOVERY = "RECOVERY"          # back to OK after an announced non-OK state
    SINK_FAILURE = "SINK_FAILURE"  # an alert could not be delivered to one sink
    STORE_DAMAGE = "STORE_DAMAGE"  # stored artifact contents edited or missing (device "store")
    SITE_WARNING = "SITE_WARNING"  # the site folder changed under us: head file, trust/ (device "site")
    # From the wire watcher (integrity.watch): an operation that changes a
    # device was seen on the network, and the deep check that followed it.
    WIRE_EVENT = "WIRE_EVENT"
    WIRE_CHECK = "WIRE_CHECK"
    # From the restore drill (integrity.drill, integrity.alerts.drill): the backup
    # could not rebuild the device (summary: what it lacks), and later could again.
    DRILL_FAILED = "DRILL_FAILED"
    DRILL_RECOVERED = "DRILL_RECOVERED"
    # A scheduled backup bundle was not written (device "backup").
    BACKUP_FAILED = "BACKUP_FAILED"


# CEF-style severity, 0 (lowest) to 10.  A baseline that cannot be trusted is
# worse than drift (it may hide drift); "could not check" is below drift but
# above a missing baseline, as in Status.severity.
_STATE_SEVERITY = {Status.OK: 1, Status.NO_BASELINE: 3, Status.UNREACHABLE: 5,
                   Status.DRIFT: 8, Status.BASELINE_INVALID: 10}


def _aware(ts: datetime, what: str) -> datetime:
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        raise ValueError(f"alert {what} must be a timezone-aware datetime, got {ts!r}")
    return ts.astimezone(timezone.utc)


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def _parse_ts(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return _aware(datetime.fromisoformat(value), what)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"alert {what}: {value!r} is not an ISO 8601 time with a zone") from exc


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= VALUE_MAX else text[:VALUE_MAX - 1] + "…"


def bound(text: str, limit: int = SUMMARY_MAX) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def describe_difference(diff: Difference) -> str:
    """One difference for people: ``modified holding/0-1999 (holding[17]: 1500 → 1800)``."""
    text = diff.summary()
    if diff.values:
        shown = [f"{v.path}{f' {v.label}' if v.label else ''}: {_short(v.baseline)} → {_short(v.current)}"
                 for v in diff.values[:VALUES_PER_DIFFERENCE]]
        hidden = len(diff.values) - len(shown)
        if hidden or diff.values_truncated:
            shown.append(f"+{hidden} more" if hidden else "more")
        text += f" ({', '.join(shown)})"
    return text


def summarise_differences(differences: Iterable[Difference], limit: int = SUMMARY_MAX) -> str:
    """All differences in one bounded line; says how many were left out."""
    diffs = list(differences)
    parts: list[str] = []
    used = 0
    for i, diff in enumerate(diffs):
        part = describe_difference(diff)
        rest = len(diffs) - i - 1
        # Reserve room for the "and N more" tail so the count is never cut off.
        tail = len(f"; and {rest} more") if rest else 0
        if used + len(part) + 2 + tail > limit and parts:
            parts.append(f"and {len(diffs) - i} more")
            break
        parts.append(part)
        used += len(part) + 2
    return bound("; ".join(parts), limit)


@dataclass(frozen=True)
class Alert:
    """One notification about one device.

    ``previous_state`` is the state the receivers last heard about (None for a
    device never announced), so "DRIFT (was OK)" reads right even when a drift
    began silently inside a maintenance window.  ``since`` is when the current
    state began.  ``summary`` is bounded (SUMMARY_MAX); ``differences`` lists
    the difference keys (bounded to KEYS_MAX, ``differences_truncated`` says so).
    For SINK_FAILURE, device/state/... are those of the alert that was not
    delivered, ``sink`` names the sink and ``message`` the error.
    """

    kind: AlertKind
    device: str
    state: Status
    at: datetime
    since: datetime
    previous_state: Status | None = None
    summary: str = ""
    differences: tuple[str, ...] = ()
    differences_truncated: bool = False
    baseline_id: str | None = None
    signer: str | None = None
    reason: str | None = None
    message: str | None = None
    maintenance: bool = False
    protocol: str | None = None
    sink: str | None = None
    # WIRE_EVENT / WIRE_CHECK: the operation seen ("s7.download-block") and the
    # station (address) that sent it.
    operation: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", AlertKind(self.kind))
        object.__setattr__(self, "state", Status(self.state))
        if self.previous_state is not None:
            object.__setattr__(self, "previous_state", Status(self.previous_state))
        if not self.device:
            raise ValueError("alert device must not be empty")
        object.__setattr__(self, "at", _aware(self.at, "time"))
        object.__setattr__(self, "since", _aware(self.since, "since"))
        object.__setattr__(self, "summary", bound(self.summary))
        keys = tuple(self.differences)
        if len(keys) > KEYS_MAX:
            object.__setattr__(self, "differences_truncated", True)
            keys = keys[:KEYS_MAX]
        object.__setattr__(self, "differences", keys)
        if self.message is not None:
            object.__setattr__(self, "message", bound(self.message))

    @property
    def severity(self) -> int:
        """0..10 (CEF scale).  A sink failure is a warning about the alerting itself."""
        if self.kind is AlertKind.SINK_FAILURE:
            return 6
        if self.kind is AlertKind.SITE_WARNING:
            return 7
        if self.kind in (AlertKind.RECOVERY, AlertKind.DRILL_RECOVERED):
            return 2
        if self.kind in (AlertKind.DRILL_FAILED, AlertKind.BACKUP_FAILED):
            return 6  # no attack, but the way back after one is not there
        if self.kind is AlertKind.WIRE_EVENT:
            return 7  # a change is happening now; the check that follows says what it did
        return _STATE_SEVERITY[self.state]

    @property
    def id(self) -> str:
        """Stable id of this alert's content: receivers use it to drop the
        duplicates that retries (webhook, e-mail) can produce."""
        return canonical.sha256(canonical.encode(self.to_dict(with_id=False)))[:32]

    def headline(self) -> str:
        """Short one-line text: ``DRIFT vfd-hoist: modified holding/0-1999 (...)``."""
        label = {AlertKind.REMINDER: f"REMINDER {self.state.value}",
                 AlertKind.RECOVERY: "RECOVERED",
                 AlertKind.SINK_FAILURE: "SINK FAILURE",
                 AlertKind.STORE_DAMAGE: "STORE DAMAGED",
                 AlertKind.SITE_WARNING: "SITE WARNING",
                 AlertKind.WIRE_EVENT: "WIRE",
                 AlertKind.WIRE_CHECK: f"WIRE CHECK {self.state.value}",
                 AlertKind.DRILL_FAILED: "NOT RESTORABLE",
                 AlertKind.DRILL_RECOVERED: "RESTORABLE",
                 AlertKind.BACKUP_FAILED: "BACKUP FAILED"}.get(self.kind, self.state.value)
        text = f"{label} {self.device}"
        if self.kind is AlertKind.DRILL_RECOVERED:
            text += " again: its backup rebuilds it"
        if self.kind is AlertKind.RECOVERY:
            text += f" is OK again (was {self.previous_state.value if self.previous_state else '?'})"
        if self.summary:
            text += f": {self.summary}"
        return text

    def to_dict(self, *, with_id: bool = True) -> dict[str, Any]:
        """JSON form (canonical-JSON-able): the webhook body and the jsonl line."""
        out: dict[str, Any] = {
            "schema": SCHEMA, "kind": self.kind.value, "device": self.device,
            "protocol": self.protocol, "state": self.state.value,
            "previous_state": self.previous_state.value if self.previous_state else None,
            "since": _iso(self.since), "at": _iso(self.at), "severity": self.severity,
            "summary": self.summary, "differences": list(self.differences),
            "differences_truncated": self.differences_truncated,
            "baseline_id": self.baseline_id, "signer": self.signer,
            "reason": self.reason, "message": self.message,
            "maintenance": self.maintenance, "sink": self.sink,
        }
        if self.operation is not None or self.source is not None:
            out["operation"], out["source"] = self.operation, self.source
        if with_id:
            out["id"] = self.id
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Alert":
        """Inverse of to_dict.  Raises ValueError on a malformed document."""
        if not isinstance(data, Mapping):
            raise ValueError("alert document must be an object")
        if data.get("schema") != SCHEMA:
            raise ValueError(f"alert schema {data.get('schema')!r} is not supported (expected {SCHEMA})")
        try:
            return cls(
                kind=AlertKind(data["kind"]), device=data["device"], state=Status(data["state"]),
                at=_parse_ts(data["at"], "time"), since=_parse_ts(data["since"], "since"),
                previous_state=Status(data["previous_state"]) if data.get("previous_state") else None,
                summary=data.get("summary") or "", differences=tuple(data.get("differences") or ()),
                differences_truncated=bool(data.get("differences_truncated", False)),
                baseline_id=data.get("baseline_id"), signer=data.get("signer"),
                reason=data.get("reason"), message=data.get("message"),
                maintenance=bool(data.get("maintenance", False)), protocol=data.get("protocol"),
                sink=data.get("sink"), operation=data.get("operation"), source=data.get("source"))
        except KeyError as exc:
            raise ValueError(f"alert document lacks {exc.args[0]!r}") from exc
