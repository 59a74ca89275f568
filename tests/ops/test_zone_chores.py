"""Restore drills and scheduled backups under several collectors of one zone
(issue 13): each is claimed like a device check, so two collectors stepping at
the same moment run every drill once and write one bundle, and a collector
that died holding them (its claims never finished) has them taken over once
its lease expired, not before.  A real PostgreSQL (tests/support/postgres.py),
real simulated drives, a clock the test moves."""

from __future__ import annotations

import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest

from integrity.scheduler import Daemon, parse_schedules
from integrity.zones import collector_for

WAIT = 90.0
LEASE = timedelta(minutes=5)
SCHEDULE = {"devices": ["vfd-*"], "drill": "1d", "backup": "1d", "backup_dir": "backups",
            "retention": 5}


@pytest.fixture
def two(site, run, helpers, drives, clock, postgres_url, monkeypatch):
    """Two collectors of berth-3 as `run --zone berth-3` builds them, one store each."""
    from baselines.signing import TrustStore
    from baselines.store import Store
    from integrity.inventory import load_site

    monkeypatch.setenv("PLC_INTEGRITY_STORE_URL", postgres_url)
    helpers.write_inventory(site.root, *(helpers.device_table(sim, name=f"vfd-{i}", zone="berth-3")
                                         for i, sim in enumerate(drives)))
    # Quick baselines: the drill finds them lacking at once, without rebuilding a drive.
    assert run.capture("--all", "--quick").exit_code == 0
    (site.root / "backups").mkdir()
    loaded = load_site(site.root)
    jobs = parse_schedules([{**SCHEDULE, "backup_dir": str(site.root / "backups")}],
                           loaded.devices)
    trust = TrustStore(loaded.trust_dir)
    stores = [Store.open(postgres_url, heads_path=loaded.heads_path) for _ in range(2)]
    daemons = []
    for n, store in enumerate(stores):
        collector, mine = collector_for(loaded, jobs, "berth-3", f"c{n}", "5m")
        daemons.append(Daemon(loaded.devices, mine, store, trust, clock=clock,
                              collector=collector))
    yield SimpleNamespace(daemons=daemons, stores=stores, jobs=jobs, backups=site.root / "backups",
                          names=[f"vfd-{i}" for i in range(len(drives))])
    for s in stores:
        s.close()


def drilled(store) -> list[str]:
    return sorted(e["detail"].split(":")[0] for e in store.events(limit=1000)
                  if e["kind"] == "restore-drill")


def step_together(daemons) -> None:
    start = threading.Barrier(len(daemons))
    errors: list[BaseException] = []

    def work(d) -> None:
        try:
            start.wait(timeout=WAIT)
            d.step()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in daemons]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=WAIT)
    assert not errors, errors


def test_a_zone_collector_serves_the_sites_backup_too(two):
    assert sorted(j.key for j in two.daemons[0].jobs if j.key.startswith(":backup/")) == [
        j.key for j in two.jobs if j.key.startswith(":backup/")]


def test_two_collectors_run_each_drill_and_the_backup_once_per_round(two, clock):
    for round_ in (1, 2):
        step_together(two.daemons)
        assert drilled(two.stores[0]) == sorted(two.names * round_)
        assert len(list(two.backups.glob("*.plcbak"))) == round_
        assert [e for e in two.stores[0].events(limit=1000) if e["kind"] == "backup"][round_ - 1:]
        assert two.stores[0].claims_held() == {}  # finished jobs are released
        clock.advance(days=1)


def test_a_dead_collectors_drills_and_backup_are_taken_over_after_its_lease(two, clock):
    c0, c1 = two.daemons
    c0.step()  # the first round, by c0 alone
    clock.advance(days=1)
    # c0 claims the next round's jobs and dies (-9) before finishing any: its
    # claims stay until its lease runs out.
    chores = [j.key for j in two.jobs]
    assert sorted(two.stores[0].claim_jobs("c0", ["berth-3"], chores, clock.now(), LEASE)) \
        == sorted(chores)
    c1.step()
    assert drilled(two.stores[1]) == sorted(two.names)  # only c0's first round
    assert len(list(two.backups.glob("*.plcbak"))) == 1

    clock.advance(seconds=LEASE.total_seconds() + 1)
    c1.step()
    assert drilled(two.stores[1]) == sorted(two.names * 2)
    assert len(list(two.backups.glob("*.plcbak"))) == 2
    assert two.stores[1].claims_held() == {}


def test_a_collector_that_cannot_see_the_backup_folder_leaves_it_for_one_lease(
        two, clock, tmp_path):
    """An unmounted medium on one collector's host: it leaves the backup to a
    collector that sees the folder, and claims it (and alerts) only once the
    backup is a lease overdue."""
    import dataclasses

    c0, c1 = two.daemons
    elsewhere = tmp_path / "not-mounted"
    c0.jobs = [dataclasses.replace(j, folder=elsewhere) if j.key.startswith(":backup/") else j
               for j in c0.jobs]
    c0.step()
    assert not list(two.backups.glob("*.plcbak"))
    assert not [e for e in two.stores[0].events() if e["kind"] == "backup-failed"]
    c1.step()
    assert len(list(two.backups.glob("*.plcbak"))) == 1

    clock.advance(days=1)
    c0.step()  # due, but not a lease overdue: left to c1
    assert not [e for e in two.stores[0].events() if e["kind"] == "backup-failed"]
    clock.advance(seconds=LEASE.total_seconds())
    c0.step()  # nobody took it: c0 claims it, fails and says so
    [failed] = [e for e in two.stores[0].events() if e["kind"] == "backup-failed"]
    assert "not-mounted" in failed["detail"]
