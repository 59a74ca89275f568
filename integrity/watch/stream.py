"""TCP stream reassembly and application framing for the watcher.

dpkt gives us link, IP and TCP headers; neither dpkt nor scapy hands back
correct byte streams (scapy's TCPSession zero-fills a missing segment and
passes the hole to the parser; dpkt has no reassembly), so this module keeps,
per direction, the next expected sequence number (modulo 2**32) and the
segments that arrived early:

- a retransmission or overlap is trimmed to its new bytes;
- an early segment waits until the hole before it is filled;
- a hole that stays open too long (``HOLE_TIMEOUT`` of packet time, or
  ``MAX_PENDING`` bytes, or ``MAX_SEGMENTS`` segments of later data) is given
  up: a mirror port drops packets and nobody resends them to us.  The framer
  is told (a None chunk) and resynchronises on the next frame header.

Everything is bounded: pending bytes per direction, framer buffers, and the
number of connections tracked (the oldest is forgotten first).
"""

from __future__ import annotations

import struct
from collections import OrderedDict

MASK = 0xFFFFFFFF
MAX_PENDING = 64 * 1024      # early bytes kept per direction while waiting for a hole
MAX_SEGMENTS = 64            # early segments kept per direction
HOLE_TIMEOUT = 1.0           # seconds a hole may stay open (a lost segment is not resent to us)
MAX_AHEAD = 1 << 20          # a segment further ahead than this starts afresh
MAX_BUFFER = 65535 + 24 + 1  # the largest TPKT or EtherNet/IP frame fits, nothing more is kept
MAX_FLOWS = 2048             # connections tracked; worst case ~2048 x 2 x 128 KiB held


def _delta(seq: int, ref: int) -> int:
    """seq - ref as a signed 32-bit distance (sequence numbers wrap)."""
    d = (seq - ref) & MASK
    return d - (1 << 32) if d & 0x80000000 else d


class HalfStream:
    """One direction of a TCP connection: bytes in order, once.

    ``feed`` returns the chunks a segment releases; a None among them marks a
    hole that was given up (the framer must resynchronise there).
    """

    __slots__ = ("next_seq", "pending", "pending_bytes", "hole_since")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.pending: dict[int, tuple[float, bytes]] = {}
        self.pending_bytes = 0
        self.hole_since = 0.0

    def feed(self, ts: float, seq: int, syn: bool, data: bytes) -> list[tuple[float, bytes] | None]:
        if syn:
            self.next_seq = (seq + 1) & MASK
            self.pending.clear()
            self.pending_bytes = 0
            seq = (seq + 1) & MASK
        if not data:
            return self._expire(ts)
        if self.next_seq is None:  # joined mid-connection: start here
            self.next_seq = seq
        d = _delta(seq, self.next_seq)
        if d < 0:
            if len(data) <= -d:
                return self._expire(ts)    # a retransmission of bytes already delivered
            data, seq, d = data[-d:], self.next_seq, 0
        out: list[tuple[float, bytes] | None] = []
        if d > MAX_AHEAD:                  # far away: a new start, not a hole to wait for
            out = self.flush()
            out.append(None)
            self.next_seq, d = seq, 0
        if d > 0:
            old = self.pending.get(seq, (ts, b""))[1]
            if len(data) > len(old):
                self.pending_bytes += len(data) - len(old)
                self.pending[seq] = (ts, data)
            if len(self.pending) == 1 and not old:
                self.hole_since = ts
            return out + self._expire(ts)
        out.append((ts, data))
        self.next_seq = (seq + len(data)) & MASK
        self._drain(out)
        return out + self._expire(ts)

    def _expire(self, ts: float) -> list[tuple[float, bytes] | None]:
        """Give up a hole that stayed open too long, for too many bytes or segments."""
        if self.pending and (self.pending_bytes > MAX_PENDING or len(self.pending) > MAX_SEGMENTS
                             or ts - self.hole_since > HOLE_TIMEOUT):
            return self.flush()
        return []

    def flush(self) -> list[tuple[float, bytes] | None]:
        """Everything held early, in order, with a None at each hole (end of input, timeouts)."""
        out: list[tuple[float, bytes] | None] = []
        while self.pending:
            self.next_seq = min(self.pending, key=lambda s: _delta(s, self.next_seq))  # type: ignore[arg-type]
            out.append(None)
            self._drain(out)
        return out

    def _drain(self, out: list[tuple[float, bytes] | None]) -> None:
        while self.pending:
            ready = [s for s in self.pending if _delta(s, self.next_seq) <= 0]  # type: ignore[arg-type]
            if not ready:
                return
            for s in sorted(ready, key=lambda s: _delta(s, self.next_seq)):  # type: ignore[arg-type]
                ts, data = self.pending.pop(s)
                self.pending_bytes -= len(data)
                d = _delta(s, self.next_seq)  # type: ignore[arg-type]
                if len(data) > -d:
                    out.append((ts, data[-d:] if d else data))
                    self.next_seq = (s + len(data)) & MASK
        self.hole_since = 0.0


class Framer:
    """Cuts a byte stream into application frames; subclasses know the header.

    ``size(buf, i)`` says how long the frame starting at ``i`` is, or None when
    no frame can start there; the framer then slides one byte (junk after a
    lost segment, or a capture joined mid-frame).  A header is checked on
    several fields, so junk rarely passes for one, and a false start fails at
    the next frame.
    """

    header = 4

    def __init__(self) -> None:
        self.buf = bytearray()

    def reset(self) -> None:
        self.buf.clear()

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self.buf
        buf += chunk
        out = []
        i, n = 0, len(buf)
        while n - i >= self.header:
            size = self.size(buf, i)
            if size is None:
                i = self.skip(buf, i)
                continue
            if n - i < size:
                break
            out.append(bytes(buf[i:i + size]))
            i += size
        del buf[:i]
        if len(buf) > MAX_BUFFER:  # only junk grows past one frame
            del buf[:-self.header]
        return out

    def size(self, buf: bytearray, i: int) -> int | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def skip(self, buf: bytearray, i: int) -> int:
        return i + 1


class TpktFramer(Framer):
    """RFC 1006: 03 00 <length>; S7 and S7CommPlus ride on it."""

    def size(self, buf: bytearray, i: int) -> int | None:
        if buf[i] != 3 or buf[i + 1] != 0:
            return None
        (n,) = struct.unpack_from(">H", buf, i + 2)
        return n if n >= 7 else None

    def skip(self, buf: bytearray, i: int) -> int:
        at = buf.find(b"\x03\x00", i + 1)
        return at if at >= 0 else len(buf) - 1


class EnipFramer(Framer):
    header = 24
    COMMANDS = frozenset({0x00, 0x04, 0x63, 0x64, 0x65, 0x66, 0x6F, 0x70})

    def size(self, buf: bytearray, i: int) -> int | None:
        command, length = struct.unpack_from("<HH", buf, i)
        (options,) = struct.unpack_from("<I", buf, i + 20)
        # Options is always zero in EtherNet/IP; with the command it makes a good anchor.
        return 24 + length if command in self.COMMANDS and options == 0 else None


class ModbusFramer(Framer):
    header = 8

    def size(self, buf: bytearray, i: int) -> int | None:
        proto, length = struct.unpack_from(">HH", buf, i + 2)
        plausible = proto == 0 and 2 <= length <= 254 and 0 < buf[i + 7] & 0x7F <= 100
        return 6 + length if plausible else None


class FlowTable:
    """Connections by (client, client port, server, server port), oldest forgotten first."""

    def __init__(self, limit: int = MAX_FLOWS) -> None:
        self.limit = limit
        self.flows: OrderedDict[tuple, object] = OrderedDict()

    def get(self, key: tuple) -> object | None:
        flow = self.flows.get(key)
        if flow is not None:
            self.flows.move_to_end(key)
        return flow

    def put(self, key: tuple, flow: object) -> None:
        self.flows[key] = flow
        if len(self.flows) > self.limit:
            self.flows.popitem(last=False)

    def drop(self, key: tuple) -> None:
        self.flows.pop(key, None)
