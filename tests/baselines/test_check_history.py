"""Compact check history: state changes in full, unchanged OK checks as runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from baselines.store import Store
from integrity.model import CheckResult, Mode, Status

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


def result(minute: int, status: Status = Status.OK, mode: Mode = Mode.QUICK,
           fingerprint: str = "f" * 64, device: str = "vfd-1") -> CheckResult:
    return CheckResult(device=device, protocol="modbus", status=status,
                       checked_at=T0 + timedelta(minutes=minute), mode=mode,
                       fingerprint=fingerprint, baseline_id="b" * 64, baseline_sequence=1)


def test_unchanged_ok_checks_extend_one_run_and_every_change_is_a_full_row(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        ids = store.record_checks([result(0), result(15), result(30)])
        assert ids[0] == ids[1] == ids[2]
        store.record_checks([result(45)])            # a later sweep extends the same run
        store.record_checks([result(60, mode=Mode.DEEP)])   # a deep check: its own run...
        store.record_checks([result(75)])            # ...and the quick run goes on across it
        store.record_checks([result(90, Status.DRIFT, fingerprint="d" * 64)])
        store.record_checks([result(105)])           # back to OK: a state change, in full
        store.record_checks([result(120), result(0, device="other")])
        history = store.checks("vfd-1")
        assert [(c["status"], c["mode"], c.get("run", {}).get("checks", 1)) for c in history] == [
            ("OK", "quick", 2), ("DRIFT", "quick", 1), ("OK", "deep", 1), ("OK", "quick", 5)]
        assert history[-1]["run"]["first"] == T0.isoformat()
        assert history[-1]["checked_at"] == (T0 + timedelta(minutes=75)).isoformat()
        last = store.last_checks(["vfd-1", "other", "never"])
        assert last["vfd-1"]["checked_at"] == (T0 + timedelta(minutes=120)).isoformat()
        assert set(last) == {"vfd-1", "other"}


def test_a_check_without_a_fingerprint_is_never_folded(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        a, b = store.record_checks([result(0, fingerprint=""), result(15, fingerprint="")])
        assert a != b
