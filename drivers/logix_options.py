"""The Logix driver's inventory keys: ``slot`` or ``route``, ``config_tags``, ``modules``.

Everything pycomm3 would refuse later is refused here, as a ConfigError naming
file, device and field (exit 2): a typo in the inventory must never turn into
a device that "could not be checked".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from pycomm3.cip import PADDED_EPATH
from pycomm3.cip_driver import MSG_ROUTER_PATH, parse_connection_path
from pycomm3.exceptions import PycommError

from drivers.base import reject_unknown_keys
from integrity.errors import ConfigError


@dataclass(frozen=True)
class LogixOptions:
    slot: int = 0
    route: str | None = None            # e.g. "bp/0/enet/10.0.0.5/bp/2" instead of a slot
    config_tags: tuple[str, ...] = ()   # names or fnmatch patterns whose values are settings
    modules: tuple[int, ...] = ()       # backplane slots whose module identity is recorded


def parse_options(table: Mapping[str, Any], *, file: str | None, device: str) -> LogixOptions:
    """Raises ConfigError naming file, device and field."""
    reject_unknown_keys(table, {"slot", "route", "config_tags", "modules"}, file=file,
                        device=device)

    def bad(field: str, message: str) -> ConfigError:
        return ConfigError(message, file=file, device=device, field=field)

    if "slot" in table and "route" in table:
        raise bad("route", "give either slot or route, not both")
    slot = table.get("slot", 0)
    if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot <= 255:
        raise bad("slot", f"slot must be an integer 0-255, got {slot!r}")
    route = table.get("route")
    if route is not None:
        if not isinstance(route, str) or not route.strip():
            raise bad("route", "route must be a non-empty string like 'bp/0/enet/10.0.0.5/bp/2'")
        problem = route_problem(route)
        if problem:
            raise bad("route", f"invalid CIP route {route!r} ({problem}): give port/link "
                      "pairs like 'bp/0/enet/10.0.0.5/bp/2' (backplane slots 0-255, "
                      "IPv4 addresses)")
    config = table.get("config_tags", [])
    if not isinstance(config, list) or not all(isinstance(t, str) and t.strip() for t in config):
        raise bad("config_tags", "config_tags must be a list of tag names or patterns")
    modules = table.get("modules", [])
    if (not isinstance(modules, list) or any(isinstance(m, bool) or not isinstance(m, int)
                                             or not 0 <= m <= 255 for m in modules)):
        raise bad("modules", "modules must be a list of slot numbers 0-255")
    if len(set(modules)) != len(modules):
        raise bad("modules", "modules lists a slot twice")
    return LogixOptions(slot, route, tuple(config), tuple(modules))


def route_problem(route: str) -> str | None:
    """Why pycomm3 could not use ``route``, found the way it will use it: parsed
    as part of "host/route" and encoded into the Forward Open path.  pycomm3's
    own route parser accepts "bp/999" or "enet/not-an-ip" and fails only when the
    request is built, which would turn a typo into a device that cannot be checked."""
    try:
        _host, _port, segments = parse_connection_path(f"127.0.0.1/{route}")
        PADDED_EPATH.encode((*segments, *MSG_ROUTER_PATH), length=True)
    except (PycommError, ValueError, TypeError, struct.error) as exc:
        return describe(exc)
    return None


def chain(exc: BaseException) -> Iterator[BaseException]:
    """An exception and its causes, outermost first (pycomm3 wraps everything)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def describe(exc: BaseException) -> str:
    """pycomm3's own messages along the chain, outermost first, without repeats."""
    parts: list[str] = []
    for err in chain(exc):
        text = str(err.args[0]) if err.args else type(err).__name__
        if text and text not in parts:
            parts.append(text)
    return ": ".join(parts) or type(exc).__name__
