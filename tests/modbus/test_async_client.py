"""The asyncio Modbus/TCP client (drivers/modbus_async.py) where it does its own
framing: replies split or mixed with frames for others, strict transaction ids,
retries of the same frame, one connection timer that never cuts an attempt short,
and the register values gathered straight from the reply bytes."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time

import pytest
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import DecodePDU

from drivers.modbus import ModbusDriver
from drivers.modbus_decode import FastReadHoldingRegistersResponse, decode_reply
from integrity import canonical
from integrity.errors import DeviceError, DeviceProtocolError, DeviceRefusedError

PATIENT = 30.0  # where a test proves results, not timing


def frame(request: bytes, pdu: bytes, *, tid: int | None = None, unit: int | None = None) -> bytes:
    """A reply frame to ``request`` carrying ``pdu``, with its transaction id or unit changed."""
    tid_bytes = request[:2] if tid is None else tid.to_bytes(2, "big")
    unit_byte = request[6:7] if unit is None else bytes([unit])
    return tid_bytes + b"\x00\x00" + (len(pdu) + 1).to_bytes(2, "big") + unit_byte + pdu


def registers(request: bytes) -> bytes:
    """The FC 3 reply PDU to a request frame: register i holds i * 257."""
    address, count = struct.unpack(">HH", request[8:12])
    return bytes([3, 2 * count]) + struct.pack(f">{count}H", *((a * 257) % 65536 for a in
                                                            range(address, address + count)))


def test_replies_split_or_behind_frames_for_others_are_found(collect, peer, device):
    def serve(conn: socket.socket) -> None:
        while request := p.recv_frame(conn):
            tid = int.from_bytes(request[:2], "big")
            good = frame(request, registers(request))
            # An old transaction's answer and another unit's, then the reply in pieces.
            conn.sendall(frame(request, registers(request), tid=tid + 1000)
                         + frame(request, b"\x03\x02\x00\x01", unit=9) + good[:5])
            time.sleep(0.01)
            conn.sendall(good[5:9])
            time.sleep(0.01)
            conn.sendall(good[9:])

    p = peer(serve)
    cap = collect(device(p.port, timeout=PATIENT, identity=False, holding=["0-299"]))
    assert cap.by_key()["holding/0-299"].value()["values"] == [(a * 257) % 65536 for a in range(300)]


def test_a_reply_with_transaction_id_zero_is_refused_on_both_paths(both_paths, peer, device):
    """pymodbus's asyncio client took a reply numbered 0 for any request; its sync client
    refuses it, and so does ours."""
    errors = {}
    for path, collect in both_paths.items():
        p = peer(lambda conn: [conn.sendall(frame(r, registers(r), tid=0))
                               for r in iter(lambda: p.recv_frame(conn), b"")])
        with pytest.raises(DeviceError) as err:
            collect(device(p.port, timeout=PATIENT, identity=False, holding=["0-4"]))
        errors[path] = (type(err.value), str(err.value).replace(f":{p.port})", ":PORT)"))
    assert errors["async"] == errors["sync"]
    assert errors["async"][0] is DeviceProtocolError
    assert "transaction id=1 but received 0" in errors["async"][1]


def test_a_lost_reply_is_answered_on_the_retry_of_the_same_frame(collect, peer, device):
    def serve(conn: socket.socket) -> None:
        first = p.recv_frame(conn)  # not answered
        retry = p.recv_frame(conn)
        if retry == first:
            conn.sendall(frame(retry, registers(retry)))
        p.stopped.wait(PATIENT)

    p = peer(serve)
    cap = collect(device(p.port, timeout=0.3, retries=1, identity=False, holding=["0-9"]))
    assert cap.by_key()["holding/0-9"].value()["values"] == [(a * 257) % 65536 for a in range(10)]
    assert len(p.received) == 2 and p.received[0] == p.received[1]


def test_every_attempt_gets_its_whole_timeout_after_earlier_requests(peer, device):
    """The connection's one timer, armed by an earlier request, must not end a later
    attempt before that attempt's own deadline."""
    timeout, retries = 0.4, 1

    def serve(conn: socket.socket) -> None:
        request = p.recv_frame(conn)
        time.sleep(timeout * 0.6)  # the first reply comes late: the timer is due mid-way
        conn.sendall(frame(request, registers(request)))
        while p.recv_frame(conn):  # then silence
            pass

    p = peer(serve)

    async def scenario() -> tuple[float, int]:
        async with ModbusDriver(device(p.port, timeout=timeout, retries=retries)) as drv:
            client = await drv.connect_async()
            assert (await client.read_holding_registers(0, count=2, device_id=1)).registers == [0, 257]
            started = time.monotonic()
            with pytest.raises(ModbusIOException, match=f"after {retries} retries"):
                await client.read_holding_registers(2, count=2, device_id=1)
            return time.monotonic() - started, client.attempts

    elapsed, attempts = asyncio.run(scenario())
    assert attempts == retries + 1
    assert elapsed >= timeout * (retries + 1) - 0.002  # a lower bound: load only adds to it
    assert len(p.received) == 1 + retries + 1


def test_an_oversize_frame_is_never_taken_for_a_reply(both_paths, peer, device):
    """A frame longer than any Modbus reply (260 bytes) is not a reply, even when all
    of it comes and it starts like a good one: as pymodbus's asyncio client, which
    dropped its buffer past 264 bytes."""
    def serve(conn: socket.socket) -> None:
        while request := p.recv_frame(conn):
            conn.sendall(frame(request, registers(request) + bytes(300)))

    p = peer(serve)
    with pytest.raises(DeviceProtocolError, match="could not be decoded"):
        both_paths["async"](device(p.port, timeout=0.3, retries=0, identity=False, holding=["0-4"]))


def test_a_peer_closing_mid_session_fails_the_request_at_once(collect, peer, device):
    def serve(conn: socket.socket) -> None:
        request = p.recv_frame(conn)
        conn.sendall(frame(request, registers(request)))
        p.recv_frame(conn)
        conn.shutdown(socket.SHUT_RDWR)  # the second request is never answered

    p = peer(serve)
    started = time.monotonic()
    with pytest.raises(DeviceRefusedError, match="closed by the device"):
        collect(device(p.port, timeout=PATIENT, identity=False, holding=["0-249"]))
    assert time.monotonic() - started < PATIENT / 3  # not a timeout (a generous bound)


def test_a_cancelled_collect_closes_its_connection_at_once(peer, device):
    """read_many bounds a whole check with an asyncio.timeout scope: cancelled while a
    request waits on a silent peer, the collect ends and its connection is closed,
    without waiting for the request's own (long) timeout."""
    hung_up = threading.Event()

    def serve(conn: socket.socket) -> None:
        p.recv_frame(conn)  # never answered
        if p.recv_frame(conn) == b"":  # the client closed
            hung_up.set()

    p = peer(serve)

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                async with ModbusDriver(device(p.port, timeout=PATIENT, retries=3,
                                               identity=False, holding=["0-9"])) as drv:
                    await drv.collect_async()

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < PATIENT / 3  # not the request's timeout (generous)
    assert hung_up.wait(PATIENT)
    assert len(p.received) == 1


def test_register_values_are_byte_for_byte_the_generic_encoding(collect, simulator, device):
    sim = simulator()
    cap = collect(device(sim.port, identity=False, holding=["0-1999", "3000-3003"], input=["4"]))
    for key, start, values in (("holding/0-1999", 0, [(i * 7) % 65536 for i in range(2000)]),
                               ("holding/3000-3003", 3000, [11, 12, 13, 14]),
                               ("input/4", 4, [104])):
        assert cap.by_key()[key].content == canonical.encode({"start": start, "values": values})


# --- decoding ----------------------------------------------------------------------------

def _seen(pdu: object) -> object:
    """What a decoded reply says, whichever class decoded it (the fast ones keep the
    registers as bytes until asked)."""
    if pdu is None:
        return None
    state = {k: v for k, v in vars(pdu).items() if k not in ("_registers", "register_bytes")}
    state["registers"] = list(pdu.registers)  # type: ignore[attr-defined]
    return getattr(pdu, "function_code"), state


def test_decode_reply_gives_what_pymodbus_client_decoder_gives():
    rng = random.Random(18)
    reference = DecodePDU(is_server=False)
    pdus = [b"", b"\x80", b"\x81", b"\x83\x02", b"\x83", b"\xab\x01", b"\x2b\x0e\x01\x01\x00\x00\x00",
            b"\x2b\x0e", b"\x2b\x0f\x01", b"\x03\x02\x00\x07", b"\x05\x00\x01\xff\x00", b"\x63\x00"]
    for _ in range(3000):
        fc = rng.choice([1, 2, 3, 4, 43, 0x81, 0x83, 0x84, 0xAB, 0, 5, 6, 8, 99, 0xFF])
        body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 5, 9, 40, 251])))
        if fc == 43 and body:
            body = b"\x0e" + body[1:]
        pdus.append(bytes([fc]) + body)
    for pdu in pdus:
        assert _seen(decode_reply(pdu)) == _seen(reference.decode(pdu)), pdu.hex()


def test_register_bytes_stay_bytes_until_the_list_is_asked_for():
    reply = FastReadHoldingRegistersResponse()
    reply.decode(b"\x05\x00\x07\xff\xff\x01")  # an odd byte count's last byte is ignored
    assert reply.register_bytes == b"\x00\x07\xff\xff" and reply._registers is None
    assert reply.registers == [7, 65535]
    reply.registers = [1]
    assert reply.register_bytes is None and reply.registers == [1]
