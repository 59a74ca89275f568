"""The asyncio side of the Modbus driver: a read-only pymodbus asyncio client and
the async pacing (``Driver.reserve_send_slot``), so hundreds of devices can be read on one event loop.

pymodbus's ``AsyncModbusTcpClient`` differs from the sync client in three ways
that matter to an integrity checker, each handled here so that both paths fail
alike (``drivers.modbus`` translates the errors, for both):
  - ``connect()`` swallows the OSError and returns False: we open the connection
    ourselves, so a refusal keeps its cause (ConnectionRefusedError);
  - a peer that closes the connection leaves the pending request waiting for its
    full timeout (x retries): the close now fails it at once, as in the sync client;
  - an undecodable reply raises inside the protocol callback, where asyncio would
    only log it: it now fails the pending request with that error, as in the sync client.
The bytes received for the current request are kept (``received``) for the strict
FC 43 parsing and to recognise peers that do not speak Modbus TCP.

Read-only: ``execute`` (every pymodbus request method goes through it) and the
``trace_pdu`` hook (every PDU about to be framed, retries included) both call the
driver's guard before anything is sent.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException
from pymodbus.pdu import ModbusPDU

from drivers import modbus_decode
from drivers.modbus_identity import holds_a_frame
from integrity.model import Device


class _Recorder(asyncio.Protocol):
    """Sits between the transport and pymodbus's transaction manager: keeps the
    bytes received and turns a lost connection or a decoding failure into an error
    of the pending request instead of a silent wait."""

    def __init__(self, client: "GuardedAsyncModbusClient") -> None:
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client.ctx.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.client.received += data
        try:
            self.client.ctx.data_received(data)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request, as sync raises it
            self.client.fail_pending(exc)

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        # A reset keeps its OSError, as the sync client's recv raises it; a clean
        # close is the sync client's ConnectionException.
        self.client.fail_pending(exc if isinstance(exc, OSError) else ConnectionException(
            f"{self.client}: connection closed by the device"))
        self.client.ctx.connection_lost(exc)
        self.client.lost.set()


class GuardedAsyncModbusClient(AsyncModbusTcpClient):
    """pymodbus's asyncio client, read-only, failing like the sync client.  Build it
    on a running event loop (pymodbus needs one)."""

    def __init__(self, device: Device, *, guard: Callable[[ModbusPDU], None],
                 reserve: Callable[[], float]) -> None:
        self._guard = guard
        self._reserve = reserve
        self.received = bytearray()
        self.attempts = 0
        self._in_flight = False
        self.lost = asyncio.Event()
        self._opened = False
        # reconnect_delay=0: a lost connection ends the collect; pymodbus must not
        # reconnect behind our back.
        super().__init__(device.host, port=device.port, name=device.name, timeout=device.timeout,
                         retries=device.retries, reconnect_delay=0, trace_pdu=self._trace_pdu)
        modbus_decode.install(self)

    async def connect(self) -> bool:
        """Raises OSError (refused, unreachable) or TimeoutError instead of returning False."""
        if self.ctx.transport is None and not self._opened:
            loop = asyncio.get_running_loop()
            # Timeout scopes, not wait_for: no extra task per connection.
            async with asyncio.timeout(self.comm_params.timeout_connect):
                await loop.create_connection(lambda: _Recorder(self), self.comm_params.host,
                                             self.comm_params.port)
            self._opened = True  # once only: a lost connection is not reopened
        return True

    async def execute(self, no_response_expected: bool, request: ModbusPDU) -> ModbusPDU:
        self._guard(request)
        # One pacing per request, before the single send point; pymodbus's retries
        # follow a full timeout, far longer than any pacing interval.
        if (wait := self._reserve()) > 0:
            await asyncio.sleep(wait)
        self.received = bytearray()
        self.attempts = 0
        self._in_flight = True
        try:
            return await super().execute(no_response_expected, request)
        finally:
            self._in_flight = False

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending:  # the last point before bytes are framed and sent, retries included
            self._guard(pdu)
            self.attempts += 1
        return pdu

    def fail_pending(self, exc: BaseException) -> None:
        """Fail the request waiting for a reply, if any, with ``exc``."""
        future = self.ctx.response_future
        if self._in_flight and not future.done():
            future.set_exception(exc)

    def timed_out(self) -> bool:
        # As the sync client: a request sent and no whole frame back, even if part of one came.
        return bool(self.attempts) and not holds_a_frame(bytes(self.received))

    async def closed(self) -> None:
        """Wait (briefly) until the transport has closed, so none is left behind."""
        if self._opened:
            try:
                async with asyncio.timeout(1.0):
                    await self.lost.wait()
            except TimeoutError:
                pass  # the transport is closed by then in practice; nothing to report
