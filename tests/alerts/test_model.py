"""The Alert value and its JSON form; one end-to-end run from checks to a webhook."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from integrity.alerts import Alert, AlertKind, AlertTracker, Dispatcher, WebhookSink
from integrity.alerts.sinks.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from integrity.model import Status


def test_json_round_trip_and_stable_id(results):
    _, [alert] = AlertTracker().observe(None, results.drift(), now=results.t0)
    doc = json.loads(json.dumps(alert.to_dict()))
    assert doc["schema"] == 1 and doc["severity"] == 8
    again = Alert.from_dict(doc)
    assert again == alert and again.id == alert.id == doc["id"]


@pytest.mark.parametrize("change, message", [
    pytest.param({"schema": 2}, "schema 2 is not supported", id="future-schema"),
    pytest.param({"kind": "PANIC"}, "PANIC", id="bad-kind"),
    pytest.param({"at": "yesterday"}, "not an ISO 8601 time", id="bad-time"),
    pytest.param({"device": ""}, "device must not be empty", id="no-device"),
])
def test_from_dict_rejects_bad_documents(results, change, message):
    _, [alert] = AlertTracker().observe(None, results.drift(), now=results.t0)
    with pytest.raises(ValueError, match=message):
        Alert.from_dict({**alert.to_dict(), **change})


def test_naive_times_are_refused(results):
    with pytest.raises(ValueError, match="timezone-aware"):
        Alert(AlertKind.REMINDER, "d", Status.DRIFT, datetime(2026, 1, 1), results.t0)


def test_sweeps_to_webhook_end_to_end(http_server, results):
    """Five sweeps of one device; the SOC's webhook hears exactly the news."""
    tracker = AlertTracker(remind_after=timedelta(hours=1))
    dispatcher = Dispatcher([WebhookSink(http_server.url, b"secret", timeout=2.0)])
    t0, record = results.t0, None
    sweeps = [results.ok(at=t0), results.drift(at=t0 + timedelta(minutes=5)),
              results.drift(at=t0 + timedelta(minutes=10)),
              results.drift(at=t0 + timedelta(minutes=70)), results.ok(at=t0 + timedelta(minutes=75))]
    for result in sweeps:
        record, alerts = tracker.observe(record, result, now=result.checked_at)
        assert dispatcher.dispatch(alerts).ok
    heard = [json.loads(r.body) for r in http_server.requests]
    assert [(h["kind"], h["state"]) for h in heard] == [
        ("STATE_CHANGE", "DRIFT"), ("REMINDER", "DRIFT"), ("RECOVERY", "OK")]
    for request in http_server.requests:
        assert verify(b"secret", request.headers[TIMESTAMP_HEADER], request.body,
                      request.headers[SIGNATURE_HEADER])
