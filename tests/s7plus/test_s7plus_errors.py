"""Could-not-check outcomes: each with its cause, exit 3, within a bound no peer
can stretch (the session's own deadline, not the library's per-receive timeout)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from drivers.s7plus_session import CONNECT_REQUESTS
from support.site import TIMEOUT

# The connect budget is CONNECT_REQUESTS timeouts; the margin is for a loaded machine.
WITHIN = TIMEOUT * CONNECT_REQUESTS + 3.0


class TricklePeer:
    """Announces a 64 KiB TPKT frame, then sends one byte every 0.2 s: each
    receive succeeds well inside the timeout, so only a deadline ends it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            try:
                conn.recv(1024)
                conn.sendall(b"\x03\x00\xff\xff")
                while not self._stop.wait(0.2):
                    conn.sendall(b"\x00")
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def check(run, inventory, port: int) -> tuple[int, str, float]:
    """Capture a baseline of a device that is not a working CPU: exit 3, nothing stored."""
    inventory.write({"name": "plc-x", "protocol": "s7plus", "host": "127.0.0.1", "port": port,
                     "timeout": TIMEOUT, "retries": 0})
    started = time.monotonic()
    r = run.capture("plc-x")
    elapsed = time.monotonic() - started
    return r.exit_code, r.output, elapsed


def test_closed_port_is_refused(run, inventory, closed_port):
    code, res, _ = check(run, inventory, closed_port)
    assert code == 3 and "connection refused" in res, res


def test_silent_peer_times_out(run, inventory, silent_listener):
    code, res, elapsed = check(run, inventory, silent_listener.port)
    assert code == 3 and "within" in res and elapsed < WITHIN, (res, elapsed)


def test_trickling_peer_is_cut_off_by_the_deadline(run, inventory):
    peer = TricklePeer()
    try:
        started = time.monotonic()
        code, res, _ = check(run, inventory, peer.port)
        elapsed = time.monotonic() - started
    finally:
        peer.close()
    assert code == 3 and f"no complete answer within {TIMEOUT * CONNECT_REQUESTS:g} s" in res, res
    assert elapsed < WITHIN, elapsed


@pytest.mark.parametrize("reply", [b"HTTP/1.1 400 Bad Request\r\n\r\n", b"\x03\x00\x00\x07\x02\xf0\x80"])
def test_wrong_protocol_is_not_ok(run, inventory, peer, reply):
    p = peer(reply)
    code, res, elapsed = check(run, inventory, p.port)
    assert code == 3 and "plc-x" in res and elapsed < WITHIN, res
