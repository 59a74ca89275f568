"""Alerts through run_sweep with fixed times: once per new drift, reminders, recovery,
maintenance windows that suppress drift news and end on their own.  The alerts are
observed as delivered, in the jsonl file the site's [[alerts]] table names."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from integrity.alerts import AlertRecord, start_maintenance
from simulators.modbus import attacker_write_register

# Each test runs on SQLite and on a real PostgreSQL server (tests/support/postgres.py).
pytestmark = pytest.mark.usefixtures("store_backend")


@pytest.fixture
def world(run, site, helpers, drive):
    """A baselined drive, the site as the daemon loads it, an open store."""
    from baselines.signing import TrustStore
    from baselines.store import Store
    from integrity.inventory import load_site
    from integrity.sweep import alerting

    helpers.write_inventory(site.root, helpers.device_table(drive))
    helpers.capture_all(run, site)
    settings = (site.root / "site.toml").read_text()
    (site.root / "site.toml").write_text(
        settings.replace("concurrency = 16", 'concurrency = 16\nremind_after = "4h"'))
    helpers.add_to_site_toml(site.root, '[[alerts]]\ntype = "jsonl"\npath = "alerts.jsonl"\n')
    loaded = load_site(site.root)
    tracker, dispatcher = alerting(loaded)
    assert tracker.remind_after == timedelta(hours=4)
    store = Store.open(loaded.store_url, heads_path=loaded.heads_path)
    image = drive.snapshot_image()
    unit, start = image.get("unit", 1), image["holding"]["start"]

    def poke(offset: int, delta: int) -> None:
        attacker_write_register(drive.host, drive.port, unit, start + offset,
                                image["holding"]["values"][offset] + delta)

    def sweep(after: timedelta):
        from integrity.sweep import run_sweep

        return run_sweep(loaded.devices, store, TrustStore(loaded.trust_dir), tracker=tracker,
                         dispatcher=dispatcher, now=helpers.T0 + after)

    def delivered() -> list[tuple[str, str]]:
        return [(x["kind"], x["state"]) for x in helpers.read_jsonl(site.root / "alerts.jsonl")]

    yield SimpleNamespace(store=store, sweep=sweep, poke=poke, delivered=delivered, drive=drive)
    store.close()


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def test_drift_alerts_once_per_new_drift_then_reminds_then_recovers(world):
    assert world.sweep(m(0)).alerts == ()  # a healthy first check is not news
    world.poke(17, +5)

    report = world.sweep(m(5))
    assert report.exit_code == 1
    [alert] = report.alerts
    assert (alert.kind.value, alert.device, alert.previous_state.value) == \
        ("STATE_CHANGE", "vfd-hoist", "OK")
    assert report.delivery.ok

    for minutes in (10, 15, 60, 240):  # the same drift, sweep after sweep: silence
        assert world.sweep(m(minutes)).alerts == ()
    assert world.delivered() == [("STATE_CHANGE", "DRIFT")]

    # remind_after = 4h from the alert at +5 min
    assert [a.kind.value for a in world.sweep(m(245)).alerts] == ["REMINDER"]
    assert world.sweep(m(250)).alerts == ()

    world.poke(40, +1)  # a second change while drifted is new drift
    [alert] = world.sweep(m(255)).alerts
    assert alert.kind.value == "NEW_DRIFT" and alert.summary.count("holding[") == 2

    world.poke(17, 0)
    world.poke(40, 0)
    [alert] = world.sweep(m(260)).alerts
    assert (alert.kind.value, alert.state.value, alert.previous_state.value) == \
        ("RECOVERY", "OK", "DRIFT")
    assert world.sweep(m(600)).alerts == ()  # OK persists: no reminders for good news

    assert world.delivered() == [("STATE_CHANGE", "DRIFT"), ("REMINDER", "DRIFT"),
                                 ("NEW_DRIFT", "DRIFT"), ("RECOVERY", "OK")]
    # Every sweep was recorded, alert or not.
    assert sum(c.get("run", {}).get("checks", 1)  # unchanged OK checks count as a run
               for c in world.store.checks("vfd-hoist", limit=100)) == 11
    assert all(r.read for r in world.drive.requests if not _attacker(r))


def test_maintenance_suppresses_drift_alerts_and_expires_on_its_own(world):
    open_window(world, world.sweep(m(0)).started_at)
    world.poke(17, +5)

    for minutes in (10, 30, 59):
        report = world.sweep(m(minutes))
        assert report.exit_code == 1 and report.alerts == ()
    assert world.delivered() == []
    assert [c["status"] for c in world.store.checks("vfd-hoist", limit=3)] == ["DRIFT"] * 3

    # The window ends at +60 min with nobody calling `maintenance end`: the
    # drift it hid is announced by the next sweep.
    [alert] = world.sweep(m(60)).alerts
    assert (alert.kind.value, alert.state.value, alert.maintenance) == \
        ("STATE_CHANGE", "DRIFT", False)
    assert world.store.alert_record("vfd-hoist")["maintenance_until"] is None
    assert world.delivered() == [("STATE_CHANGE", "DRIFT")]


def open_window(world, now, minutes: int = 60, reason: str = "WO-4711 retune hoist") -> None:
    record = start_maintenance(AlertRecord.from_dict(world.store.alert_record("vfd-hoist")),
                               "vfd-hoist", until=now + m(minutes), reason=reason, now=now)
    world.store.save_alert_record("vfd-hoist", record.to_dict())


def test_drift_undone_inside_the_window_never_alerts(world):
    open_window(world, world.sweep(m(0)).started_at)
    world.poke(17, +5)
    assert world.sweep(m(10)).alerts == ()
    world.poke(17, 0)
    assert world.sweep(m(20)).alerts == ()
    assert world.sweep(m(90)).alerts == ()
    assert world.delivered() == []


def test_unreachable_alerts_even_in_maintenance(world):
    open_window(world, world.sweep(m(0)).started_at)
    world.drive.stop()
    [alert] = world.sweep(m(10)).alerts
    assert (alert.kind.value, alert.state.value, alert.maintenance) == \
        ("STATE_CHANGE", "UNREACHABLE", True)


def _attacker(request) -> bool:
    from simulators.base import is_attacker

    return is_attacker(request.peer)
