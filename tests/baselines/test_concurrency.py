"""Sweeps record checks from worker threads, and two engineers (processes) may
append at once: appends must serialise into one contiguous, verified chain."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Callable

from baselines.store import Store
from integrity.model import CheckResult, Status


def test_concurrent_appends_from_two_stores_form_one_chain(site, make_capture: Callable) -> None:
    other = Store.open(site.db, heads_path=site.heads)  # as if a second process
    stores = [site.store, other]

    def work(n: int) -> int:
        store = stores[n % 2]
        for i in range(4):
            store.append_baseline(make_capture(speed=n * 100 + i), site.alice, f"w{n}-{i}",
                                  trust=site.trust)
            store.record_check(CheckResult("vfd-hoist", "modbus", Status.OK,
                                           datetime.now(timezone.utc)))
        return n

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert sorted(pool.map(work, range(4))) == [0, 1, 2, 3]
    finally:
        other.close()
    entries = site.store.history("vfd-hoist", site.trust)
    assert [e.sequence for e in entries] == list(range(1, 17))
    assert all(e.ok for e in entries), [e.problem for e in entries if not e.ok]
    assert site.store.latest("vfd-hoist", site.trust).sequence == 16
    assert '"sequence":16' in site.heads.read_text()
    assert len(site.store.checks(limit=100)) == 16


def test_collectors_opening_a_fresh_store_at_once_migrate_it_once(store_url) -> None:
    """Several collectors start together against an empty database: the schema
    is created once (the migration runs under the write lock), every open succeeds."""
    from support.dbsql import rows

    errors: list[BaseException] = []

    def open_close(_: int) -> None:
        try:
            Store.open(store_url).close()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(open_close, range(4)))
    assert errors == []
    assert len(rows(store_url, "SELECT version_num FROM alembic_version")) == 1
