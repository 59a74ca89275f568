"""Fake drivers: subclasses of our own Driver interface for tests that need a
device to behave in a way no simulator does (a bug, a hang, a set pace)."""

from __future__ import annotations

from datetime import datetime, timezone

from drivers.base import Driver
from integrity.model import Artifact, Capture, Kind, Mode


class FakeDriver(Driver):
    """No options, no requests; ``collect`` returns a one-artifact capture of
    the device (override it for other behaviour)."""

    protocol = "modbus"
    default_port = 502
    READ_OPERATIONS = frozenset()

    @classmethod
    def parse_options(cls, table, *, file, device):
        return None

    def collect(self, mode=Mode.DEEP, *, now=None):
        return Capture(self.device.name, "modbus", mode, datetime.now(timezone.utc),
                       (Artifact.from_value("identity", Kind.IDENTITY, {"ok": True}),))
