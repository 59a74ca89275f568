"""A read-only S7 session: the only way the S7 driver talks to a CPU.

It holds python-snap7 3.3.0's ISO-on-TCP connection and its request builders,
never a ``snap7.Client``: nothing but the reads below is reachable from here, so
no download, delete, write, control, clock-set or password call can be made by
mistake.  Every request passes the driver's guard twice: the operation name must
be a read, and the request bytes built for it must carry a read function code
(REQUEST 0xF0/0x1D/0x1E/0x1F, USERDATA block-info 3/1..3 and SZL 4/1), so a
wrong builder under a read name is refused as well.  Both checks happen before
anything is sent.

Why not the Client: it hard-codes a 5 s connect timeout, its ``read_szl`` raises
RuntimeError on a refusal, its block info loses the dates, its SZL parsers read
the header as data, and its reconnect does not cover uploads.

snap7 and socket errors are translated by the driver (``Driver.translate``), with
``raise ... from``; the CPU's own refusals here, by their S7 error code.
"""

from __future__ import annotations

import socket
import struct
import time

from snap7.connection import ISOTCPConnection
from snap7.error import S7ConnectionError, S7Error, S7ProtocolError, S7TimeoutError
from snap7.s7protocol import S7Protocol

from drivers.base import Driver
from drivers.s7_errors import ACCESS_DENIED, MISSING_BLOCK, describe
from integrity.errors import (
    DeviceAccessDeniedError,
    DeviceError,
    DeviceIncompleteError,
    DeviceProtocolError,
    DeviceRefusedError,
    ReadOnlyViolationError,
)

BLOCK_CODES = {"OB": 0x38, "DB": 0x41, "SDB": 0x42, "FC": 0x43, "SFC": 0x44, "FB": 0x45, "SFB": 0x46}

# operation -> what its request must look like on the wire
_WIRE: dict[str, tuple[int, int, int]] = {
    # (pdu type, function code or USERDATA group, USERDATA subfunction or -1)
    "setup_communication": (0x01, 0xF0, -1),
    "start_upload": (0x01, 0x1D, -1),
    "upload": (0x01, 0x1E, -1),
    "end_upload": (0x01, 0x1F, -1),
    "list_blocks": (0x07, 3, 1),
    "list_blocks_of_type": (0x07, 3, 2),
    "get_block_info": (0x07, 3, 3),
    "read_szl": (0x07, 4, 1),
}
READ_OPERATIONS = frozenset(_WIRE)

MAX_FRAGMENTS = 1000  # an upload of a 65 kB block at PDU 240 needs ~300
RECV_SIZE = 65536
# How far past its deadline a receive may run rather than reset the socket's timeout
# before every request (a system call each): nothing a peer can stretch.
DEADLINE_SLACK = 0.005


class DeadlineConnection(ISOTCPConnection):
    """snap7's ISO-on-TCP connection with one deadline per request.

    snap7 applies its timeout to each ``recv`` call, so a peer that announces a
    large reply and then sends a byte now and then keeps a request waiting for
    ever.  Here every receive of one request (or of the connection set-up)
    shares the deadline set before it: past it, S7TimeoutError, however much
    has arrived.

    And cheaper per PDU than snap7's own: one ``recv`` takes whatever has
    arrived (a whole reply, usually; snap7 asks for the 4-byte TPKT header and
    the rest separately), bytes past the PDU wait in ``_surplus`` for the next
    one, the socket timeout is touched only when it would let a receive run more
    than ``DEADLINE_SLACK`` past the deadline (or end before it), and no debug
    line is formatted per PDU (snap7 hex-dumps every frame into an f-string
    whether debug logging is on or not).
    """

    deadline: float | None = None
    _surplus = b""
    _armed = -1.0  # the socket's timeout as last set here (-1: not yet)

    def send_data(self, data: bytes) -> None:
        """snap7's send, without its per-frame debug dump.  Called only by
        ``S7Session._exchange``, after ``_check_read`` passed the request through the
        driver's guard and matched its wire shape to the read it names."""
        if not self.connected or self.socket is None:
            raise S7ConnectionError("Not connected")
        try:
            self.socket.sendall(self._build_tpkt(self._build_cotp_dt(data)))
        except OSError as exc:
            self.connected = False
            raise S7ConnectionError(f"Send failed: {exc}") from exc

    def receive_data(self) -> bytes:
        if not self.connected:
            raise S7ConnectionError("Not connected")
        version, _, length = struct.unpack(">BBH", self._recv_exact(4))
        if version != 3:
            raise S7ConnectionError(f"Invalid TPKT version: {version}")
        if length < 7:
            raise S7ConnectionError("Invalid TPKT length")
        return self._parse_cotp_data(self._recv_exact(length - 4))

    def _recv_exact(self, size: int) -> bytes:
        if self.socket is None:
            raise S7ConnectionError("Socket not initialized")
        data = self._surplus
        while len(data) < size:
            remaining = self.timeout if self.deadline is None else self.deadline - time.monotonic()
            if remaining <= 0:
                self.connected = False
                raise S7TimeoutError(f"Receive timeout ({len(data)} of {size} bytes received)")
            wait = min(remaining, self.timeout)
            try:
                if not wait <= self._armed <= wait + DEADLINE_SLACK:
                    # A little over ``wait`` (never over the timeout): the next
                    # requests' first receives then fit it as they are.
                    self._armed = min(wait + DEADLINE_SLACK / 2, self.timeout)
                    self.socket.settimeout(self._armed)
                chunk = self.socket.recv(RECV_SIZE)
            except socket.timeout:
                self.connected = False
                raise S7TimeoutError("Receive timeout") from None
            except OSError as exc:
                self.connected = False
                raise S7ConnectionError(f"Receive error: {exc}") from exc
            if not chunk:
                self.connected = False
                raise S7ConnectionError("Connection closed by peer")
            data += chunk
        self._surplus = data[size:]
        return data[:size]


def wire_shape(request: bytes) -> tuple[int, int, int]:
    """(pdu type, function or group, subfunction) of a request PDU."""
    if len(request) < 11 or request[0] != 0x32:
        return (-1, -1, -1)
    if request[1] == 0x07:
        if len(request) < 17:
            return (0x07, -1, -1)
        return (0x07, request[15] & 0x0F, request[16])
    return (request[1], request[10], -1)


class S7Session:
    """One ISO-on-TCP connection to one CPU at ``rack``/``slot``, opened by ``connect``.

    ``driver`` is the owner's guard, pacing, error naming and translation
    (``drivers.base.Driver``): the session knows nothing of the S7 driver itself.
    """

    def __init__(self, driver: Driver, rack: int, slot: int) -> None:
        self.driver = driver
        self.device = driver.device
        self.rack, self.slot = rack, slot
        self.conn: ISOTCPConnection | None = None
        self.protocol = S7Protocol()
        self.pdu_length = 480

    # -- connection -------------------------------------------------------
    def connect(self) -> None:
        """Open TCP, the COTP handshake and S7 setup, each bounded by Device.timeout.

        ``ISOTCPConnection.connect(timeout=...)`` is given the device timeout
        (snap7's Client always passes its 5 s default), and the socket keeps it
        for every later receive.
        """
        remote_tsap = (1 << 8) | (self.rack << 5) | self.slot  # PG connection, rack, slot
        conn = DeadlineConnection(self.device.host, self.device.port, local_tsap=0x0100,
                                  remote_tsap=remote_tsap)
        self.conn = conn
        self.protocol = S7Protocol()
        # One deadline for TCP, COTP and the S7 set-up together.
        conn.deadline = time.monotonic() + self.device.timeout
        try:
            conn.connect(timeout=self.device.timeout)
        except (S7Error, OSError) as exc:
            raise self.driver.translate(exc, "connecting") from exc
        reply = self._exchange("setup_communication", self.protocol.build_setup_communication_request(
            max_amq_caller=1, max_amq_callee=1, pdu_length=480), new_deadline=False)
        params = reply.get("parameters") or {}
        pdu = params.get("pdu_length", 0)
        if not 64 <= pdu <= 8192:
            raise self.driver.fail(DeviceProtocolError,
                                   f"S7 setup communication gave an implausible PDU length {pdu}")
        self.pdu_length = pdu

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.disconnect()  # never raises: snap7 swallows socket errors here

    # -- the exchange -----------------------------------------------------
    def _check_read(self, operation: str, request: bytes) -> None:
        self.driver.guard(operation)
        if wire_shape(request) != _WIRE[operation]:
            raise ReadOnlyViolationError(
                f"s7 driver refused to send a request shaped {wire_shape(request)} as {operation!r} "
                f"to {self.device.name}: it is not the read that operation names")

    def _exchange(self, operation: str, request: bytes, what: str = "", *,
                  new_deadline: bool = True) -> dict:
        """Send one guarded request, return snap7's parsed reply, all of it within
        Device.timeout (``new_deadline=False``: within the deadline already set).

        Raises DeviceIncompleteError (0xD209), DeviceAccessDeniedError
        (protection), DeviceProtocolError (other refusals, malformed replies),
        DeviceTimeoutError, DeviceRefusedError.
        """
        self._check_read(operation, request)
        doing = f"{operation.replace('_', ' ')}{' ' + what if what else ''}"
        if self.conn is None or not self.conn.connected:
            raise self.driver.fail(DeviceRefusedError, f"not connected while {doing}")
        self.driver.pace()
        if new_deadline:
            self.conn.deadline = time.monotonic() + self.device.timeout
        try:
            self.conn.send_data(request)
            raw = self.conn.receive_data()
        except (S7Error, OSError) as exc:
            raise self.driver.translate(exc, doing) from exc
        code = self._error_code(raw, request, doing)
        if code:
            raise self._refusal(code, doing)
        try:
            return self.protocol.parse_response(raw)
        except S7ProtocolError as exc:
            raise self.driver.fail(DeviceProtocolError, f"malformed S7 reply while {doing}: {exc}") from exc

    def _error_code(self, raw: bytes, request: bytes, doing: str) -> int:
        """The S7 error code carried by a reply (header or USERDATA parameters), 0 if none."""
        if len(raw) < 10 or raw[0] != 0x32:
            raise self.driver.fail(DeviceProtocolError, f"reply while {doing} is not an S7 PDU")
        if raw[4:6] != request[4:6]:
            raise self.driver.fail(DeviceProtocolError,
                                   f"reply while {doing} answers another request (PDU reference)")
        if raw[1] in (0x02, 0x03):
            return struct.unpack(">H", raw[10:12])[0] if len(raw) >= 12 else 0
        if raw[1] == 0x07:
            param_len = struct.unpack(">H", raw[6:8])[0]
            if param_len >= 12 and len(raw) >= 22:
                return struct.unpack(">H", raw[20:22])[0]
        return 0

    def _refusal(self, code: int, doing: str) -> DeviceError:
        if code == MISSING_BLOCK:
            return self.driver.fail(DeviceIncompleteError,
                                    f"{doing}: the CPU says the block does not exist (0x{code:04X})")
        if code in ACCESS_DENIED:
            return self.driver.fail(DeviceAccessDeniedError, f"{doing}: {describe(code)}")
        return self.driver.fail(DeviceProtocolError, f"{doing}: the CPU refused: {describe(code)}")

    def _userdata(self, operation: str, request: bytes, what: str = "") -> bytes:
        """A USERDATA read, following 'more data' fragments; returns the joined data."""
        reply = self._exchange(operation, request, what)
        data = bytearray()
        for _ in range(MAX_FRAGMENTS):
            info = reply.get("data") or {}
            if info.get("return_code") != 0xFF:
                raise self.driver.fail(DeviceProtocolError,
                                       f"{operation} {what}: CPU returned code 0x{info.get('return_code', 0):02X}")
            data += info.get("data", b"")
            params = reply.get("parameters") or {}
            if params.get("last_data_unit", 0) == 0:
                return bytes(data)
            followup = self.protocol.build_userdata_followup_request(
                params.get("group", 0), params.get("subfunction", 0), params.get("sequence_number", 0))
            reply = self._exchange(operation, followup, what)
        raise self.driver.fail(DeviceProtocolError, f"{operation} {what}: too many fragments")

    # -- the reads ----------------------------------------------------------
    def read_szl(self, szl_id: int, index: int = 0) -> bytes:
        """SZL answer from its ID on: ID, index, LENTHDR, N_DR, records."""
        return self._userdata("read_szl", self.protocol.build_read_szl_request(szl_id, index),
                              f"SZL 0x{szl_id:04X}")

    def list_blocks(self) -> dict[str, int]:
        data = self._userdata("list_blocks", self.protocol.build_list_blocks_request())
        if len(data) % 4:
            raise self.driver.fail(DeviceProtocolError, "block count list is not 4-byte entries")
        names = {v: k for k, v in BLOCK_CODES.items()}
        counts: dict[str, int] = {}
        for off in range(0, len(data), 4):
            marker, code, count = struct.unpack(">BBH", data[off:off + 4])
            if marker != 0x30 or code not in names:
                raise self.driver.fail(DeviceProtocolError, f"block count entry {data[off:off+4].hex()}")
            counts[names[code]] = count
        return counts

    def list_blocks_of_type(self, block_type: str) -> list[int]:
        data = self._userdata("list_blocks_of_type", self.protocol.build_list_blocks_of_type_request(
            BLOCK_CODES[block_type]), block_type)
        if len(data) % 4:
            raise self.driver.fail(DeviceProtocolError, f"{block_type} list is not 4-byte entries")
        return [struct.unpack(">H", data[o:o + 2])[0] for o in range(0, len(data), 4)]

    def block_info(self, block_type: str, number: int) -> bytes:
        return self._userdata("get_block_info", self.protocol.build_get_block_info_request(
            BLOCK_CODES[block_type], number), f"{block_type} {number}")

    def full_upload(self, block_type: str, number: int) -> bytes:
        """Start upload, upload fragments, end upload: the whole load-memory image."""
        what = f"{block_type} {number}"
        reply = self._exchange("start_upload", self.protocol.build_start_upload_request(
            BLOCK_CODES[block_type], number), what)
        try:
            upload_id = self.protocol.parse_start_upload_response(reply)["upload_id"]
        except S7ProtocolError as exc:
            raise self.driver.fail(DeviceProtocolError, f"start upload {what}: {exc}") from exc
        image = bytearray()
        for index in range(MAX_FRAGMENTS):
            reply = self._exchange("upload", self.protocol.build_upload_request(upload_id), what)
            try:
                fragment, last = self.protocol.parse_upload_fragment(
                    reply, first_fragment=index == 0, include_block_header=True)
            except S7ProtocolError as exc:
                raise self.driver.fail(DeviceProtocolError, f"upload {what}: {exc}") from exc
            image += fragment
            if last:
                break
        else:
            raise self.driver.fail(DeviceProtocolError, f"upload {what}: too many fragments")
        reply = self._exchange("end_upload", self.protocol.build_end_upload_request(upload_id), what)
        try:
            self.protocol.check_end_upload_response(reply)
        except S7ProtocolError as exc:
            raise self.driver.fail(DeviceProtocolError, f"end upload {what}: {exc}") from exc
        return bytes(image)
