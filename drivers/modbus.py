"""Modbus TCP driver (pymodbus 3.16.1): declared register/bit ranges and FC 43/14 identity.

Artifacts, all of them also read in QUICK mode (Modbus has no cheaper subset):
  "identity"             kind identity  FC 43/14 objects, byte-exact (see modbus_identity)
  "holding/0-1999", ...  kind config    {"start": s, "values": [...]} per declared range,
                                        bits as 0/1; diffed by address by the core compare

Two ways to run one collect, over the same read logic: ``collect`` (blocking, on
pymodbus's sync client: one thread per device) and ``collect_async`` (on our own
asyncio Modbus/TCP client over pymodbus's PDU classes, drivers/modbus_async.py:
hundreds of devices on one event loop).  The requests to send, the
checks on every reply and the artifacts built are written once, as a generator of
``Step``s (``read_steps``) that either path feeds with replies; only the send
itself differs.  So both paths produce the same capture, byte for byte, and the
same errors.

Read-only is enforced twice before anything is sent: the client's ``execute``
(every pymodbus request method goes through it) and, below it, the point where
every attempt is framed (the sync client's ``trace_pdu`` hook, the async client's
``transact``), retries included, both pass the function code through
``Driver.guard``.  Only FC 1, 2, 3, 4 and 43/14 get through.

Failure costs: a refused or closed port fails at once; a silent peer costs
timeout x (retries + 1) once, because the first timed-out request ends the
whole collect instead of trying every other range.
"""

from __future__ import annotations

import array
import socket
import struct
import sys
import time
from datetime import datetime
from typing import Any, ClassVar, Generator, Mapping, NamedTuple, Protocol

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsRequest, ReadDiscreteInputsRequest
from pymodbus.pdu.mei_message import ReadDeviceInformationRequest
from pymodbus.pdu.register_message import ReadHoldingRegistersRequest, ReadInputRegistersRequest

from drivers import modbus_decode
from drivers.base import AsyncDriver
from drivers.modbus_async import GuardedAsyncModbusClient
from drivers.modbus_identity import (
    MalformedIdentity,
    holds_a_frame,
    looks_like_modbus,
    mbap_frames,
    object_key,
    object_value,
    parse_page,
)
from drivers.modbus_options import BIT_TABLES, TABLES, ModbusOptions, Range, parse_options
from integrity import canonical
from integrity.clock import utcnow
from integrity.errors import (
    ConfigError,
    DeviceError,
    DeviceProtocolError,
    DeviceRefusedError,
    DeviceTimeoutError,
    DeviceUnreachableError,
)
from integrity.model import Artifact, Capture, Device, Encoding, Kind, Mode

READ_FC = {"holding": 3, "input": 4, "coils": 1, "discrete": 2}
TABLE_OF_FC = {fc: table for table, fc in READ_FC.items()}
READ_REQUEST = {"holding": ReadHoldingRegistersRequest, "input": ReadInputRegistersRequest,
                "coils": ReadCoilsRequest, "discrete": ReadDiscreteInputsRequest}
CHUNK = {"holding": 125, "input": 125, "coils": 2000, "discrete": 2000}  # protocol limits
EXCEPTIONS = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
              4: "server device failure", 5: "acknowledge", 6: "server device busy",
              8: "memory parity error", 10: "gateway path unavailable",
              11: "gateway target device failed to respond"}
# Exceptions that mean "this device has no FC 43/14 (or not this category)": a stable
# property worth recording.  Busy/failure/gateway exceptions are transient and would
# flip the identity digest, so they stay errors.
_NOT_SUPPORTED = frozenset({1, 2, 3})
# What the client may raise that ``translate`` turns into a DeviceError (ConnectionException
# and ModbusIOException are ModbusExceptions; asyncio's TimeoutError is an OSError).
_TRANSLATED = (ModbusException, OSError)
_MAX_IDENTITY_PAGES = 32


def operation(pdu: ModbusPDU) -> int | str:
    """What the guard checks: the function code, and for FC 43 also its MEI type."""
    fc = int(pdu.function_code)
    if fc == 43:
        mei = getattr(pdu, "sub_function_code", None)
        return 43 if mei == 0x0E else f"FC43/MEI{mei}"
    return fc


def _exception_text(code: int) -> str:
    return f"exception {code} ({EXCEPTIONS.get(code, 'unknown')})"


class _NotSupported(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class RecordingClient(Protocol):
    """What the shared reply checks need from either client."""

    received: bytearray

    def timed_out(self) -> bool: ...


# --- the read logic, shared by both paths -------------------------------------------

class Step:
    """One request of a collect; ``what`` names it in errors.  A register or bit read
    leaves ``what`` to be built from its request when an error needs it: most
    requests never fail, and formatting text for each cost more than the rest of
    its bookkeeping."""

    __slots__ = ("fc", "request", "_what")

    def __init__(self, what: str | None, fc: int, request: ModbusPDU) -> None:
        self._what, self.fc, self.request = what, fc, request

    @property
    def what(self) -> str:
        if self._what is None:
            start, count = self.request.address, self.request.count
            return f"reading {TABLE_OF_FC[self.fc]} {start}-{start + count - 1}"
        return self._what


class Answer(NamedTuple):
    """A reply whose function code matched the request's (exception replies included),
    with the raw PDU for the FC 43 steps, which are parsed strictly from the bytes."""

    reply: ModbusPDU
    raw: bytes | None



def read_steps(driver: "ModbusDriver") -> Generator[Step, Answer, list[Artifact]]:
    """Every request of one collect, in order; returns the artifacts.  Raises a
    DeviceError subclass on a reply that fails a check."""
    artifacts = []
    if driver.options.identity:
        artifacts.append((yield from _identity_steps(driver)))
    for table in TABLES:
        for rng in driver.options.ranges(table):
            artifacts.append((yield from _range_steps(driver, table, rng)))
    return artifacts


def _range_steps(driver: "ModbusDriver", table: str, rng: Range) -> Generator[Step, Answer, Artifact]:
    fc, unit, request_class, chunk = READ_FC[table], driver.options.unit, READ_REQUEST[table], CHUNK[table]
    bits = table in BIT_TABLES
    values = array.array("H")  # registers and bits are 0..65535: canonical.encode_uint16_table
    # Chunks never cross a declared range's end: a gap between ranges may be
    # unreadable, and one unreadable address fails the whole request.
    for start in range(rng.start, rng.end + 1, chunk):
        count = min(chunk, rng.end - start + 1)
        step = Step(None, fc, request_class(address=start, count=count, dev_id=unit))
        reply = (yield step).reply
        if reply.isError():
            raise driver.fail(DeviceProtocolError,
                              f"declared range {table} {rng.label} not readable: "
                              f"{_exception_text(reply.exception_code)} to FC{fc} at {start}+{count}")
        if bits:
            got = [int(bool(b)) for b in reply.bits]  # .bits is padded to a multiple of 8
            if len(got) < count:
                raise driver.fail(DeviceProtocolError,
                                  f"{step.what}: asked for {count} values, got {len(got)}")
            values.extend(got[:count])
            continue
        # Registers must match exactly.  The reply's big-endian bytes go straight into
        # the table, swapped to the machine's order once at the end.
        raw = getattr(reply, "register_bytes", None)
        if raw is None:  # a reply decoded by pymodbus's own class
            raw = struct.pack(f">{len(reply.registers)}H", *reply.registers)
        if len(raw) != 2 * count:
            raise driver.fail(DeviceProtocolError,
                              f"{step.what}: asked for {count} values, got {len(raw) // 2}")
        values.frombytes(raw)
    if not bits and sys.byteorder == "little":
        values.byteswap()
    # The bytes of Artifact.from_value(key, CONFIG, {"start": ..., "values": [...]}), encoded
    # without the generic JSON path (the same bytes, so baselines do not drift).
    return Artifact(f"{table}/{rng.label}", Kind.CONFIG,
                    canonical.encode_uint16_table(rng.start, values), Encoding.JSON, quick=True)


def _identity_steps(driver: "ModbusDriver") -> Generator[Step, Answer, Artifact]:
    objects: dict[str, dict[str, str]] = {}
    try:
        basic = yield from _category_steps(driver, 1, objects)
    except _NotSupported as exc:  # a device without FC 43/14: recorded, not a failure
        value: dict[str, Any] = {"supported": False, "exception": exc.code}
        return Artifact.from_value("identity", Kind.IDENTITY, value, quick=True)
    value = {"supported": True, "conformity": f"0x{basic:02x}", "objects": objects}
    # Conformity level 2 or 3 promises the regular objects (0x03-0x06); level 1
    # devices (e.g. a Modicon M340) are not asked for them at all.
    if basic & 0x7F >= 2:
        try:
            yield from _category_steps(driver, 2, objects)
        except _NotSupported as exc:
            value["regular"] = {"supported": False, "exception": exc.code}
    return Artifact.from_value("identity", Kind.IDENTITY, value, quick=True)


def _category_steps(driver: "ModbusDriver", read_code: int,
                    objects: dict[str, dict[str, str]]) -> Generator[Step, Answer, int]:
    """Read one category, following more-follows; merge into ``objects``.
    Returns the conformity level.  Raises _NotSupported when the device answered
    an exception that means "no such category", a DeviceError otherwise."""
    object_id = 0
    for _ in range(_MAX_IDENTITY_PAGES):
        what = f"reading device identification (FC 43/14, read code {read_code}, object {object_id})"
        request = ReadDeviceInformationRequest(read_code, object_id, dev_id=driver.options.unit)
        answer = yield Step(what, 43, request)
        if answer.reply.isError():
            if answer.reply.exception_code in _NOT_SUPPORTED:
                raise _NotSupported(int(answer.reply.exception_code))
            raise driver.fail(DeviceProtocolError,
                              f"{what}: {_exception_text(answer.reply.exception_code)}")
        try:
            if answer.raw is None:
                raise MalformedIdentity("reply frame not found")
            page = parse_page(answer.raw)
        except MalformedIdentity as exc:
            raise driver.fail(DeviceProtocolError, f"{what}: malformed reply: {exc}") from exc
        for oid, data in page.objects:
            key, item = object_key(oid), object_value(oid, data)
            if objects.setdefault(key, item) != item:
                raise driver.fail(DeviceProtocolError,
                                  f"{what}: object {key} answered twice with different values")
        if not page.more_follows:
            return page.conformity
        if page.next_object_id <= object_id:
            raise driver.fail(DeviceProtocolError,
                              f"{what}: next object id {page.next_object_id} does not advance")
        object_id = page.next_object_id
    raise driver.fail(DeviceProtocolError, f"device identification did not end after "
                      f"{_MAX_IDENTITY_PAGES} pages")


# --- the sync client ---------------------------------------------------------------------

class GuardedModbusClient(ModbusTcpClient):
    """pymodbus's sync client that refuses any non-read before it is sent, opens its
    socket itself (so connect errors keep their cause) and remembers what it received
    for the current request (to parse FC 43 strictly and to recognise non-Modbus peers)."""

    def __init__(self, driver: "ModbusDriver") -> None:
        dev = driver.device
        self._driver = driver
        self.received = bytearray()
        self._deadline = float("inf")
        super().__init__(dev.host, port=dev.port, name=dev.name, timeout=dev.timeout,
                         retries=dev.retries, trace_pdu=self._trace_pdu)
        modbus_decode.install(self)

    def connect(self) -> bool:
        """Raises OSError (refused, unreachable, timeout) instead of returning False."""
        if self.socket is None:
            self.socket = socket.create_connection(
                (self.comm_params.host, self.comm_params.port),
                timeout=self.comm_params.timeout_connect)
        return True

    def execute(self, no_response_expected: bool, request: ModbusPDU) -> ModbusPDU:
        self._driver.guard(operation(request))
        self.received = bytearray()
        return super().execute(no_response_expected, request)

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending:  # the last point before bytes are framed and sent, retries included
            self._driver.guard(operation(pdu))
            self._driver.pace()
            self._deadline = time.monotonic() + self._driver.device.timeout
        return pdu

    def recv(self, size: int | None) -> bytes:
        """pymodbus's recv, within the attempt's deadline.  pymodbus waits the full
        timeout in every recv and looks at its deadline only after data came, so
        a peer dripping bytes stretches each attempt; an empty read once the
        deadline has passed is its timeout."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            return b""
        full = self.comm_params.timeout_connect
        self.comm_params.timeout_connect = min(full or remaining, remaining)
        try:
            data = super().recv(size)
        finally:
            self.comm_params.timeout_connect = full
        self.received += data
        return data

    def timed_out(self) -> bool:
        # A slow or cut-off reply never returns an empty recv: what tells a timeout
        # from a bad reply is that no whole frame came back.
        return not holds_a_frame(bytes(self.received))


class ModbusDriver(AsyncDriver):
    protocol: ClassVar[str] = "modbus"
    default_port: ClassVar[int] = 502
    READ_OPERATIONS: ClassVar[frozenset[Any]] = frozenset({1, 2, 3, 4, 43})

    def __init__(self, device: Device) -> None:
        super().__init__(device)
        options = device.options if device.options is not None else ModbusOptions()
        if not isinstance(options, ModbusOptions):
            raise ConfigError("options are not Modbus options", device=device.name, field="protocol")
        self.options: ModbusOptions = options
        self._client: GuardedModbusClient | None = None
        self._aclient: GuardedAsyncModbusClient | None = None

    @classmethod
    def parse_options(cls, table: Mapping[str, Any], *, file: str | None, device: str) -> ModbusOptions:
        return parse_options(table, file=file, device=device)

    # --- sync path ---------------------------------------------------------------
    def connect(self) -> GuardedModbusClient:
        """The connected, read-only client.  Raises a DeviceError subclass."""
        if self._client is None:
            self._client = GuardedModbusClient(self)
        try:
            self._client.connect()
        except _TRANSLATED as exc:
            raise self.translate(exc, "connect", self._client) from exc
        except ValueError as exc:  # an unencodable host name (IDNA label too long, NUL...)
            raise self._bad_host(exc) from exc
        return self._client

    def _bad_host(self, exc: ValueError) -> DeviceError:
        return self.fail(DeviceUnreachableError, f"cannot resolve host {self.device.host!r}: {exc}")

    def live_sockets(self) -> list[socket.socket]:
        client = self._client
        sock = client.socket if client is not None else None
        return [sock] if isinstance(sock, socket.socket) else []

    def close(self) -> None:
        """Close either client.  An async client's transport finishes closing on its
        event loop; ``aclose`` waits for that."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except OSError:
                pass  # closing a dead socket has nothing left to report
        aclient, self._aclient = self._aclient, None
        if aclient is not None:
            aclient.close()

    def collect(self, mode: Mode = Mode.DEEP, *, now: datetime | None = None) -> Capture:
        """Read identity and every declared range.  Raises a DeviceError subclass
        (never a partial capture) or ReadOnlyViolationError."""
        mode = Mode(mode)
        try:
            client = self.connect()
            steps = read_steps(self)
            try:
                step = next(steps)
                while True:
                    try:
                        reply = client.execute(False, step.request)
                    except _TRANSLATED as exc:
                        raise self.translate(exc, step.what, client) from exc
                    step = steps.send(self._answer(step, reply, client))
            except StopIteration as done:
                artifacts = done.value
        finally:
            self.close()
        return self._capture(mode, artifacts, now)

    # --- async path --------------------------------------------------------------
    async def connect_async(self) -> GuardedAsyncModbusClient:
        """The connected, read-only asyncio client (call on a running loop).
        Raises a DeviceError subclass."""
        if self._aclient is None:
            self._aclient = GuardedAsyncModbusClient(
                self.device, guard=lambda pdu: self.guard(operation(pdu)),
                reserve=self.reserve_send_slot)
        try:
            await self._aclient.connect()
        except _TRANSLATED as exc:
            raise self.translate(exc, "connect", self._aclient) from exc
        except ValueError as exc:
            raise self._bad_host(exc) from exc
        return self._aclient

    async def aclose(self) -> None:
        """Close, and let the event loop finish closing the transport."""
        aclient = self._aclient
        self.close()
        if aclient is not None:
            await aclient.closed()

    async def collect_async(self, mode: Mode = Mode.DEEP, *, now: datetime | None = None) -> Capture:
        """``collect`` on the asyncio client: the same requests, checks, capture and
        errors, without blocking the loop.  Raises a DeviceError subclass (never a
        partial capture) or ReadOnlyViolationError."""
        mode = Mode(mode)
        try:
            client = await self.connect_async()
            steps = read_steps(self)
            try:
                step = next(steps)
                while True:
                    try:
                        reply = await client.execute(False, step.request)
                    except _TRANSLATED as exc:
                        raise self.translate(exc, step.what, client) from exc
                    step = steps.send(self._answer(step, reply, client))
            except StopIteration as done:
                artifacts = done.value
        finally:
            await self.aclose()
        return self._capture(mode, artifacts, now)

    # --- shared by both paths ----------------------------------------------------
    def _capture(self, mode: Mode, artifacts: list[Artifact], now: datetime | None) -> Capture:
        return Capture(device=self.device.name, protocol=self.protocol, mode=mode,
                       captured_at=utcnow(now), artifacts=tuple(artifacts),
                       policy=self.options.policy())

    def translate(self, exc: BaseException, what: str,
                  client: RecordingClient | None = None) -> DeviceError:
        """The DeviceError for a socket or pymodbus failure while doing ``what``, most
        specific first, judged with what ``client`` (default: the open one) received."""
        client = client or self._client or self._aclient
        if client is None:
            return super().translate(exc, what)
        if isinstance(exc, (ConnectionException, ModbusIOException, OSError)):
            if not looks_like_modbus(bytes(client.received[:4])):
                preview = bytes(client.received[:24])
                return self.fail(DeviceProtocolError, f"{what}: the peer does not speak Modbus TCP "
                                 f"(it sent {preview!r})")
            if isinstance(exc, OSError):
                return self.translate_os_error(exc)
            if isinstance(exc, ConnectionException):
                return self.fail(DeviceRefusedError,
                                 f"{what}: connection closed by the device without an answer")
            if client.timed_out():
                answer = "no complete answer" if client.received else "no answer"
                return self.fail(DeviceTimeoutError,
                                 f"{what}: {answer} within {self.device.timeout:g} s "
                                 f"({self.device.retries + 1} attempts)")
            return self.fail(DeviceProtocolError, f"{what}: reply could not be decoded ({exc})")
        return self.fail(DeviceProtocolError, f"{what}: {exc}")

    def _answer(self, step: Step, reply: ModbusPDU | None, client: RecordingClient) -> Answer:
        """Check the reply is for the step's function; find the raw PDU for FC 43."""
        if reply is None or (int(reply.function_code) & 0x7F) != step.fc:
            got = None if reply is None else int(reply.function_code) & 0x7F
            raise self.fail(DeviceProtocolError, f"{step.what}: reply is for function {got}, "
                            f"not {step.fc}")
        raw = None
        if step.fc == 43:
            tid = step.request.transaction_id
            matching = [pdu for t, _unit, pdu in mbap_frames(bytes(client.received)) if t == tid]
            raw = matching[-1] if matching else None
        return Answer(reply, raw)
