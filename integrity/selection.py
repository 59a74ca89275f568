"""Which devices a command means: names, shell-style patterns, tags, or all.

One rule for every command that selects devices (verify, diff, sweep,
baseline capture, maintenance, status), so they cannot drift apart:

- each NAME is a device name or a pattern (``vfd-*``, ``plc-?``, ``[ab]*``);
- each ``--tag`` adds the devices carrying that tag, each ``--zone`` (sweep)
  the devices of that network zone;
- names, patterns and tags add up; ``--all`` is every device and stands alone;
- a name, pattern or tag that matches nothing is an error (a typo must not
  quietly check fewer devices than meant).
"""

from __future__ import annotations

import fnmatch
from typing import Iterable, Sequence

from integrity.errors import ConfigError
from integrity.model import Device

PATTERN_CHARS = set("*?[")


def is_pattern(text: str) -> bool:
    return bool(PATTERN_CHARS & set(text))


def select_devices(devices: Sequence[Device], names: Iterable[str] = (), all_: bool = False,
                   tags: Iterable[str] = (), *, default_all: bool = False,
                   zones: Iterable[str] = ()) -> list[Device]:
    """The devices chosen, each once, in the order first named (patterns and
    tags in inventory order).  Raises ConfigError for a name, pattern or tag
    that matches nothing, ``--all`` mixed with names or tags, or no choice at
    all (unless ``default_all``: then nothing chosen means every device)."""
    names, tags, zones = list(names), list(tags), list(zones)
    if all_:
        if names or tags or zones:
            raise ConfigError("--all stands alone: give it, or names, patterns and --tag",
                              field="--all")
        return list(devices)
    if not names and not tags and not zones:
        if default_all:
            return list(devices)
        raise ConfigError("no devices chosen: name devices or patterns (vfd-*), give --tag TAG, "
                          "or --all")
    chosen: dict[str, Device] = {}
    for name in names:
        if is_pattern(name):
            matched = [d for d in devices if fnmatch.fnmatchcase(d.name, name)]
            if not matched:
                raise ConfigError(f"no device matches {name!r}" + _known(devices))
        else:
            matched = [d for d in devices if d.name == name]
            if not matched:
                raise ConfigError(f"no device named {name!r} in the inventory" + _known(devices))
        chosen.update((d.name, d) for d in matched)
    for tag in tags:
        matched = [d for d in devices if tag in d.tags]
        if not matched:
            known = sorted({t for d in devices for t in d.tags})
            raise ConfigError(f"no device has tag {tag!r}"
                              + (f" (tags in use: {', '.join(known)})" if known else ""))
        chosen.update((d.name, d) for d in matched)
    for zone in zones:  # like a tag: the devices of that network zone
        matched = [d for d in devices if d.zone == zone]
        if not matched:
            known = sorted({d.zone for d in devices})
            raise ConfigError(f"no device is in zone {zone!r} (zones in use: {', '.join(known)})",
                              field="--zone")
        chosen.update((d.name, d) for d in matched)
    return list(chosen.values())


def _known(devices: Sequence[Device]) -> str:
    return f" (known: {', '.join(d.name for d in devices)})" if devices else ""
