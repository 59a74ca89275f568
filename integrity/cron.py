"""Schedule intervals ("15m", "1h30m", parsed by integrity.durations) and cron
lines, in UTC.

Cron lines are evaluated by the maintained ``cronsim`` package; this module
keeps the project's contract around it (five fields or an @-name, UTC, errors
as ValueError naming the field).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cronsim import CronSim, CronSimError

from integrity import durations


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '1h30m', '2d' -> timedelta: whole units only, see
    integrity.durations.  Raises ValueError."""
    return durations.parse_duration(text, whole_units=True)


_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
# What vixie cron's @-names stand for (@reboot has no meaning for a checker).
MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
          "@annually": "0 0 1 1 *"}
_ONE_VALUE_RANGE = re.compile(r"(?<![^,])(\w+)-\1/\d+(?![^,])")
_PROBE = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _five_fields(text: str) -> str:
    line = text.strip()
    if line.startswith("@"):
        if line.lower() not in MACROS:
            raise ValueError(f"cron {text!r}: unknown name; use one of {', '.join(MACROS)}")
        return MACROS[line.lower()]
    fields = line.split()
    if len(fields) != 5:
        # cronsim also takes a sixth (seconds) field: a schedule line has five.
        raise ValueError(f"cron {text!r}: need five fields (minute hour day month weekday)")
    for name, field in zip(_FIELDS, fields):
        for part in field.split(","):
            step = part.partition("/")[2] if "/" in part else "1"
            if not step.isdigit() or int(step) == 0:
                raise ValueError(f"cron {text!r}: {name}: bad step {step!r}")
    # cronsim 2.x reads a one-value range with a step ("3-3/2") as "3/2", i.e. 3-max
    # by 2; it is the single value 3.
    return " ".join(_ONE_VALUE_RANGE.sub(r"\1", field) for field in fields)


@dataclass(frozen=True)
class Cron:
    """A five-field cron line (or an @-name) evaluated in UTC by cronsim.

    cronsim follows Debian/vixie cron, as the hand-written parser it replaced did
    (tests/ops/test_cron_agrees.py): when both day fields are restricted, either
    matching is enough, and a field starting with "*" ("*/2") counts as
    unrestricted.  Names (``mon-fri``, ``jan``) and @hourly/@daily/@weekly/
    @monthly/@yearly are accepted.
    """

    text: str
    expression: str  # the five fields cronsim evaluates

    @classmethod
    def parse(cls, text: str) -> "Cron":
        """Raises ValueError naming the bad field, or saying the line never fires."""
        expression = _five_fields(text)
        try:
            probe = CronSim(expression, _PROBE)
        except CronSimError as exc:
            field = str(exc).removeprefix("Bad ").replace("-", " ")
            fields = expression.split()
            if field == "day of month" and _valid(" ".join(fields[:3] + ["*"] + fields[4:])):
                raise ValueError(f"cron {text!r} never matches (no such day in those months)") from None
            raise ValueError(f"cron {text!r}: bad {field} field") from None
        # Refuse a line that can never fire when the site is loaded, not when the
        # daemon first asks for its due time.
        if next(probe, None) is None:
            raise ValueError(f"cron {text!r} never matches")
        return cls(text, expression)

    def next_after(self, after: datetime) -> datetime:
        """The first matching minute strictly after ``after`` (UTC)."""
        found = next(CronSim(self.expression, after.astimezone(timezone.utc)), None)
        if found is None:
            raise ValueError(f"cron {self.text!r} never matches")
        return found


def _valid(expression: str) -> bool:
    try:
        CronSim(expression, _PROBE)
    except CronSimError:
        return False
    return True
