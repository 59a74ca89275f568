"""Inventory options of a Modbus TCP device, validated where they enter.

    unit     = 1                        # 0..255
    holding  = ["0-1999", "3000-3099"]  # inclusive ranges, or "N" / N for one address
    input    = []                       # input registers: declare only settings-like ones
    coils    = ["0-15"]
    discrete = []
    identity = true                     # read FC 43/14 device identification

Only declared ranges are read and hashed: live values (speed, current) must stay
undeclared, or every check would report drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from drivers.base import reject_unknown_keys
from integrity.errors import ConfigError

TABLES = ("holding", "input", "coils", "discrete")
BIT_TABLES = frozenset({"coils", "discrete"})
_RANGE = re.compile(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", re.ASCII)


@dataclass(frozen=True, order=True)
class Range:
    """An inclusive address range of one table."""

    start: int
    end: int

    @property
    def count(self) -> int:
        return self.end - self.start + 1

    @property
    def label(self) -> str:
        """Stable text form, used in artifact keys: "0-1999", or "17" for one address."""
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"


@dataclass(frozen=True)
class ModbusOptions:
    unit: int = 1
    holding: tuple[Range, ...] = ()
    input: tuple[Range, ...] = ()
    coils: tuple[Range, ...] = ()
    discrete: tuple[Range, ...] = ()
    identity: bool = True

    def ranges(self, table: str) -> tuple[Range, ...]:
        return getattr(self, table)

    def policy(self) -> dict[str, Any]:
        """What a capture covers, recorded in the signed baseline."""
        return {"unit": self.unit, "identity": self.identity,
                "ranges": {t: [r.label for r in self.ranges(t)] for t in TABLES if self.ranges(t)}}


def _range(item: Any, field: str, file: str | None, device: str) -> Range:
    if isinstance(item, bool) or not isinstance(item, (int, str)):
        raise ConfigError(f"range {item!r} must be a string \"start-end\" or an address",
                          file=file, device=device, field=field)
    if isinstance(item, int):
        start = end = item
    else:
        match = _RANGE.fullmatch(item)
        if not match:
            raise ConfigError(f"range {item!r} is not \"start-end\" or \"N\"",
                              file=file, device=device, field=field)
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
    if not (0 <= start <= 65535 and 0 <= end <= 65535):
        raise ConfigError(f"range {item!r} is outside addresses 0..65535",
                          file=file, device=device, field=field)
    if start > end:
        raise ConfigError(f"range {item!r} starts after it ends", file=file, device=device,
                          field=field)
    return Range(start, end)


def _ranges(value: Any, field: str, file: str | None, device: str) -> tuple[Range, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"must be a list of ranges like [\"0-1999\"], not {value!r}",
                          file=file, device=device, field=field)
    ranges = sorted(_range(item, field, file, device) for item in value)
    for a, b in zip(ranges, ranges[1:]):
        if b.start <= a.end:
            raise ConfigError(f"ranges {a.label} and {b.label} overlap", file=file,
                              device=device, field=field)
    return tuple(ranges)


@lru_cache(maxsize=1024)
def _known_ranges(items: tuple[tuple[type, Any], ...]) -> tuple[Range, ...]:
    return _ranges([item for _t, item in items], "", None, "")


def _ranges_of(value: Any, field: str, file: str | None, device: str) -> tuple[Range, ...]:
    """``_ranges``, remembered by value: a fleet's devices mostly declare the
    same few lists, and parsing them again was half the cost of loading a
    10,000-device inventory.  (Keyed with each item's type: True == 1.)  A list
    that is refused is parsed again by ``_ranges``, to name file and device."""
    if isinstance(value, list):
        try:
            return _known_ranges(tuple((type(item), item) for item in value))
        except (ConfigError, TypeError):  # TypeError: an unhashable item
            pass
    return _ranges(value, field, file, device)


def parse_options(table: Mapping[str, Any], *, file: str | None, device: str) -> ModbusOptions:
    """Validate a device's Modbus keys.  Raises ConfigError naming file, device, field."""
    reject_unknown_keys(table, {"unit", "identity", *TABLES}, file=file, device=device)
    unit = table.get("unit", 1)
    if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit <= 255:
        raise ConfigError(f"unit must be an integer 0..255, not {unit!r}", file=file,
                          device=device, field="unit")
    identity = table.get("identity", True)
    if not isinstance(identity, bool):
        raise ConfigError(f"identity must be true or false, not {identity!r}", file=file,
                          device=device, field="identity")
    ranges = {t: _ranges_of(table[t], t, file, device) for t in TABLES if t in table}
    if not identity and not any(ranges.values()):
        raise ConfigError("nothing to check: declare a range (holding, input, coils, discrete) "
                          "or keep identity = true", file=file, device=device, field="holding")
    return ModbusOptions(unit=unit, identity=identity, **ranges)
