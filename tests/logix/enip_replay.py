"""Real EtherNet/IP bytes for the replay tests: a tiny pcap reader and a loopback
responder that answers a client with the CIP replies a real controller sent.

Reader: classic pcap, Ethernet + IPv4 + TCP; each direction's payload is joined
in sequence order (retransmissions dropped) and cut into encapsulation frames.

Responder: the recorded CIP replies are indexed by what was asked (service,
class, instance, attribute), unwrapping Multiple Service Packets on both sides.
It answers the driver's CIP requests with those exact reply bytes; only the
per-connection plumbing the capture does not hold (session handle, Forward Open
ids, the encapsulation and CPF wrapping) is made up here.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class Frame:
    index: int
    src: tuple[str, int]
    dst: tuple[str, int]
    command: int
    data: bytes          # the encapsulation frame, header included


def _packets(raw: bytes) -> Iterator[bytes]:
    endian = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    if struct.unpack(endian + "I", raw[20:24])[0] != 1:
        raise ValueError("not an Ethernet pcap")
    off = 24
    while off + 16 <= len(raw):
        incl = struct.unpack(endian + "I", raw[off + 8:off + 12])[0]
        yield raw[off + 16:off + 16 + incl]
        off += 16 + incl


def _tcp(frame: bytes):
    off = 14
    ethertype = struct.unpack(">H", frame[12:14])[0]
    if ethertype == 0x8100:
        ethertype, off = struct.unpack(">H", frame[16:18])[0], 18
    if ethertype != 0x0800 or frame[off + 9] != 6:
        return None
    ihl = (frame[off] & 0x0F) * 4
    total = struct.unpack(">H", frame[off + 2:off + 4])[0]
    src, dst = socket.inet_ntoa(frame[off + 12:off + 16]), socket.inet_ntoa(frame[off + 16:off + 20])
    tcp = off + ihl
    sport, dport, seq = struct.unpack(">HHI", frame[tcp:tcp + 8])
    doff = (frame[tcp + 12] >> 4) * 4
    return (src, sport), (dst, dport), seq, frame[tcp + doff:off + total]


def read_frames(path: Path) -> list[Frame]:
    """Every EtherNet/IP frame of a capture, in the order their streams carried them."""
    streams: dict[tuple, bytearray] = {}
    seen: set[tuple] = set()
    order: list[tuple] = []
    for pkt in _packets(path.read_bytes()):
        t = _tcp(pkt)
        if t is None or not t[3]:
            continue
        src, dst, seq, payload = t
        if (src, dst, seq) in seen:
            continue  # retransmission
        seen.add((src, dst, seq))
        if (src, dst) not in streams:
            streams[(src, dst)] = bytearray()
            order.append((src, dst))
        streams[(src, dst)] += payload
    frames = []
    for key in order:
        data, pos = bytes(streams[key]), 0
        while pos + 24 <= len(data):
            command, length = struct.unpack_from("<HH", data, pos)
            frames.append(Frame(len(frames), key[0], key[1], command, data[pos:pos + 24 + length]))
            pos += 24 + length
    return frames


def cip_of(frame: Frame) -> bytes | None:
    """The CIP message of a SendRRData / SendUnitData frame (sequence count removed)."""
    if frame.command not in (0x6F, 0x70):
        return None
    body = frame.data[24:]
    count, pos = struct.unpack_from("<H", body, 6)[0], 8
    for _ in range(count):
        kind, n = struct.unpack_from("<HH", body, pos)
        if kind == 0xB2:
            return body[pos + 4:pos + 4 + n]
        if kind == 0xB1:
            return body[pos + 6:pos + 4 + n]
        pos += 4 + n
    return None


def request_key(msg: bytes) -> tuple[int, int | None, int | None, int | None, bytes]:
    """(service, class, instance, attribute, request data) of a CIP request."""
    service, words = msg[0], msg[1]
    path, data = msg[2:2 + 2 * words], msg[2 + 2 * words:]
    ids: dict[str, int] = {}
    i = 0
    while i < len(path):
        seg = path[i]
        kind = {0x00: "class", 0x04: "instance", 0x10: "attribute"}.get(seg & 0x1C, "other")
        if seg & 0xE0 != 0x20:
            break
        if seg & 3 == 0:
            ids.setdefault(kind, path[i + 1])
            i += 2
        else:
            ids.setdefault(kind, struct.unpack_from("<H", path, i + 2)[0])
            i += 4
    return service, ids.get("class"), ids.get("instance"), ids.get("attribute"), data


def _split_multi(msg: bytes, is_reply: bool) -> list[bytes]:
    data = msg[4 + 2 * msg[3]:] if is_reply else msg[2 + 2 * msg[1]:]
    count = struct.unpack_from("<H", data, 0)[0]
    offsets = list(struct.unpack_from(f"<{count}H", data, 2)) + [len(data)]
    return [data[offsets[i]:offsets[i + 1]] for i in range(count)]


def recorded_replies(frames: list[Frame]) -> dict[tuple, bytes]:
    """First recorded reply per request (service, class, instance, attribute, data)."""
    table: dict[tuple, bytes] = {}
    pending: dict[tuple, list[bytes]] = {}
    for f in frames:
        msg = cip_of(f)
        if not msg:
            continue
        flow = (f.src, f.dst) if not msg[0] & 0x80 else (f.dst, f.src)
        if not msg[0] & 0x80:
            pending.setdefault(flow, []).append(msg)
            continue
        queue = pending.get(flow)
        if not queue:
            continue
        req = queue.pop(0)
        pairs = [(req, msg)]
        if req[0] == 0x0A and msg[0] == 0x8A:
            pairs = list(zip(_split_multi(req, False), _split_multi(msg, True)))
        for rq, rp in pairs:
            table.setdefault(request_key(rq), rp)
    return table


class Responder:
    """Answers an EtherNet/IP client on loopback with recorded CIP replies."""

    def __init__(self, replies: dict[tuple, bytes], list_identity: bytes | None = None) -> None:
        self.replies = replies
        self.list_identity = list_identity
        self.asked: list[tuple] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while True:
                head = _recv(conn, 24)
                if head is None:
                    return
                command, length, _, _, context, options = struct.unpack("<HHII8sI", head)
                body = _recv(conn, length) or b""
                payload, session = self._answer(command, body)
                if payload is None:
                    return
                conn.sendall(struct.pack("<HHII8sI", command, len(payload), session, 0, context,
                                         options) + payload)

    def _answer(self, command: int, body: bytes) -> tuple[bytes | None, int]:
        session = 0x5E55_1011
        if command == 0x65:
            return body[:4], session
        if command == 0x63:
            return self.list_identity or struct.pack("<H", 0), session
        if command not in (0x6F, 0x70):
            return None, session
        count, pos, items = struct.unpack_from("<H", body, 6)[0], 8, {}
        for _ in range(count):
            kind, n = struct.unpack_from("<HH", body, pos)
            items[kind] = body[pos + 4:pos + 4 + n]
            pos += 4 + n
        if command == 0x6F:
            reply = self._cip(items[0xB2])
            out = [(0x0000, b""), (0x00B2, reply)]
        else:
            data = items[0xB1]
            out = [(0x00A1, items[0xA1]), (0x00B1, data[:2] + self._cip(data[2:]))]
        cpf = struct.pack("<IHH", 0, 0, len(out)) + b"".join(
            struct.pack("<HH", k, len(d)) + d for k, d in out)
        return cpf, session

    def _cip(self, msg: bytes) -> bytes:
        key = request_key(msg)
        service, cls = key[0], key[1]
        if cls == 0x06 and service == 0x52:  # Unconnected Send: answer the embedded request
            n = struct.unpack_from("<H", msg, 2 + 2 * msg[1] + 2)[0]
            start = 2 + 2 * msg[1] + 4
            return self._cip(msg[start:start + n])
        if cls == 0x06 and service in (0x54, 0x5B):  # plumbing the capture does not hold
            data = key[4]
            return bytes([service | 0x80, 0, 0, 0]) + b"\x01\x00\xfe\x80" + data[6:18] + bytes(10)
        if cls == 0x06 and service == 0x4E:
            return bytes([0xCE, 0, 0, 0]) + key[4][2:10] + b"\0\0"
        self.asked.append(key)
        for candidate in (key, key[:4] + (b"",)):
            if candidate in self.replies:
                return self.replies[candidate]
        return bytes([service | 0x80, 0, 0x08, 0])


def _recv(conn: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf
