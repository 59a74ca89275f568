"""A simulated Modbus TCP device: pymodbus 3.16.1's ModbusTcpServer serving one image.

Device image (JSON), all keys but ``name`` and ``protocol`` optional::

    {
      "name": "vfd-hoist", "protocol": "modbus",
      "unit": 1,                                  # the only unit id served (default 1)
      "identity": {"vendor_name": "...", "product_code": "...", "major_minor_revision": "...",
                   "vendor_url": "...", "product_name": "...", "model_name": "...",
                   "user_application_name": "..."},   # or null: FC 43/14 answers exception 1
      "holding":  {"start": 0, "values": [0..65535, ...]},  # or a list of such blocks (gaps
      "input":    {"start": 0, "values": [...]},            #   between blocks are unreadable)
      "coils":    {"start": 0, "values": [0, 1, ...]},
      "discrete": {"start": 0, "values": [...]},
      "inventory": {"holding": ["0-1999"]},       # extra keys for inventory_entry()
      "labels": {"holding/10": "acceleration time, 0.1 s"}  # documentation only
    }

Identity strings are encoded as latin-1, so every byte 0x00-0xFF can be written
and is served byte-exact.  Addresses outside the blocks answer exception 2, like
a real device; writes (FC 5, 6, 15, 16, 22, 23) change the served values, so a
test can play the attacker with ``attacker_write_register``.

Why this is more than a bare ModbusTcpServer (pymodbus 3.16.1 specifics):
- FC 43/14 identity is process-global in pymodbus (a ModbusControlBlock
  singleton): several simulators in one process would all answer with the last
  identity built.  A per-server ``trace_pdu`` hook swaps the decoded request for
  one that answers from this image.
- Every request is recorded from the raw bytes each connection consumed, so
  function codes pymodbus cannot decode are recorded too, with the client's
  address (the trace hooks do not carry it; the connection handler does).
- The data store is our own small one (exact gaps in every table, a
  consistent snapshot, thread-safe setters), installed in place of the
  SimCore the server builds; the PDUs only call async_getValues/async_setValues.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

from pymodbus.client import ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.mei_message import ReadDeviceInformationRequest, ReadDeviceInformationResponse
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from simulators.base import Simulator, mark_attacker

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

TABLES = ("holding", "input", "coils", "discrete")
BIT_TABLES = ("coils", "discrete")
IDENTITY_OBJECTS = {"vendor_name": 0x00, "product_code": 0x01, "major_minor_revision": 0x02,
                    "vendor_url": 0x03, "product_name": 0x04, "model_name": 0x05,
                    "user_application_name": 0x06}
# Function code -> table, as a real device maps them (FC 22 mask write, 23 read/write).
_FC_TABLE = {1: "coils", 5: "coils", 15: "coils", 2: "discrete", 4: "input",
             3: "holding", 6: "holding", 16: "holding", 22: "holding", 23: "holding"}
READ_FUNCTIONS = frozenset({1, 2, 3, 4})
_IMAGE_KEYS = {"name", "protocol", "unit", "identity", "inventory", "labels", *TABLES}


def _blocks(image: dict[str, Any], table: str) -> list[tuple[int, list[int]]]:
    """Validate one table of an image; return its blocks sorted by start."""
    raw = image.get(table)
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    top = 1 if table in BIT_TABLES else 0xFFFF
    blocks = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"start", "values"}:
            raise ValueError(f"image {image['name']}: {table} block must be {{start, values}}")
        start, values = item["start"], item["values"]
        if not isinstance(start, int) or not isinstance(values, list) or not values:
            raise ValueError(f"image {image['name']}: {table} needs an int start and values")
        if not all(isinstance(v, int) and 0 <= v <= top for v in values):
            raise ValueError(f"image {image['name']}: {table} values must be ints 0..{top}")
        if start < 0 or start + len(values) > 0x10000:
            raise ValueError(f"image {image['name']}: {table} block outside 0..65535")
        blocks.append((start, [int(v) for v in values]))
    blocks.sort()
    for (s1, v1), (s2, _) in zip(blocks, blocks[1:]):
        if s1 + len(v1) > s2:
            raise ValueError(f"image {image['name']}: {table} blocks overlap at {s2}")
    return blocks


def _identity(image: dict[str, Any]) -> dict[int, bytes] | None:
    raw = image.get("identity")
    if raw is None:
        return None
    unknown = set(raw) - set(IDENTITY_OBJECTS)
    if unknown:
        raise ValueError(f"image {image['name']}: unknown identity keys {sorted(unknown)}")
    return {IDENTITY_OBJECTS[k]: v.encode("latin-1") for k, v in raw.items()}


class _Store:
    """The four tables of one unit.  The server's event loop and the test thread
    both touch it, hence the lock; values are kept per address so gaps stay gaps."""

    def __init__(self, unit: int, tables: dict[str, list[tuple[int, list[int]]]]) -> None:
        self.unit = unit
        self._lock = threading.Lock()
        self._cells: dict[str, dict[int, int]] = {
            t: {s + i: v for s, vals in tables.get(t, []) for i, v in enumerate(vals)}
            for t in TABLES}

    def device_ids(self) -> list[int]:
        return [self.unit]

    def _table(self, device_id: int, func_code: int) -> dict[int, int]:
        if device_id != self.unit:
            # The request handler turns this into exception 0x0B, as a gateway would.
            raise NoSuchIdException(f"unit {device_id} not served")
        return self._cells[_FC_TABLE[func_code]]

    def get(self, table: str, address: int, count: int) -> list[int] | None:
        with self._lock:
            cells = self._cells[table]
            if any(a not in cells for a in range(address, address + count)):
                return None
            return [cells[a] for a in range(address, address + count)]

    def set(self, table: str, address: int, values: list[int]) -> bool:
        with self._lock:
            cells = self._cells[table]
            if any(a not in cells for a in range(address, address + len(values))):
                return False
            for i, v in enumerate(values):
                cells[address + i] = int(v)
            return True

    def blocks(self, table: str) -> list[dict[str, Any]]:
        with self._lock:
            addresses = sorted(self._cells[table])
            out: list[dict[str, Any]] = []
            for a in addresses:
                if out and out[-1]["start"] + len(out[-1]["values"]) == a:
                    out[-1]["values"].append(self._cells[table][a])
                else:
                    out.append({"start": a, "values": [self._cells[table][a]]})
            return out

    # The interface pymodbus PDUs call (ModbusPDU.datastore_update).
    async def async_getValues(self, device_id: int, func_code: int, address: int,  # noqa: N802
                              count: int = 1) -> list[int] | list[bool] | ExcCodes:
        table = _FC_TABLE[func_code]
        self._table(device_id, func_code)
        values = self.get(table, address, count)
        if values is None:
            return ExcCodes.ILLEGAL_ADDRESS
        return [bool(v) for v in values] if table in BIT_TABLES else values

    async def async_setValues(self, device_id: int, func_code: int, address: int,  # noqa: N802
                              values: list[int] | list[bool]) -> ExcCodes | None:
        table = _FC_TABLE[func_code]
        self._table(device_id, func_code)
        if not isinstance(values, list):
            values = [values]
        if not self.set(table, address, [int(v) for v in values]):
            return ExcCodes.ILLEGAL_ADDRESS
        return None


class _OwnIdentityRequest(ReadDeviceInformationRequest):
    """FC 43/14 answered from one simulator's identity instead of pymodbus's global one."""

    def __init__(self, sim: "ModbusSimulator", request: ReadDeviceInformationRequest) -> None:
        super().__init__(request.read_code, request.object_id, dev_id=request.dev_id,
                         transaction_id=request.transaction_id)
        self._sim = sim

    async def datastore_update(self, context: Any, device_id: int) -> ModbusPDU:
        identity = self._sim._identity
        if device_id != self._sim.unit:
            return ExceptionResponse(self.function_code, ExcCodes.GATEWAY_NO_RESPONSE)
        if identity is None:
            return ExceptionResponse(self.function_code, ExcCodes.ILLEGAL_FUNCTION)
        last = {1: 0x02, 2: 0x06, 3: 0x06, 4: self.object_id}.get(self.read_code)
        if last is None or (self.read_code == 4 and self.object_id not in identity):
            return ExceptionResponse(self.function_code, ExcCodes.ILLEGAL_ADDRESS)
        # A start object beyond the category restarts at 0, as the spec asks.
        first = self.object_id if self.object_id <= last else 0
        info = {oid: identity.get(oid, b"") for oid in range(first, last + 1)
                if oid in identity or oid <= 0x02}
        return ReadDeviceInformationResponse(read_code=self.read_code, information=info,
                                             dev_id=device_id, transaction_id=self.transaction_id)


class _RecordingHandler(ServerRequestHandler):
    """One client connection: records every frame it consumed before it is answered."""

    _sim: "ModbusSimulator"
    _garbage_seen = False

    def callback_data(self, data: bytes, addr: tuple | None = None) -> int:
        used = super().callback_data(data, addr)
        peer = self._peer()
        if used:
            self._sim._record_frames(peer, data[:used])
        elif len(data) >= 8 and data[2:4] != b"\x00\x00" and not self._garbage_seen:
            # Not Modbus TCP at all (protocol id != 0): pymodbus never consumes it.
            self._garbage_seen = True
            self._sim.record(peer, "invalid-frame", False, data[:16].hex())
        return used

    async def handle_request(self) -> None:
        # asyncio.sleep, not time.sleep: the event loop keeps serving other connections.
        if self._sim.latency:
            await asyncio.sleep(self._sim.latency)
        await super().handle_request()

    def _peer(self) -> tuple[str, int] | None:
        transport = getattr(self, "transport", None)
        peer = transport.get_extra_info("peername") if transport else None
        return (peer[0], int(peer[1])) if peer else None


class _ImageServer(ModbusTcpServer):
    def __init__(self, sim: "ModbusSimulator", store: _Store) -> None:
        # The placeholder device only satisfies the constructor; _Store replaces it.
        placeholder = SimDevice(sim.unit, simdata=SimData(0, values=[0], datatype=DataType.REGISTERS))
        super().__init__(placeholder, address=(sim.host, sim.port), trace_pdu=sim._trace_pdu)
        self.context = store  # type: ignore[assignment]
        self._sim = sim

    def callback_new_connection(self) -> ServerRequestHandler:
        handler = _RecordingHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)
        handler._sim = self._sim
        return handler


class ModbusSimulator(Simulator):
    """A Modbus TCP drive/PLC serving one image; see the module docstring for the image."""

    protocol = "modbus"

    def __init__(self, image: dict[str, Any], *, host: str = "127.0.0.1", port: int = 0,
                 latency: float = 0.0) -> None:
        super().__init__(image, host=host, port=port, latency=latency)
        unknown = set(image) - _IMAGE_KEYS
        if unknown:
            raise ValueError(f"image {self.name}: unknown keys {sorted(unknown)}")
        self.unit = int(image.get("unit", 1))
        if not 0 <= self.unit <= 255:
            raise ValueError(f"image {self.name}: unit must be 0..255")
        self._identity = _identity(image)
        self._store = _Store(self.unit, {t: _blocks(image, t) for t in TABLES})
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._shared: Any = None  # the serving future when started on a shared loop

    # --- lifecycle -------------------------------------------------------
    def start_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Listen on ``loop``, an event loop another thread runs, and return.

        Many simulators can share one loop (and one thread): a benchmark fleet
        of thousands of drives then needs no thread per device.  ``stop`` works
        as after ``start``.  Raises RuntimeError when the server cannot start."""
        if self._thread is not None or self._shared is not None:
            return
        self._ready.clear()
        self._loop = loop
        self._shared = asyncio.run_coroutine_threadsafe(self._serve(), loop)
        self._shared.add_done_callback(lambda _f: self._ready.set())  # failed: wake up too
        if not self._ready.wait(10):
            self.stop()
            raise RuntimeError(f"modbus simulator {self.name} did not start on the shared loop")
        if self._shared.done() and self._shared.exception() is not None:
            error, self._shared = self._shared.exception(), None
            raise RuntimeError(f"modbus simulator {self.name} did not start: {error}")

    def start(self) -> None:
        """Listen and return; raises RuntimeError when the server cannot start."""
        if self._thread is not None:
            return
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"modbus-sim-{self.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            self.stop()
            raise RuntimeError(f"modbus simulator {self.name} did not start: {self._error}")

    def stop(self) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if self._shared is not None:
            shared, self._shared = self._shared, None
            if loop is not None and stopping is not None and not loop.is_closed():
                loop.call_soon_threadsafe(stopping.set)
                try:
                    shared.result(10)
                except Exception:  # noqa: BLE001 - stopping is best effort, as for a thread
                    pass
            return
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:
                pass  # the loop already ended
        thread.join(10)
        self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(); never lost in the thread
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        # Server objects need a running loop: build them here, in the thread.
        self._stopping = asyncio.Event()
        server = _ImageServer(self, self._store)
        await server.serve_forever(background=True)
        self.port = server.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            for handler in list(server.active_connections.values()):
                handler.close()
            await server.shutdown()

    # --- hooks (event-loop thread) ----------------------------------------
    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending and isinstance(pdu, ReadDeviceInformationRequest):
            return _OwnIdentityRequest(self, pdu)
        return pdu

    def _record_frames(self, peer: tuple[str, int] | None, data: bytes) -> None:
        """Record each MBAP frame in ``data`` by its function code."""
        pos = 0
        while pos + 8 <= len(data):
            length = int.from_bytes(data[pos + 4:pos + 6], "big")
            frame = data[pos:pos + 6 + length]
            fc = frame[7]
            if fc == 43:
                mei = frame[8] if len(frame) > 8 else None
                read = mei == 14
                detail = f"unit={frame[6]} mei={mei}"
            elif fc in READ_FUNCTIONS and len(frame) >= 12:
                read = True
                detail = (f"unit={frame[6]} address={int.from_bytes(frame[8:10], 'big')}"
                          f" count={int.from_bytes(frame[10:12], 'big')}")
            else:
                read = fc in READ_FUNCTIONS
                detail = f"unit={frame[6]} pdu={frame[7:39].hex()}"
            self.record(peer, f"FC{fc}", read, detail)
            pos += 6 + max(length, 2)

    # --- state -------------------------------------------------------------
    def snapshot_image(self) -> dict[str, Any]:
        """The current state as an image (same format), e.g. for a restore drill."""
        image: dict[str, Any] = {"name": self.name, "protocol": "modbus", "unit": self.unit}
        image["identity"] = None if self._identity is None else {
            k: self._identity[oid].decode("latin-1")
            for k, oid in IDENTITY_OBJECTS.items() if oid in self._identity}
        for table in TABLES:
            blocks = self._store.blocks(table)
            if blocks:
                image[table] = blocks[0] if len(blocks) == 1 else blocks
        for key in ("inventory", "labels"):
            if key in self.image:
                image[key] = self.image[key]
        return image

    def values(self, table: str, address: int, count: int = 1) -> list[int]:
        """Current values (bits as 0/1); raises KeyError for an undefined address."""
        got = self._store.get(table, address, count)
        if got is None:
            raise KeyError(f"{self.name}: {table} {address}+{count} not defined")
        return got

    def _set(self, table: str, address: int, values: list[int]) -> None:
        if not self._store.set(table, address, list(values)):
            raise KeyError(f"{self.name}: {table} {address}+{len(values)} not defined")

    def set_holding(self, address: int, values: list[int]) -> None:
        self._set("holding", address, values)

    def set_input(self, address: int, values: list[int]) -> None:
        """Simulate live process values changing (speed, current...)."""
        self._set("input", address, values)

    def set_coils(self, address: int, values: list[int]) -> None:
        self._set("coils", address, values)

    def set_discrete(self, address: int, values: list[int]) -> None:
        self._set("discrete", address, values)

    def inventory_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "protocol": "modbus", "host": self.host,
                                 "port": self.port, "unit": self.unit}
        entry.update(self.image.get("inventory", {"holding": ["0-1999"]}))
        return entry


# --- the attacker (tests and the demo only; never used by drivers) ----------------

def _attacker_client(host: str, port: int, timeout: float) -> ModbusTcpClient:
    client = ModbusTcpClient(host, port=port, timeout=timeout, retries=0)
    # Connect ourselves so the local address is known, and marked, before any write.
    client.socket = socket.create_connection((host, port), timeout=timeout)
    mark_attacker(client.socket.getsockname()[:2])
    return client


def attacker_write_register(host: str, port: int, unit: int, address: int, value: int,
                            *, timeout: float = 3.0) -> None:
    """Write one holding register (FC 6) as an attacker would.  Raises RuntimeError
    when the device refuses it."""
    client = _attacker_client(host, port, timeout)
    try:
        rr = client.write_register(address, value, device_id=unit)
    finally:
        client.close()
    if rr.isError():
        raise RuntimeError(f"write of holding {address} refused: {rr}")


def attacker_write_coil(host: str, port: int, unit: int, address: int, value: bool,
                        *, timeout: float = 3.0) -> None:
    """Write one coil (FC 5) as an attacker would.  Raises RuntimeError when refused."""
    client = _attacker_client(host, port, timeout)
    try:
        rr = client.write_coil(address, value, device_id=unit)
    finally:
        client.close()
    if rr.isError():
        raise RuntimeError(f"write of coil {address} refused: {rr}")
