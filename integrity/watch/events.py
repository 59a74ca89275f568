"""What the watcher saw: one frozen ``WireEvent`` per operation on the wire.

A decoder says *what* a PDU does (``Finding``); the watch loop adds *where and
when* (addresses, time, the inventory device, whether the station is allowed)
to make a ``WireEvent``.  ``src`` is always the station (the TCP client) and
``dst`` the device (the TCP server), whichever way the PDU itself travelled:
in an S7 download the CPU sends the "download block" jobs to the station, but
the change is still the station's doing on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

SCHEMA = 1

# Non-change operations that are still events (who talks to a controller).
CONNECTION_OPERATIONS = frozenset({"enip.forward-open", "s7plus.session-setup", "unknown-device"})


@dataclass(frozen=True)
class Finding:
    """What one request does, as a decoder sees it (no addresses, no time)."""

    protocol: str                 # "s7", "s7plus", "enip", "modbus"
    operation: str                # "s7.download-block", "modbus.write-register", ...
    target: str = ""              # "OB1", "holding 100-109", "tag Speed", "class 0x8E/1"
    codes: Mapping[str, Any] = field(default_factory=dict)  # raw function/service codes
    change: bool = True           # change-class: schedules a deep check


@dataclass(frozen=True)
class WireEvent:
    at: datetime
    protocol: str
    operation: str
    target: str
    src: str
    sport: int
    dst: str
    dport: int
    device: str | None            # the inventory device; None: not in the inventory
    codes: Mapping[str, Any]
    change: bool
    station_allowed: bool

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("event time must be timezone-aware")

    @classmethod
    def from_finding(cls, finding: Finding, *, at: datetime, src: str, sport: int, dst: str,
                     dport: int, device: str | None, station_allowed: bool) -> "WireEvent":
        return cls(at=at.astimezone(timezone.utc), protocol=finding.protocol,
                   operation=finding.operation, target=finding.target, src=src, sport=sport,
                   dst=dst, dport=dport, device=device, codes=dict(finding.codes),
                   change=finding.change, station_allowed=station_allowed)

    @property
    def device_label(self) -> str:
        return self.device or f"unknown {self.dst}:{self.dport}"

    def headline(self) -> str:
        target = f" {self.target}" if self.target else ""
        return (f"{self.operation}{target} on {self.device_label} from {self.src}"
                f"{'' if self.station_allowed else ' (not an engineering station)'}")

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "at": self.at.isoformat(), "protocol": self.protocol,
                "operation": self.operation, "target": self.target, "src": self.src,
                "sport": self.sport, "dst": self.dst, "dport": self.dport, "device": self.device,
                "codes": {k: (f"0x{v:02X}" if isinstance(v, int) and not isinstance(v, bool)
                              else v) for k, v in self.codes.items()},
                "change": self.change, "station_allowed": self.station_allowed}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> "WireEvent":
        """Inverse of to_dict (codes stay as rendered).  Raises ValueError."""
        if not isinstance(doc, Mapping) or doc.get("schema") != SCHEMA:
            raise ValueError("not a schema-1 watch event")
        try:
            return cls(at=datetime.fromisoformat(doc["at"]), protocol=doc["protocol"],
                       operation=doc["operation"], target=doc["target"], src=doc["src"],
                       sport=int(doc["sport"]), dst=doc["dst"], dport=int(doc["dport"]),
                       device=doc["device"], codes=dict(doc["codes"]), change=bool(doc["change"]),
                       station_allowed=bool(doc["station_allowed"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"watch event lacks or mistypes {exc}") from exc
