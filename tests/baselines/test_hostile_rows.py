"""Rows written by an attacker with database access must make that device's
history untrusted (BaselineInvalidError), never crash the check of every device."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from support.dbsql import is_postgres, sql

from integrity.errors import BaselineInvalidError, ChainBrokenError

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _insert(db, manifest, *, sequence=4, keyid="ab" * 32, signature=b"\x00" * 64):
    if is_postgres(db) and (isinstance(manifest, str) or isinstance(sequence, str)):
        # SQLite stores any value in any column; PostgreSQL refuses the wrong type itself.
        pytest.skip("PostgreSQL's column types refuse this row")
    sql(db, "INSERT INTO baselines (id, device, sequence, keyid, manifest, signature, "
        "created_at) VALUES (?, 'vfd-hoist', ?, ?, ?, ?, '2026')",
        "cd" * 32, sequence, keyid, manifest, signature)


HOSTILE = [
    pytest.param(lambda db: _insert(db, ('{"signer":"' + "ab" * 32 + '","x":"\\ud800"}').encode()),
                 id="lone-surrogate"),
    pytest.param(lambda db: _insert(db, b'{"n":' + b"9" * 5000 + b"}"), id="huge-integer"),
    pytest.param(lambda db: _insert(db, b"[" * 200000), id="deep-nesting"),
    pytest.param(lambda db: _insert(db, "text, not bytes"), id="manifest-as-text"),
    pytest.param(lambda db: _insert(db, b"{}", sequence="x"), id="sequence-as-text"),
]


@pytest.mark.parametrize("insert", HOSTILE)
def test_hostile_row_is_invalid_for_its_device_only(three, insert):
    insert(three.db)
    with pytest.raises(BaselineInvalidError):
        three.store.latest("vfd-hoist", three.trust)
    got = three.store.latest_many(["vfd-hoist", "vfd-trolley"], three.trust)
    assert isinstance(got["vfd-hoist"], BaselineInvalidError)
    assert got["vfd-trolley"].sequence == 1


def test_deleted_row_is_caught_even_under_a_retired_key(three, make_capture, tmp_path):
    """#1..#3 by alice; #4, #5 by bob; #6 by alice.  bob leaves trust/ (key
    rotation: his rows are vouched for by the chain), then #4 is deleted.  The
    gap must not be vouched away with the untrusted signer."""
    for i, key in ((3, three.bob), (4, three.bob), (5, three.alice)):
        three.store.append_baseline(make_capture(speed=1600 + i, at=T0 + timedelta(hours=i)), key,
                                    f"r{i + 1}", trust=three.trust,
                                    now=T0 + timedelta(hours=i, minutes=5))
    for trusted in three.trust.keys():
        if trusted.keyid == three.bob.keyid:
            trusted.path.unlink()
    assert three.store.latest("vfd-hoist", three.trust).sequence == 6  # rotation is fine
    sql(three.db, "DELETE FROM baselines WHERE device = 'vfd-hoist' AND sequence = 4")
    with pytest.raises(ChainBrokenError, match="#4 is missing"):
        three.store.latest("vfd-hoist", three.trust)
