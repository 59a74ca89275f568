"""The store on real SQLite files and a real PostgreSQL server: round trips, content addressing, trust rules,
check history, migrations and database errors."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError
from support.dbsql import is_postgres, rows, sql

from baselines import tables
from baselines.signing import SigningKey
from baselines.store import Store
from integrity.errors import (ConfigError, NoBaselineError, StoreError, StoreTamperedError,
                              UntrustedKeyError)
from integrity.model import Capture, CheckResult, Mode, Status

T0 = datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=timezone.utc)


def test_append_then_latest_round_trip(site, make_capture: Callable) -> None:
    capture = make_capture()
    stored = site.store.append_baseline(capture, site.alice, "FAT sign-off", trust=site.trust,
                                        now=T0 + timedelta(minutes=1))
    store = site.reopen()
    latest = store.latest("vfd-hoist", site.trust)
    assert latest == stored
    assert (latest.sequence, latest.manifest.previous, latest.keyid, latest.signer_name) == (
        1, None, site.alice.keyid, "alice")
    assert latest.manifest.reason == "FAT sign-off"
    assert latest.manifest.fingerprint == capture.fingerprint
    assert latest.manifest.captured_at == T0 and latest.manifest.signed_at == T0 + timedelta(minutes=1)
    assert dict(latest.manifest.policy) == {"holding": ["0-3"], "excluded": ["input"]}
    assert store.load_artifacts(latest) == capture.artifacts
    assert [a.key for a in latest.artifacts()] == ["blocks/FC/10", "holding/0-3", "identity"]
    assert store.artifact_content(capture.artifacts[0].digest) == capture.artifacts[0].content
    assert store.devices() == ["vfd-hoist"]


def test_sequence_and_previous_link_the_history(three) -> None:
    b = [three.store.baseline("vfd-hoist", n, three.trust) for n in (1, 2, 3)]
    assert [x.sequence for x in b] == [1, 2, 3]
    assert [x.manifest.previous for x in b] == [None, b[0].id, b[1].id]
    assert three.store.latest("vfd-hoist", three.trust).id == b[2].id
    assert three.heads.read_text().count('"sequence"') == 2  # vfd-hoist and vfd-trolley
    with pytest.raises(NoBaselineError, match="no baseline #4 for vfd-hoist"):
        three.store.baseline("vfd-hoist", 4, three.trust)


def test_identical_content_is_stored_once(site, make_capture: Callable) -> None:
    site.store.append_baseline(make_capture(), site.alice, "one", trust=site.trust)
    assert site.store.count_blobs() == 3
    site.store.append_baseline(make_capture(at=T0 + timedelta(days=1)), site.alice, "same again",
                               trust=site.trust)
    site.store.append_baseline(make_capture("vfd-trolley"), site.alice, "twin drive",
                               trust=site.trust)
    assert site.store.count_blobs() == 3
    site.store.append_baseline(make_capture(speed=1), site.alice, "changed", trust=site.trust)
    assert site.store.count_blobs() == 4  # only the changed holding range is new


def test_no_baseline(site) -> None:
    with pytest.raises(NoBaselineError, match="no baseline for vfd-gantry"):
        site.store.latest("vfd-gantry", site.trust)
    assert site.store.history("vfd-gantry", site.trust) == []


def test_signing_with_a_key_outside_trust_is_refused(site, make_capture: Callable) -> None:
    stranger = SigningKey.from_seed(b"\x09" * 32)
    with pytest.raises(UntrustedKeyError, match="refusing to sign with key .* add the .pub to trust/"):
        site.store.append_baseline(make_capture(), stranger, "sneaky", trust=site.trust)
    assert rows(site.db, "SELECT count(*) FROM baselines") == [(0,)]
    assert rows(site.db, "SELECT count(*) FROM blobs") == [(0,)]
    assert not site.heads.exists()


@pytest.mark.parametrize("reason", ["", "   ", "x" * 2001])
def test_a_reason_is_required(site, make_capture: Callable, reason: str) -> None:
    with pytest.raises(ConfigError, match="a reason is required") as caught:
        site.store.append_baseline(make_capture(), site.alice, reason, trust=site.trust)
    assert caught.value.field == "reason"


def test_an_empty_capture_is_refused(site, make_capture: Callable) -> None:
    empty = Capture("vfd-hoist", "modbus", Mode.DEEP, T0, ())
    with pytest.raises(ConfigError, match="no artifacts; refusing to sign an empty baseline"):
        site.store.append_baseline(empty, site.alice, "nothing", trust=site.trust)


def test_a_broken_chain_is_not_extended(three, make_capture: Callable) -> None:
    sql(three.db, "DELETE FROM baselines WHERE device='vfd-hoist' AND sequence=2")
    with pytest.raises(Exception, match="#2 is missing"):
        three.store.append_baseline(make_capture(), three.alice, "paper over it", trust=three.trust)
    assert rows(three.db, "SELECT sequence FROM baselines WHERE device='vfd-hoist' ORDER BY 1") == [
        (1,), (3,)]


def test_key_rotation_keeps_older_history_valid(site, make_capture: Callable) -> None:
    """alice signs #1, bob signs #2, alice leaves: #1 is vouched for by bob's #2."""
    site.store.append_baseline(make_capture(), site.alice, "by alice", trust=site.trust)
    site.store.append_baseline(make_capture(speed=7), site.bob, "by bob", trust=site.trust)
    (site.trust.folder / "alice.pub").unlink()
    assert site.store.latest("vfd-hoist", site.trust).signer_name == "bob"
    first, second = site.store.history("vfd-hoist", site.trust)
    assert first.ok and first.signer_name is None and "no longer in trust/" in first.note
    assert second.ok and second.note is None
    (site.trust.folder / "bob.pub").unlink()
    with pytest.raises(UntrustedKeyError, match="vfd-hoist #2: signer key"):
        site.store.latest("vfd-hoist", site.trust)


def test_rollback_anchor_is_optional(tmp_path: Path, site, make_capture: Callable) -> None:
    """Without a head file (fresh or migrated site) a shortened history is
    accepted: the documented limit of the anchor."""
    site.store.append_baseline(make_capture(), site.alice, "1", trust=site.trust)
    site.store.append_baseline(make_capture(speed=2), site.alice, "2", trust=site.trust)
    site.heads.unlink()
    sql(site.db, "DELETE FROM baselines WHERE sequence=2")
    assert site.store.latest("vfd-hoist", site.trust).sequence == 1


def test_devices_include_anchored_devices_with_no_rows(three) -> None:
    sql(three.db, "DELETE FROM baselines WHERE device='vfd-trolley'")
    assert three.store.devices() == ["vfd-hoist", "vfd-trolley"]
    [entry] = three.store.history("vfd-trolley", three.trust)
    assert not entry.ok and entry.problem_kind == "broken-chain" and "rollback" in entry.problem


def test_check_history(site) -> None:
    def result(device: str, minute: int, status: Status) -> CheckResult:
        return CheckResult(device=device, protocol="modbus", status=status,
                           checked_at=T0 + timedelta(minutes=minute), mode=Mode.QUICK,
                           fingerprint="ab" * 32, baseline_id="cd" * 32, reason=None)
    first = site.store.record_check(result("vfd-hoist", 1, Status.OK))
    site.store.record_check(result("vfd-trolley", 2, Status.DRIFT))
    site.store.record_check(result("vfd-hoist", 3, Status.UNREACHABLE))
    latest = site.store.checks("vfd-hoist")
    assert [(c["status"], c["checked_at"]) for c in latest] == [
        ("UNREACHABLE", "2024-05-01T08:33:00.123456+00:00"), ("OK", "2024-05-01T08:31:00.123456+00:00")]
    assert latest[1]["check_id"] == first
    assert latest[1] == {**result("vfd-hoist", 1, Status.OK).to_dict(), "check_id": first}
    assert [c["device"] for c in site.store.checks(limit=2)] == ["vfd-hoist", "vfd-trolley"]
    with pytest.raises(ConfigError, match="limit must be a positive integer"):
        site.store.checks(limit=0)
    assert rows(site.db, "SELECT device, mode, status FROM checks ORDER BY id")[0] == (
        "vfd-hoist", "quick", "OK")


# -- migrations and opening ----------------------------------------------------------------

# The newest migration; bump with each new file in baselines/migrations/versions.
HEAD_REVISION = "0005_outbox"


def test_migrations_create_the_schema_and_are_idempotent(store_url) -> None:
    db = store_url
    Store.open(db).close()
    names = {r[0] for r in rows(db, "SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = 'public'")
             } if is_postgres(db) else {
        r[0] for r in rows(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"blobs", "baselines", "checks", "alembic_version"} <= names
    assert rows(db, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    Store.open(db).close()  # re-open: nothing to do, nothing breaks
    assert rows(db, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    # the migrated schema is exactly what tables.py (the queries) expects
    engine = create_engine(db if is_postgres(db) else f"sqlite:///{db}")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), tables.metadata) == []
    engine.dispose()


def test_the_quick_schema_check_agrees_with_alembic() -> None:
    # Store.open compares the database's version with script_heads(), read
    # without importing Alembic; a new migration must keep it Alembic's answer.
    from alembic.script import ScriptDirectory

    from baselines.store import _alembic_config, script_heads

    assert script_heads() == set(ScriptDirectory.from_config(_alembic_config()).get_heads()) \
        == {HEAD_REVISION}


def test_unique_device_sequence_is_enforced_by_the_schema(three) -> None:
    with pytest.raises((sqlite3.IntegrityError, IntegrityError)):
        sql(three.db, "UPDATE baselines SET sequence=1 WHERE device='vfd-hoist' AND sequence=2")


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="folder .*nowhere does not exist"):
        Store.open(tmp_path / "nowhere" / "db.sqlite")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open store .*junk.db: file is not a database"):
        Store.open(junk)
    with pytest.raises(StoreError, match="cannot use store URL"):
        Store.open("nosuchdialect://host/db")
    with pytest.raises(StoreError, match="not a valid SQLAlchemy URL"):
        Store.open("::not a url::/x://")
    # PostgreSQL down: a StoreError at once, naming the store without its password
    with pytest.raises(StoreError, match=r"cannot open store postgresql\+psycopg://plc:\*\*\*@"
                                         r"127.0.0.1:1/plc: connection failed") as caught:
        Store.open("postgresql+psycopg://plc:hunter2@127.0.0.1:1/plc")
    assert "hunter2" not in str(caught.value)


def test_a_schema_from_a_newer_version_is_refused(store_url) -> None:
    db = store_url
    Store.open(db).close()
    sql(db, "UPDATE alembic_version SET version_num='9999'")
    with pytest.raises(StoreError, match="cannot upgrade store .*9999.*newer plc-integrity"):
        Store.open(db)


def test_read_only_database_gives_store_error(site, make_capture: Callable) -> None:
    if is_postgres(site.db):
        pytest.skip("an SQLite read-only URL; PostgreSQL's own permissions are its business")
    # A read-only URL rather than chmod: the tests may run as root.
    store = Store.open(f"sqlite:///file:{site.db}?mode=ro&uri=true", heads_path=site.heads)
    assert store.devices() == []  # reading works
    with pytest.raises(StoreError, match="storing a baseline of vfd-hoist in .*: attempt to "
                                         "write a readonly database"):
        store.append_baseline(make_capture(), site.alice, "x", trust=site.trust)
    store.close()


def test_blob_tamper_is_caught_by_artifact_content(three) -> None:
    digest = three.store.latest("vfd-hoist", three.trust).manifest.artifacts[0].digest
    sql(three.db, "UPDATE blobs SET content=? WHERE digest=?", b"\x00", digest)
    with pytest.raises(StoreTamperedError, match="does not hash to its digest"):
        three.store.artifact_content(digest)
    with pytest.raises(StoreTamperedError, match="is missing from the store"):
        three.store.artifact_content("00" * 32)
