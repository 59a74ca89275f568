"""baselines.parallel: rows checked partly in a forked worker give exactly the
in-process answers, and a worker that fails is an error, never a row passed."""

from __future__ import annotations

import functools
import os
import pickle
import signal
from datetime import timedelta

import pytest
from support.dbsql import one, sql
from support.parallel import worker_checks_all

from baselines.manifest import Manifest
from baselines.parallel import check_rows, parallel_ok
from baselines.verify import check_row, check_row_caught, verify_rows
from integrity.errors import SignatureInvalidError, StoreError, StoreTamperedError

from .conftest import T0


def _read_rows(site):
    with site.store._tx("test") as conn:
        return [r for device in ("vfd-hoist", "vfd-trolley")
                for r in site.store._rows(conn, device)]


def _flip_signature(site, device="vfd-hoist", sequence=2):
    sig = bytes(one(site.db, "SELECT signature FROM baselines WHERE device = ? AND sequence = ?",
                    device, sequence))
    sql(site.db, "UPDATE baselines SET signature = ? WHERE device = ? AND sequence = ?",
        sig[:-1] + bytes([sig[-1] ^ 1]), device, sequence)


def _same(a, b):
    assert len(a) == len(b)
    for (m1, p1, u1), (m2, p2, u2) in zip(a, b):
        assert m1 == m2 and u1 == u2
        assert type(p1) is type(p2) and str(p1) == str(p2)


def test_forked_check_agrees_with_in_process_check(three):
    _flip_signature(three)
    rows = _read_rows(three)
    trust = three.trust.snapshot()
    alone = check_rows(rows, trust, check_row_caught, parallel=False)
    forked = worker_checks_all(rows, trust)
    _same(alone, forked)
    _same(alone, check_rows(rows, trust, check_row_caught, parallel=True, chunk=1))
    assert isinstance(forked[1][1], SignatureInvalidError)  # the worker's message, as ours
    assert sum(p is None for _m, p, _u in forked) == len(rows) - 1
    # The chain and head checks over those answers are the same too.
    hoist = [r for r in rows if r.device == "vfd-hoist"]
    assert str(verify_rows("vfd-hoist", hoist, trust, None, checked=forked[:3])[0][1].problem) \
        == str(verify_rows("vfd-hoist", hoist, trust, None)[0][1].problem)


def test_latest_many_agrees_forked_and_alone(three):
    _flip_signature(three, sequence=3)
    trust = three.trust.snapshot()
    names = ["vfd-hoist", "vfd-trolley", "vfd-nobody"]
    ran = []
    alone = three.store.latest_many(names, trust, parallel=False, meanwhile=lambda: ran.append(1))
    forked = three.store.latest_many(names, trust, parallel=True, meanwhile=lambda: ran.append(2))
    assert ran == [1, 2]  # the caller's other work, once each way
    assert str(alone["vfd-hoist"]) == str(forked["vfd-hoist"])
    assert isinstance(forked["vfd-hoist"], SignatureInvalidError)
    assert forked["vfd-trolley"].manifest == alone["vfd-trolley"].manifest
    assert forked["vfd-trolley"].id == alone["vfd-trolley"].id
    assert type(forked["vfd-nobody"]) is type(alone["vfd-nobody"])


def test_unpacked_manifest_equals_the_parsed_one(site, make_capture):
    for i in range(3):
        site.store.append_baseline(make_capture(speed=1500 + i, at=T0 + timedelta(hours=i)),
                                   site.alice, f"r{i + 1} \u00e9\u2603 \"q\"", trust=site.trust,
                                   now=T0 + timedelta(hours=i, minutes=5))
    for row in _read_rows(site):
        parsed = Manifest.from_bytes(row.manifest)
        rebuilt = Manifest.unpack(pickle.loads(pickle.dumps(parsed.pack())))
        assert rebuilt == parsed and rebuilt.to_bytes() == row.manifest
        assert type(rebuilt.policy) is type(parsed.policy)
        assert [type(a.kind) for a in rebuilt.artifacts] == [type(a.kind) for a in parsed.artifacts]


@pytest.mark.parametrize("how", ["killed", "exit", "raises-base"])
def test_a_failed_worker_is_an_error(three, how):
    parent = os.getpid()

    def check(row, trust):
        if os.getpid() != parent:
            if how == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            if how == "exit":
                os._exit(0)  # exits "cleanly" without handing anything back
            raise SystemExit(0)
        return check_row(row, trust)

    with pytest.raises(StoreError, match="verification worker"):
        # This process claims no row until the worker has failed (its pipe closes).
        worker_checks_all(_read_rows(three), three.trust.snapshot(), check)


def test_an_error_here_stops_the_worker_and_is_raised(three):
    def meanwhile():
        raise StoreError("the checks could not be read")

    with pytest.raises(StoreError, match="could not be read"):
        check_rows(_read_rows(three), three.trust.snapshot(), check_row_caught, parallel=True,
                   meanwhile=meanwhile, chunk=1)


def test_an_unexpected_exception_fails_the_device_the_same_way(three):
    """An exception nobody expected, in the worker or here, comes back as that
    row's value and makes its device fail closed the same way."""
    def hostile(row, trust):
        if row.device == "vfd-hoist" and row.sequence == 1:
            raise TypeError("hostile row")
        return check_row(row, trust)

    check = functools.partial(check_row_caught, check=hostile)

    rows = _read_rows(three)
    trust = three.trust.snapshot()
    for got in (check_rows(rows, trust, check, parallel=False),
                worker_checks_all(rows, trust, check)):
        assert isinstance(got[0][1], TypeError)
        with pytest.raises(StoreTamperedError, match="hostile row"):
            three.store._verify_history("vfd-hoist", rows[:3], trust, None, "", got[:3])


def test_small_sites_are_checked_in_process():
    assert not parallel_ok(10)
