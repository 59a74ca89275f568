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


def test_many_alert_records_are_saved_at_once_new_and_existing_alike(store_url):
    with Store.open(store_url) as store:
        store.save_alert_records({f"d{i}": {"n": 0} for i in range(0, 700, 2)}, now=T0)
        # Half of these have a row (updated), half not (inserted), across the 500-name chunks.
        store.save_alert_records({f"d{i}": {"n": 1, "\u00e9": i} for i in range(700)},
                                 now=T0 + timedelta(minutes=1))
        records = store.alert_records()
        assert records == {f"d{i}": {"n": 1, "\u00e9": i} for i in range(700)}
        store.save_alert_records({}, now=T0)  # nothing to save: nothing changes
        assert store.alert_records() == records
