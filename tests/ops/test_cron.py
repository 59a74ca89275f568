"""Durations and five-field cron lines (integrity.cron), exact and in UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from integrity.cron import Cron, parse_duration


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, seconds", [
    pytest.param("30s", 30, id="seconds"),
    pytest.param("15m", 900, id="minutes"),
    pytest.param("1h30m", 5400, id="compound"),
    pytest.param("1h 30m", 5400, id="spaces"),
    pytest.param("2d", 172800, id="days"),
    pytest.param("1D2H", 93600, id="upper-case"),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", [
    pytest.param("", id="empty"), pytest.param("15", id="no-unit"),
    pytest.param("1.5h", id="fraction"), pytest.param("-5m", id="negative"),
    pytest.param("0s", id="zero"), pytest.param("5 minutes", id="words"),
    pytest.param("m", id="unit-only"),
])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match="duration|zero"):
        parse_duration(text)


@pytest.mark.parametrize("line, after, expected", [
    pytest.param("*/15 * * * *", utc(2026, 3, 2, 8, 7), utc(2026, 3, 2, 8, 15), id="step"),
    pytest.param("*/15 * * * *", utc(2026, 3, 2, 8, 15), utc(2026, 3, 2, 8, 30),
                 id="strictly-after"),
    pytest.param("*/15 * * * *", utc(2026, 3, 2, 8, 14, 59, 999), utc(2026, 3, 2, 8, 15),
                 id="seconds-ignored"),
    pytest.param("5/20 * * * *", utc(2026, 3, 2, 8, 26), utc(2026, 3, 2, 8, 45),
                 id="start-step"),
    pytest.param("0 9-17/4 * * *", utc(2026, 3, 2, 13, 1), utc(2026, 3, 2, 17, 0),
                 id="range-step"),
    pytest.param("0 2 * * *", utc(2026, 3, 2, 3, 0), utc(2026, 3, 3, 2, 0), id="next-day"),
    pytest.param("10,40 6,18 * * *", utc(2026, 3, 2, 6, 41), utc(2026, 3, 2, 18, 10),
                 id="lists"),
    pytest.param("0 0 1 * *", utc(2026, 12, 15, 0, 0), utc(2027, 1, 1, 0, 0),
                 id="year-rollover"),
    pytest.param("30 1 31 * *", utc(2026, 4, 1, 0, 0), utc(2026, 5, 31, 1, 30),
                 id="skips-30-day-month"),
    pytest.param("0 0 29 2 *", utc(2026, 3, 1, 0, 0), utc(2028, 2, 29, 0, 0), id="leap-day"),
    pytest.param("0 0 * 2-3 *", utc(2026, 3, 31, 23, 59), utc(2027, 2, 1, 0, 0),
                 id="month-range-rollover"),
    # 2026-03-02 is a Monday.  Both day fields restricted: either may match.
    pytest.param("0 12 15 * 5", utc(2026, 3, 2, 0, 0), utc(2026, 3, 6, 12, 0),
                 id="dom-or-dow-weekday-first"),
    pytest.param("0 12 3 * 5", utc(2026, 3, 2, 0, 0), utc(2026, 3, 3, 12, 0),
                 id="dom-or-dow-day-first"),
    # Only the weekday restricted: the day of month does not widen it.
    pytest.param("0 12 * * 5", utc(2026, 3, 2, 0, 0), utc(2026, 3, 6, 12, 0), id="dow-only"),
    pytest.param("0 0 * * 7", utc(2026, 3, 2, 0, 0), utc(2026, 3, 8, 0, 0), id="sunday-as-7"),
    pytest.param("0 0 * * 5-7", utc(2026, 3, 7, 0, 1), utc(2026, 3, 8, 0, 0),
                 id="weekday-range-through-7"),
    # A stepped star is still "every day": vixie cron treats */N like * for the either-rule.
    pytest.param("0 0 */2 * 1", utc(2026, 3, 2, 0, 1), utc(2026, 3, 9, 0, 0),
                 id="stepped-star-dom-is-unrestricted"),
    # Names and @-names (2026-03-02 is a Monday).
    pytest.param("0 8 * * mon-fri", utc(2026, 3, 6, 8, 0), utc(2026, 3, 9, 8, 0), id="mon-fri"),
    pytest.param("0 8 * * SAT,sun", utc(2026, 3, 2, 0, 0), utc(2026, 3, 7, 8, 0), id="day-names"),
    pytest.param("0 0 1 jan *", utc(2026, 3, 2, 0, 0), utc(2027, 1, 1, 0, 0), id="month-name"),
    pytest.param("0 0 * jun-aug *", utc(2026, 3, 2, 0, 0), utc(2026, 6, 1, 0, 0),
                 id="month-name-range"),
    pytest.param("@hourly", utc(2026, 3, 2, 8, 7), utc(2026, 3, 2, 9, 0), id="@hourly"),
    pytest.param("@daily", utc(2026, 3, 2, 8, 7), utc(2026, 3, 3, 0, 0), id="@daily"),
    pytest.param("@weekly", utc(2026, 3, 2, 8, 7), utc(2026, 3, 8, 0, 0), id="@weekly-sunday"),
    pytest.param(" @Daily ", utc(2026, 3, 2, 8, 7), utc(2026, 3, 3, 0, 0), id="@name-any-case"),
    # A step after one number runs to the field's end; a one-value range stays one value.
    pytest.param("50/1 * * * *", utc(2026, 3, 2, 8, 50), utc(2026, 3, 2, 8, 51), id="n-step-1"),
    pytest.param("3-3/2 * * * *", utc(2026, 3, 2, 8, 3), utc(2026, 3, 2, 9, 3),
                 id="one-value-range-with-step"),
])
def test_next_after(line, after, expected):
    assert Cron.parse(line).next_after(after) == expected


def test_next_after_converts_other_zones_to_utc():
    cet = timezone(timedelta(hours=1))
    assert Cron.parse("0 2 * * *").next_after(datetime(2026, 3, 2, 2, 30, tzinfo=cet)) == \
        utc(2026, 3, 2, 2, 0)


@pytest.mark.parametrize("line, words", [
    pytest.param("* * * *", "five fields", id="four-fields"),
    pytest.param("* * * * * *", "five fields", id="six-fields"),
    pytest.param("60 * * * *", "minute", id="minute-out-of-range"),
    pytest.param("* 24 * * *", "hour", id="hour-out-of-range"),
    pytest.param("* * 0 * *", "day of month", id="day-zero"),
    pytest.param("* * * 13 *", "month", id="month-13"),
    pytest.param("* * * * 8", "day of week", id="weekday-8"),
    pytest.param("*/0 * * * *", "step", id="zero-step"),
    pytest.param("5-1 * * * *", "minute", id="reversed-range"),
    pytest.param("a * * * *", "minute", id="letters"),
    pytest.param("1,,2 * * * *", "minute", id="empty-list-item"),
    pytest.param("-1 * * * *", "minute", id="negative"),
    pytest.param("0 0 30 2 *", "never matches", id="february-30"),
    pytest.param("0 0 31 apr,jun *", "never matches", id="april-june-31"),
    pytest.param("0 0 * * fri-mon", "day of week", id="reversed-day-names"),
    pytest.param("0 0 * smarch *", "month", id="unknown-month-name"),
    pytest.param("@reboot", "unknown name", id="@reboot"),
    pytest.param("@fortnightly", "unknown name", id="unknown-@name"),
])
def test_bad_cron_lines_are_value_errors(line, words):
    with pytest.raises(ValueError, match=words):
        Cron.parse(line)
