"""The store's operational state: alert records, due times, heartbeat, events."""

from datetime import datetime, timedelta, timezone

from baselines.store import Store

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_runtime_state_round_trips_and_survives_reopen(store_url):
    db = store_url
    with Store.open(db) as store:
        assert store.alert_record("vfd-1") is None
        store.save_alert_record("vfd-1", {"state": "OK"}, now=T0)
        store.save_alert_record("vfd-1", {"state": "DRIFT"}, now=T0)
        store.set_due("vfd-1/quick", T0 + timedelta(minutes=15), None)
        store.set_due("vfd-1/quick", T0 + timedelta(minutes=30), T0)
        store.beat("scheduler", T0, {"pid": 1})
        store.add_event(T0, "start", "2 jobs")
    with Store.open(db) as store:
        assert store.alert_record("vfd-1") == {"state": "DRIFT"}
        assert store.due("vfd-1/quick") == T0 + timedelta(minutes=30)
        assert store.schedule_rows()["vfd-1/quick"] == (T0 + timedelta(minutes=30), T0)
        assert store.heartbeat("scheduler") == (T0, {"pid": 1})
        assert store.events()[0]["kind"] == "start"
        store.forget_jobs({"other"})
        assert store.due("vfd-1/quick") is None
