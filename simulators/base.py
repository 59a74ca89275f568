"""What every simulator shares: image loading, request recording, attacker marking.

Recording: each simulator appends a ``RecordedRequest`` for every request it
receives, to its own ``requests`` and to the process-wide ``LEDGER``.  Test and
demo code that plays the attacker opens its own connection and registers that
connection's local address with ``mark_attacker``; every other request in the
ledger came from the checker and must be a read.  ``checker_violations()``
returns the ones that were not.
"""

from __future__ import annotations

import importlib
import json
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

IMAGES = Path(__file__).parent / "images"


@dataclass(frozen=True)
class RecordedRequest:
    device: str
    protocol: str
    peer: tuple[str, int] | None  # the client's (host, port) as the server saw it
    operation: str                # e.g. "FC3", "upload", "cip:0x4c@0x6b"
    read: bool                    # True when the operation only reads
    detail: str = ""


_lock = threading.Lock()
LEDGER: list[RecordedRequest] = []
_ATTACKERS: set[tuple[str, int]] = set()


def mark_attacker(sockname: tuple[str, int]) -> None:
    """Declare a client connection (its local address) as the test's attacker."""
    with _lock:
        _ATTACKERS.add((sockname[0], int(sockname[1])))


def is_attacker(peer: tuple[str, int] | None) -> bool:
    with _lock:
        return peer is not None and (peer[0], int(peer[1])) in _ATTACKERS


def checker_violations() -> list[RecordedRequest]:
    """Requests in the ledger that were not reads and did not come from an attacker."""
    with _lock:
        ledger = list(LEDGER)
    return [r for r in ledger if not r.read and not is_attacker(r.peer)]


def load_image(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        image = json.load(fh)
    for key in ("name", "protocol"):
        if key not in image:
            raise ValueError(f"{path}: device image lacks {key!r}")
    return image


class Simulator(ABC):
    """A simulated device serving one image on ``host``:``port`` (port 0 = from the OS).

    ``start`` returns once the server listens (``port`` is then the real port);
    it serves from a background thread until ``stop``.  ``latency`` (seconds,
    default 0) delays every reply, as a real device's answer time would.
    """

    protocol: ClassVar[str]

    def __init__(self, image: dict[str, Any], *, host: str = "127.0.0.1", port: int = 0,
                 latency: float = 0.0) -> None:
        if latency < 0:
            raise ValueError(f"latency must be >= 0 s, not {latency}")
        self.image = image
        # Seconds each reply is held back, like a real device's answer time (benchmarks).
        # Applied per connection, so one slow reply never delays another device.
        self.latency = float(latency)
        self.name: str = image["name"]
        self.host = host
        self.port = port
        self._requests: list[RecordedRequest] = []
        self._req_lock = threading.Lock()

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def inventory_entry(self) -> dict[str, Any]:
        """A ``[[devices]]`` table that checks this simulator as it is now."""

    def record(self, peer: tuple[str, int] | None, operation: str, read: bool, detail: str = "") -> None:
        req = RecordedRequest(self.name, self.protocol, peer, operation, read, detail)
        with self._req_lock:
            self._requests.append(req)
        with _lock:
            LEDGER.append(req)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._req_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._req_lock:
            self._requests.clear()

    def __enter__(self) -> "Simulator":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


SIMULATORS: dict[str, str] = {
    "modbus": "simulators.modbus:ModbusSimulator",
    "s7": "simulators.s7:S7Simulator",
    "logix": "simulators.logix:LogixSimulator",
    "s7plus": "simulators.s7plus:S7PlusSimulator",
}


def simulator_class(protocol: str) -> type[Simulator]:
    module_name, _, attr = SIMULATORS[protocol].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def simulator_for(image: dict[str, Any], *, host: str = "127.0.0.1", port: int = 0,
                  latency: float = 0.0) -> Simulator:
    return simulator_class(image["protocol"])(image, host=host, port=port, latency=latency)
