"""EtherNet/IP encapsulation over TCP: sessions, CPF items, connected messaging.

One thread per client connection (socketserver).  The encapsulation layer
unwraps SendRRData (unconnected, UCMM) and SendUnitData (connected, after a
Forward Open) and hands the CIP request to ``CipHandler``.
"""

from __future__ import annotations

import os
import socket
import socketserver
import struct
import threading
import time
from typing import TYPE_CHECKING

from simulators.logix.cip import CipHandler, Context

if TYPE_CHECKING:
    from simulators.logix import LogixSimulator

HEADER = struct.Struct("<HHII8sI")
REGISTER_SESSION, UNREGISTER_SESSION, LIST_IDENTITY = 0x65, 0x66, 0x63
SEND_RR_DATA, SEND_UNIT_DATA = 0x6F, 0x70
ST_INVALID_COMMAND, ST_BAD_DATA, ST_BAD_SESSION, ST_BAD_VERSION = 0x01, 0x03, 0x64, 0x69
UNCONNECTED_LIMIT = 500


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class _Handler(socketserver.BaseRequestHandler):
    server: "_Server"

    def setup(self) -> None:
        self.session = 0
        self.connections: dict[int, int] = {}
        self.server.clients.add(self.request)

    def finish(self) -> None:
        self.server.clients.discard(self.request)

    def handle(self) -> None:
        sim = self.server.sim
        peer = self.client_address[:2]
        sock: socket.socket = self.request
        try:
            while True:
                head = _recv_exact(sock, HEADER.size)
                if head is None:
                    return
                command, length, session, _status, context, options = HEADER.unpack(head)
                body = _recv_exact(sock, length) if length else b""
                if body is None:
                    return
                answer = self._command(sim, peer, command, session, body)
                if answer is None:
                    return
                status, session_out, payload = answer
                if sim.latency:
                    # One thread per connection (socketserver): this delays only this client.
                    time.sleep(sim.latency)
                sock.sendall(HEADER.pack(command, len(payload), session_out, status, context,
                                         options) + payload)
        except OSError:
            return

    def _command(self, sim: "LogixSimulator", peer: tuple[str, int], command: int, session: int,
                 body: bytes) -> tuple[int, int, bytes] | None:
        def record(op: str, read: bool, detail: str = "") -> None:
            sim.record(peer, op, read, detail)

        if command == REGISTER_SESSION:
            record("enip:register_session", True)
            if len(body) < 4 or body[:2] != b"\x01\x00":
                return ST_BAD_VERSION, 0, b"\x01\x00\x00\x00"
            self.session = struct.unpack("<I", os.urandom(4))[0] | 1
            return 0, self.session, body[:4]
        if command == UNREGISTER_SESSION:
            record("enip:unregister_session", True)
            return None
        if command == LIST_IDENTITY:
            record("enip:list_identity", True)
            return 0, session, sim.list_identity_item()
        if command not in (SEND_RR_DATA, SEND_UNIT_DATA):
            record(f"enip:0x{command:02x}", False, "unsupported encapsulation command")
            return ST_INVALID_COMMAND, session, b""
        if not self.session or session != self.session:
            record(f"enip:0x{command:02x}", False, "no registered session")
            return ST_BAD_SESSION, session, b""
        items = _parse_cpf(body)
        if items is None:
            record(f"enip:0x{command:02x}", False, "malformed common packet format")
            return ST_BAD_DATA, session, b""
        ctx = Context(record, UNCONNECTED_LIMIT - 8, self.connections)
        handler: CipHandler = sim.cip
        if command == SEND_RR_DATA:
            cip = next((d for t, d in items if t == 0xB2), None)
            if cip is None:
                return ST_BAD_DATA, session, b""
            reply = handler.handle(cip, ctx)
            return 0, session, _cpf([(0x0000, b""), (0x00B2, reply)])
        addr = next((d for t, d in items if t == 0xA1), None)
        data = next((d for t, d in items if t == 0xB1), None)
        if addr is None or data is None or len(addr) != 4 or len(data) < 2:
            return ST_BAD_DATA, session, b""
        cid = struct.unpack("<I", addr)[0]
        if cid not in self.connections:
            record("cip:unconnected-id", False, f"unknown connection 0x{cid:08x}")
            return ST_BAD_DATA, session, b""
        ctx.reply_limit = self.connections[cid] - 8
        reply = handler.handle(data[2:], ctx)
        return 0, session, _cpf([(0x00A1, addr), (0x00B1, data[:2] + reply)])


def _parse_cpf(body: bytes) -> list[tuple[int, bytes]] | None:
    try:
        count = struct.unpack_from("<H", body, 6)[0]
        pos, items = 8, []
        for _ in range(count):
            kind, n = struct.unpack_from("<HH", body, pos)
            items.append((kind, body[pos + 4:pos + 4 + n]))
            pos += 4 + n
        return items
    except struct.error:
        return None


def _cpf(items: list[tuple[int, bytes]]) -> bytes:
    out = [struct.pack("<IHH", 0, 0, len(items))]
    for kind, data in items:
        out.append(struct.pack("<HH", kind, len(data)) + data)
    return b"".join(out)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: "LogixSimulator") -> None:
        self.sim = sim
        self.clients: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def close_clients(self) -> None:
        for sock in list(self.clients):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EnipServer:
    """The listening side: start() returns once bound; serve in a daemon thread."""

    def __init__(self, sim: "LogixSimulator", host: str, port: int) -> None:
        self._server = _Server((host, port), sim)
        self.address = self._server.server_address
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"logix-sim-{sim.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.close_clients()
        self._server.server_close()
        self._thread.join(timeout=5)
