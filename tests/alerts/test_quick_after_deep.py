"""A quick check must not announce recovery from a drift only a deep check can see."""

from datetime import datetime, timedelta, timezone

from integrity.alerts import AlertKind, AlertTracker
from integrity.model import Change, CheckResult, Difference, Kind, Mode, Status

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=timezone.utc)
DIFF = Difference("blocks/FC/10", Change.MODIFIED, Kind.CODE, "a" * 64, "b" * 64)


def result(status, mode, at, baseline="b1"):
    return CheckResult("plc-hoist", "s7", status, at, mode=mode, baseline_id=baseline,
                       differences=(DIFF,) if status is Status.DRIFT else ())


def test_quick_ok_keeps_a_deep_drift_until_a_deep_check_clears_it():
    tracker = AlertTracker()
    rec, alerts = tracker.observe(None, result(Status.OK, Mode.DEEP, T0), now=T0)
    t1 = T0 + timedelta(hours=1)
    rec, alerts = tracker.observe(rec, result(Status.DRIFT, Mode.DEEP, t1), now=t1)
    assert [a.kind for a in alerts] == [AlertKind.STATE_CHANGE]
    for minutes in (15, 30, 45):
        t = t1 + timedelta(minutes=minutes)
        rec, alerts = tracker.observe(rec, result(Status.OK, Mode.QUICK, t), now=t)
        assert alerts == [] and rec.state is Status.DRIFT
    t2 = t1 + timedelta(hours=1)
    rec, alerts = tracker.observe(rec, result(Status.OK, Mode.DEEP, t2), now=t2)
    assert [a.kind for a in alerts] == [AlertKind.RECOVERY]


def test_a_new_baseline_lets_a_quick_check_clear_it():
    tracker = AlertTracker()
    rec, _ = tracker.observe(None, result(Status.DRIFT, Mode.DEEP, T0), now=T0)
    t1 = T0 + timedelta(minutes=15)
    rec, alerts = tracker.observe(rec, result(Status.OK, Mode.QUICK, t1, baseline="b2"), now=t1)
    assert [a.kind for a in alerts] == [AlertKind.RECOVERY] and rec.state is Status.OK


def test_a_maintenance_window_beyond_seven_days_is_not_honoured():
    from integrity.alerts import start_maintenance
    from integrity.alerts.tracker import MAX_MAINTENANCE

    rec = start_maintenance(None, "plc-hoist", until=T0 + MAX_MAINTENANCE, reason="WO 1", now=T0)
    assert rec.in_maintenance(T0)
    forever = start_maintenance(None, "plc-hoist", until=T0 + timedelta(days=3650), reason="x",
                                now=T0)
    assert not forever.in_maintenance(T0)
