"""Durations ("15m", "1h30m") and five-field cron expressions, in UTC.

Written here rather than taken from a library: what the scheduler needs is
small (minute, hour, day of month, month, day of week with lists, ranges and
steps), and its behaviour must be exact and tested, including the classic cron
rule that when both day fields are restricted, either one matching is enough.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_DURATION = re.compile(r"(\d+)\s*(d|h|m|s)")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '1h30m', '2d' -> timedelta.  Raises ValueError."""
    s = text.strip().lower().replace(" ", "")
    if not s or _DURATION.sub("", s):
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 1h30m or 2d")
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(s))
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=seconds)


_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))


def _parse_field(text: str, name: str, lo: int, hi: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        step, stepped = 1, "/" in part
        if stepped:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"cron {name}: bad step {step_text!r}")
            step = int(step_text)
        if part == "*":
            start, end = lo, hi
        elif "-" in part:
            a, b = part.split("-", 1)
            if not (a.isdigit() and b.isdigit()):
                raise ValueError(f"cron {name}: bad range {part!r}")
            start, end = int(a), int(b)
        elif part.isdigit():
            start = int(part)
            end = hi if stepped else start  # "5/1" is 5-max, as "5/2" is 5-max by 2
        else:
            raise ValueError(f"cron {name}: {part!r} is not a number, range or *")
        if not (lo <= start <= hi and lo <= end <= hi and start <= end):
            raise ValueError(f"cron {name}: {part!r} outside {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday (7 is folded into 0)
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, text: str) -> "Cron":
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"cron {text!r}: need five fields (minute hour day month weekday)")
        sets = [_parse_field(p, *f) for p, f in zip(parts, _FIELDS)]
        weekdays = frozenset(0 if d == 7 else d for d in sets[4])
        # As in vixie cron, a field starting with "*" ("*", "*/2") counts as
        # unrestricted for the either-day rule: "*/2 * 1" means odd days that
        # are Mondays, not "odd days or Mondays".
        cron = cls(text, sets[0], sets[1], sets[2], sets[3], weekdays,
                   not parts[2].startswith("*"), not parts[4].startswith("*"))
        # Refuse a line that can never fire ("0 0 30 2 *") when the site is
        # loaded, not when the daemon first asks for its due time.
        cron.next_after(datetime(2000, 1, 1, tzinfo=timezone.utc))
        return cron

    def _day_matches(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow

    def next_after(self, after: datetime) -> datetime:
        """The first matching minute strictly after ``after`` (UTC)."""
        t = after.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 5)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t += timedelta(minutes=1)
                continue
            return t
        raise ValueError(f"cron {self.text!r} never matches")
