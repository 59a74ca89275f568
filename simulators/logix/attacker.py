"""The attacker side, for tests and the demo: a pycomm3 client that writes.

Its connection is declared with ``mark_attacker`` before the first byte is
sent, so the suite-wide read-only proof can tell its writes from the checker's.
Never used by ``drivers/``.
"""

from __future__ import annotations

from typing import Any

from pycomm3 import LogixDriver as _PycommLogix
from pycomm3.socket_ import Socket

from simulators.base import mark_attacker


class _AttackerSocket(Socket):
    def connect(self, host: str, port: int) -> None:
        # Bind first so the local address is known, and marked, before anything is sent.
        self.sock.bind(("127.0.0.1", 0))
        mark_attacker(self.sock.getsockname())
        super().connect(host, port)


def attacker_client(host: str, port: int, slot: int = 0, **kwargs: Any) -> _PycommLogix:
    """An opened pycomm3 LogixDriver whose connection is marked as the attacker's."""
    plc = _PycommLogix(f"{host}:{port}/{slot}", **kwargs)
    plc._sock = _AttackerSocket(5.0)
    if not plc.open():
        raise RuntimeError("attacker could not open a session")
    return plc


def attacker_write_tag(host: str, port: int, tag: str, value: Any, slot: int = 0) -> None:
    """Write one tag over the network as another client would (e.g. an HMI or an intruder)."""
    plc = attacker_client(host, port, slot, init_program_tags=tag.startswith("Program:"))
    try:
        result = plc.write(tag, value)
        if result.error:
            raise RuntimeError(f"attacker write of {tag} failed: {result.error}")
    finally:
        plc.close()
