"""The watch loop on a real site and a real drive simulator: record, alert, settle, deep check.

The packets are built here (the live test on loopback sniffs real ones); the
write itself really happens on the simulator, so the deep check finds it.
The clock is moved by hand: nothing waits.
"""

from __future__ import annotations

import ipaddress
import json
import struct
from datetime import datetime, timedelta, timezone

import pytest

from baselines.signing import TrustStore
from baselines.store import Store
from integrity.alerts import AlertKind
from integrity.inventory import load_site
from integrity.model import Status
from integrity.watch import WatchLoop, WatchPolicy, list_watch_events
from integrity.watch.config import QuietRule
from integrity.watch.packets import Segment
from simulators.base import IMAGES, load_image
from support.site import Inventory

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
STATION = "127.0.0.9"


@pytest.fixture
def drive():
    from simulators.modbus import ModbusSimulator

    with ModbusSimulator(load_image(IMAGES / "crane" / "vfd-hoist.json")) as sim:
        yield sim


def write_segment(drive, at: datetime, register: int, value: int, seq: int = 1) -> Segment:
    adu = struct.pack(">HHHBBHH", seq, 0, 6, drive.unit, 6, register, value)
    return Segment(at.timestamp(), STATION, 40000, drive.host, drive.port, 1000 + 12 * (seq - 1),
                   0x18, adu)  # one connection: each write follows the last


@pytest.fixture
def watched(site, run, drive):
    Inventory(site.root).write(Inventory.table(drive))
    assert run.capture().exit_code == 0
    s = load_site(site.root)
    store = Store.open(s.store_url, heads_path=s.heads_path)
    yield s, store, TrustStore(s.trust_dir)
    store.close()


def test_a_burst_settles_then_one_deep_check_reports_the_drift(watched, drive):
    from simulators.modbus import attacker_write_register

    s, store, trust = watched
    checks = []
    loop = WatchLoop(s.devices, WatchPolicy(settle=timedelta(seconds=30)), store=store, trust=trust,
                     on_check=lambda r, p: checks.append((r, p)))
    attacker_write_register(drive.host, drive.port, drive.unit, 22, 2250)
    (event,) = loop.feed(write_segment(drive, T0, 22, 2250))
    assert (event.operation, event.target, event.device) == ("modbus.write-register",
                                                             "unit 1 holding 22", drive.name)
    assert loop.tick(T0 + timedelta(seconds=10)) == []
    loop.feed(write_segment(drive, T0 + timedelta(seconds=20), 23, 5, seq=2))
    assert loop.tick(T0 + timedelta(seconds=45)) == []       # 25 s after the last write
    (result,) = loop.tick(T0 + timedelta(seconds=51))
    assert result.status is Status.DRIFT
    assert "holding" in result.differences[0].key
    assert loop.tick(T0 + timedelta(minutes=5)) == []         # one check per burst
    verdict = [a for a in loop.alerts if a.kind is AlertKind.WIRE_CHECK]
    assert len(verdict) == 1 and verdict[0].state is Status.DRIFT
    assert "after modbus.write-register from 127.0.0.9: differs from its baseline" in verdict[0].summary
    assert "2250" in verdict[0].summary
    stored = list_watch_events(store)
    assert [e["operation"] for e in stored] == ["modbus.write-register", "modbus.write-register"]
    assert all(e["schema"] == 1 and e["alerted"] for e in stored)
    assert checks[0][1].operations == ["modbus.write-register"]


def test_engineering_station_in_a_maintenance_window_is_recorded_not_alerted(watched, drive, run):
    s, store, trust = watched
    policy = WatchPolicy(stations=(ipaddress.ip_network("127.0.0.0/24"),))
    loop = WatchLoop(s.devices, policy, store=store, trust=trust, check=False)
    loop.feed(write_segment(drive, datetime.now(timezone.utc), 22, 1))
    assert [a.kind for a in loop.alerts] == [AlertKind.WIRE_EVENT]   # outside a window: alert
    assert run("maintenance", "start", drive.name, "--reason", "WO 1", "--until", "1h").exit_code == 0
    loop.alerts.clear()
    loop.feed(write_segment(drive, datetime.now(timezone.utc) + timedelta(seconds=20), 22, 2, seq=2))
    assert loop.alerts == [] and len(loop.events) == 2
    assert list_watch_events(store)[0]["alerted"] is False


def test_quiet_rules_record_without_alert_or_check(watched, drive):
    s, store, trust = watched
    policy = WatchPolicy(quiet=(QuietRule(operations=("modbus.write-*",)),))
    loop = WatchLoop(s.devices, policy, store=store, trust=trust)
    loop.feed(write_segment(drive, T0, 22, 1))
    assert loop.alerts == [] and loop.tick(T0 + timedelta(hours=1)) == []
    assert list_watch_events(store)[0]["quiet"] is True


def test_a_wire_alert_renders_as_cef_with_the_operation_as_event_class(watched, drive):
    from integrity.alerts.sinks.syslog import format_cef

    s, store, trust = watched
    loop = WatchLoop(s.devices, WatchPolicy(), store=store, trust=trust, check=False)
    loop.feed(write_segment(drive, T0, 22, 1))
    cef = format_cef(loop.alerts[0])
    assert "|WIRE_EVENT:modbus.write-register|PLC change seen on the wire|7|" in cef
    assert "act=modbus.write-register" in cef and "src=127.0.0.9" in cef


def test_a_watcher_without_a_collector_drains_the_outbox_itself(watched, tmp_path):
    """What a killed watcher (or a collector) left pending is delivered at the
    watcher's first tick, and a sink that failed is retried every DRAIN_EVERY,
    not at every packet."""
    from integrity.alerts import Alert, Dispatcher, JsonlSink
    from integrity.alerts.outbox import outgoing
    from integrity.watch.loop import DRAIN_EVERY

    s, store, trust = watched
    log = tmp_path / "alerts.jsonl"
    left = Alert(kind=AlertKind.WIRE_EVENT, device="vfd-hoist", state=Status.OK, at=T0,
                 since=T0, summary="write from a killed watcher's capture")
    store.save_alert_records({}, now=T0, pending=outgoing([left]), sinks=["alerts"])
    loop = WatchLoop(s.devices, WatchPolicy(), store=store, trust=trust,
                     dispatcher=Dispatcher([JsonlSink(log, name="alerts")]), check=False)
    loop.tick(T0)
    assert [json.loads(x)["id"] for x in log.read_text().splitlines()] == [left.id]
    assert store.outbox_summary() == {}

    again = Alert(kind=AlertKind.WIRE_EVENT, device="vfd-hoist", state=Status.OK, at=T0,
                  since=T0, summary="another")
    store.save_alert_records({}, now=T0, pending=outgoing([again]), sinks=["alerts"])
    loop.tick(T0 + DRAIN_EVERY / 2)
    assert store.outbox_summary() == {"alerts": 1}  # not yet: at most every DRAIN_EVERY
    loop.tick(T0 + DRAIN_EVERY)
    assert store.outbox_summary() == {}
    assert len(log.read_text().splitlines()) == 2
