"""Hostile peers, the same way for every protocol: a proxy in front of a real
simulator that passes genuine reply frames through a policy.

The proxy forwards the checker's requests to the simulator untouched (so the
simulator's request ledger still sees exactly what the checker sent) and cuts
the simulator's replies into frames by the protocol's own length field
(``FRAMINGS``).  A policy decides, reply by reply, what the checker gets:

  ``At(k, action)``  replies before the k-th pass; at the k-th the peer turns
                     hostile for good: ``silent``, ``reset`` mid-reply,
                     ``partial`` (half a reply, then silence),
                     ``garbage`` (not the protocol), ``drip`` (announces the
                     largest reply the length field allows, then one byte every
                     ``DRIP_EVERY`` s), ``huge`` (largest length, then silence);
  ``Fuzz(seed, rate)`` a seeded mutation of some genuine replies (bit flips,
                     truncation, drops, duplicates, replays, length fields...).

Only the protocol's framing differs; every policy works on every protocol.
A bench of these in front of real simulators: ``support.hostile_bench``.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Callable

from support.peers import accept_until

LOOPBACK = "127.0.0.1"
# One crane controller per protocol, named after the protocol in the hostile tests.
IMAGE = {"s7": "plc-hoist", "modbus": "vfd-hoist", "logix": "plc-gantry"}
PROTOCOLS = sorted(IMAGE)
DRIP_EVERY = 0.4  # seconds between dripped bytes: below any per-receive timeout the tests use
GARBAGE = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True)
class Framing:
    """Where a protocol's frame says its length: ``header`` bytes are enough to
    know it; the field at ``offset`` (2 bytes, ``order``) plus ``extra`` is the
    whole frame's size."""

    header: int
    offset: int
    order: str
    extra: int

    def size(self, head: bytes) -> int:
        return int.from_bytes(head[self.offset:self.offset + 2], self.order) + self.extra

    def with_length(self, frame: bytes, field: int) -> bytes:
        return (frame[:self.offset] + field.to_bytes(2, self.order)
                + frame[self.offset + 2:])


FRAMINGS = {
    "s7": Framing(header=4, offset=2, order="big", extra=0),         # TPKT: whole length
    "modbus": Framing(header=6, offset=4, order="big", extra=6),     # MBAP: length after unit-less header
    "logix": Framing(header=24, offset=2, order="little", extra=24),  # ENIP: data length after the header
}


def bound(timeout: float, retries: int) -> float:
    """How long a check of a hostile peer may take (issue 8's acceptance bound)."""
    return timeout * (retries + 1) + 1.0


class Reply:
    """What a policy may do with one connection's reply stream."""

    def __init__(self, conn: socket.socket, framing: Framing, stop: threading.Event,
                 forwarder: threading.Thread, done: threading.Event) -> None:
        self.conn = conn
        self.framing = framing
        self.stop = stop
        self.forwarder = forwarder
        self.done = done

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def hang(self) -> None:
        """Keep the connection open and say nothing until the test ends."""
        self.stop.wait()

    def reset(self) -> None:
        """Close with RST.  The forwarder must have let go of the socket first: a
        close under a thread blocked in recv sends nothing at all."""
        self.done.set()
        self.forwarder.join(5)
        self.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.conn.close()


Action = Callable[[Reply, bytes], None]


def silent(reply: Reply, frame: bytes) -> None:
    reply.hang()


def reset(reply: Reply, frame: bytes) -> None:
    reply.send(frame[:max(1, len(frame) // 2)])
    reply.reset()


def partial(reply: Reply, frame: bytes) -> None:
    """Half a reply, then silence: a timeout, not a malformed reply."""
    reply.send(frame[:max(1, len(frame) // 2)])
    reply.hang()


def garbage(reply: Reply, frame: bytes) -> None:
    reply.send(GARBAGE)
    reply.hang()


def drip(reply: Reply, frame: bytes) -> None:
    """Announce the largest reply the length field can carry, then trickle it."""
    big = reply.framing.with_length(frame, 0xFFFF)
    reply.send(big[:reply.framing.header])
    body = big[reply.framing.header:] + bytes(0xFFFF)
    for byte in body:
        if reply.stop.wait(DRIP_EVERY):
            return
        reply.send(bytes([byte]))


def huge(reply: Reply, frame: bytes) -> None:
    reply.send(reply.framing.with_length(frame, 0xFFFF))
    reply.hang()


ACTIONS: dict[str, Action] = {"silent": silent, "reset": reset, "partial": partial,
                              "garbage": garbage,
                              "drip": drip, "huge": huge}


class Policy:
    """Decides each reply of one connection; a fresh one per connection."""

    def __call__(self, reply: Reply, index: int, frame: bytes) -> bool:
        """Send (or not) reply ``index``; False ends the connection's replies."""
        reply.send(frame)
        return True


class At(Policy):
    def __init__(self, k: int, action: str) -> None:
        self.k = k
        self.action = ACTIONS[action]

    def __call__(self, reply: Reply, index: int, frame: bytes) -> bool:
        if index < self.k:
            reply.send(frame)
            return True
        self.action(reply, frame)
        return False


class Fuzz(Policy):
    """Mutates about ``rate`` of the genuine replies, deterministically for a seed."""

    MUTATIONS = ("flip", "byte", "truncate", "drop", "duplicate", "insert", "length",
                 "replay", "zero-tail")

    def __init__(self, rng: random.Random, rate: float, log: list[str]) -> None:
        self.rng = rng
        self.rate = rate
        self.log = log
        self.previous = b""

    def __call__(self, reply: Reply, index: int, frame: bytes) -> bool:
        rng = self.rng
        out = frame
        if rng.random() < self.rate:
            kind = rng.choice(self.MUTATIONS)
            pos = rng.randrange(len(frame))
            if kind == "flip":
                out = frame[:pos] + bytes([frame[pos] ^ (1 << rng.randrange(8))]) + frame[pos + 1:]
            elif kind == "byte":
                out = frame[:pos] + bytes([rng.randrange(256)]) + frame[pos + 1:]
            elif kind == "truncate":
                out = frame[:pos]
            elif kind == "drop":
                out = b""
            elif kind == "duplicate":
                out = frame + frame
            elif kind == "insert":
                out = frame[:pos] + rng.randbytes(rng.randrange(1, 16)) + frame[pos:]
            elif kind == "length":
                out = reply.framing.with_length(frame, rng.choice(
                    [0, 1, rng.randrange(0x10000), 0xFFFF]))
            elif kind == "replay":
                out = self.previous or frame
            else:  # zero-tail: the end of the reply (values, status) zeroed
                out = frame[:pos] + bytes(len(frame) - pos)
            self.log.append(f"reply {index}: {kind} at {pos}")
        self.previous = frame
        if out:
            reply.send(out)
        return True


class HostileProxy:
    """Listens on a loopback port; each connection gets its own upstream
    connection to ``upstream`` and a fresh policy from ``self.policy()``."""

    def __init__(self, upstream: tuple[str, int], framing: Framing) -> None:
        self.upstream = upstream
        self.framing = framing
        self.policy: Callable[[], Policy] = Policy
        self.connections = 0
        self.replies = 0  # genuine reply frames seen, over all connections
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self.sock = socket.create_server((LOOPBACK, 0), backlog=32)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _keep(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._socks.append(sock)
        return sock

    def _accept(self) -> None:
        accept_until(self.sock, self._stop, self._start)

    def _start(self, conn: socket.socket) -> None:
        self.connections += 1
        threading.Thread(target=self._serve, args=(self._keep(conn), self.policy()),
                         daemon=True).start()

    def _serve(self, conn: socket.socket, policy: Policy) -> None:
        try:
            up = self._keep(socket.create_connection(self.upstream, timeout=5))
        except OSError:
            conn.close()
            return
        up.settimeout(None)
        done = threading.Event()
        forwarder = threading.Thread(target=self._forward, args=(conn, up, done), daemon=True)
        forwarder.start()
        reply = Reply(conn, self.framing, self._stop, forwarder, done)
        index = 0
        try:
            while (frame := self._frame(up)) is not None:
                with self._lock:
                    self.replies += 1
                if not policy(reply, index, frame):
                    break
                index += 1
        except OSError:
            pass  # the checker hung up: that connection is over
        finally:
            _close(conn)
            _close(up)

    def _frame(self, up: socket.socket) -> bytes | None:
        head = _recv_exact(up, self.framing.header)
        if head is None:
            return None
        size = self.framing.size(head)
        rest = _recv_exact(up, max(0, size - len(head)))
        return None if rest is None else head + rest

    def _forward(self, conn: socket.socket, up: socket.socket, done: threading.Event) -> None:
        """The checker's requests to the simulator, untouched, until either side
        closes or the reply side needs the socket to itself (``done``)."""
        try:
            while not done.is_set() and not self._stop.is_set():
                if not select.select([conn], [], [], 0.05)[0]:
                    continue
                data = conn.recv(65536)
                if not data:
                    break
                up.sendall(data)
        except (OSError, ValueError):
            pass
        _close(up)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            _close(s)

    def __enter__(self) -> "HostileProxy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
