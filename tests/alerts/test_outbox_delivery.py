"""Outbox delivery: each sink gets what it still lacks; a failing sink is
reported on its first failure only and retried until it accepts; another live
lease holder delivers instead of us."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from baselines.store import Store
from integrity.alerts import Dispatcher
from integrity.alerts.model import Alert, AlertKind
from integrity.alerts.outbox import deliver_pending, outgoing
from integrity.alerts.sinks.jsonl import JsonlSink
from integrity.alerts.sinks.webhook import WebhookSink
from integrity.model import Status

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


def alert(device: str) -> Alert:
    return Alert(kind=AlertKind.STATE_CHANGE, device=device, state=Status.DRIFT, at=T0, since=T0,
                 summary="modified holding[3]")


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_a_failing_sink_is_reported_once_and_retried_until_it_accepts(tmp_path: Path,
                                                                      http_server) -> None:
    log = tmp_path / "alerts.jsonl"
    jsonl = JsonlSink(log, name="log")
    hook = WebhookSink(http_server.url, b"secret", timeout=2, retries=0, name="soc")
    dispatcher = Dispatcher([jsonl, hook])
    with Store.open(tmp_path / "s.db") as store:
        store.save_alert_records({}, now=T0, pending=outgoing([alert("vfd-1")]),
                                 sinks=["log", "soc"])
        http_server.statuses = [503]  # the webhook refuses once
        first = deliver_pending(store, dispatcher)
        assert [(s, a.device) for s, a in first.delivered] == [("log", "vfd-1"),
                                                               ("log", "vfd-1")]
        assert [a.kind for a in first.failure_alerts] == [AlertKind.SINK_FAILURE]
        assert store.outbox_summary() == {"soc": 1}

        http_server.statuses = [503]  # refuses again: retried, not reported again
        second = deliver_pending(store, dispatcher)
        assert second.failure_alerts == () and len(second.failures) == 1

        third = deliver_pending(store, dispatcher)  # accepted now
        assert [s for s, _ in third.delivered] == ["soc"]
        assert store.outbox_summary() == {}
        assert deliver_pending(store, dispatcher) is None
        # The log got the alert once (it never failed), plus the one failure notice.
        assert [x["kind"] for x in lines(log)] == ["STATE_CHANGE", "SINK_FAILURE"]
        ids = {r.headers["X-PLC-Integrity-Alert-Id"] for r in http_server.requests}
        assert ids == {alert("vfd-1").id}  # every attempt carried the same id


def test_another_live_lease_holder_delivers_instead(tmp_path: Path) -> None:
    log = tmp_path / "alerts.jsonl"
    dispatcher = Dispatcher([JsonlSink(log, name="log")])
    with Store.open(tmp_path / "s.db") as store:
        store.save_alert_records({}, now=T0, pending=outgoing([alert("vfd-1")]), sinks=["log"])
        now = datetime.now(timezone.utc)
        assert store.take_outbox_lease("other-host:1", now, now + timedelta(minutes=5))
        assert deliver_pending(store, dispatcher) is None
        assert lines(log) == [] and store.outbox_summary() == {"log": 1}
        store.release_outbox_lease("other-host:1")
        assert deliver_pending(store, dispatcher) is not None
        assert [x["device"] for x in lines(log)] == ["vfd-1"]
