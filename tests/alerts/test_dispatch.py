"""Dispatch: every sink gets every alert; a dead or hung sink is reported, never fatal."""

from __future__ import annotations

import json
import logging
import stat
import threading
import time

import pytest

from integrity.alerts import (Alert, AlertKind, AlertTracker, Dispatcher, JsonlSink, LogSink, Sink,
                              SyslogSink, WebhookSink)
from integrity.alerts.sinks.webhook import SIGNATURE_HEADER


@pytest.fixture
def alerts(results):
    tracker = AlertTracker()
    _, first = tracker.observe(None, results.drift("vfd-hoist"), now=results.t0)
    _, second = tracker.observe(None, results.unreachable("s7-press"), now=results.t0)
    return first + second


class HungSink(Sink):
    """A sink stuck in a call that never returns (until the test lets it go)."""

    name = "hung"

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def _send(self, alert: Alert) -> None:
        self.release.wait(30)


class BuggySink(Sink):
    """A sink with a bug: raises something that is not a SinkError."""

    name = "buggy"

    def _send(self, alert: Alert) -> None:
        raise KeyError("oops")


def test_jsonl_sink_appends_one_fsynced_line_per_alert(tmp_path, alerts):
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink(path)
    for alert in alerts:
        sink.send(alert)
    sink.send(alerts[0])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [a.to_dict() for a in alerts + alerts[:1]]
    assert Alert.from_dict(json.loads(lines[0])) == alerts[0]
    assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0  # not world-readable


def test_log_sink_writes_one_line(caplog, alerts):
    with caplog.at_level(logging.INFO, logger="integrity.alerts"):
        LogSink().send(alerts[0])
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith(
        "DRIFT vfd-hoist: modified holding/0-1999 (holding[17]: 1500 → 1800) [STATE_CHANGE since=")
    assert "signer=alice@site" in record.getMessage()


def test_dead_sink_does_not_block_the_others_and_is_reported(tmp_path, http_server, udp_listener,
                                                             dead_port, alerts):
    jsonl = JsonlSink(tmp_path / "alerts.jsonl")
    webhook = WebhookSink(http_server.url, b"k", timeout=2.0)
    syslog = SyslogSink("127.0.0.1", udp_listener.getsockname()[1], hostname="h")
    dead = SyslogSink("127.0.0.1", dead_port, protocol="tcp", timeout=1.0, name="dead-siem")

    report = Dispatcher([dead, jsonl, webhook, syslog]).dispatch(alerts)

    assert not report.ok
    # The two alerts reached every working sink...
    assert sorted((s, a.device) for s, a in report.delivered if a.kind is not AlertKind.SINK_FAILURE) \
        == sorted((s.name, a.device) for s in (jsonl, webhook, syslog) for a in alerts)
    # ...and the dead one lost both: tried once, then skipped for the rest of the batch.
    assert [(f.sink, f.alert.device) for f in report.failures] == \
        [("dead-siem", "vfd-hoist"), ("dead-siem", "s7-press")]
    assert "ConnectionRefusedError" in report.failures[0].error
    assert "not attempted after an earlier failure" in report.failures[1].error

    # Each loss became a SINK_FAILURE alert, delivered to the working sinks too.
    assert [(a.kind, a.device, a.sink, a.reason) for a in report.failure_alerts] == \
        [(AlertKind.SINK_FAILURE, "vfd-hoist", "dead-siem", "sink-failure"),
         (AlertKind.SINK_FAILURE, "s7-press", "dead-siem", "sink-failure")]
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [(x["kind"], x["device"]) for x in lines] == [
        ("STATE_CHANGE", "vfd-hoist"), ("STATE_CHANGE", "s7-press"),
        ("SINK_FAILURE", "vfd-hoist"), ("SINK_FAILURE", "s7-press")]
    assert lines[2]["message"].startswith("dead-siem: ConnectionRefusedError")
    posted = [json.loads(r.body) for r in http_server.requests]
    assert [p["kind"] for p in posted] == ["STATE_CHANGE", "STATE_CHANGE", "SINK_FAILURE",
                                           "SINK_FAILURE"]
    assert all(r.headers[SIGNATURE_HEADER].startswith("sha256=") for r in http_server.requests)
    datagrams = [udp_listener.recvfrom(65535)[0] for _ in range(4)]
    assert sum(b" SINK_FAILURE " in d for d in datagrams) == 2
    assert json.loads(json.dumps(report.to_dict()))["failures"][0]["sink"] == "dead-siem"


def test_hung_sink_is_cut_off_at_the_deadline(tmp_path, alerts):
    hung, jsonl = HungSink(), JsonlSink(tmp_path / "a.jsonl")
    started = time.monotonic()
    try:
        report = Dispatcher([hung, jsonl], deadline=0.3).dispatch(alerts)
    finally:
        hung.release.set()
    assert time.monotonic() - started < 4.0  # 2 phases x 0.3 s, with a generous margin
    assert {f.sink for f in report.failures} == {"hung"}
    assert all("dispatch deadline of 0.3 s" in f.error for f in report.failures)
    kinds = [json.loads(x)["kind"] for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert kinds == ["STATE_CHANGE", "STATE_CHANGE", "SINK_FAILURE", "SINK_FAILURE"]


def test_webhook_to_a_silent_peer_times_out_and_others_still_get_the_alert(tmp_path, silent_port,
                                                                           alerts):
    webhook = WebhookSink(f"http://127.0.0.1:{silent_port}/hook", b"k", timeout=0.3, retries=1,
                          backoff=0.01)
    jsonl = JsonlSink(tmp_path / "a.jsonl")
    started = time.monotonic()
    report = Dispatcher([webhook, jsonl]).dispatch(alerts[:1])
    assert time.monotonic() - started < 4.0  # 2 attempts x 0.3 s, with a generous margin
    [failure] = report.failures
    assert "gave up after 2 attempts" in failure.error and "timed out" in failure.error
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 2  # the alert + its failure


def test_a_buggy_sink_is_a_reported_failure(tmp_path, alerts):
    report = Dispatcher([BuggySink(), JsonlSink(tmp_path / "a.jsonl")]).dispatch(alerts[:1])
    assert [(f.sink, f.error) for f in report.failures] == [("buggy", "KeyError: 'oops'")]
    assert len(report.delivered) == 2


def test_nothing_to_send(alerts):
    assert Dispatcher([]).dispatch(alerts).ok
    assert Dispatcher([LogSink()]).dispatch([]).delivered == ()
