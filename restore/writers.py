"""The writers: one connection per device, opened here, never through drivers/.

Each writer reports the local address of every connection it opens to the
functions in ``CONNECT_HOOKS`` before anything is sent (the test suite uses
this to mark restore traffic in its read-only ledger, as it marks attackers).
Vendor errors become ``RestoreWriteError``, naming the device and the address.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable

from integrity.errors import PlcIntegrityError
from integrity.model import Device

CONNECT_HOOKS: list[Callable[[tuple[str, int]], None]] = []
_lock = threading.Lock()
# S7 block type codes in the download request's file name ("_0" + type + number).
S7_TYPE_CODES = {"OB": 0x38, "DB": 0x41, "SDB": 0x42, "FC": 0x43, "FB": 0x45}


class RestoreWriteError(PlcIntegrityError):
    """A write was refused or failed; what was written before it stays written."""

    exit_code = 3


def _connected(sockname: tuple[str, int]) -> None:
    with _lock:
        hooks = list(CONNECT_HOOKS)
    for hook in hooks:
        hook((sockname[0], int(sockname[1])))


class ModbusWriter:
    """FC 6 / FC 16 for holding registers, FC 5 / FC 15 for coils."""

    def __init__(self, device: Device) -> None:
        from pymodbus.client import ModbusTcpClient

        self.device = device
        self.unit = int(getattr(device.options, "unit", 1))
        self._client = ModbusTcpClient(device.host, port=device.port, timeout=device.timeout,
                                       retries=0)
        try:
            self._client.socket = socket.create_connection((device.host, device.port),
                                                           timeout=device.timeout)
        except OSError as exc:
            raise RestoreWriteError(f"{device.name}: cannot connect to {device.endpoint}: "
                                    f"{exc.strerror or exc}") from exc
        _connected(self._client.socket.getsockname()[:2])

    def write(self, table: str, address: int, values: list[int]) -> None:
        c = self._client
        try:
            if table == "holding":
                rr = (c.write_register(address, values[0], device_id=self.unit) if len(values) == 1
                      else c.write_registers(address, values, device_id=self.unit))
            else:
                bits = [bool(v) for v in values]
                rr = (c.write_coil(address, bits[0], device_id=self.unit) if len(bits) == 1
                      else c.write_coils(address, bits, device_id=self.unit))
        except Exception as exc:  # noqa: BLE001 - pymodbus raises many types
            raise RestoreWriteError(f"{self.device.name}: writing {table} {address}: "
                                    f"{exc}") from exc
        if rr.isError():
            raise RestoreWriteError(f"{self.device.name}: the device refused the write of {table} "
                                    f"{address} ({rr})")

    def close(self) -> None:
        self._client.close()


class S7Writer:
    """Block download (request download, fragments, download ended), with the
    block's own type in the request: python-snap7 3.3.0's ``download`` always
    names a DB.  Uses that version's connection internals (pinned)."""

    def __init__(self, device: Device) -> None:
        from snap7.client import Client

        self.device = device
        self._client = Client()
        opts = device.options
        try:
            self._client.connect(device.host, getattr(opts, "rack", 0), getattr(opts, "slot", 2),
                                 device.port)
        except Exception as exc:  # noqa: BLE001 - snap7 raises its own and OSError
            raise RestoreWriteError(f"{device.name}: cannot connect to {device.endpoint}: "
                                    f"{exc}") from exc
        conn = self._client.connection
        if conn is None or conn.socket is None:
            raise RestoreWriteError(f"{device.name}: no connection")
        _connected(conn.socket.getsockname()[:2])

    def download(self, block_type: str, number: int, image: bytes) -> None:
        c = self._client
        try:
            conn = c._get_connection()  # noqa: SLF001
            with c._reconnect_lock:  # noqa: SLF001
                code = S7_TYPE_CODES[block_type]
                request = c.protocol.build_download_request(code, number, image)
                response = c._send_receive(request)  # noqa: SLF001
                if response.get("raw_parameters") != bytes((0x1A,)):
                    raise RestoreWriteError(f"{self.device.name}: the CPU refused the download "
                                            f"of {block_type} {number}")
                offset, size = 0, c.pdu_length - 18
                while True:
                    sequence = _service_request(conn.receive_data(), 0x1B, code, number)
                    fragment = image[offset:offset + size]
                    offset += len(fragment)
                    last = offset >= len(image)
                    c._send_data(conn, c.protocol.build_download_fragment_response(  # noqa: SLF001
                        sequence, last, fragment))
                    if last:
                        break
                sequence = _service_request(conn.receive_data(), 0x1C, code, number)
                ended = c.protocol.build_download_ended_response(sequence)
                c._send_data(conn, ended)  # noqa: SLF001
            # The CPU takes the block when it reads that last answer; one more request
            # on this connection returns only after that, so a verify made next sees it.
            # An SZL read of the mode, not get_cpu_state(): snap7 3.3.0's is a READ_VAR of an
            # area a CPU may answer with an item error (docs/protocols.md).
            c.read_szl(0x0424, 0)
        except RestoreWriteError:
            raise
        except Exception as exc:  # noqa: BLE001 - snap7 raises its own, struct and OSError
            raise RestoreWriteError(f"{self.device.name}: download of {block_type} {number} "
                                    f"failed: {exc}") from exc

    def close(self) -> None:
        try:
            self._client.disconnect()
        except Exception:  # noqa: BLE001 - closing a dead connection has nothing to report
            pass


def _service_request(pdu: bytes, function: int, type_code: int, number: int) -> int:
    """The sequence number of the CPU's DOWNLOAD_BLOCK (0x1B) or DOWNLOAD_ENDED (0x1C)
    request for our block (snap7's own parser accepts only DBs)."""
    address = b"_0" + bytes((type_code,)) + f"{number:05d}".encode("ascii") + b"P"
    if len(pdu) != 28 or pdu[:2] != b"\x32\x01" or pdu[10] != function or pdu[18] != 9 \
            or pdu[19:] != address:
        raise RestoreWriteError(f"unexpected request from the CPU during the download: {pdu.hex()}")
    return int.from_bytes(pdu[4:6], "big")


class LogixWriter:
    """pycomm3 Write Tag, one tag (or member, or element) at a time."""

    def __init__(self, device: Device) -> None:
        from pycomm3 import LogixDriver
        from pycomm3.socket_ import Socket

        class _HookedSocket(Socket):
            def connect(self, host: str, port: int) -> None:
                super().connect(host, port)
                _connected(self.sock.getsockname())  # connected, nothing sent yet

        self.device = device
        slot = getattr(device.options, "slot", 0)
        self._plc = LogixDriver(f"{device.host}:{device.port}/{slot}", init_program_tags=True)
        self._plc._sock = _HookedSocket(device.timeout)  # noqa: SLF001
        try:
            opened = self._plc.open()
        except Exception as exc:  # noqa: BLE001 - pycomm3 raises its own and OSError
            raise RestoreWriteError(f"{device.name}: cannot open a session: {exc}") from exc
        if not opened:
            raise RestoreWriteError(f"{device.name}: cannot open a session")

    def write(self, tag: str, value: Any) -> None:
        try:
            result = self._plc.write(tag, value)
        except Exception as exc:  # noqa: BLE001
            raise RestoreWriteError(f"{self.device.name}: writing {tag}: {exc}") from exc
        if result.error:
            raise RestoreWriteError(f"{self.device.name}: the controller refused the write of "
                                    f"{tag}: {result.error}")

    def close(self) -> None:
        try:
            self._plc.close()
        except Exception:  # noqa: BLE001
            pass

