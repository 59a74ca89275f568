"""The asyncio read path against the sync one: the same captures and the same errors
for the same devices, many devices on one event loop, and a loop that is never blocked."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import socket
import threading
import time
from datetime import datetime, timezone

import pytest

from drivers.modbus import ModbusDriver
from integrity.errors import DeviceError, DeviceTimeoutError
from integrity.model import Mode

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
FULL = dict(holding=["0-1999", "3000-3003"], input=["4"], coils=["0-10"], discrete=["100-102"])


def test_both_paths_give_the_same_capture_byte_for_byte(simulator, crane_image, device, both_paths):
    sim, crane = simulator(), simulator(crane_image("vfd-hoist"))
    for dev in (device(sim.port, **FULL), device(crane.port, holding=["0-1999"])):
        for mode in (Mode.DEEP, Mode.QUICK):
            sync, asyn = (both_paths[p](dev, mode, now=NOW) for p in ("sync", "async"))
            assert asyn == sync  # device, mode, time, policy and every artifact's bytes
            assert [a.digest for a in asyn.artifacts] == [a.digest for a in sync.artifacts]
            assert asyn.fingerprint == sync.fingerprint


def _answer_with(pdu: bytes):
    def handler(p):
        def serve(conn: socket.socket) -> None:
            while frame := p.recv_frame(conn):
                conn.sendall(frame[:4] + (len(pdu) + 1).to_bytes(2, "big") + frame[6:7] + pdu)
        return serve
    return handler


def _silent(p):
    return lambda conn: p.recv_frame(conn) and p.stopped.wait(30)


def _http(p):
    def serve(conn: socket.socket) -> None:
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        conn.close()
    return serve


def _garbage(p):
    def serve(conn: socket.socket) -> None:
        conn.recv(1024)
        conn.sendall(b"\xde\xad\xbe\xef" * 4)
        p.stopped.wait(30)
    return serve


def _exception_reply(code: int):
    def handler(p):
        def serve(conn: socket.socket) -> None:
            while frame := p.recv_frame(conn):
                conn.sendall(frame[:4] + b"\x00\x03" + frame[6:7] + bytes([frame[7] | 0x80, code]))
        return serve
    return handler


# (handler factory taking the peer, inventory keys); None: a port nothing listens on.
FAILURES = [
    pytest.param(None, dict(holding=["0-9"]), id="refused"),
    pytest.param(lambda p: lambda conn: conn.close(), dict(holding=["0-9"]), id="closes-on-connect"),
    pytest.param(_silent, dict(holding=["0-9"]), id="silent"),
    pytest.param(_http, dict(holding=["0-9"]), id="not-modbus"),
    pytest.param(_garbage, dict(holding=["0-9"]), id="garbage"),
    pytest.param(_exception_reply(4), dict(identity=False, holding=["0-9"]), id="exception-reply"),
    pytest.param(_exception_reply(6), dict(holding=["0-9"]), id="identity-busy"),
    pytest.param(_answer_with(bytes.fromhex("030a") + b"\x00\x01"), dict(identity=False, holding=["0-4"]),
                 id="byte-count-lies"),
    pytest.param(_answer_with(bytes.fromhex("0302") + b"\x00\x01"), dict(identity=False, holding=["0-4"]),
                 id="fewer-registers"),
    pytest.param(_answer_with(bytes.fromhex("0402") + b"\x00\x01" * 5), dict(identity=False, holding=["0-4"]),
                 id="wrong-function"),
    pytest.param(_answer_with(bytes.fromhex("2b0e018100000300044142")), dict(), id="fc43-truncated"),
    pytest.param(_answer_with(bytes.fromhex("2b0e0181000001000141ffff")), dict(), id="fc43-trailing"),
]


@pytest.mark.parametrize("handler, keys", FAILURES)
def test_both_paths_fail_with_the_same_error_and_message(peer, free_port, device, both_paths,
                                                          handler, keys):
    errors = {}
    for path, collect in both_paths.items():
        if handler is None:
            port = free_port
        else:
            ref: list = []
            p = peer(lambda conn: ref[0](conn))
            ref.append(handler(p))
            port = p.port
        started = time.monotonic()
        with pytest.raises(DeviceError) as err:
            collect(device(port, timeout=0.5, retries=0, **keys))
        assert time.monotonic() - started < 4
        # The port is part of the message: compare with it taken out.
        errors[path] = (type(err.value), str(err.value).replace(f":{port})", ":PORT)"))
    if handler is FAILURES[1].values[0]:
        # Whether the client sees the close as a reset (RST) or an end of stream (FIN)
        # is a race on either path; both are this error, naming the close.
        assert errors["async"][0] is errors["sync"][0]
        assert all("closed" in text for _, text in errors.values())
    else:
        assert errors["async"] == errors["sync"]


# Generous per-request timeouts where a test proves results, not timing: on a loaded
# 2-core machine one answer among hundreds can take longer than 0.5 s.
PATIENT = 30.0


def test_50_drives_on_one_loop_match_the_sync_path(simulator, basic_image, device, both_paths,
                                                   assert_only_reads):
    sims = []
    for i in range(50):
        image = copy.deepcopy(basic_image)
        image["name"] = f"drive-{i:02d}"
        image["holding"][0]["values"][17] = i  # every drive holds its own settings
        sims.append(simulator(image))
    devices = [device(s.port, name=s.name, timeout=PATIENT, holding=["0-1999"], coils=["0-10"])
               for s in sims]

    async def sweep() -> list:
        sem = asyncio.Semaphore(64)

        async def one(dev):
            async with sem, ModbusDriver(dev) as drv:
                return await drv.collect_async(now=NOW)

        return await asyncio.gather(*(one(d) for d in devices))

    concurrent = asyncio.run(sweep())
    sequential = [both_paths["sync"](d, now=NOW) for d in devices]
    assert [c.fingerprint for c in concurrent] == [c.fingerprint for c in sequential]
    assert concurrent == sequential
    assert len({c.fingerprint for c in concurrent}) == 50  # really 50 different drives
    for sim in sims:
        assert_only_reads(sim)


def test_a_silent_drive_does_not_hold_up_the_others_on_the_loop(simulator, peer, device):
    sims = [simulator() for _ in range(3)]
    others = {f"ok-{i}" for i in range(3)}
    others_done = threading.Event()

    def silent_until_the_others_are_done(conn: socket.socket) -> None:
        # Answers nothing until the three drives have finished, then hangs up.  Were the
        # loop held up while this drive waits, they could not finish: this peer would hang
        # up after 30 s and the drive would end first.  No clock decides the order.
        if quiet.recv_frame(conn):
            others_done.wait(PATIENT)
            conn.shutdown(socket.SHUT_RDWR)

    quiet = peer(silent_until_the_others_are_done)
    dead = peer(lambda conn: dead.recv_frame(conn) and dead.stopped.wait(30))
    devices = [device(quiet.port, name="silent", timeout=2 * PATIENT, retries=0, holding=["0-9"]),
               device(dead.port, name="dead", timeout=0.5, retries=1, holding=["0-9"])]
    devices += [device(s.port, name=f"ok-{i}", timeout=PATIENT, holding=["0-1999"])
                for i, s in enumerate(sims)]
    finished: list[str] = []
    dead_took: list[float] = []

    async def one(dev):
        started = time.monotonic()
        try:
            async with ModbusDriver(dev) as drv:
                return await drv.collect_async()
        except DeviceError as exc:
            return exc
        finally:
            finished.append(dev.name)
            if dev.name == "dead":
                dead_took.append(time.monotonic() - started)
            if others <= set(finished):
                others_done.set()

    async def sweep() -> list:
        return await asyncio.gather(*(one(d) for d in devices))

    silent, dead_result, *ok = asyncio.run(sweep())
    assert all(not isinstance(r, Exception) for r in ok)
    assert finished.index("silent") > max(finished.index(n) for n in others)  # they came first
    assert isinstance(silent, DeviceError)  # it was hung up on
    # A dead drive costs its 2 x 0.5 s once, not per request (a generous bound).
    assert type(dead_result) is DeviceTimeoutError and "(2 attempts)" in str(dead_result)
    assert dead_took[0] < 0.5 * 2 + 5


def test_pacing_waits_on_the_loop_without_blocking_it(simulator, device):
    sim = simulator()
    # 2 identity requests + 8 register requests at most 40 per second: >= 9 intervals of 25 ms.
    dev = dataclasses.replace(device(sim.port, holding=["0-999"]), max_rps=40.0)
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def scenario() -> float:
        stop = asyncio.Event()
        tick_task = asyncio.create_task(ticker(stop))
        started = time.monotonic()
        async with ModbusDriver(dev) as drv:
            await drv.collect_async()
        elapsed = time.monotonic() - started
        stop.set()
        await tick_task
        return elapsed

    elapsed = asyncio.run(scenario())
    assert len(sim.requests) == 10
    assert elapsed >= 9 / 40 - 0.01  # the ceiling held (a lower bound: cannot flake)
    assert ticks >= 3  # the loop kept running while the driver waited
