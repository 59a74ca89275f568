"""A simulated Allen-Bradley Logix controller speaking EtherNet/IP and CIP.

It serves what pycomm3 1.2.16's ``LogixDriver.open()`` needs, including the
full tag and UDT upload (controller and program scope, nested UDTs, paged
symbol lists), Read/Write Tag, Multiple Service Packet, the Controller Change
Detection attributes (class 0x8E) and PLC time.  See ``image.py`` for the
image format and ``cip.py`` for the services.

Changes an engineer or the plant would make are methods here
(``edit_routine``, ``add_udt_member``, ``set_revision``, ``set_keyswitch``,
``set_value``); network writes by an attacker go through
``simulators.logix.attacker``.  ``change_on`` applies such a change at an exact
point of a client's conversation (when a given request arrives), so a test can
land a download in the middle of a check without any timing.
"""

from __future__ import annotations

import logging
import struct
import socket
import threading
from typing import Any, Callable

from simulators.base import Simulator
from simulators.logix.cip import CipHandler
from simulators.logix.enip import EnipServer
from simulators.logix.image import ControllerImage

__all__ = ["LogixSimulator"]

logging.getLogger("pycomm3").setLevel(logging.CRITICAL)


class LogixSimulator(Simulator):
    protocol = "logix"

    def __init__(self, image: dict[str, Any], *, host: str = "127.0.0.1", port: int = 0,
                 latency: float = 0.0) -> None:
        super().__init__(image, host=host, port=port, latency=latency)
        self.controller = ControllerImage(image)
        self.cip = CipHandler(self.controller)
        self._server: EnipServer | None = None
        self._changes: list[tuple[str, Callable[[], None]]] = []
        self._changes_lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = EnipServer(self, self.host, self.port)
        self.port = self._server.address[1]
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def inventory_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "protocol": self.protocol, "host": self.host,
                                 "port": self.port, "slot": self.controller.slot,
                                 "config_tags": list(self.image.get("config_tags", []))}
        if self.controller.modules:
            entry["modules"] = sorted(self.controller.modules)
        return entry

    def record(self, peer: tuple[str, int] | None, operation: str, read: bool,
               detail: str = "") -> None:
        super().record(peer, operation, read, detail)
        with self._changes_lock:
            due = [change for op, change in self._changes if op == operation]
            self._changes = [(op, change) for op, change in self._changes if op != operation]
        for change in due:
            change()

    def change_on(self, operation: str, change: Callable[[], None]) -> None:
        """Run ``change`` once, when the next ``operation`` request (as recorded, e.g.
        "cip:0x55@0x6b") arrives and before it is answered."""
        with self._changes_lock:
            self._changes.append((operation, change))

    # -- what ListIdentity answers --------------------------------------------------

    def list_identity_item(self) -> bytes:
        c = self.controller
        ident = c.identity
        name = ident["product_name"].encode("iso-8859-1")
        major, minor = ident["revision"]
        sockaddr = struct.pack(">HH4s8x", socket.AF_INET, self.port,
                               socket.inet_aton(self.host))
        item = (struct.pack("<H", 1) + sockaddr
                + struct.pack("<HHHBB", ident["vendor"], ident["product_type"],
                              ident["product_code"], major, minor)
                + c.status_bytes() + struct.pack("<I", ident["serial"])
                + bytes([len(name)]) + name + b"\x03")
        return struct.pack("<HHH", 1, 0x0C, len(item)) + item

    # -- changes made on the controller, not over the network -------------------------

    def edit_routine(self, program: str, routine: str, text: str) -> None:
        """An online edit: the routine changes and the AuditValue is regenerated."""
        self.controller.edit_routine(program, routine, text)

    def add_udt_member(self, udt: str, member: str, type_name: str, dim: int = 0) -> None:
        """A download that adds a member to a UDT (new layout, new handle, new AuditValue)."""
        self.controller.add_udt_member(udt, member, type_name, dim)

    def set_revision(self, major: int, minor: int) -> None:
        """A firmware flash."""
        self.controller.set_revision(major, minor)

    def set_keyswitch(self, position: str) -> None:
        self.controller.set_keyswitch(position)

    def set_value(self, tag: str, value: Any, program: str | None = None) -> None:
        """The process changing a tag (e.g. an actual speed), not a network write."""
        self.controller.set_value(tag, value, program)

    @property
    def audit_value(self) -> int | None:
        return self.controller.audit_value
