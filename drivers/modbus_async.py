"""The asyncio side of the Modbus driver: a minimal, read-only Modbus/TCP client on
one ``asyncio.Protocol``, so hundreds of devices can be read on one event loop.

pymodbus's ``AsyncModbusTcpClient`` spent most of the CPU of a sweep's Modbus reads
in its own machinery: a lock, a future and an ``asyncio.wait_for`` (a timer, a
waiter future and callbacks) per request, transport debug dumps and a debug line
that formats every decoded reply whether or not debug logging is on.  Here one
connection carries one request at a time, each request has one future, and one
timer serves the whole connection (re-armed only when it fires before the current
attempt's deadline).  The requests are still pymodbus's PDU classes (encoded by
them), replies are decoded by ``modbus_decode`` (pymodbus's classes, or their
one-unpack versions), and the failures are the ones the sync client raises, so
``drivers.modbus`` translates both paths alike:
  - a refusal keeps its cause (ConnectionRefusedError), a connect past the
    timeout is a TimeoutError;
  - no whole reply within ``device.timeout`` is one attempt: the same frame is
    sent again ``device.retries`` times, then ModbusIOException("No response
    received after N retries...");
  - a peer that closes fails the pending request at once (its OSError on a reset,
    ConnectionException on a clean close), and any later request too;
  - a frame for another unit or another transaction is skipped, as pymodbus's framer
    does; transaction id 0 or a unit that is not the request's after all is a
    ModbusIOException, as in the sync client; an undecodable reply is
    ModbusIOException("Unable to decode request").
The bytes received for the current request are kept (``received``) for the strict
FC 43 parsing and to recognise peers that do not speak Modbus TCP.

Read-only: ``execute`` (every request method of pymodbus's client mixin goes
through it) paces the request and hands it to ``transact``, the single point where
bytes are written, which passes it through the driver's guard before every
attempt, retries included.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Awaitable, Callable

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.exceptions import ConnectionException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from drivers.modbus_decode import decode_reply
from drivers.modbus_identity import holds_a_frame
from integrity.model import Device

_MBAP = struct.Struct(">HHHBB")  # transaction, protocol 0, length, unit, function code
_HEADER = struct.Struct(">HHH")  # transaction, protocol, length: what the unit byte follows
_INBOX = 4096  # bytes per read
_MAX_FRAME = 260  # MBAP header (7) + the longest PDU (253)


class GuardedAsyncModbusClient(ModbusClientMixin[Awaitable[ModbusPDU]], asyncio.BufferedProtocol):
    """A read-only asyncio Modbus/TCP client that fails like the sync client.  Build
    and use it on one running event loop."""

    def __init__(self, device: Device, *, guard: Callable[[ModbusPDU], None],
                 reserve: Callable[[], float]) -> None:
        ModbusClientMixin.__init__(self)
        self._device = device
        self._guard = guard
        self._reserve = reserve
        self._loop = asyncio.get_running_loop()
        self.received = bytearray()
        self.attempts = 0
        self._transport: asyncio.Transport | None = None
        self._opened = False
        self._lost_exc: BaseException | None = None
        self._lost: asyncio.Future[None] | None = None
        self._tid = 0
        # The request in flight: its future, the request, its frame and the attempts left.
        self._waiter: asyncio.Future[ModbusPDU] | None = None
        self._request: ModbusPDU | None = None
        self._frame = b""
        self._left = 0
        self._buffer = b""
        self._junk = False  # no reply can come of this attempt's bytes any more
        self._inbox: memoryview | None = None  # what the transport reads into
        # One timer for the connection, due at _timer_due; the attempt's own deadline
        # is _deadline, never earlier (deadlines only move forward on one connection).
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._deadline = 0.0

    def __str__(self) -> str:
        return f"modbus {self._device.name} ({self._device.host}:{self._device.port})"

    # --- connection ----------------------------------------------------------------
    async def connect(self) -> bool:
        """Raises OSError (refused, unreachable) or TimeoutError; True once connected."""
        if not self._opened:
            # Timeout scopes, not wait_for: no extra task per connection.
            async with asyncio.timeout(self._device.timeout):
                await self._loop.create_connection(lambda: self, self._device.host,
                                                   self._device.port)
            self._opened = True  # once only: a lost connection is not reopened
        return True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._lost = self._loop.create_future()
        self._inbox = memoryview(bytearray(_INBOX))

    def connection_lost(self, exc: Exception | None) -> None:
        # A reset keeps its OSError, as the sync client's recv raises it; a clean
        # close is the sync client's ConnectionException.
        self._lost_exc = exc if isinstance(exc, OSError) else ConnectionException(
            f"{self}: connection closed by the device")
        self._transport = None
        self._finish(exc=self._lost_exc)
        self._stop_timer()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def close(self) -> None:
        """Close the connection now: nothing of ours is left to send once a collect
        ends, and ``abort`` (unlike ``close``) does not wait for a peer to take
        unsent bytes, so ``connection_lost`` follows on the loop's next turn."""
        if self._transport is not None:
            self._transport.abort()
        self._stop_timer()

    async def closed(self) -> None:
        """Wait until the transport has closed (a turn of the loop after ``close``),
        so none is left behind."""
        if self._lost is not None and not self._lost.done():
            await self._lost

    # --- requests ------------------------------------------------------------------
    def execute(self, no_response_expected: bool, request: ModbusPDU) -> Awaitable[ModbusPDU]:
        """Send ``request``; await the result for its reply.  Raises (or the await
        raises) ReadOnlyViolationError before sending anything that is not a read,
        ConnectionException / OSError when the connection is gone, ModbusIOException
        on no reply or an undecodable one.  A plain function returning the reply's
        future: no coroutine per request unless pacing makes it wait."""
        # One pacing per request, before the single send point; retries follow a
        # full timeout, far longer than any pacing interval.
        if (wait := self._reserve()) > 0:
            return self._paced(wait, request, no_response_expected)
        return self.transact(request, no_response_expected)

    async def _paced(self, wait: float, request: ModbusPDU, no_response_expected: bool) -> ModbusPDU:
        await asyncio.sleep(wait)
        return await self.transact(request, no_response_expected)

    def transact(self, request: ModbusPDU,
                 no_response_expected: bool = False) -> Awaitable[ModbusPDU]:
        """The single send point: frame ``request`` and send it; the future of its reply."""
        self.received = bytearray()
        self.attempts = 0
        if self._waiter is not None and not self._waiter.done():
            raise RuntimeError("one request at a time on a Modbus connection")
        self._tid = self._tid + 1 if self._tid < 65000 else 1  # pymodbus's sequence
        request.transaction_id = self._tid
        payload = request.encode()
        self._frame = _MBAP.pack(self._tid, 0, len(payload) + 2, request.dev_id,
                                 request.function_code) + payload
        waiter = self._loop.create_future()
        self._request, self._waiter, self._left = request, waiter, self._device.retries
        self._send()
        if no_response_expected:
            self._finish(result=None)
        return waiter

    def _send(self) -> None:
        """One attempt of the request in flight, guarded before its bytes go out."""
        try:
            assert self._request is not None
            self._guard(self._request)
            if self._transport is None:
                raise self._lost_exc or ConnectionException(f"{self}: not connected")
        except Exception as exc:  # noqa: BLE001 - the request's error, raised by its await
            self._finish(exc=exc)
            return
        self._buffer, self._junk = b"", False  # as pymodbus: each attempt starts afresh
        self.attempts += 1
        self._deadline = deadline = self._loop.time() + self._device.timeout
        if self._timer is None or self._timer_due > deadline:
            self._stop_timer()
            self._timer = self._loop.call_at(deadline, self._on_timer)
            self._timer_due = deadline
        # The one socket write of this client: the frame of a request the guard passed just
        # above, on every attempt (a retry is guarded again). Nothing else reaches the device.
        self._transport.write(self._frame)

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # idle: the next attempt arms the timer again
        if self._loop.time() < self._deadline:  # a later attempt's deadline: wait on
            self._timer = self._loop.call_at(self._deadline, self._on_timer)
            self._timer_due = self._deadline
        elif self._left > 0:
            self._left -= 1
            self._send()
        else:
            request = self._request
            assert request is not None
            self._finish(exc=ModbusIOException(
                f"No response received after {self._device.retries} retries, continue with "
                "next request", function_code=request.function_code,
                transaction_id=request.transaction_id, dev_id=request.dev_id))

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _finish(self, *, result: ModbusPDU | None = None, exc: BaseException | None = None) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(result)  # type: ignore[arg-type]
            else:
                waiter.set_exception(exc)

    # --- replies -------------------------------------------------------------------
    def get_buffer(self, sizehint: int) -> memoryview:
        # Read into a buffer of our own: the plain Protocol path has the transport
        # allocate 256 KiB for every read, ~12 us of kernel time per reply.
        assert self._inbox is not None
        return self._inbox

    def buffer_updated(self, nbytes: int) -> None:
        assert self._inbox is not None
        self.data_received(bytes(self._inbox[:nbytes]))

    def data_received(self, data: bytes) -> None:
        self.received += data
        if self._waiter is None or self._junk:
            return  # nothing asked, or no reply can come of it: kept in ``received`` only
        buffer = self._buffer + data if self._buffer else data
        try:
            self._buffer = self._take_reply(buffer)
        except Exception as exc:  # noqa: BLE001 - the request's error (raised where it waits), not the loop's
            self._buffer = b""
            self._finish(exc=exc)

    def _take_reply(self, buffer: bytes) -> bytes:
        """Find the reply to the request in flight in ``buffer``, as pymodbus's framer
        and transaction manager do; finish the request with it.  Returns what is
        left to wait on."""
        request = self._request
        assert request is not None
        while len(buffer) >= 8:
            tid, protocol, length = _HEADER.unpack_from(buffer)
            end = length + 6
            if protocol or end > _MAX_FRAME:
                # Not Modbus TCP (pymodbus's framer waits on such bytes for good:
                # ``received`` tells the translation), or longer than any Modbus reply
                # (never taken, even whole: pymodbus's asyncio client dropped its buffer
                # past 264 bytes).  The attempt's later bytes are not buffered either.
                self._junk = True
                return b""
            if len(buffer) < end:
                return buffer  # a frame still coming in
            if end == 8 and len(buffer) == 9:
                end = 9  # pymodbus's framer takes a 9th byte here; so must we
            unit, pdu, buffer = buffer[6], buffer[7:end], buffer[end:]
            if not pdu:
                continue  # pymodbus skips a frame without a PDU
            if (request.dev_id and unit != request.dev_id) or (tid and tid != request.transaction_id):
                continue  # another unit's or an old request's answer: skipped, as pymodbus
            if (reply := decode_reply(pdu)) is None:
                raise ModbusIOException("Unable to decode request", transaction_id=tid, dev_id=unit)
            reply.dev_id, reply.transaction_id = unit, tid
            # What the sync client refuses after decoding, the async one let through.
            if unit != request.dev_id:
                raise ModbusIOException(f"ERROR: request uses device id={request.dev_id} "
                                        f"but received {unit}.", request.function_code,
                                        transaction_id=request.transaction_id, dev_id=request.dev_id)
            if tid != request.transaction_id:
                raise ModbusIOException(f"ERROR: request uses transaction id="
                                        f"{request.transaction_id} but received {tid}.",
                                        request.function_code,
                                        transaction_id=request.transaction_id, dev_id=request.dev_id)
            reply.retries = self.attempts - 1
            self._finish(result=reply)
            return b""
        return buffer

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost follows

    def timed_out(self) -> bool:
        # As the sync client: a request sent and no whole frame back, even if part of one came.
        return bool(self.attempts) and not holds_a_frame(bytes(self.received))
