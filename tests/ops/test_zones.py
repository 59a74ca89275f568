"""Collectors per zone sharing one PostgreSQL store (issue 13): zones in the
inventory, `sweep --zone`, two collectors of one zone that never check a device
twice in a round, and a collector killed with -9 whose jobs are taken over once
its lease expires.  Everything real: simulated drives on loopback, a real
PostgreSQL server (tests/support/postgres.py), real `plc-integrity run`
processes for the kill.  Waits are bounded polls of the store, never sleeps
that a slow machine could outrun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from integrity.scheduler import Daemon, parse_schedules
from integrity.zones import Collector, zone_devices
from support.dbsql import rows

DRIVES = 6
WAIT = 90.0  # ceiling for a poll; each normally ends within seconds


@pytest.fixture
def pg_site(site, postgres_url, monkeypatch):
    """The test site with its store in PostgreSQL, through $PLC_INTEGRITY_STORE_URL."""
    monkeypatch.setenv("PLC_INTEGRITY_STORE_URL", postgres_url)
    site.url = postgres_url
    return site


def fleet_inventory(site, helpers, drives, *extra: dict) -> None:
    helpers.write_inventory(site.root, *(helpers.device_table(sim, name=f"vfd-{i}", zone="berth-3")
                                         for i, sim in enumerate(drives)),
                            *extra)


def checks_per_device(url: str) -> dict[str, int]:
    return dict(rows(url, "SELECT device, count(*) FROM checks GROUP BY device"))


# -- inventory and selection ------------------------------------------------------------------

def test_zone_comes_from_the_device_or_the_site_and_is_validated(site, run, helpers, drive):
    from integrity.inventory import load_site

    text = (site.root / "site.toml").read_text()
    (site.root / "site.toml").write_text(text.replace("[settings]\n", '[settings]\nzone = "yard"\n', 1))
    helpers.write_inventory(site.root, helpers.device_table(drive),
                            helpers.device_table(drive, name="vfd-b3", zone="berth-3"))
    loaded = load_site(site.root)
    assert {d.name: d.zone for d in loaded.devices} == {"vfd-hoist": "yard", "vfd-b3": "berth-3"}
    assert [d.name for d in zone_devices(loaded.devices, "berth-3")] == ["vfd-b3"]

    helpers.write_inventory(site.root, helpers.device_table(drive, zone="berth 3\n"))
    code, doc = run.json("status")
    assert code == 2 and "zone" in doc["error"] and "vfd-hoist" in doc["error"]


def test_sweep_zone_selects_that_zones_devices(site, run, helpers, drive):
    helpers.write_inventory(site.root, helpers.device_table(drive, zone="berth-3"),
                            helpers.device_table(drive, name="vfd-other", zone="berth-1"))
    helpers.capture_all(run, site)
    code, doc = run.json("sweep", "--zone", "berth-3", "--quick")
    assert code == 0, doc
    assert [r["device"] for r in doc["results"]] == ["vfd-hoist"]
    code, doc = run.json("sweep", "--zone", "berth-9")
    assert code == 2 and "no device is in zone 'berth-9'" in doc["error"] \
        and "berth-1, berth-3" in doc["error"]


# -- two collectors, one zone, one round ------------------------------------------------------

@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_two_collectors_of_a_zone_check_each_device_once_per_round(
        backend, site, run, helpers, drives, clock, request):
    """Two daemons (threads, one clock the test moves) step at the same moment,
    round after round: every device is checked exactly once per round."""
    from baselines.signing import TrustStore
    from baselines.store import Store
    from integrity.inventory import load_site

    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
        request.getfixturevalue("monkeypatch").setenv("PLC_INTEGRITY_STORE_URL", url)
    fleet_inventory(site, helpers, drives)
    helpers.capture_all(run, site)
    loaded = load_site(site.root)
    url = loaded.store_url
    jobs = parse_schedules([{"devices": ["vfd-*"], "quick": "15m"}], loaded.devices)
    trust = TrustStore(loaded.trust_dir)
    stores = [Store.open(url, heads_path=loaded.heads_path) for _ in range(2)]
    daemons = [Daemon(loaded.devices, jobs, s, trust, clock=clock,
                      collector=Collector(f"c{n}", ("berth-3",)))
               for n, s in enumerate(stores)]
    try:
        for round_ in (1, 2, 3):
            start = threading.Barrier(2)
            got: dict[int, list[str]] = {}

            def work(n: int) -> None:
                start.wait(timeout=WAIT)
                got[n] = [r.device for rep in daemons[n].step() for r in rep.results]

            threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=WAIT)
            assert sorted(got[0] + got[1]) == [f"vfd-{i}" for i in range(DRIVES)], got
            # An unchanged OK check extends its run's row (compact history): count
            # the checks each row stands for, not the rows.
            counts = {d: int(n) for d, n in rows(url, "SELECT device, sum(1 + repeats) FROM "
                                                      "checks GROUP BY device")}
            assert counts == {f"vfd-{i}": round_ for i in range(DRIVES)}
            assert stores[0].claims_held() == {}  # finished jobs are released
            clock.advance(minutes=15)
        beats = {b["id"]: b for b in stores[0].collector_beats()}
        assert set(beats) == {"c0", "c1"} and beats["c0"]["zones"] == ["berth-3"]
    finally:
        for s in stores:
            s.close()


def test_status_shows_each_zones_collectors_and_warns_for_an_unwatched_zone(
        pg_site, run, helpers, drive, clock):
    from baselines.store import Store
    from integrity.inventory import load_site
    from datetime import datetime, timedelta, timezone

    helpers.write_inventory(pg_site.root, helpers.device_table(drive, zone="berth-3"),
                            helpers.device_table(drive, name="vfd-b1", zone="berth-1"))
    helpers.add_to_site_toml(pg_site.root, '[[schedules]]\ndevices = ["*"]\nquick = "15m"\n')
    loaded = load_site(pg_site.root)
    now = datetime.now(timezone.utc)
    with Store.open(pg_site.url) as store:
        store.collector_beat("gw-3:17", ["berth-3"], now, {"interval_s": 10.0})
        store.collector_beat("gw-1:99", ["berth-1"], now - timedelta(minutes=5),
                             {"interval_s": 10.0})
    code, doc = run.json("status")
    assert code == 0, doc
    zones = {z["zone"]: z for z in doc["zones"]}
    assert zones["berth-3"]["state"] == "running"
    assert zones["berth-3"]["collectors"][0]["id"] == "gw-3:17"
    assert zones["berth-1"]["state"] == "STALLED"
    [warning] = [w for w in doc["warnings"] if w["kind"] == "zone-unwatched"]
    assert "zone berth-1 has no live collector" in warning["message"]
    text = run("status").output
    assert "zone berth-1: STALLED (gw-1:99 STALLED" in text
    assert "zone berth-3: running (gw-3:17 running" in text

    # The daemon's alert path: a collector of berth-3 alerts the unwatched berth-1 once,
    # and a restarted collector (a new watch on the same store) does not repeat it.
    from integrity.alerts import Dispatcher, JsonlSink
    from integrity.evidence import EvidenceWatch
    from integrity.zones import site_zone_warnings

    log = pg_site.root / "alerts.jsonl"
    with Store.open(pg_site.url) as store:
        for _ in range(2):
            watch = EvidenceWatch(store, SimpleNamespace(keys=lambda: []), None,
                                  dispatcher=Dispatcher([JsonlSink(log)]),
                                  more_warnings=lambda t: site_zone_warnings(store, loaded, t))
            watch.step(now)
            watch.step(now + timedelta(minutes=1))
        assert store.outbox_summary() == {}
    sent = helpers.read_jsonl(log)
    assert [a["summary"] for a in sent if "zone berth-1" in a["summary"]] == [warning["message"]]


# -- a collector killed with -9 ----------------------------------------------------------------

def start_collector(site_root, url: str, ident: str, lease: str = "3s") -> subprocess.Popen:
    code = "from integrity.cli import cli; cli()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "--site", str(site_root), "run", "--zone", "berth-3",
         "--collector-id", ident, "--lease", lease],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PLC_INTEGRITY_STORE_URL": url})


def poll(what: str, probe, proc: subprocess.Popen | None = None):
    """``probe()`` until it returns something truthy, for at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"collector exited {proc.returncode} while waiting for {what}: "
                        f"{proc.communicate()}")
        time.sleep(0.05)
    pytest.fail(f"no {what} within {WAIT:g} s")


def test_a_killed_collectors_jobs_are_taken_over_after_its_lease(
        pg_site, run, helpers, drives, silent_listener):
    """c1 claims the zone's due jobs and is killed (-9) mid-sweep, held up by a
    device that never answers.  c2 takes the jobs over once c1's lease has
    expired, not before, and checks each device once."""
    silent = {"name": "plc-silent", "protocol": "modbus", "host": "127.0.0.1",
              "port": silent_listener.port, "timeout": 4.0, "retries": 0, "check_timeout": 5,
              "zone": "berth-3"}
    fleet_inventory(pg_site, helpers, drives, silent)
    helpers.capture_all(run, pg_site, *[f"vfd-{i}" for i in range(DRIVES)])
    helpers.add_to_site_toml(pg_site.root, '[[schedules]]\ndevices = ["*"]\nquick = "1h"\n')
    url = pg_site.url
    names = sorted([f"vfd-{i}" for i in range(DRIVES)] + ["plc-silent"])
    procs = []
    try:
        c1 = start_collector(pg_site.root, url, "c1")
        procs.append(c1)
        held = poll("claims by c1", lambda: [r for r in rows(
            url, "SELECT job, collector, expires FROM claims") if r[1] == "c1"], c1)
        silent_listener.accepted.wait(WAIT)  # c1 is inside its sweep
        os.kill(c1.pid, signal.SIGKILL)
        c1.communicate(timeout=WAIT)
        # c1 renewed its claims until it died; they are final now.
        expiry = max(r[0] for r in rows(url, "SELECT expires FROM claims WHERE collector = 'c1'"))
        assert sorted(r[0].split("/")[0] for r in held) == names

        # c2's own lease is long: on a loaded machine its beats (every lease/3) must
        # keep it "running" in status below; c1's short one is what is taken over.
        c2 = start_collector(pg_site.root, url, "c2", lease="30s")
        procs.append(c2)
        done = poll("c2's checks of every device", lambda: (lambda got: got if sorted(
            got) == names else None)({d for d, in rows(
                url, "SELECT DISTINCT device FROM checks WHERE checked_at >= ?", expiry)}), c2)
        assert done
        # Taken over only after the lease: no check of c2's began before c1's claims expired,
        # and c2 checked each device once.
        after = rows(url, "SELECT device, count(*) FROM checks WHERE checked_at >= ? "
                          "GROUP BY device", expiry)
        assert dict(after) == {n: 1 for n in names}
        poll("c2 finishing its jobs", lambda: not rows(url, "SELECT job FROM claims"), c2)
        code, doc = run.json("status")
        zone = {z["zone"]: z for z in doc["zones"]}["berth-3"]
        states = {c["id"]: c["state"] for c in zone["collectors"]}
        assert states == {"c1": "STALLED", "c2": "running"} and zone["state"] == "running"
        c2.send_signal(signal.SIGTERM)
        out, err = c2.communicate(timeout=WAIT)
        assert c2.returncode == 0, err
        assert "collector c2 of zone(s) berth-3" in out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


def test_run_zone_errors(site, run, helpers, drive):
    helpers.write_inventory(site.root, helpers.device_table(drive, zone="berth-3"))
    helpers.add_to_site_toml(site.root, '[[schedules]]\ndevices = ["*"]\nquick = "15m"\n')
    r = run("run", "--zone", "berth-9", "--once")
    assert r.exit_code == 2 and "no device is in zone 'berth-9'" in r.output
    r = run("run", "--zone", "berth-3", "--lease", "soon", "--once")
    assert r.exit_code == 2 and "--lease" in r.output
    r = run("run", "--zone", "berth-3", "--collector-id", "bad id", "--once")
    assert r.exit_code == 2 and "collector id" in r.output
    r = run("run", "--zone", "berth-3", "--once", "--collector-id", "gw-3")
    assert r.exit_code == 0, r.output
    # a named collector's row stays after a clean stop, as stopped
    code, doc = run.json("status")
    [zone] = doc["zones"]
    assert zone["collectors"][0]["id"] == "gw-3" and zone["collectors"][0]["state"] == "stopped"


def test_store_url_from_site_toml_or_the_environment(site, monkeypatch, postgres_url):
    """[store] url (which wins over [settings] store) or $PLC_INTEGRITY_STORE_URL (which
    wins over both); a [store] url that is not a URL is a config error naming the field."""
    from integrity.errors import ConfigError
    from integrity.inventory import load_site

    path = site.root / "site.toml"
    template = path.read_text()
    path.write_text(template.replace('check = "weekly"\n', f'check = "weekly"\nurl = "{postgres_url}"\n'))
    assert load_site(site.root).store_url == postgres_url
    monkeypatch.setenv("PLC_INTEGRITY_STORE_URL", "postgresql+psycopg://other@/x")
    assert load_site(site.root).store_url == "postgresql+psycopg://other@/x"
    path.write_text(template.replace('check = "weekly"\n', 'check = "weekly"\nurl = "db.sqlite"\n'))
    with pytest.raises(ConfigError, match="store.url") as caught:
        load_site(site.root)
    assert "SQLAlchemy URL" in str(caught.value)
