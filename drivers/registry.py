"""Protocol name -> driver class.  Imported lazily so one protocol's library
problem cannot stop the others from being checked."""

from __future__ import annotations

import importlib

from drivers.base import Driver
from integrity.errors import ConfigError

DRIVERS: dict[str, str] = {
    "modbus": "drivers.modbus:ModbusDriver",
    "s7": "drivers.s7:S7Driver",
    "logix": "drivers.logix:LogixDriver",
    "s7plus": "drivers.s7plus:S7PlusDriver",
}


def protocols() -> list[str]:
    return sorted(DRIVERS)


def driver_class(protocol: str) -> type[Driver]:
    """Raises ConfigError for a protocol nobody implements."""
    try:
        target = DRIVERS[protocol]
    except KeyError:
        raise ConfigError(f"unknown protocol {protocol!r}; known: {', '.join(protocols())}",
                          field="protocol") from None
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ConfigError(f"protocol {protocol!r} is not available in this build",
                              field="protocol") from exc
        raise
    return getattr(module, attr)
