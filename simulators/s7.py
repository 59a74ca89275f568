"""An S7-300/400 CPU on loopback that serves real load-memory block images.

``S7Simulator`` runs a subclass of python-snap7 3.3.0's ``snap7.server.Server``
(pinned: it overrides that version's private request handlers).  The stock
server models only DBs, invents block info and cannot upload OB/FC/FB/SDB; here
every block type is served from its image bytes (see simulators/s7_blocks.py),
block info is derived from those bytes, and SZL identity (0x0011, 0x001C),
protection (0x0232/0x0132 index 4) and mode (0x0424) come from the device image
file, in the record layouts a real CPU 315-2 PN/DP uses.  The protection record
carries the CPU's checksums, computed from the blocks held at the moment (so a
download changes them); an image with ``"checksums_valid": false`` (or
``checksums_valid = False``) plays a CPU that does not vouch for them.

Every request is recorded (Simulator.record) before it is answered; only
reads are ``read=True``.  A client may download a DB or write variables of the
DB, I, Q, M, T and C areas (the attacker paths; see ``attacker_download_db``,
``attacker_db_write`` and simulators/s7_vars.py): a variable write changes the
DB's values (its MC7), not its block info, as on a real CPU.  Tests change the CPU with ``set_mode``,
``set_protection``, ``replace_block``, ``remove_block``, ``flip_mc7_bit``,
``set_db_values`` and ``refuse_block``.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar, Iterator

from snap7.client import Client
from snap7.server import Server

from simulators import s7_blocks, s7_vars
from simulators.base import Simulator, mark_attacker
from simulators.s7_blocks import TYPE_CODES, Block

logging.getLogger("snap7").setLevel(logging.WARNING)

_TYPES_BY_CODE = {v: k for k, v in TYPE_CODES.items()}
MODE_CODES = {"RUN": 0x08, "STOP": 0x04, "STARTUP": 0x06, "HOLD": 0x0A}
NOT_FOUND = 0xD209
CHECKSUMS_VALID = 0x5656  # ken_rel of a CPU whose SZL 0x0232 checksums are valid
PROTECTION_REFUSAL = 0xD241
FRAGMENT = 462  # upload payload per PDU at the negotiated 480 bytes
# Bytes of each memory area of a CPU 315-2 PN/DP: 2 KB of inputs, outputs and bit
# memory; 256 timers and 256 counters of 2 bytes.  An image may set its own ("areas").
AREA_SIZES = {"I": 2048, "Q": 2048, "M": 2048, "T": 512, "C": 512}

# (pdu type, function or USERDATA group, subfunction) -> (operation, is a read)
_REQUESTS: dict[tuple[int, int], tuple[str, bool]] = {
    (0x01, 0xF0): ("setup_communication", True), (0x01, 0x04): ("read_var", True),
    (0x01, 0x05): ("write_var", False), (0x01, 0x1A): ("request_download", False),
    (0x01, 0x1B): ("download_block", False), (0x01, 0x1C): ("download_ended", False),
    (0x01, 0x1D): ("start_upload", True), (0x01, 0x1E): ("upload", True),
    (0x01, 0x1F): ("end_upload", True), (0x01, 0x28): ("plc_control", False),
    (0x01, 0x29): ("plc_stop", False),
}
_USERDATA: dict[tuple[int, int], tuple[str, bool]] = {
    (3, 1): ("list_blocks", True), (3, 2): ("list_blocks_of_type", True),
    (3, 3): ("get_block_info", True), (4, 1): ("read_szl", True),
    (7, 1): ("read_clock", True), (7, 2): ("set_clock", False),
}


def classify(pdu: bytes) -> tuple[str, bool, str]:
    """(operation, is a read, detail) of one request PDU; unknown means not a read."""
    if len(pdu) < 11 or pdu[0] != 0x32:
        return "malformed", False, pdu[:16].hex()
    if pdu[1] == 0x03:  # a client's ACK_DATA only ever answers a download
        return "download_response", False, ""
    if pdu[1] == 0x07 and len(pdu) >= 17:
        op, read = _USERDATA.get((pdu[15] & 0x0F, pdu[16]), (f"userdata:{pdu[15] & 0x0F}/{pdu[16]}", False))
        return op, read, pdu[-8:].hex() if op in ("get_block_info", "read_szl") else ""
    op, read = _REQUESTS.get((pdu[1], pdu[10]), (f"function:0x{pdu[10]:02x}", False))
    if op in ("read_var", "write_var"):
        return op, read, s7_vars.describe(pdu)
    return op, read, pdu[20:29].decode("latin-1") if op == "start_upload" and len(pdu) >= 29 else ""


def _szl(szl_records: list[bytes]) -> bytes:
    rec_len = len(szl_records[0]) if szl_records else 0
    return struct.pack(">HH", rec_len, len(szl_records)) + b"".join(szl_records)


def _text(s: str, n: int) -> bytes:
    return s.encode("latin-1")[:n].ljust(n, b"\x00")


class _CpuServer(Server):
    """snap7's server with the CPU behaviour this project needs.  Private 3.3.0 API."""

    def __init__(self, sim: "S7Simulator") -> None:
        super().__init__(log=False)
        self.sim = sim
        self._sockets: set[socket.socket] = set()

    # -- connections and recording ----------------------------------------------
    def _handle_client(self, client_socket: socket.socket, address: tuple[str, int]) -> None:
        with self.client_lock:
            self._sockets.add(client_socket)
        try:
            super()._handle_client(client_socket, address)
        finally:
            with self.client_lock:
                self._sockets.discard(client_socket)

    def drop_clients(self) -> None:
        """Shut client sockets so stop() need not wait ~1 s per connected client."""
        with self.client_lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _process_request(self, request_data: bytes, client_address: tuple[str, int]) -> bytes | None:
        op, read, detail = classify(request_data)
        self.sim.record(client_address, op, read, detail)
        if self.sim.take_drop(op):
            # snap7's client handler closes the connection on this error.
            raise ConnectionResetError(f"simulated connection loss on {op}")
        if self.sim.latency:
            # snap7 serves each client on its own thread: sleeping here delays only this client.
            time.sleep(self.sim.latency)
        if (op in ("read_var", "write_var") and request_data[1] == 0x01
                and client_address not in self._download_contexts):
            # The stock handlers know only register_area() buffers; ours serve the DB images.
            return s7_vars.answer(request_data, self.sim)
        return super()._process_request(request_data, client_address)

    # -- USERDATA: block functions and SZL -----------------------------------------
    def _build_userdata_error_response(self, request: dict[str, Any], error_code: int) -> bytes:
        # As a real CPU: the error code sits in the parameters, data is 0A 00 00 00.
        raw = request.get("raw_parameters", b"\x00" * 8)
        params = struct.pack(">BBBBBBBBBBH", 0, 1, 0x12, 8, 0x12, 0x80 | (raw[5] & 0x0F), raw[6],
                             raw[7], 0, 0, error_code)
        data = b"\x0a\x00\x00\x00"
        return struct.pack(">BBHHHH", 0x32, 0x07, 0, request.get("sequence", 0), len(params),
                           len(data)) + params + data

    def _handle_block_info(self, request: dict[str, Any], userdata_params: dict[str, Any],
                           client_address: tuple[str, int]) -> bytes:
        sub = userdata_params.get("subfunction", 0)
        raw = (request.get("data") or {}).get("data", b"")
        ok = lambda data: self._build_userdata_success_response(request, userdata_params, data)  # noqa: E731
        if sub == 1:
            counts = self.sim.block_numbers()
            return ok(b"".join(struct.pack(">BBH", 0x30, TYPE_CODES[t], len(counts[t]))
                               for t in ("OB", "FB", "FC", "DB", "SDB", "SFC", "SFB")))
        if sub == 2 and len(raw) >= 2 and raw[1] in _TYPES_BY_CODE:
            block_type = _TYPES_BY_CODE[raw[1]]
            blocks = self.sim.blocks_of(block_type)
            return ok(b"".join(struct.pack(">HBB", n, 0x22, lang) for n, lang in blocks))
        if sub == 3 and len(raw) >= 8 and raw[1] in _TYPES_BY_CODE:
            block_type, number = _TYPES_BY_CODE[raw[1]], int(raw[2:7].decode("ascii"))
            fault = self.sim.fault_for(block_type, number)
            block = self.sim.block(block_type, number)
            if fault:
                return self._build_userdata_error_response(request, fault)
            if block is None:
                return self._build_userdata_error_response(request, NOT_FOUND)
            return ok(block.info())
        return self._build_userdata_error_response(request, 0x8104)

    def _get_szl_data(self, szl_id: int, szl_index: int) -> bytes | None:
        data = self.sim.szl(szl_id, szl_index)
        return data if data is not None else super()._get_szl_data(szl_id, szl_index)

    # -- upload of any block type ----------------------------------------------------
    def _ack(self, request: dict[str, Any], params: bytes, data: bytes = b"") -> bytes:
        return struct.pack(">BBHHHHBB", 0x32, 0x03, 0, request["sequence"], len(params), len(data),
                           0, 0) + params + data

    def _handle_start_upload(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        raw = request.get("raw_parameters", b"")
        if len(raw) != 18 or raw[8] != 9 or raw[9:11] != b"_0" or raw[11] not in _TYPES_BY_CODE:
            return self._build_error_response(request, 0x8104)
        block_type, number = _TYPES_BY_CODE[raw[11]], int(raw[12:17].decode("ascii"))
        fault = self.sim.fault_for(block_type, number) or self.sim.upload_refusal()
        block = self.sim.block(block_type, number)
        if fault or block is None:
            return self._build_error_response(request, fault or NOT_FOUND)
        upload_id = 7
        self._upload_contexts[client_address] = {"upload_id": upload_id, "image": block.image,
                                                 "offset": 0}
        params = bytes((0x1D, 0, 1, 0, 0, 0, 0, upload_id, 7)) + f"{len(block.image):07d}".encode()
        return self._ack(request, params)

    def _handle_upload(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        ctx = self._upload_contexts.get(client_address)
        raw = request.get("raw_parameters", b"")
        if ctx is None or len(raw) != 8 or raw[7] != ctx["upload_id"]:
            return self._build_error_response(request, 0x8104)
        chunk = ctx["image"][ctx["offset"]:ctx["offset"] + FRAGMENT]
        ctx["offset"] += len(chunk)
        last = ctx["offset"] >= len(ctx["image"])
        return self._ack(request, bytes((0x1E, 0 if last else 1)),
                         struct.pack(">HH", len(chunk), 0x00FB) + chunk)

    def _handle_end_upload(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        if self._upload_contexts.pop(client_address, None) is None:
            return self._build_error_response(request, 0x8104)
        return self._ack(request, b"\x1f")

    # -- download (the attacker path) -------------------------------------------------
    def _handle_request_download(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        raw = request.get("raw_parameters", b"")
        try:
            if len(raw) != 32 or raw[0] != 0x1A or raw[9:11] != b"_0" or raw[11] not in _TYPES_BY_CODE:
                raise ValueError("bad request download")
            size = int(raw[20:26].decode("ascii"))
            number = int(raw[12:17].decode("ascii"))
        except ValueError:
            return self._build_error_response(request, 0x8104)
        self._download_contexts[client_address] = {
            "block_type": raw[11], "block_num": number, "data": bytearray(), "max_size": size,
            "phase": "start_ack", "sequence": request["sequence"]}
        return self._ack(request, b"\x1a")

    def _handle_download_response(self, pdu: bytes, client_address: tuple[str, int]) -> bytes | None:
        ctx = self._download_contexts.get(client_address)
        sequence = int.from_bytes(pdu[4:6], "big") if len(pdu) >= 6 else 0
        if ctx is None or len(pdu) < 12 or sequence != ctx["sequence"]:
            self._download_contexts.pop(client_address, None)
            return self._build_error_response({"sequence": sequence}, 0x8104)
        param_len, data_len = struct.unpack(">HH", pdu[6:10])
        params, data = pdu[12:12 + param_len], pdu[12 + param_len:12 + param_len + data_len]
        if ctx["phase"] == "awaiting_end" and params[:1] == b"\x1c":
            self._download_contexts.pop(client_address, None)
            self.sim.downloaded(bytes(ctx["data"]))
            return None
        if ctx["phase"] != "awaiting_fragment" or params[:1] != b"\x1b" or len(data) < 4:
            self._download_contexts.pop(client_address, None)
            return self._build_error_response({"sequence": sequence}, 0x8104)
        ctx["data"].extend(data[4:])
        if params[1] == 0 or len(ctx["data"]) >= ctx["max_size"]:
            ctx["phase"] = "awaiting_end"
            return self._build_download_service_request(ctx, 0x1C)
        return self._build_download_service_request(ctx, 0x1B)


class S7Simulator(Simulator):
    """Serves one S7 device image (see images/crane/plc-hoist.json)."""

    protocol: ClassVar[str] = "s7"

    def __init__(self, image: dict[str, Any], *, host: str = "127.0.0.1", port: int = 0,
                 latency: float = 0.0) -> None:
        super().__init__(image, host=host, port=port, latency=latency)
        self._lock = threading.RLock()
        self._blocks: dict[tuple[str, int], Block] = {}
        for entry in image.get("blocks", []):
            self.replace_block_image(bytes.fromhex(entry["image"]))
        self._system = {"SFC": sorted(image.get("sfc", [])), "SFB": sorted(image.get("sfb", []))}
        self.mode: str = image.get("mode", "RUN")
        self.protection: dict[str, int] = dict(image.get("protection", {"sch_schal": 1, "sch_par": 0,
                                                                          "sch_rel": 1, "bart_sch": 2,
                                                                          "anl_sch": 0}))
        self._areas = {area: bytearray(size)
                       for area, size in {**AREA_SIZES, **image.get("areas", {})}.items()}
        self._faults: dict[tuple[str, int], int] = {}
        # False: a CPU that does not vouch for its checksums (ken_rel 0, checksums 0).
        self.checksums_valid: bool = bool(image.get("checksums_valid", True))
        self._drops: dict[str, int] = {}
        self._server: _CpuServer | None = None

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        server = _CpuServer(self)
        server.start_to(self.host, self.port)
        assert server.server_socket is not None
        self.port = server.server_socket.getsockname()[1]
        self._server = server

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.drop_clients()
            server.stop()

    def inventory_entry(self) -> dict[str, Any]:
        inv = self.image.get("inventory", {})
        return {"name": self.name, "protocol": "s7", "host": self.host, "port": self.port,
                "rack": inv.get("rack", 0), "slot": inv.get("slot", 2), "dbs": dict(inv.get("dbs", {}))}

    # -- what the server asks -----------------------------------------------------------
    def block(self, block_type: str, number: int) -> Block | None:
        with self._lock:
            return self._blocks.get((block_type, number))

    def blocks_of(self, block_type: str) -> list[tuple[int, int]]:
        """(number, language) per block of a type, as the block list reports them."""
        with self._lock:
            if block_type in self._system:
                return [(n, 0x01) for n in self._system[block_type]]
            return sorted((n, b.language) for (t, n), b in self._blocks.items() if t == block_type)

    def block_numbers(self) -> dict[str, list[int]]:
        return {t: [n for n, _ in self.blocks_of(t)] for t in TYPE_CODES}

    def fault_for(self, block_type: str, number: int) -> int:
        with self._lock:
            return self._faults.get((block_type, number), 0)

    def upload_refusal(self) -> int:
        # Protection level 3 (read/write protected) refuses uploads without a password.
        return PROTECTION_REFUSAL if self.protection.get("sch_schal", 1) >= 3 else 0

    def szl(self, szl_id: int, index: int) -> bytes | None:
        ident = self.image.get("identity", {})
        if szl_id == 0x0011:
            def rec(idx: int, mlfb: str, version: str) -> bytes:
                # 'V3.2.7' -> 56 03 02 07, as the CPU writes Ausbg/Ausbe
                digits = [int(x) for x in version[1:].split(".")]
                return struct.pack(">H", idx) + _text(mlfb, 20) + b"\x00\xc0" + bytes((ord(version[0]), *digits))
            return _szl([struct.pack(">H", 1) + _text(ident.get("order_number", ""), 20) + b"\x00\xc0\x00\x03\x00\x01",
                         rec(7, " " * 20, ident.get("firmware", "V0.0.0")),
                         rec(0x81, "Boot Loader", ident.get("boot_loader", "A0.0.0"))])
        if szl_id == 0x001C:
            fields = {1: "as_name", 2: "module_name", 3: "plant_id", 4: "copyright", 5: "serial",
                      7: "module_type", 8: "memory_card_serial"}
            return _szl([struct.pack(">H", i) + _text(ident.get(f, ""), 32) for i, f in fields.items()])
        if szl_id in (0x0232, 0x0132) and index == 4:
            p = self.protection
            # ken_f, ken_rel, then the four checksums little-endian, as the real CPU 315 writes
            # them; the reserved tail as it answered 0x0232 and 0x0132 (tia_s300_goOnline).
            ken_rel, words = (CHECKSUMS_VALID, self.checksums()) if self.checksums_valid else (0, (0,) * 4)
            reserved = bytes.fromhex("02000015" if szl_id == 0x0232 else "02000001") + bytes(12)
            return _szl([struct.pack(">HHHHHH", 4, p["sch_schal"], p["sch_par"], p["sch_rel"],
                                     p["bart_sch"], p["anl_sch"])
                         + struct.pack(">HH", 0, ken_rel) + struct.pack("<HHHH", *words) + reserved])
        if szl_id == 0x0424:
            return _szl([struct.pack(">HBB", 0x5144, 0xFF, MODE_CODES[self.mode]) + bytes(8)
                         + bytes.fromhex("2302081451375692")])
        return None

    # -- read/write variable (s7_vars.Memory): DB values are the MC7 of the DB image ------
    def checksums(self) -> tuple[int, int, int, int]:
        """ken_ver1_hw, ken_ver2_hw, ken_ver1_awp, ken_ver2_awp: the XOR of the MC7
        lengths and of the footer checksums, over the SDBs (hardware) and over the
        OBs, DBs, FBs and FCs (user program), from the blocks held now."""
        out = [0, 0, 0, 0]
        with self._lock:
            for (block_type, _), block in self._blocks.items():
                at = 0 if block_type == "SDB" else 2
                out[at] ^= struct.unpack(">H", block.image[34:36])[0]
                out[at + 1] ^= struct.unpack(">H", block.image[-10:-8])[0]
        return out[0], out[1], out[2], out[3]

    def read_area(self, area: str, db: int, start: int, size: int) -> bytes | int:
        with self._lock:
            if area == "DB":
                block = self._blocks.get(("DB", db))
                if block is None:
                    return s7_vars.NO_OBJECT
                begin, end = block.mc7_span
                values = block.image[begin:end]
            else:
                values = bytes(self._areas[area])
            if start + size > len(values):
                return s7_vars.OUT_OF_RANGE
            return values[start:start + size]

    def write_area(self, area: str, db: int, start: int, data: bytes) -> int:
        with self._lock:
            current = self.read_area(area, db, start, len(data))
            if isinstance(current, int):
                return current
            if area == "DB":
                self.set_db_values(db, start, data)
            else:
                self._areas[area][start:start + len(data)] = data
            return s7_vars.DONE

    def write_bit(self, area: str, db: int, start: int, bit: int, value: bool) -> int:
        with self._lock:
            current = self.read_area(area, db, start, 1)
            if isinstance(current, int):
                return current
            byte = (current[0] | (1 << bit)) if value else (current[0] & ~(1 << bit))
            return self.write_area(area, db, start, bytes((byte,)))

    def downloaded(self, image: bytes) -> None:
        """A client downloaded a block: it replaces (or adds) that block."""
        try:
            self.replace_block_image(image)
        except ValueError:
            logging.getLogger(__name__).warning("%s: ignored a malformed block download", self.name)

    # -- changing the CPU (tests, demo) -------------------------------------------------
    def replace_block_image(self, image: bytes) -> None:
        block = s7_blocks.validate(image)
        with self._lock:
            self._blocks[(block.type, block.number)] = block

    def replace_block(self, block_type: str, number: int, image: bytes) -> None:
        block = s7_blocks.validate(image)
        if (block.type, block.number) != (block_type, number):
            raise ValueError(f"image is {block.type} {block.number}, not {block_type} {number}")
        self.replace_block_image(image)

    def remove_block(self, block_type: str, number: int) -> None:
        with self._lock:
            del self._blocks[(block_type, number)]

    def block_image(self, block_type: str, number: int) -> bytes:
        block = self.block(block_type, number)
        if block is None:
            raise KeyError(f"{block_type} {number}")
        return block.image

    def flip_mc7_bit(self, block_type: str, number: int, bit: int = 0) -> None:
        """Flip one bit of the MC7 code, keeping header and footer: block info unchanged."""
        with self._lock:
            block = self._blocks[(block_type, number)]
            start, end = block.mc7_span
            mc7 = bytearray(block.image[start:end])
            mc7[bit // 8] ^= 1 << (bit % 8)
            self._blocks[(block_type, number)] = block.with_mc7(bytes(mc7))

    def set_db_values(self, number: int, offset: int, data: bytes) -> None:
        """Process values change at run time: the DB's MC7 changes, its block info does not."""
        with self._lock:
            block = self._blocks[("DB", number)]
            start, end = block.mc7_span
            mc7 = bytearray(block.image[start:end])
            if offset + len(data) > len(mc7):
                raise ValueError(f"DB {number} has {len(mc7)} bytes of values")
            mc7[offset:offset + len(data)] = data
            self._blocks[("DB", number)] = block.with_mc7(bytes(mc7))

    def set_mode(self, mode: str) -> None:
        if mode not in MODE_CODES:
            raise ValueError(f"mode must be one of {', '.join(MODE_CODES)}")
        self.mode = mode

    def set_protection(self, level: int) -> None:
        """1 none, 2 write-protected, 3 read/write-protected (uploads refused with 0xD241)."""
        self.protection = {**self.protection, "sch_schal": level}

    def drop_connection_on(self, operation: str, times: int = 1) -> None:
        """Close the client's connection when ``operation`` arrives, ``times`` times
        (a cable pulled mid-upload), to exercise the driver's reconnect."""
        with self._lock:
            self._drops[operation] = times

    def take_drop(self, operation: str) -> bool:
        with self._lock:
            if self._drops.get(operation, 0) > 0:
                self._drops[operation] -= 1
                return True
            return False

    def refuse_block(self, block_type: str, number: int, code: int = NOT_FOUND) -> None:
        """Answer block info and upload of one block with an S7 error code (0 clears it)."""
        with self._lock:
            if code:
                self._faults[(block_type, number)] = code
            else:
                self._faults.pop((block_type, number), None)


def tampered_db_image(image: bytes, offset: int, data: bytes, *, when: datetime) -> bytes:
    """A DB image with other values, a new code date and a matching checksum:
    what an engineering tool would download."""
    block = Block(image)
    start, end = block.mc7_span
    mc7 = bytearray(image[start:end])
    mc7[offset:offset + len(data)] = data
    sbb, add = struct.unpack(">HH", image[28:32])
    interface = image[end:end + sbb]
    header = bytearray(image[:36])
    header[16:22] = s7_blocks.s7_time(when)
    footer = bytearray(image[-36:])
    footer[26:28] = struct.pack(">H", s7_blocks.checksum(bytes(mc7) + interface))
    return bytes(header) + bytes(mc7) + image[end:len(image) - 36] + bytes(footer)


@contextmanager
def attacker_client(host: str, port: int, rack: int, slot: int) -> Iterator[Client]:
    """A second client connection, declared as the attacker (mark_attacker)
    before anything is written."""
    client = Client()
    try:
        client.connect(host, rack, slot, port)
        assert client.connection is not None and client.connection.socket is not None
        mark_attacker(client.connection.socket.getsockname())
        yield client
    finally:
        client.disconnect()


def attacker_download_db(host: str, port: int, number: int, image: bytes, *, rack: int = 0,
                         slot: int = 2) -> None:
    """Play the attacker: download a DB image from a second client connection."""
    with attacker_client(host, port, rack, slot) as client:
        client.download(bytearray(image), number)


def attacker_db_write(host: str, port: int, number: int, offset: int, data: bytes, *,
                      rack: int = 0, slot: int = 2) -> None:
    """Play the attacker: write DB values with a write variable request (what an HMI
    or any S7 client's ``db_write`` sends) from a second client connection."""
    with attacker_client(host, port, rack, slot) as client:
        client.db_write(number, offset, bytearray(data))
