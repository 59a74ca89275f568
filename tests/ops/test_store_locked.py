"""A store held by another writer: results are retried (bounded), then printed,
and exit code 6 says they were not recorded.  The lock is a real second SQLite
connection holding BEGIN IMMEDIATE on the site's store file."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from baselines.store import WRITE_ATTEMPTS, Store
from integrity.errors import StoreError

LOCK_WAIT = 0.2  # seconds each attempt waits for the lock


@contextmanager
def write_lock(db: Path):
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_verify_with_the_store_locked_prints_results_and_exits_6(run, site, helpers, drive,
                                                                 monkeypatch):
    helpers.write_inventory(site.root, helpers.device_table(drive))
    helpers.capture_all(run, site)
    monkeypatch.setenv("PLC_INTEGRITY_STORE_LOCK_WAIT", str(LOCK_WAIT))
    from integrity.inventory import load_site

    db = Path(load_site(site.root).store_url.removeprefix("sqlite:///"))
    with write_lock(db):
        started = time.monotonic()
        r = run("sweep", "--all", "--json")
        took = time.monotonic() - started
    assert r.exit_code == 6, r.output
    doc = json.loads(r.stdout)
    assert doc["error_type"] == "ResultsNotRecordedError" and "locked" in doc["error"]
    assert [(x["device"], x["status"]) for x in doc["results"]] == [("vfd-hoist", "OK")]
    # Bounded: attempts * lock wait + backoff (0.5 + 1 s), plus the check itself.
    assert took < WRITE_ATTEMPTS * LOCK_WAIT + 1.5 + drive_bound(drive)
    r = run("sweep", "--all")  # the lock gone, the next sweep records as usual
    assert r.exit_code == 0, r.output
    assert "vfd-hoist" in r.output
    with write_lock(db):
        r = run("verify", "--all")  # the table, not a traceback
    assert r.exit_code == 6 and "vfd-hoist" in r.stdout and "OK" in r.stdout, r.output


def drive_bound(_drive) -> float:
    return 30.0  # generous: a loaded 2-core machine; the point is "not unbounded"


def test_record_checks_retries_a_locked_store_a_bounded_number_of_times(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from integrity.model import CheckResult, Mode, Status

    db = tmp_path / "s.db"
    result = CheckResult(device="d", protocol="modbus", status=Status.OK, mode=Mode.QUICK,
                         checked_at=datetime(2026, 12, 1, tzinfo=timezone.utc), fingerprint="f")
    with Store.open(db, lock_wait=0.05) as store:
        with write_lock(db):
            with pytest.raises(StoreError) as err:
                store.record_checks([result])
        assert err.value.transient and "locked" in str(err.value)
        assert store.record_checks([result])  # written once the lock is gone
