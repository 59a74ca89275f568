"""Durations as people write them, wherever a time is configured.

``1.5s``, ``500ms``, ``15m``, ``1h30m``, ``2d``, or a plain number of seconds
(``timeout = 1.5`` in TOML).  One parser, so ``timeout``, ``remind_after``,
``--until`` and schedule intervals (whole units only) read the same way.  A
string without a unit is refused: ``"15"`` could mean seconds or minutes, and a
guess would be a silent error.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any, Mapping

from integrity.errors import ConfigError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
EXAMPLES = "1.5s, 500ms, 15m, 1h30m, 2d or a number of seconds"
_WHOLE_PART = re.compile(r"([0-9]+)(s|m|h|d)", re.ASCII)
WHOLE_EXAMPLES = "30s, 15m, 1h30m or 2d"


def parse_duration(value: Any, *, whole_units: bool = False) -> timedelta:
    """A positive duration from a string with units or a number of seconds.

    ``whole_units``: only text of whole s/m/h/d ("30s", "1h30m"), as schedule
    intervals and retention are written; there "1.5h" or 15 is more likely a
    slip than a wish.  Raises ValueError saying what is accepted.
    """
    examples, part = (WHOLE_EXAMPLES, _WHOLE_PART) if whole_units else (EXAMPLES, _PART)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not whole_units:
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if not text or part.sub("", text):
            raise ValueError(f"{value!r} is not a duration like {examples}")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in part.findall(text))
    else:
        raise ValueError(f"{value!r} is not a duration like {examples}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return timedelta(seconds=seconds)


def config_seconds(table: Mapping[str, Any], key: str, default: float, lo: float, hi: float, *,
                   file: str | None, device: str | None = None) -> float:
    """``table[key]`` (or ``default``) as seconds within [lo, hi].  Raises ConfigError
    naming the file, device and field."""
    if key not in table:
        return default
    value = table[key]
    try:
        seconds = parse_duration(value).total_seconds()
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, device=device, field=key) from None
    if not lo <= seconds <= hi:
        raise ConfigError(f"must be between {lo:g} s and {hi:g} s, got {value!r}",
                          file=file, device=device, field=key)
    return seconds
