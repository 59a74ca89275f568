"""cronsim (behind integrity.cron.Cron) agrees with the hand-written parser it replaced.

data/cron_answers.tsv holds that parser's answers to 3,000 seeded random lines
and instants (numbers, ranges, steps, lists; about half with both day fields
restricted) plus hand-picked day-of-month/day-of-week cases such as
``0 0 */2 * 1``, recorded before it was deleted.  A cronsim upgrade that changes
what a schedule means fails here, not at a plant.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from integrity.cron import Cron

ANSWERS = Path(__file__).parent / "data" / "cron_answers.tsv"


def answer(expr: str, after: datetime) -> str:
    try:
        return Cron.parse(expr).next_after(after).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return "ERROR"


def test_agrees_with_the_recorded_answers_of_the_old_parser():
    rows = [line.split("\t") for line in ANSWERS.read_text().splitlines() if not line.startswith("#")]
    assert len(rows) > 3000
    wrong = []
    for expr, after_text, expected in rows:
        after = datetime.fromisoformat(after_text).replace(tzinfo=timezone.utc)
        if (got := answer(expr, after)) != expected:
            wrong.append((expr, after_text, expected, got))
    assert wrong == []
