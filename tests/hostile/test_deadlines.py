"""No peer, library or driver can stall a check, a sweep or the daemon (issue 8, item 1).

The sweep enforces each device's overall deadline itself (``check_deadline``):
a check past it is UNREACHABLE with reason ``timeout``, its connection shut
down, and the others go on.  The daemon's heartbeat says STALLED when checks
stop completing, even while the process still beats.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from baselines.signing import TrustStore
from baselines.store import Store
from drivers.base import Driver
from integrity.alerts import Dispatcher, JsonlSink
from integrity.check import read_many
from integrity.inventory import load_site
from integrity.model import Device, Mode
from integrity.scheduler import Daemon, Job, SystemClock, parse_spec
from integrity.status import collect_status
from support.hostile import PROTOCOLS, At, Policy

RELEASE = threading.Event()  # set at teardown: hung fakes end with the test


class HungDriver(Driver):
    """A fake on our own interface whose collect never returns by itself, the way a
    library stuck in a loop would.  ``abort`` is recorded; it does not help."""

    protocol = "modbus"
    default_port = 502
    READ_OPERATIONS = frozenset()
    aborted: list[str] = []

    @classmethod
    def parse_options(cls, table, *, file, device):
        return None

    def collect(self, mode=Mode.DEEP, *, now=None):
        RELEASE.wait(120)
        raise RuntimeError("released")

    def abort(self) -> None:
        HungDriver.aborted.append(self.device.name)


class QuickDriver(HungDriver):
    def collect(self, mode=Mode.DEEP, *, now=None):
        from integrity.model import Artifact, Capture, Kind
        return Capture(self.device.name, "modbus", mode, datetime.now(timezone.utc),
                       (Artifact.from_value("identity", Kind.IDENTITY, {"ok": True}),))


def factory(device: Device) -> Driver:
    return (HungDriver if device.name.startswith("hung") else QuickDriver)(device)


@pytest.fixture(autouse=True)
def release_fakes():
    RELEASE.clear()
    HungDriver.aborted.clear()
    yield
    RELEASE.set()


def fake(name: str, check_timeout: float = 1.0) -> Device:
    return Device(name, "modbus", "127.0.0.1", 1, None, timeout=0.1, retries=0,
                  check_timeout=check_timeout)


@pytest.mark.parametrize("others", [0, 3], ids=["alone", "among-others"])
def test_a_check_past_its_deadline_is_a_timeout_and_the_others_go_on(others):
    devices = [fake("hung-1")] + [fake(f"ok-{i}") for i in range(others)]
    started = time.monotonic()
    outcomes = {o.device.name: o for o in read_many(devices, Mode.DEEP, concurrency=4,
                                                    driver_factory=factory)}
    elapsed = time.monotonic() - started
    hung = outcomes["hung-1"]
    assert hung.capture is None and hung.error.reason == "timeout"
    assert "did not finish within 1.1 s (check_timeout)" in str(hung.error)
    assert HungDriver.aborted == ["hung-1"]  # its connection was shut down
    assert all(outcomes[f"ok-{i}"].capture is not None for i in range(others))
    assert elapsed < devices[0].check_deadline + 2.0


def test_hung_reads_do_not_starve_the_readers():
    """Every reader stuck in a read that ignores the abort: past the deadline each
    gets its timeout and a fresh reader goes on with the rest."""
    devices = [fake("hung-1"), fake("hung-2")] + [fake(f"ok-{i}") for i in range(6)]
    outcomes = {o.device.name: o for o in read_many(devices, Mode.DEEP, concurrency=2,
                                                    driver_factory=factory, ordered=False)}
    assert all(outcomes[f"hung-{i}"].error.reason == "timeout" for i in (1, 2))
    assert all(outcomes[f"ok-{i}"].capture is not None for i in range(6))
    assert sorted(HungDriver.aborted) == ["hung-1", "hung-2"]


def test_check_deadline_is_never_shorter_than_one_request():
    assert fake("x", check_timeout=1.0).check_deadline == 1.1  # 0.1 x 1 + 1 s
    slow = Device("y", "s7", "h", 102, None, timeout=30.0, retries=2, check_timeout=10.0)
    assert slow.check_deadline == 91.0
    assert Device("z", "s7", "h", 102).check_deadline == 300.0  # the documented default


def test_sweep_of_50_devices_with_5_slow_drip_peers_records_all_50(bench):
    """45 genuine devices (15 per protocol, all answering) and 5 behind slow-drip proxies."""
    tables = []
    for i in range(50):
        protocol = PROTOCOLS[i % 3]
        sim = bench.sims[protocol]
        drip = i >= 45
        tables.append({**sim.inventory_entry(), "name": f"dev-{i:02d}",
                       "port": bench.proxies[protocol].port if drip else sim.port,
                       "timeout": 1.0, "retries": 1})
    bench.inventory.write(*tables)
    r = bench.cli.capture()
    assert r.exit_code == 0, r.output
    for proxy in bench.proxies.values():
        proxy.policy = lambda: At(2, "drip")
    try:
        code, doc = bench.cli.json("sweep", "--all")
    finally:
        for proxy in bench.proxies.values():
            proxy.policy = Policy
    by_name = {r["device"]: r for r in doc["results"]}
    assert len(by_name) == 50 and code == 3
    assert [n for n, r in by_name.items() if r["status"] != "OK"] == \
        [f"dev-{i}" for i in range(45, 50)]
    assert {r["reason"] for r in doc["results"] if r["status"] != "OK"} == {"timeout"}
    site = load_site(bench.site.root)
    with Store.open(site.store_url, heads_path=site.heads_path) as store:
        recorded = {name: store.checks(name, limit=5) for name in by_name}
    assert all(len(rows) == 1 for rows in recorded.values())


class MovableClock(SystemClock):
    """The system clock, plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return super().now() + self.offset


def test_status_says_stalled_when_checks_stop_completing_though_the_daemon_beats(site, inventory):
    inventory.write({"name": "hung-1", "protocol": "modbus", "host": "127.0.0.1", "port": 1,
                     "check_timeout": 3600})
    loaded = load_site(site.root)
    store = Store.open(loaded.store_url, heads_path=loaded.heads_path)
    trust = TrustStore(loaded.trust_dir)
    clock = MovableClock()
    job = Job("hung-1", Mode.QUICK, parse_spec("15m"), timedelta(0))
    alerts = site.root / "alerts.jsonl"
    daemon = Daemon(loaded.devices, [job], store, trust, clock=clock,
                    heartbeat_every=timedelta(seconds=0.05), driver_factory=factory,
                    dispatcher=Dispatcher([JsonlSink(alerts)]))

    def beat_after(t: datetime) -> tuple[datetime, dict]:
        for _ in range(1200):  # up to a minute: a loaded machine may be slow to beat
            beat = store.heartbeat("scheduler")
            if beat and beat[0] > t and beat[1].get("last_progress"):
                return beat
            time.sleep(0.05)
        pytest.fail("no heartbeat during the sweep")

    worker = threading.Thread(target=daemon.step, daemon=True)
    worker.start()
    try:
        at, _ = beat_after(clock.now() - timedelta(seconds=1))
        assert collect_status(loaded, store, trust, now=at).scheduler == "running"
        # An hour and more later the daemon still beats, but no check has
        # completed for longer than the device's deadline (3600 s) plus the margin.
        clock.offset = timedelta(seconds=3600 + 61 + 1)
        at, info = beat_after(clock.now() - timedelta(seconds=1))
        assert info["stalled"] is True  # the heartbeat itself says so
        assert [e for e in store.events() if e["kind"] == "checks-stalled"]
        # ... and says so through the alert outbox, delivered by the beating thread.
        for _ in range(1200):
            if alerts.exists() and alerts.read_text().strip():
                break
            time.sleep(0.05)
        [alert] = [json.loads(x) for x in alerts.read_text().splitlines()]
        assert alert["kind"] == "SITE_WARNING" and alert["reason"] == "checks-stalled"
        # The sink writes the line first and the row is marked sent after it
        # accepted it (at least once), so wait for the mark instead of racing it.
        for _ in range(1200):
            if store.outbox_summary() == {}:
                break
            time.sleep(0.05)
        assert store.outbox_summary() == {}
        status = collect_status(loaded, store, trust, now=at)
        assert status.heartbeat_at >= at  # the daemon goes on beating meanwhile
        assert status.scheduler == "STALLED"
        assert status.checks_stalled_since is not None
        assert "no check completed since" in status.render().splitlines()[0]
        assert status.to_dict()["checks_stalled_since"]
    finally:
        RELEASE.set()
        worker.join(10)
        store.close()
