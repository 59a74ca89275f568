"""The outbox's store side: pending rows per sink, the lease, sent marks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from baselines.outbox import Outgoing
from baselines.store import Store

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


def test_alerts_stored_with_their_state_pending_per_sink_until_marked_sent(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        alert = Outgoing("a" * 32, "vfd-1", {"id": "a" * 32, "device": "vfd-1"})
        store.save_alert_records({"vfd-1": {"format": 1, "device": "vfd-1"}}, now=T0,
                                 pending=[alert, alert], sinks=["soc", "log"])
        assert store.alert_record("vfd-1") == {"format": 1, "device": "vfd-1"}
        pending = store.pending_alerts(["soc", "log"])
        assert sorted(p.sink for p in pending) == ["log", "soc"]  # once per sink, not twice
        assert store.outbox_summary() == {"log": 1, "soc": 1}
        [soc] = [p for p in pending if p.sink == "soc"]
        store.mark_alerts_failed({soc.row: "refused"})
        store.mark_alerts_sent([p.row for p in pending if p.sink == "log"], T0)
        [again] = store.pending_alerts(["soc", "log"])
        assert (again.sink, again.attempts, again.alert_id) == ("soc", 1, "a" * 32)
        assert store.pending_alerts(["other"]) == []


def test_one_lease_holder_at_a_time_until_it_expires_or_its_holder_is_gone(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        until = T0 + timedelta(minutes=1)
        assert store.take_outbox_lease("a", T0, until)
        assert not store.take_outbox_lease("b", T0, until)
        assert store.take_outbox_lease("b", T0, until, is_dead=lambda h: h == "a")
        assert not store.take_outbox_lease("a", T0 + timedelta(seconds=59), until)
        assert store.take_outbox_lease("a", until, until + timedelta(minutes=1))  # expired
        store.release_outbox_lease("a")
        assert store.take_outbox_lease("c", T0, until)
