"""When a restore drill alerts: once per set of findings, reminders while it persists,
a recovery when the backup restores again; and every alert kind renders as CEF."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from integrity.alerts import Alert, AlertKind
from integrity.alerts.drill import DrillRecord, observe_drill
from integrity.alerts.sinks.syslog import format_cef
from integrity.model import Status

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=timezone.utc)
WEEK = timedelta(days=7)


def result(*missing: str, error: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(device="plc-hoist", protocol="s7", restorable=not missing and not error,
                           missing=missing, differences=(), error=error, baseline_id="b" * 64)


def fold(results, remind_after=timedelta(days=10)):
    """Observe each result a week apart, through the record's JSON form (as stored)."""
    record, kinds = None, []
    for i, r in enumerate(results):
        raw = record.to_dict() if record else None
        new, alerts = observe_drill(DrillRecord.from_dict(raw) if raw else None, r,
                                    now=T0 + i * WEEK, remind_after=remind_after)
        record = new
        kinds.append([(a.kind.value, a.reason) for a in alerts])
    return kinds


def test_a_failure_alerts_once_again_when_it_changes_and_recovers():
    db20, db21 = "DB 20: kept as `structure`", "DB 21: kept as `structure`"
    assert fold([result(), result(db20), result(db20), result(db20, db21), result()]) == [
        [], [("DRILL_FAILED", "restore-drill")], [], [("DRILL_FAILED", "restore-drill")],
        [("DRILL_RECOVERED", "restore-drill")]]


def test_a_persisting_failure_is_repeated_after_remind_after():
    db20 = "DB 20: kept as `structure`"
    assert fold([result(db20)] * 3, remind_after=timedelta(days=7)) == [
        [("DRILL_FAILED", "restore-drill")], [("DRILL_FAILED", "reminder")],
        [("DRILL_FAILED", "reminder")]]
    assert fold([result(db20)] * 3, remind_after=None)[1:] == [[], []]


def test_the_alert_says_what_is_missing():
    _, [alert] = observe_drill(None, result("DB 20: kept as `structure`", error="x: y"),
                               now=T0, remind_after=None)
    assert alert.headline() == ("NOT RESTORABLE plc-hoist: missing: DB 20: kept as `structure`; "
                                "x: y")
    assert (alert.state, alert.severity, alert.protocol) == (Status.NO_BASELINE, 6, "s7")
    _, [back] = observe_drill(DrillRecord("plc-hoist", False, T0, "s", False, "s", T0), result(),
                              now=T0 + WEEK, remind_after=None)
    assert back.headline().startswith("RESTORABLE plc-hoist again")


def test_a_damaged_record_is_refused():
    with pytest.raises(ValueError):
        DrillRecord.from_dict({"format": 1, "device": "x", "restorable": "yes"})
    with pytest.raises(ValueError):
        DrillRecord.from_dict({"format": 1, "device": ""})


@pytest.mark.parametrize("kind", list(AlertKind))
def test_every_alert_kind_renders_as_cef(kind):
    alert = Alert(kind=kind, device="plc-hoist", state=Status.OK, at=T0, since=T0)
    assert format_cef(alert).startswith("CEF:0|plc-integrity|plc-integrity|")
