"""Loopback peers that are not the device a driver expects: silent, resetting,
or answering bytes of the wrong protocol.  And ports where nothing listens."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Callable, Iterator

LOOPBACK = "127.0.0.1"


def accept_until(sock: socket.socket, stop: threading.Event,
                 handle: Callable[[socket.socket], None]) -> None:
    """Accept connections on ``sock`` (which has a short timeout) until ``stop`` is
    set, handing each to ``handle``."""
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except OSError:
            continue
        handle(conn)


class Peer:
    """Accepts connections on an OS port.  ``reply``: bytes sent on connect (None:
    stay silent); ``reset``: close at once with RST, like a port guard."""

    def __init__(self, reply: bytes | None = None, *, reset: bool = False) -> None:
        self.reply = reply
        self.reset = reset
        self.sock = socket.create_server((LOOPBACK, 0), backlog=16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.connections = 0  # how many connections were accepted
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        accept_until(self.sock, self._stop, self._handle)

    def _handle(self, conn: socket.socket) -> None:
        self.connections += 1
        self.accepted.set()
        if self.reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return
        self.conns.append(conn)
        if self.reply is not None:
            conn.sendall(self.reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self.conns:
            conn.close()
        self.sock.close()

    def __enter__(self) -> "Peer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it
    while the test runs) but not listening."""
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
