"""An S7-1500 on loopback that serves a program over S7CommPlus.

``S7PlusSimulator`` runs ``ProgramServer``, a subclass of s7commplus 0.3.0's
``S7CommPlusServer`` (pinned: it overrides that version's private handlers).
The stock emulator serves DBs only; here it also serves:

* identity: the ServerSessionVersion device string (order number, firmware)
  in the CreateObject reply, as real S7-1500s send it, and theCPUcommon
  (module name, serial) over EXPLORE;
* the program: EXPLORE of thePLCProgram lists every OB, FB, FC and DB with
  name, number, language, know-how protection, CRC and type-info time; an
  EXPLORE of one block gives its interface (simulators/s7plus_program.py);
* CPU state (the library's theCPUexecUnit), the effective protection level,
  and the legacy password legitimation (SHA-1 XOR challenge, S7-1500 < FW 3.1);
* block upload over GetVarSubStreamed (s7commplus' experimental layout), with
  know-how-protected blocks and sessions above read access refused.

Downloads (SetVarSubStreamed of a block) and DB writes (SetMultiVariables) are
accepted: that is the attacker path, and a download regenerates the block's
change indicators.  Every request is recorded (Simulator.record) before it is
answered, and only reads and session set-up count as reads.

``tls=True`` serves V2 over TLS with a fresh self-signed certificate
(``tls_fingerprint`` is its SHA-256); the library's server does the TLS.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from s7commplus import Client
from s7commplus.codec import decode_header, decode_pvalue_to_bytes
from s7commplus.protocol import DataType, ProtocolVersion
from s7commplus.server import CPUState, S7CommPlusServer
from s7commplus.vlq import decode_uint32_vlq, encode_uint32_vlq, encode_uint64_vlq

from simulators.base import Simulator, mark_attacker
from simulators.s7plus_program import CPU_COMMON_RID, PLC_PROGRAM_RID, UPLOAD_CODES, Block, Program

READ_FUNCTIONS = {0x04BB: "explore", 0x054C: "get_multi_variables", 0x0586: "get_var_substreamed",
                  0x05B3: "init_ssl"}
SET_VARIABLE, SET_VAR_SUBSTREAMED, GET_VAR_SUBSTREAMED = 0x04F2, 0x057C, 0x0586
PROTECTION_LEVEL, CHALLENGE, LEGACY_RESPONSE = 1842, 303, 304
FULL_ACCESS, READ_ACCESS = 1, 2
KNOWHOW_REFUSAL, ACCESS_REFUSAL, NO_SUCH_BLOCK = -37, -38, -12  # this simulator's codes


def _error(code: int) -> bytes:
    return encode_uint64_vlq((1 << 63) | (code & 0xFFFF))


class ProgramServer(S7CommPlusServer):
    def __init__(self, sim: "S7PlusSimulator", protocol_version: int) -> None:
        super().__init__(protocol_version=protocol_version)
        self.sim = sim
        self.program = sim.program
        self._data_blocks = self.program.memory  # the library's DB handlers use our memory
        self._peer = threading.local()
        self._levels: dict[int, int] = {}
        self._challenges: dict[int, bytes] = {}

    def _handle_client(self, client_sock: Any, address: tuple[str, int]) -> None:
        self._peer.address = (address[0], int(address[1]))
        super()._handle_client(client_sock, address)

    # -- recording ---------------------------------------------------------------------
    def _classify(self, function: int, session: int, body: bytes) -> tuple[str, bool]:
        if function in READ_FUNCTIONS:
            return READ_FUNCTIONS[function], True
        if function == 0x04CA:
            return ("create_session", True) if body[:4] == struct.pack(">I", 285) else ("create_object", False)
        if function == 0x0542:
            return ("session_setup", True) if self._is_session_setup_write(body) else ("write_db", False)
        if function == 0x04D4:
            target = struct.unpack_from(">I", body)[0] if len(body) >= 4 else -1
            return ("delete_session", True) if target in (0, session) else ("delete_object", False)
        if function == SET_VARIABLE and len(body) > 6 and struct.unpack_from(">I", body)[0] == session:
            try:
                _, used = decode_uint32_vlq(body, 4)
                address, _ = decode_uint32_vlq(body, 4 + used)
            except (ValueError, IndexError):
                address = -1
            if address in (LEGACY_RESPONSE, 1846, 323):  # password answer, password blob, activation
                return "legitimation", True
        if function == SET_VAR_SUBSTREAMED:
            return ("legitimation", True) if body[4:5] == b"\x20" else ("download_block", False)
        return f"function:{function:#06x}", False

    def _process_request(self, data: bytes, session_id: int, integrity_id_read: int = 0,
                         integrity_id_write: int = 0) -> tuple[bytes | None, bool]:
        try:
            _, length, used = decode_header(data)
            payload = data[used:used + length]
            function, seq = struct.unpack_from(">H", payload, 3)[0], struct.unpack_from(">H", payload, 7)[0]
            session = struct.unpack_from(">I", payload, 9)[0]
        except (ValueError, struct.error):
            self.sim.record(getattr(self._peer, "address", None), "malformed", False, data[:16].hex())
            return None, False
        body = payload[14:]
        operation, read = self._classify(function, session, body)
        self.sim.record(getattr(self._peer, "address", None), operation, read)
        if self.sim.latency:
            time.sleep(self.sim.latency)
        if function == SET_VARIABLE:
            response = self._handle_set_variable(seq, session, body)
            if self._protocol_version >= ProtocolVersion.V2 and session:
                response += encode_uint32_vlq(integrity_id_write)
            return response, False
        return super()._process_request(data, session_id, integrity_id_read, integrity_id_write)

    # -- session -----------------------------------------------------------------------
    def _level(self, session: int) -> int:
        return self._levels.get(session, self.sim.protection_level)

    def _handle_create_object(self, seq_num: int, request_data: bytes) -> bytes:
        """The stock reply, with a Struct ServerSessionVersion carrying the device
        string (element 319) as S7-1500 firmware sends it."""
        reply = super()._handle_create_object(seq_num, request_data)
        head, _, _ = reply.partition(bytes([0xA3]) + encode_uint32_vlq(0x0132))
        paom = f"1;{self.sim.program.identity.get('order_number', '')} ;" \
               f"{self.sim.program.identity.get('firmware', '')}".encode()
        version = bytes([0x00, DataType.STRUCT]) + struct.pack(">I", 314)  # fixed width, as real CPUs
        version += encode_uint32_vlq(315) + bytes([0x00, DataType.UDINT]) + encode_uint32_vlq(self._protocol_version)
        version += encode_uint32_vlq(319) + bytes([0x00, DataType.WSTRING]) + encode_uint32_vlq(len(paom)) + paom
        version += b"\x00"
        return head + bytes([0xA3]) + encode_uint32_vlq(306) + version + bytes([0xA2]) + struct.pack(">I", 0)

    def _handle_set_variable(self, seq: int, session: int, body: bytes) -> bytes:
        header = self._build_response_header(SET_VARIABLE, seq)
        try:
            in_object = struct.unpack_from(">I", body)[0]
            _, off = decode_uint32_vlq(body, 4)
            address, used = decode_uint32_vlq(body, 4 + off)
            value, _ = decode_pvalue_to_bytes(body, 4 + off + used)
        except (ValueError, IndexError, struct.error):
            return header + _error(-1) + struct.pack(">I", 0)
        if in_object != session or address != LEGACY_RESPONSE:
            return header + _error(-1) + struct.pack(">I", 0)
        expected = bytes(a ^ b for a, b in zip(hashlib.sha1(self.sim.password.encode()).digest(),  # noqa: S324
                                               self._challenges.get(session, b""))) \
            if self.sim.password is not None else None
        if expected is not None and value == expected:
            self._levels[session] = FULL_ACCESS
        return header + encode_uint64_vlq(0) + struct.pack(">I", 0)

    # -- EXPLORE ---------------------------------------------------------------------------
    def _read_item(self, item: tuple[int, int, int] | None) -> bytes | None:
        if item is not None and item[0] in self.sim.optimized_dbs:
            return None  # an optimized DB has no classic byte layout to read
        return super()._read_item(item)

    def _handle_explore(self, seq_num: int, session_id: int, request_data: bytes) -> bytes:
        rid = struct.unpack_from(">I", request_data)[0] if len(request_data) >= 4 else -1
        block = self.program.by_rid(rid)
        if block is not None and (block.type, block.number) in self.sim.unexplorable:
            return self._build_response_header(0x04BB, seq_num) + _error(ACCESS_REFUSAL) \
                + struct.pack(">I", 0) + struct.pack(">I", 0)
        if rid == PLC_PROGRAM_RID:
            obj = self.program.program_object()
        elif rid == CPU_COMMON_RID:
            obj = self.program.cpu_common_object()
        elif block is not None:
            with self.program.lock:
                obj = self.program.block_object(block, members=True)
        else:
            return super()._handle_explore(seq_num, session_id, request_data)
        # Like a real CPU (see the S7-1200 capture): ReturnValue, the ExploreId, the objects.
        return self._build_response_header(0x04BB, seq_num) + encode_uint64_vlq(0) \
            + struct.pack(">I", rid) + obj + struct.pack(">I", 0)

    # -- GetVarSubStreamed: protection level, challenge, upload ----------------------------
    def _handle_get_var_substreamed(self, seq_num: int, session_id: int, request_data: bytes) -> bytes:
        head = self._build_response_header(GET_VAR_SUBSTREAMED, seq_num)
        if request_data[4:5] == b"\x20":
            address, _ = decode_uint32_vlq(request_data, 7)
            if address == PROTECTION_LEVEL:
                return head + encode_uint64_vlq(0) + bytes([0x00, DataType.UDINT]) \
                    + encode_uint32_vlq(self._level(session_id)) + struct.pack(">I", 0)
            if address == CHALLENGE:
                challenge = self._challenges.setdefault(session_id, os.urandom(20))
                return head + encode_uint64_vlq(0) + bytes([0x00, 0x10, DataType.USINT]) \
                    + encode_uint32_vlq(20) + challenge + struct.pack(">I", 0)
            return head + _error(NO_SUCH_BLOCK) + struct.pack(">I", 0)
        off = 4
        values = []
        for _ in range(4):  # item count, field count, type, number
            value, used = decode_uint32_vlq(request_data, off)
            values.append(value)
            off += used
        block = self.program.find(UPLOAD_CODES.get(values[2], "?"), values[3])
        if block is None:
            return head + _error(NO_SUCH_BLOCK) + struct.pack(">I", 0)
        if block.knowhow_protected:
            return head + _error(KNOWHOW_REFUSAL) + struct.pack(">I", 0)
        if self._level(session_id) > READ_ACCESS:
            return head + _error(ACCESS_REFUSAL) + struct.pack(">I", 0)
        return head + encode_uint64_vlq(0) + bytes([0x00, 0x00, DataType.BLOB]) + encode_uint32_vlq(0) \
            + encode_uint32_vlq(len(block.code)) + block.code + struct.pack(">I", 0)

    def _handle_set_var_substreamed(self, seq_num: int, session_id: int, request_data: bytes) -> bytes:
        if request_data[4:5] == b"\x20":  # a legitimation blob, as the stock server
            return super()._handle_set_var_substreamed(seq_num, session_id, request_data)
        head = self._build_response_header(SET_VAR_SUBSTREAMED, seq_num)
        try:
            off = 4
            fields = []
            for _ in range(3):  # item count, type, number
                value, used = decode_uint32_vlq(request_data, off)
                fields.append(value)
                off += used
            code, _ = decode_pvalue_to_bytes(request_data, off)
        except (ValueError, IndexError):
            return head + _error(-1) + struct.pack(">I", 0)
        old = self.program.find(UPLOAD_CODES.get(fields[1], "?"), fields[2])
        if old is None:
            return head + _error(NO_SUCH_BLOCK) + struct.pack(">I", 0)
        self.program.load(Block(old.type, old.number, old.name, old.language, bytes(code),
                                old.knowhow_protected, dict(old.variables), old.instance_of))
        return head + encode_uint64_vlq(0) + struct.pack(">I", 0)


class S7PlusSimulator(Simulator):
    protocol: ClassVar[str] = "s7plus"

    def __init__(self, image: dict[str, Any], *, host: str = "127.0.0.1", port: int = 0,
                 latency: float = 0.0, tls: bool | None = None, password: str | None = None) -> None:
        super().__init__(image, host=host, port=port, latency=latency)
        self.program = Program(image)
        self.tls = bool(image.get("tls", False) if tls is None else tls)
        self.password = password if password is not None else image.get("password")
        self.protection_level = int(image.get("protection_level", 3 if self.password else FULL_ACCESS))
        self.tls_fingerprint: str | None = None
        # Test knobs: DBs refusing classic byte reads (as optimized DBs do), blocks refusing EXPLORE.
        self.optimized_dbs: set[int] = set()
        self.unexplorable: set[tuple[str, int]] = set()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.server = ProgramServer(self, ProtocolVersion.V2 if self.tls else ProtocolVersion.V1)
        self.server.cpu_state = CPUState.STOP if image.get("mode") == "STOP" else CPUState.RUN

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="s7plus-sim-")
            cert, key, self.tls_fingerprint = self_signed(Path(self._tmp.name), self.name)
            kwargs = {"use_tls": True, "tls_cert": str(cert), "tls_key": str(key)}
        self.server.start(self.host, self.port, **kwargs)
        self.port = self.server._server_socket.getsockname()[1]  # port 0: the OS chose

    def stop(self) -> None:
        self.server.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def inventory_entry(self) -> dict[str, Any]:
        inv = self.image.get("inventory", {})
        entry: dict[str, Any] = {"name": self.name, "protocol": "s7plus", "host": self.host,
                                 "port": self.port, "dbs": dict(inv.get("dbs", {}))}
        if self.tls:
            entry.update(tls=True, tls_fingerprint=self.tls_fingerprint)
        if self.password is not None:
            entry["password_env"] = inv.get("password_env", "PLC_PASSWORD")
        return entry

    # -- test and demo helpers -----------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        self.server.cpu_state = CPUState[mode]

    def replace_code(self, block_type: str, number: int, code: bytes) -> None:
        """A download as the CPU sees it: new image, regenerated indicators."""
        old = self.program.find(block_type, number)
        assert old is not None, f"no {block_type} {number}"
        self.program.load(Block(old.type, old.number, old.name, old.language, code,
                                old.knowhow_protected, dict(old.variables), old.instance_of))


def self_signed(folder: Path, name: str) -> tuple[Path, Path, str]:
    """A self-signed certificate for ``name``: (cert path, key path, SHA-256 of its DER)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _attacker_client(host: str, port: int, **connect: Any) -> Client:
    client = Client()
    client.connect(host, port, **connect)
    mark_attacker(client._connection._iso_conn.socket.getsockname())
    return client


def attacker_write_db(host: str, port: int, number: int, offset: int, data: bytes, **connect: Any) -> None:
    """Play the attacker with the library's own client: write bytes into a DB."""
    client = _attacker_client(host, port, **connect)
    try:
        client.db_write(number, offset, data)
    finally:
        client.disconnect()


def attacker_download(host: str, port: int, block_type: str, number: int, code: bytes,
                      **connect: Any) -> None:
    """Play the attacker: download a new image of a block (s7commplus' download_block)."""
    type_code = {v: k for k, v in UPLOAD_CODES.items()}[block_type]
    client = _attacker_client(host, port, **connect)
    try:
        client.download_block(type_code, number, code)
    finally:
        client.disconnect()
