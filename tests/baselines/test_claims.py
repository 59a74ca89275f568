"""Claims of due jobs by the collectors of a zone (baselines/claims.py), on SQLite
and on a real PostgreSQL: a claimed job is nobody else's until its lease expires,
a finished job is not claimed again before its next due time, and on SQLite a
zone has one collector at a time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from support.dbsql import is_postgres

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=30)
JOBS = [f"vfd-{i}/quick" for i in range(6)]


def due_now(store, jobs=JOBS, at=T0) -> None:
    for job in jobs:
        store.set_due(job, at, None)


def test_a_claimed_job_is_taken_over_only_after_its_lease(site) -> None:
    store = site.store
    due_now(store)
    assert store.claim_jobs("c1", ["berth-3"], JOBS, T0, LEASE) == JOBS
    assert store.claim_jobs("c2", ["berth-3"], JOBS, T0 + timedelta(seconds=29), LEASE) == []
    # c1 renews at its beat: still its own
    assert store.renew_claims("c1", T0 + timedelta(seconds=20), LEASE) == len(JOBS)
    assert store.claim_jobs("c2", ["berth-3"], JOBS, T0 + timedelta(seconds=49), LEASE) == []
    # c1 dies: one lease after its last renewal the jobs are c2's
    later = T0 + timedelta(seconds=51)
    assert store.claim_jobs("c2", ["berth-3"], JOBS, later, LEASE) == JOBS
    assert {who for who, _ in store.claims_held().values()} == {"c2"}
    # a late c1 finishing does not drop c2's claims
    store.finish_jobs("c1", {JOBS[0]: later + timedelta(minutes=15)}, later)
    assert store.claims_held()[JOBS[0]][0] == "c2"


def test_a_finished_job_is_not_claimed_again_before_it_is_due(site) -> None:
    store = site.store
    due_now(store)
    assert store.claim_jobs("c1", ["z"], JOBS, T0, LEASE) == JOBS
    store.finish_jobs("c1", {j: T0 + timedelta(minutes=15) for j in JOBS}, T0)
    assert store.claims_held() == {}
    assert store.claim_jobs("c2", ["z"], JOBS, T0 + timedelta(minutes=1), LEASE) == []
    assert store.claim_jobs("c2", ["z"], JOBS, T0 + timedelta(minutes=15), LEASE) == JOBS


def test_two_collectors_of_a_zone(site) -> None:
    """PostgreSQL: both work, on different jobs.  SQLite: the second stands by
    until the first's zone lease expires or it stops."""
    store = site.store
    due_now(store)
    assert store.claim_jobs("c1", ["z"], JOBS[:3], T0, LEASE) == JOBS[:3]
    second = store.claim_jobs("c2", ["z"], JOBS, T0, LEASE)
    if is_postgres(site.db):
        assert second == JOBS[3:]
    else:
        assert second == []
        store.release_claims("c1")  # a clean stop hands the zone over at once
        assert store.claim_jobs("c2", ["z"], JOBS, T0, LEASE) == JOBS


def test_claims_race_from_threads_never_share_a_job(site) -> None:
    """Eight collectors claim the same 60 due jobs at the same moment: each job
    goes to exactly one (PostgreSQL: SKIP LOCKED; SQLite: one zone lease)."""
    from baselines.store import Store

    jobs = [f"dev-{i:02d}/deep" for i in range(60)]
    due_now(site.store, jobs)
    stores = [Store.open(site.db) for _ in range(4)]
    got: dict[str, list[str]] = {}
    start = threading.Barrier(8)

    def work(n: int) -> None:
        start.wait(timeout=30)
        got[f"c{n}"] = stores[n % 4].claim_jobs(f"c{n}", ["z"], jobs, T0, LEASE)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for s in stores:
            s.close()
    claimed = [j for js in got.values() for j in js]
    assert sorted(claimed) == jobs  # every job once, none twice
    if not is_postgres(site.db):
        assert sum(1 for js in got.values() if js) == 1


def test_collector_heartbeats_round_trip(site) -> None:
    store = site.store
    store.collector_beat("host-a:12", ["berth-3", "berth-1"], T0, {"interval_s": 10.0})
    store.collector_beat("host-a:12", ["berth-3"], T0 + timedelta(seconds=10), {"claims": 2})
    [beat] = store.collector_beats()
    assert beat == {"id": "host-a:12", "zones": ["berth-3"], "at": T0 + timedelta(seconds=10),
                    "info": {"claims": 2}}
    store.forget_collector("host-a:12")
    assert store.collector_beats() == []


def test_a_devices_jobs_are_claimed_together(site) -> None:
    """c1 holds vfd-0's deep job; c2 must not take vfd-0's quick one meanwhile."""
    store = site.store
    due_now(store, ["vfd-0/deep", "vfd-0/quick", "vfd-1/quick"])
    assert store.claim_jobs("c1", ["z"], ["vfd-0/deep"], T0, LEASE) == ["vfd-0/deep"]
    wanted = ["vfd-0/deep", "vfd-0/quick", "vfd-1/quick"]
    got = store.claim_jobs("c2", ["z"], wanted, T0, LEASE)
    assert got == ([] if not is_postgres(site.db) else ["vfd-1/quick"])
