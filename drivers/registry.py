"""Protocol name -> driver class.  Imported lazily so one protocol's library
problem cannot stop the others from being checked."""

from __future__ import annotations

import importlib
import logging

from drivers.base import Driver
from integrity.errors import ConfigError

DRIVERS: dict[str, str] = {
    "modbus": "drivers.modbus:ModbusDriver",
    "s7": "drivers.s7:S7Driver",
    "logix": "drivers.logix:LogixDriver",
    "s7plus": "drivers.s7plus:S7PlusDriver",
}


# The protocol libraries' loggers.  pymodbus and pycomm3 log every failure they
# raise (at ERROR, pycomm3 with a traceback); the drivers translate those failures
# into our own errors, which the application reports.  So the application, not a
# driver at import, decides how loud the libraries may be: ``quiet_vendor_logs``.
VENDOR_LOGGERS = ("pymodbus", "snap7", "pycomm3")


def quiet_vendor_logs(level: int = logging.CRITICAL) -> None:
    """Keep the protocol libraries' own log lines (failures we already report,
    connect chatter) out of the application's output."""
    for name in VENDOR_LOGGERS:
        logging.getLogger(name).setLevel(level)


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
