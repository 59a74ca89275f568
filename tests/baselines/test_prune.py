"""Retention: prune keeps every state change, the ends of every unchanged run,
and everything an open alert refers to; it never touches baselines or blobs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from baselines.store import Store
from integrity.model import CheckResult, Mode, Status

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
LATER = T0 + timedelta(days=365)


def check(device: str, minute: int, status: Status, fingerprint: str | None = "f",
          mode: Mode = Mode.QUICK) -> CheckResult:
    return CheckResult(device=device, protocol="modbus", status=status, mode=mode,
                       checked_at=T0 + timedelta(minutes=minute), fingerprint=fingerprint,
                       baseline_id="b" * 64, reason="timeout" if status is Status.UNREACHABLE
                       else None)


OK, DRIFT, DOWN = Status.OK, Status.DRIFT, Status.UNREACHABLE
# (status, fingerprint, mode) in order; the expected survivors are marked True.
HISTORY = [
    (DOWN, None, "q", True), (DOWN, None, "q", False), (DOWN, None, "q", False),
    (DOWN, None, "q", True),                          # last of the outage
    (OK, "f", "q", True),                             # recovery: a state change (a folded run)
    (OK, "f", "d", True),                             # a deep check: its own mode's first
    (DRIFT, "x", "q", True), (DRIFT, "x", "q", False), (DRIFT, "x", "q", True),
    (DRIFT, "y", "q", True),                          # new drift: a change of fingerprint
    (DRIFT, "y", "q", True),
    (OK, "f", "q", True),
]


def test_prune_keeps_every_state_change_and_the_ends_of_each_run(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        for i, (status, fp, mode, _) in enumerate(HISTORY):
            store.record_checks([check("vfd-1", i * 15, status, fp,
                                       Mode.QUICK if mode == "q" else Mode.DEEP)])
        before = [(c["status"], c["fingerprint"]) for c in reversed(store.checks("vfd-1"))]
        assert len(before) == len(HISTORY)

        dry = store.prune_checks(LATER, dry_run=True)
        assert (dry.removed, dry.examined) == (3, len(HISTORY))
        assert len(store.checks("vfd-1")) == len(HISTORY)

        report = store.prune_checks(LATER)
        after = [(c["status"], c["fingerprint"]) for c in reversed(store.checks("vfd-1"))]
        assert after == [b for b, (*_, keep) in zip(before, HISTORY) if keep]
        assert report.removed == 3 and report.kept == len(HISTORY) - 3
        assert store.prune_checks(LATER).removed == 0  # nothing more to thin


def test_recent_rows_and_rows_of_an_open_alert_are_kept(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        for i in range(6):
            store.record_checks([check("down", i * 15, DOWN, None),
                                 check("old", i * 15, DOWN, None)])
        store.record_checks([check("old", 200, OK)])
        # "down" is still down: its alert is open since its first failure.
        store.save_alert_records({"down": {"format": 1, "device": "down", "state": "UNREACHABLE",
                                           "since": T0.isoformat()}})
        report = store.prune_checks(LATER)
        assert len(store.checks("down")) == 6
        assert len(store.checks("old")) == 3 and report.removed == 4
        # A cutoff before the rows: nothing is old enough.
        assert store.prune_checks(T0).removed == 0

