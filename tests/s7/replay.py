"""A loopback responder that answers an S7 client with a real CPU's recorded replies.

Requests are matched by meaning (setup, SZL id+index, block list, block list of
a type, block info of a block, upload of a block), not by position, and only the
per-connection PDU reference is rewritten in each reply.  Follow-up requests
(more SZL/list fragments, upload fragments, end upload) get the next recorded
reply of the same conversation.  Anything never recorded is answered with S7
error 0x8104 (service not available).

TPKT/COTP are handled here, not with snap7's server, so the driver meets bytes
that none of our code produced.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import deque
from typing import Any, Iterable

PRIMARY = {"setup", "szl", "list_all", "list_type", "info", "start_upload"}


def request_key(pdu: bytes) -> tuple[Any, ...]:
    if pdu[1] == 0x01:
        func = pdu[10]
        if func == 0xF0:
            return ("setup",)
        if func == 0x1D:
            return ("start_upload", pdu[19:28])  # the `_0TNNNNNA` block address
        return ({0x1E: "upload", 0x1F: "end_upload"}.get(func, f"job:{func:02x}"),)
    plen = struct.unpack(">H", pdu[6:8])[0]
    params, data = pdu[10:10 + plen], pdu[10 + plen:]
    group, sub = params[5] & 0x0F, params[6]
    if params[4] == 0x12:
        return ("followup",)
    if (group, sub) == (4, 1):
        return ("szl", data[4:6], data[6:8])
    if (group, sub) == (3, 1):
        return ("list_all",)
    if (group, sub) == (3, 2):
        return ("list_type", data[5])
    if (group, sub) == (3, 3):
        return ("info", data[4:12])
    return (f"userdata:{group}/{sub}",)


def conversations(pdus: Iterable[Any], server_port: int = 102) -> dict[tuple, list[bytes]]:
    """key of a primary request -> [its reply, replies to its follow-ups...] (first seen wins)."""
    out: dict[tuple, list[bytes]] = {}
    current: list[bytes] | None = None
    pending: tuple | None = None
    for pdu in pdus:
        if pdu.dst[1] == server_port and pdu.data[1] in (0x01, 0x07):
            pending = request_key(pdu.data)
        elif pdu.src[1] == server_port and pending is not None:
            if pending[0] in PRIMARY:
                current = None if pending in out else out.setdefault(pending, [])
                if current is not None:
                    current.append(pdu.data)
            elif current is not None:
                current.append(pdu.data)
            pending = None
    return out


def _error_reply(request: bytes) -> bytes:
    if request[1] == 0x07:
        params = struct.pack(">BBBBBBBBBBH", 0, 1, 0x12, 8, 0x12, 0x80 | (request[15] & 0x0F),
                             request[16], 0, 0, 0, 0x8104)
        return struct.pack(">BBHHHH", 0x32, 7, 0, 0, len(params), 4) + params + b"\x0a\x00\x00\x00"
    return struct.pack(">BBHHHHBB", 0x32, 2, 0, 0, 0, 0, 0x81, 0x04)


class Replay:
    """Serve recorded conversations on 127.0.0.1 (port from the OS), one client at a time."""

    def __init__(self, script: dict[tuple, list[bytes]]) -> None:
        self.script = script
        self.keys_seen: list[tuple] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "Replay":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self._session(conn)
                except (OSError, ValueError):
                    pass

    @staticmethod
    def _recv(conn: socket.socket) -> bytes:
        head = b""
        while len(head) < 4:
            chunk = conn.recv(4 - len(head))
            if not chunk:
                raise ValueError("closed")
            head += chunk
        length = struct.unpack(">H", head[2:4])[0]
        body = b""
        while len(body) < length - 4:
            chunk = conn.recv(length - 4 - len(body))
            if not chunk:
                raise ValueError("closed")
            body += chunk
        return body

    def _session(self, conn: socket.socket) -> None:
        cr = self._recv(conn)
        if cr[1] != 0xE0:
            return
        cc = bytes((6 + 3, 0xD0)) + cr[4:6] + b"\x00\x01\x00" + b"\xc0\x01\x0a"
        conn.sendall(struct.pack(">BBH", 3, 0, len(cc) + 4) + cc)
        pending: deque[bytes] = deque()
        while not self._stop.is_set():
            tpdu = self._recv(conn)
            if tpdu[1] != 0xF0:
                return  # disconnect request
            request = tpdu[3:]
            key = request_key(request)
            self.keys_seen.append(key)
            if key[0] in PRIMARY:
                pending = deque(self.script.get(key, []))
            reply = pending.popleft() if pending else _error_reply(request)
            reply = reply[:4] + request[4:6] + reply[6:]  # this connection's PDU reference
            frame = b"\x02\xf0\x80" + reply
            conn.sendall(struct.pack(">BBH", 3, 0, len(frame) + 4) + frame)
