"""The ``[watch]`` table of site.toml: who may change devices, and what stays quiet.

    [watch]
    engineering_stations = ["10.20.0.5", "10.20.9.0/24"]   # addresses or subnets
    settle = "30s"          # deep check this long after the last change of a burst
    dedupe = "10s"          # one event per operation and target per connection in this time

    [[watch.quiet]]         # recorded, but no alert and no check
    operations = ["modbus.write-register"]
    devices = ["vfd-*"]
    stations = ["10.20.0.7"]
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

from integrity.config_tables import checked_table
from integrity.errors import ConfigError

KEYS = {"engineering_stations", "settle", "dedupe", "quiet", "interface"}
QUIET_KEYS = {"operations", "devices", "stations"}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(values: Any, *, file: str, field_name: str) -> tuple[Network, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError("must be a list of addresses or subnets, e.g. [\"10.20.0.5\", "
                          "\"10.20.9.0/24\"]", file=file, field=field_name)
    out = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"{v!r} is not an address or subnet", file=file,
                              field=field_name) from None
    return tuple(out)


def _in(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


@dataclass(frozen=True)
class QuietRule:
    operations: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    stations: tuple[Network, ...] = ()

    def matches(self, operation: str, device: str | None, station: str) -> bool:
        return ((not self.operations or any(fnmatch.fnmatchcase(operation, p) for p in self.operations))
                and (not self.devices or (device is not None
                                          and any(fnmatch.fnmatchcase(device, p) for p in self.devices)))
                and (not self.stations or _in(station, self.stations)))


@dataclass(frozen=True)
class WatchPolicy:
    stations: tuple[Network, ...] = ()
    quiet: tuple[QuietRule, ...] = ()
    settle: timedelta = timedelta(seconds=30)
    dedupe: timedelta = timedelta(seconds=10)
    interface: str | None = None

    def allowed(self, station: str) -> bool:
        return _in(station, self.stations)

    def is_quiet(self, operation: str, device: str | None, station: str) -> bool:
        return any(r.matches(operation, device, station) for r in self.quiet)


def _duration(table: Mapping[str, Any], key: str, default: timedelta, file: str) -> timedelta:
    if key not in table:
        return default
    from integrity.cron import parse_duration
    try:
        value = parse_duration(str(table[key]))
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, field=f"watch.{key}") from None
    if value > timedelta(hours=24):
        raise ConfigError("must be at most 24h", file=file, field=f"watch.{key}")
    return value


def parse_watch(table: Any, *, file: str) -> WatchPolicy:
    """Validate ``[watch]``.  Raises ConfigError naming the file and field."""
    if table is None:
        return WatchPolicy()
    table = checked_table(table, "[watch]", KEYS, file=file, field="watch", key_prefix="watch.")
    rules = []
    quiet = table.get("quiet", [])
    if not isinstance(quiet, list) or not all(isinstance(q, dict) for q in quiet):
        raise ConfigError("write quiet rules as [[watch.quiet]] tables", file=file, field="watch.quiet")
    for i, q in enumerate(quiet):
        bad = sorted(set(q) - QUIET_KEYS)
        if bad or not q:
            raise ConfigError(f"rule {i + 1}: " + (f"unknown key(s) {', '.join(bad)}" if bad else
                              "empty rule would silence everything"), file=file, field="watch.quiet")
        for key in ("operations", "devices"):
            v = q.get(key, [])
            if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
                raise ConfigError(f"rule {i + 1}: must be a list of names or patterns", file=file,
                                  field=f"watch.quiet.{key}")
        rules.append(QuietRule(tuple(q.get("operations", [])), tuple(q.get("devices", [])),
                               _networks(q.get("stations", []), file=file, field_name="watch.quiet.stations")))
    interface = table.get("interface")
    if interface is not None and (not isinstance(interface, str) or not interface):
        raise ConfigError("must be an interface name", file=file, field="watch.interface")
    return WatchPolicy(
        stations=_networks(table.get("engineering_stations", []), file=file,
                           field_name="watch.engineering_stations"),
        quiet=tuple(rules), settle=_duration(table, "settle", timedelta(seconds=30), file),
        dedupe=_duration(table, "dedupe", timedelta(seconds=10), file), interface=interface)
