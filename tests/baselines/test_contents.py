"""Issue 8 item 2: stored artifact contents are evidence, and their loss or
edit is seen: a missing content on every read of a baseline (a row lookup),
an edited one by the full re-hash of ``check_contents``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.dbsql import rows, sql

from baselines.manifest import Baseline
from integrity import canonical
from integrity.errors import StoreTamperedError

from .conftest import T0


def digest_of(site, key: str, device: str = "vfd-hoist") -> str:
    b = site.store.latest(device, site.trust)
    return next(e.digest for e in b.artifacts() if e.key == key)


def test_a_deleted_content_fails_latest_and_latest_many_without_reading_contents(three) -> None:
    digest = digest_of(three, "holding/0-3")
    assert sql(three.db, "DELETE FROM blobs WHERE digest=?", digest) == 1
    message = r"baseline vfd-hoist #3: content of artifact holding/0-3 \([0-9a-f]{16}\) is missing"
    with pytest.raises(StoreTamperedError, match=message):
        three.store.latest("vfd-hoist", three.trust)
    many = three.store.latest_many(["vfd-hoist", "vfd-trolley"], three.trust)
    assert isinstance(many["vfd-hoist"], StoreTamperedError)
    assert "holding/0-3" in str(many["vfd-hoist"])
    assert isinstance(many["vfd-trolley"], Baseline)  # the other device is untouched


def test_intact_store_checks_clean(three) -> None:
    report = three.store.check_contents(now=T0)
    assert report.ok and report.exit_code == 0
    assert report.problems == ()
    assert report.manifests == 4 and report.blobs == three.store.count_blobs()
    doc = report.to_dict()
    assert doc["schema"] == 1 and doc["ok"] is True and "all intact" in doc["summary"]


def test_check_contents_finds_edited_missing_and_orphaned(three) -> None:
    edited, deleted = digest_of(three, "blocks/FC/10"), digest_of(three, "holding/0-3")
    sql(three.db, "UPDATE blobs SET content=? WHERE digest=?", b"\x70\x70c0de", edited)
    sql(three.db, "DELETE FROM blobs WHERE digest=?", deleted)
    orphan = b"nobody lists me"
    sql(three.db, "INSERT INTO blobs VALUES (?, 'raw', ?, ?)", canonical.sha256(orphan),
        len(orphan), orphan)
    report = three.store.check_contents(now=T0 + timedelta(days=1))
    assert not report.ok and report.exit_code == 5
    kinds = {p.kind: p for p in report.problems}
    assert set(kinds) == {"edited", "missing", "orphan"}
    assert kinds["edited"].digest == edited and kinds["edited"].used_by == tuple(
        f"{d} #{n} blocks/FC/10" for d, n in (("vfd-hoist", 1), ("vfd-hoist", 2), ("vfd-hoist", 3),
                                              ("vfd-trolley", 1)))
    assert kinds["missing"].used_by == ("vfd-hoist #3 holding/0-3",)
    assert kinds["orphan"].used_by == ()
    assert [p.kind for p in report.damaged] == ["edited", "missing"]
    text = report.render()
    assert "DAMAGED: 1 edited, 1 missing; 1 unreferenced" in text
    assert f"EDITED {edited[:16]}" in text and "vfd-hoist #3 holding/0-3" in text


def test_an_orphan_alone_is_not_damage(three) -> None:
    orphan = b"left over"
    sql(three.db, "INSERT INTO blobs VALUES (?, 'raw', ?, ?)", canonical.sha256(orphan),
        len(orphan), orphan)
    report = three.store.check_contents(now=T0)
    assert report.ok and [p.kind for p in report.problems] == ["orphan"]


def test_an_unparseable_manifest_is_listed_not_fatal(three) -> None:
    sql(three.db, "UPDATE baselines SET manifest=? WHERE device='vfd-trolley'", b"{not json")
    report = three.store.check_contents(now=T0)
    assert report.unreadable == ("vfd-trolley #1",)


def test_the_outcome_is_remembered_for_status(three) -> None:
    report = three.store.check_contents(now=T0)
    three.store.record_store_check(report)
    at, info = three.store.last_store_check()
    assert at == T0 and info["ok"] is True
    assert three.store.events()[0]["kind"] == "store-check"


def test_check_contents_finds_two_swapped_contents(three) -> None:
    # Issue 13: a swap (each blob holding the other's bytes) leaves every row and
    # every length plausible; only re-hashing shows it, and it names both.
    a, b = digest_of(three, "blocks/FC/10"), digest_of(three, "holding/0-3")
    content = {d: bytes(c) for d, c in rows(three.db, "SELECT digest, content FROM blobs "
                                                       "WHERE digest IN (?, ?)", a, b)}
    sql(three.db, "UPDATE blobs SET content=? WHERE digest=?", content[b], a)
    sql(three.db, "UPDATE blobs SET content=? WHERE digest=?", content[a], b)
    report = three.store.check_contents(now=T0 + timedelta(days=1))
    assert not report.ok and report.exit_code == 5
    assert {p.digest for p in report.problems if p.kind == "edited"} == {a, b}
