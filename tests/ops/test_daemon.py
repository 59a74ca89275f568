"""The scheduler daemon with a clock the test moves: due times survive a restart,
the heartbeat shows in status, jitter spreads the first runs."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from integrity.model import Mode
from integrity.scheduler import Daemon, parse_schedules
from integrity.status import collect_status

SCHEDULE = {"devices": ["vfd-*"], "quick": "15m", "deep": "0 2 * * *"}

# Each test runs on SQLite and on a real PostgreSQL server (tests/support/postgres.py).
pytestmark = pytest.mark.usefixtures("store_backend")


@pytest.fixture
def fleet(run, site, helpers, drive):
    """Two baselined drives (one simulator answers for both names) and the loaded site."""
    from baselines.signing import TrustStore
    from integrity.inventory import load_site

    helpers.write_inventory(site.root, helpers.device_table(drive),
                            helpers.device_table(drive, name="vfd-twin"))
    helpers.capture_all(run, site)
    loaded = load_site(site.root)
    return SimpleNamespace(site=loaded, trust=TrustStore(loaded.trust_dir), drive=drive,
                           jobs=parse_schedules([SCHEDULE], loaded.devices))


def open_store(fleet):
    from baselines.store import Store

    return Store.open(fleet.site.store_url, heads_path=fleet.site.heads_path)


def daemon(fleet, store, clock, **kwargs) -> Daemon:
    return Daemon(fleet.site.devices, fleet.jobs, store, fleet.trust, clock=clock, **kwargs)


def checks(store) -> list[tuple[str, str]]:
    """Every check recorded (a run of unchanged OK checks counts each of its checks)."""
    return sorted((c["device"], c["mode"]) for name in ("vfd-hoist", "vfd-twin")
                  for c in store.checks(name, limit=100)
                  for _ in range(c.get("run", {}).get("checks", 1)))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_due_times_survive_a_restart_neither_skipping_nor_repeating(fleet, clock):
    assert [j.key for j in fleet.jobs] == ["vfd-hoist/deep", "vfd-hoist/quick",
                                           "vfd-twin/deep", "vfd-twin/quick"]
    store = open_store(fleet)
    [report] = daemon(fleet, store, clock).step()  # 08:00: quick jobs start at once
    assert report.mode is Mode.QUICK and sorted(r.device for r in report.results) == \
        ["vfd-hoist", "vfd-twin"]
    assert store.due("vfd-hoist/quick") == clock.now() + timedelta(minutes=15)
    assert store.due("vfd-hoist/deep") == utc(2026, 3, 3, 2, 0)
    store.close()

    # Restart five minutes later: nothing is due, nothing runs again.
    clock.advance(minutes=5)
    store = open_store(fleet)
    assert daemon(fleet, store, clock).step() == []
    assert checks(store) == [("vfd-hoist", "quick"), ("vfd-twin", "quick")]
    store.close()

    # Down overnight, back at 09:00 next day: the missed deep check runs once
    # (answering the overdue quick one too), and no backlog of quick runs follows.
    clock.t = utc(2026, 3, 3, 9, 0)
    store = open_store(fleet)
    d = daemon(fleet, store, clock)
    reports = d.step()
    assert [(r.mode, len(r.results)) for r in reports] == [(Mode.DEEP, 2), (Mode.QUICK, 0)]
    assert checks(store) == [("vfd-hoist", "deep"), ("vfd-hoist", "quick"),
                             ("vfd-twin", "deep"), ("vfd-twin", "quick")]
    assert store.due("vfd-twin/deep") == utc(2026, 3, 4, 2, 0)
    assert store.due("vfd-twin/quick") == utc(2026, 3, 3, 9, 15)
    assert d.step() == []
    clock.advance(minutes=15)
    assert [r.mode for r in d.step()] == [Mode.QUICK]
    assert len(checks(store)) == 6
    store.close()
    assert all(r.read for r in fleet.drive.requests)


def test_run_loop_sleeps_until_the_next_due_time_and_records_start_and_stop(fleet, clock):
    store = open_store(fleet)
    seen = []
    d = daemon(fleet, store, clock, on_report=seen.append,
               heartbeat_every=timedelta(minutes=10))
    d.run(max_steps=4)
    # 08:00 quick; sleep 10 min (heartbeat); 08:10 nothing; sleep 5; 08:15 quick; ...
    assert clock.slept == [600.0, 300.0, 600.0]
    assert [(r.mode, r.started_at) for r in seen] == [(Mode.QUICK, utc(2026, 3, 2, 8, 0)),
                                                      (Mode.QUICK, utc(2026, 3, 2, 8, 15))]
    kinds = [e["kind"] for e in store.events()]
    assert kinds == ["stop", "start"]
    store.close()


def test_status_shows_running_after_a_step_and_stalled_when_the_clock_is_far_past(fleet, clock):
    store = open_store(fleet)
    assert collect_status(fleet.site, store, fleet.trust, now=clock.now()).scheduler == \
        "not running"
    daemon(fleet, store, clock).step()

    status = collect_status(fleet.site, store, fleet.trust, now=clock.now())
    assert status.scheduler == "running"
    assert status.render().startswith("scheduler: running (last heartbeat 2026-03-02 08:00:00 UTC)")
    row = {r.device: r for r in status.devices}["vfd-hoist"]
    assert (row.state, row.last_status) == ("OK", "OK")
    assert row.next_due == utc(2026, 3, 2, 8, 15).isoformat()
    assert row.signer and row.baseline_sequence == 1

    # Three heartbeat intervals (30 s each) without a beat is a stall, even
    # though the next job is only due in fifteen minutes.
    assert collect_status(fleet.site, store, fleet.trust,
                          now=clock.now() + timedelta(seconds=90)).scheduler == "running"
    later = collect_status(fleet.site, store, fleet.trust, now=clock.now() + timedelta(minutes=2))
    assert later.scheduler == "STALLED"
    assert later.to_dict()["scheduler"] == "STALLED"
    store.close()


def test_a_stopped_daemon_is_shown_as_stopped_not_stalled(fleet, clock):
    store = open_store(fleet)
    daemon(fleet, store, clock).run(max_steps=1)
    status = collect_status(fleet.site, store, fleet.trust, now=clock.now() + timedelta(days=1))
    assert status.scheduler == "stopped"
    store.close()


def test_jitter_spreads_first_runs_within_its_bound(fleet, clock):
    jobs = parse_schedules([{**SCHEDULE, "jitter": "2m"}], fleet.site.devices)
    store = open_store(fleet)
    d = Daemon(fleet.site.devices, jobs, store, fleet.trust, clock=clock, rng=random.Random(7))
    due = d.due_times(clock.now())
    quick = [due[k] - clock.now() for k in ("vfd-hoist/quick", "vfd-twin/quick")]
    assert all(timedelta(0) <= q <= timedelta(minutes=2) for q in quick)
    assert quick[0] != quick[1]
    assert due["vfd-hoist/deep"] - utc(2026, 3, 3, 2, 0) <= timedelta(minutes=2)
    store.close()


def test_status_cli_shows_a_stale_heartbeat_as_stalled(run, fleet, clock):
    store = open_store(fleet)
    daemon(fleet, store, clock).step()  # a beat in March 2026, by the fake clock
    store.close()
    r = run("status")
    assert r.exit_code == 0
    assert r.output.startswith("scheduler: STALLED (last heartbeat 2026-03-02 08:00:00 UTC)")


def test_run_once_through_the_cli_checks_what_is_due(run, site, helpers, fleet):
    helpers.add_to_site_toml(site.root, '[[schedules]]\ndevices = ["vfd-*"]\nquick = "15m"\n')
    r = run("run", "--once")
    assert r.exit_code == 0, r.output
    assert "scheduler started: 2 jobs" in r.output
    assert "quick sweep of 2 devices: 2 OK; exit 0, 0 alert(s)" in r.output
    status = run("status", "--json")
    import json

    doc = json.loads(status.stdout)
    assert doc["scheduler"] == "stopped"
    assert all(d["next_due"] and d["last_status"] == "OK" for d in doc["devices"])
