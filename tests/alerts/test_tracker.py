"""Tracker transitions, with the clock passed in as plain datetimes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from integrity.alerts import AlertKind, AlertRecord, AlertTracker, end_maintenance, start_maintenance
from integrity.alerts.model import SUMMARY_MAX
from integrity.model import Status

MIN = timedelta(minutes=1)


def run(tracker, record, result, now):
    """One sweep: observe, and round-trip the record through JSON as the store will."""
    record, alerts = tracker.observe(record, result, now=now)
    return AlertRecord.from_dict(json.loads(json.dumps(record.to_dict()))), alerts


def test_first_check_ok_sends_nothing(results):
    record, alerts = run(AlertTracker(), None, results.ok(), results.t0)
    assert alerts == []
    assert record.state is Status.OK and record.since == results.t0


def test_drift_alerts_once_per_new_drift_not_per_sweep(results):
    tracker, t0 = AlertTracker(remind_after=timedelta(hours=24)), results.t0
    record, _ = run(tracker, None, results.ok(at=t0), t0)

    record, alerts = run(tracker, record, results.drift(at=t0 + MIN), t0 + MIN)
    assert [a.kind for a in alerts] == [AlertKind.STATE_CHANGE]
    alert = alerts[0]
    assert (alert.state, alert.previous_state, alert.device) == (Status.DRIFT, Status.OK, "vfd-hoist")
    assert alert.summary == "modified holding/0-1999 (holding[17]: 1500 → 1800)"
    assert alert.differences == ("holding/0-1999",)
    assert (alert.baseline_id, alert.signer, alert.since) == ("bl-0001", "alice@site", t0 + MIN)

    for i in range(2, 12):  # ten more sweeps of the same drift: silence
        record, alerts = run(tracker, record, results.drift(at=t0 + i * MIN), t0 + i * MIN)
        assert alerts == []
    assert record.since == t0 + MIN

    # The attacker changes the value again: same key, new digest -> new drift.
    record, alerts = run(tracker, record, results.drift(at=t0 + 20 * MIN, value=1900), t0 + 20 * MIN)
    assert [a.kind for a in alerts] == [AlertKind.NEW_DRIFT]
    assert "1500 → 1900" in alerts[0].summary and alerts[0].since == t0 + MIN

    # A new block appears too.
    record, alerts = run(tracker, record, results.drift(at=t0 + 21 * MIN, value=1900,
                                                        extra_keys=("blocks/FC/99",)), t0 + 21 * MIN)
    assert [a.kind for a in alerts] == [AlertKind.NEW_DRIFT]
    assert alerts[0].differences == ("blocks/FC/99", "holding/0-1999")
    record, alerts = run(tracker, record, results.drift(at=t0 + 22 * MIN, value=1900,
                                                        extra_keys=("blocks/FC/99",)), t0 + 22 * MIN)
    assert alerts == []


def test_first_check_in_drift_alerts_with_no_previous_state(results):
    _, alerts = run(AlertTracker(), None, results.drift(), results.t0)
    assert [(a.kind, a.previous_state) for a in alerts] == [(AlertKind.STATE_CHANGE, None)]


def test_reminder_after_the_period_and_again_each_period(results):
    tracker, t0 = AlertTracker(remind_after=timedelta(hours=4)), results.t0
    record, alerts = run(tracker, None, results.drift(at=t0), t0)
    assert len(alerts) == 1

    record, alerts = run(tracker, record, results.drift(at=t0 + timedelta(hours=3, minutes=59)),
                         t0 + timedelta(hours=3, minutes=59))
    assert alerts == []
    record, alerts = run(tracker, record, results.drift(at=t0 + timedelta(hours=4)),
                         t0 + timedelta(hours=4))
    assert [(a.kind, a.state, a.since) for a in alerts] == [(AlertKind.REMINDER, Status.DRIFT, t0)]
    record, alerts = run(tracker, record, results.drift(at=t0 + timedelta(hours=5)),
                         t0 + timedelta(hours=5))
    assert alerts == []
    record, alerts = run(tracker, record, results.drift(at=t0 + timedelta(hours=8)),
                         t0 + timedelta(hours=8))
    assert [a.kind for a in alerts] == [AlertKind.REMINDER]


def test_no_reminders_when_disabled(results):
    tracker, t0 = AlertTracker(remind_after=None), results.t0
    record, _ = run(tracker, None, results.unreachable(at=t0), t0)
    _, alerts = run(tracker, record, results.unreachable(at=t0 + timedelta(days=30)),
                    t0 + timedelta(days=30))
    assert alerts == []


def test_recovery_when_back_to_ok_then_quiet(results):
    tracker, t0 = AlertTracker(), results.t0
    record, _ = run(tracker, None, results.ok(at=t0), t0)
    record, _ = run(tracker, record, results.drift(at=t0 + MIN), t0 + MIN)
    record, alerts = run(tracker, record, results.ok(at=t0 + 2 * MIN), t0 + 2 * MIN)
    assert [(a.kind, a.state, a.previous_state) for a in alerts] == \
        [(AlertKind.RECOVERY, Status.OK, Status.DRIFT)]
    assert alerts[0].headline().startswith("RECOVERED vfd-hoist is OK again (was DRIFT)")
    _, alerts = run(tracker, record, results.ok(at=t0 + 3 * MIN), t0 + 3 * MIN)
    assert alerts == []


def test_unreachable_alerts_once_and_reason_changes_are_the_same_outage(results):
    tracker, t0 = AlertTracker(), results.t0
    record, _ = run(tracker, None, results.ok(at=t0), t0)
    record, alerts = run(tracker, record, results.unreachable(at=t0 + MIN), t0 + MIN)
    assert [(a.kind, a.state, a.reason) for a in alerts] == \
        [(AlertKind.STATE_CHANGE, Status.UNREACHABLE, "timeout")]
    assert alerts[0].summary == "timeout: no answer from 127.0.0.1:5020 (timeout)"
    _, alerts = run(tracker, record, results.unreachable(at=t0 + 2 * MIN, reason="refused"),
                    t0 + 2 * MIN)
    assert alerts == []


def test_maintenance_suppresses_drift_and_the_end_reports_it(results):
    tracker, t0 = AlertTracker(), results.t0
    record, _ = run(tracker, None, results.ok(at=t0), t0)
    record = start_maintenance(record, "vfd-hoist", until=t0 + timedelta(hours=2),
                               reason="replace drive firmware", now=t0)

    for i in range(1, 5):  # drift keeps changing during the work: all suppressed
        record, alerts = run(tracker, record, results.drift(at=t0 + i * MIN, value=1800 + i),
                             t0 + i * MIN)
        assert alerts == []
    assert record.state is Status.DRIFT and record.since == t0 + MIN  # the record advanced
    assert record.in_maintenance(t0 + 5 * MIN)

    # `maintenance end`: close the window, verify at once -> the drift is announced.
    record = end_maintenance(record)
    record, alerts = run(tracker, record, results.drift(at=t0 + 6 * MIN, value=1804), t0 + 6 * MIN)
    assert [(a.kind, a.state, a.previous_state, a.since, a.maintenance) for a in alerts] == \
        [(AlertKind.STATE_CHANGE, Status.DRIFT, Status.OK, t0 + MIN, False)]


def test_maintenance_window_expires_on_its_own(results):
    tracker, t0 = AlertTracker(), results.t0
    record = start_maintenance(None, "vfd-hoist", until=t0 + timedelta(hours=1), reason="upgrade",
                               now=t0)
    record, alerts = run(tracker, record, results.drift(at=t0 + MIN), t0 + MIN)
    assert alerts == []
    later = t0 + timedelta(hours=1)
    record, alerts = run(tracker, record, results.drift(at=later), later)
    assert [(a.kind, a.previous_state) for a in alerts] == [(AlertKind.STATE_CHANGE, None)]
    assert record.maintenance_until is None and record.maintenance_reason is None


def test_drift_undone_inside_the_window_never_alerts(results):
    tracker, t0 = AlertTracker(), results.t0
    record, _ = run(tracker, None, results.ok(at=t0), t0)
    record = start_maintenance(record, "vfd-hoist", until=t0 + timedelta(hours=1), reason="test",
                               now=t0)
    record, alerts = run(tracker, record, results.drift(at=t0 + MIN), t0 + MIN)
    assert alerts == []
    record, alerts = run(tracker, record, results.ok(at=t0 + 2 * MIN), t0 + 2 * MIN)
    assert alerts == []  # no "recovery" from a drift nobody was told about
    _, alerts = run(tracker, record, results.ok(at=t0 + 2 * timedelta(hours=1)),
                    t0 + 2 * timedelta(hours=1))
    assert alerts == []


def test_maintenance_does_not_hide_an_unreachable_device(results):
    tracker, t0 = AlertTracker(), results.t0
    record, _ = run(tracker, None, results.ok(at=t0), t0)
    record = start_maintenance(record, "vfd-hoist", until=t0 + timedelta(hours=1), reason="x", now=t0)
    _, alerts = run(tracker, record, results.unreachable(at=t0 + MIN), t0 + MIN)
    assert [(a.kind, a.state, a.maintenance) for a in alerts] == \
        [(AlertKind.STATE_CHANGE, Status.UNREACHABLE, True)]


def test_maintenance_suppresses_reminders_of_an_announced_drift(results):
    tracker, t0 = AlertTracker(remind_after=timedelta(hours=1)), results.t0
    record, _ = run(tracker, None, results.drift(at=t0), t0)
    record = start_maintenance(record, "vfd-hoist", until=t0 + timedelta(hours=5), reason="fix",
                               now=t0)
    _, alerts = run(tracker, record, results.drift(at=t0 + timedelta(hours=2)), t0 + timedelta(hours=2))
    assert alerts == []


def test_summary_is_bounded_and_counts_what_it_left_out(results):
    keys = tuple(f"blocks/FC/{n}" for n in range(200))
    _, alerts = run(AlertTracker(), None, results.drift(extra_keys=keys), results.t0)
    alert = alerts[0]
    assert len(alert.summary) <= SUMMARY_MAX
    assert alert.summary.endswith("more")
    assert alert.differences_truncated and len(alert.differences) == 50


def test_record_round_trip_and_bad_records():
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    record = AlertRecord("plc-1", Status.DRIFT, t, "ab" * 32, Status.DRIFT, "ab" * 32, t, None,
                         t + MIN, "work")
    assert AlertRecord.from_dict(record.to_dict()) == record
    with pytest.raises(ValueError, match="'state'"):
        AlertRecord.from_dict({**record.to_dict(), "state": "MAYBE"})
    with pytest.raises(ValueError, match="unknown fields"):
        AlertRecord.from_dict({**record.to_dict(), "colour": "red"})
    with pytest.raises(ValueError, match="format"):
        AlertRecord.from_dict({**record.to_dict(), "format": 99})
    with pytest.raises(ValueError, match="timezone-aware"):
        AlertRecord.from_dict({**record.to_dict(), "since": "2026-01-01T00:00:00"})


def test_clock_and_inputs_are_checked(results):
    with pytest.raises(ValueError, match="timezone-aware"):
        AlertTracker().observe(None, results.ok(), now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="given for a check of"):
        AlertTracker().observe(AlertRecord("other"), results.ok(), now=results.t0)
    with pytest.raises(ValueError, match="end after now"):
        start_maintenance(None, "vfd-hoist", until=results.t0, reason="x", now=results.t0)
    with pytest.raises(ValueError, match="reason"):
        start_maintenance(None, "vfd-hoist", until=results.t0 + MIN, reason=" ", now=results.t0)
    with pytest.raises(ValueError, match="positive"):
        AlertTracker(remind_after=timedelta(0))
