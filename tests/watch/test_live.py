"""Live on loopback: the watcher sniffs the simulators' attackers and checks the devices.

Needs root or CAP_NET_RAW (CI runs as root); skipped with the reason otherwise.
Our own baseline capture and sweep run while the watcher listens and must
yield no events; then an attacker writes a drive register, a Logix tag and
downloads an S7 DB, and each device's deep check, triggered by the wire,
reports the drift.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import threading
import time
from datetime import datetime, timedelta

import pytest

from baselines.signing import TrustStore
from baselines.store import Store
from integrity.inventory import load_site
from integrity.model import Status
from integrity.watch import WatchLoop, WatchPolicy
from integrity.watch.loop import run_live
from integrity.watch.packets import LiveCapture
from support.site import Inventory

DEADLINE = 60.0  # generous: three deep checks on a loaded 2-core machine


def _can_capture() -> str | None:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close()
    except PermissionError:
        return f"live capture needs root or CAP_NET_RAW (running as uid {os.geteuid()})"
    except (AttributeError, OSError) as exc:
        return f"no AF_PACKET sockets here: {exc}"
    return None


pytestmark = pytest.mark.skipif(_can_capture() is not None, reason=str(_can_capture()))


@pytest.fixture
def plant():
    from simulators.plant import Plant

    with Plant("crane") as p:
        yield p


@contextlib.contextmanager
def watching(loop: WatchLoop):
    """The loop fed from a live capture on lo, in a thread, for the with-block."""
    capture = LiveCapture("lo", timeout=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=run_live, args=(loop, capture), kwargs={"stop": stop},
                              daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=DEADLINE)
        capture.close()


def wait_for(condition, what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_watch_lo_sees_attacks_and_the_deep_checks_report_drift(site, run, plant):
    from simulators.logix.attacker import attacker_write_tag
    from simulators.modbus import attacker_write_register
    from simulators.s7 import attacker_download_db, tampered_db_image

    Inventory(site.root).write(*(Inventory.table(sim) for sim in plant))
    s = load_site(site.root)
    policy = WatchPolicy(stations=(ipaddress.ip_network("127.0.0.1/32"),),
                         settle=timedelta(seconds=1))
    store = Store.open(s.store_url, heads_path=s.heads_path)
    checks: dict[str, Status] = {}
    loop = WatchLoop(s.devices, policy, store=store, trust=TrustStore(s.trust_dir),
                     on_check=lambda r, p: checks.__setitem__(r.device, r.status))
    try:
        with watching(loop):
            # Our own traffic: a deep baseline capture and a sweep of every device.
            assert run.capture().exit_code == 0
            assert run("sweep", "--all").exit_code == 0
            seen = loop.wire.stats.packets
            wait_for(lambda: loop.wire.stats.packets > seen or loop.wire.stats.frames > 100,
                     "the watcher to see the sweep")
            time.sleep(0.5)
            assert [e for e in loop.events if e.device] == [], [e.headline() for e in loop.events]
            assert loop.wire.stats.frames > 100  # it did see (and decode) the sweep

            hoist, gantry, plc = plant["vfd-hoist"], plant["plc-gantry"], plant["plc-hoist"]
            attacker_write_register(hoist.host, hoist.port, hoist.unit, 22, 2250)
            attacker_write_tag(gantry.host, gantry.port, "Gantry_MaxSpeed", 4.0)
            image = tampered_db_image(plc.block_image("DB", 10), 0, b"\x42\x20\x00\x00",
                                      when=datetime(2024, 2, 2, 3, 4, 5))
            attacker_download_db(plc.host, plc.port, 10, image)
            wait_for(lambda: len(checks) >= 3, "three deep checks")
    finally:
        store.close()
    ops = {(e.device, e.operation) for e in loop.events}
    assert ("vfd-hoist", "modbus.write-register") in ops
    assert ("plc-gantry", "enip.write-tag") in ops
    assert ("plc-hoist", "s7.request-download") in ops
    assert checks == {"vfd-hoist": Status.DRIFT, "plc-gantry": Status.DRIFT,
                      "plc-hoist": Status.DRIFT}
    assert loop.wire.stats.decode_errors == 0


def test_s7commplus_library_write_is_seen_and_its_reads_are_not():
    """The s7commplus package (client and its server emulator) on loopback: real bytes."""
    pytest.importorskip("s7commplus", reason="the s7commplus package is not installed")
    from s7commplus import Client
    from s7commplus.server import S7CommPlusServer

    from integrity.model import Device

    server = S7CommPlusServer()
    server.register_raw_db(1, bytearray(64))
    server.start("127.0.0.1", 0)
    port = server._server_socket.getsockname()[1]
    loop = WatchLoop([Device(name="plc-1500", protocol="s7", host="127.0.0.1", port=port)],
                     WatchPolicy(), check=False)
    try:
        with watching(loop):
            client = Client()
            client.connect("127.0.0.1", port=port, use_tls=False)
            client.db_read(1, 0, 4)
            client.get_cpu_state()
            client.db_write(1, 0, b"\x01\x02\x03\x04")
            client.disconnect()
            wait_for(lambda: any(e.operation == "s7plus.set-multi-variables"
                                 for e in loop.events), "the write")
    finally:
        server.stop()
    assert [e.operation for e in loop.events] == ["s7plus.session-setup",
                                                  "s7plus.set-multi-variables"]
    assert loop.wire.stats.decode_errors == 0
