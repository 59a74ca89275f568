"""Every way the stored history can be tampered with is caught on read, as the
right BaselineInvalidError subclass, with a message naming device, sequence and
what failed.  Tampering goes straight at the database, SQLite file or PostgreSQL
(or trust/, or the head file), as an attacker with write access to it would."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from support import dbsql
from support.dbsql import one

from baselines.signing import SigningKey
from baselines.store import Store
from integrity.errors import (BaselineInvalidError, ChainBrokenError, SignatureInvalidError,
                              StoreTamperedError, UntrustedKeyError)


def sql(db: Path | str, statement: str, *args: object) -> None:
    changed = dbsql.sql(db, statement, *args)
    assert changed, f"tamper statement changed nothing: {statement}"


def edit_manifest(site, seq: int) -> None:
    data = one(site.db, "SELECT manifest FROM baselines WHERE device='vfd-hoist' AND sequence=?", seq)
    edited = bytes(data).replace(f'"reason":"r{seq}"'.encode(), f'"reason":"R{seq}"'.encode())
    assert edited != data
    sql(site.db, "UPDATE baselines SET manifest=? WHERE device='vfd-hoist' AND sequence=?", edited, seq)


def edit_signature(site, seq: int) -> None:
    sig = bytearray(one(site.db, "SELECT signature FROM baselines WHERE device='vfd-hoist' AND "
                                 "sequence=?", seq))
    sig[10] ^= 0x01
    sql(site.db, "UPDATE baselines SET signature=? WHERE device='vfd-hoist' AND sequence=?",
        bytes(sig), seq)


def swap_sequences(site) -> None:
    sql(site.db, "UPDATE baselines SET sequence=-1 WHERE device='vfd-hoist' AND sequence=1")
    sql(site.db, "UPDATE baselines SET sequence=1 WHERE device='vfd-hoist' AND sequence=2")
    sql(site.db, "UPDATE baselines SET sequence=2 WHERE device='vfd-hoist' AND sequence=-1")


def edit_blob(site) -> None:
    digest = site.store.latest("vfd-hoist", site.trust).manifest.artifacts[1].digest  # holding
    sql(site.db, "UPDATE blobs SET content=? WHERE digest=?",
        b'{"start":0,"values":[9999,20,30,0]}', digest)


def delete_blob(site) -> None:
    digest = site.store.latest("vfd-hoist", site.trust).manifest.artifacts[1].digest
    sql(site.db, "DELETE FROM blobs WHERE digest=?", digest)


def replace_trusted_key(site) -> None:
    # Same file name, another key: trust follows key ids, not file names.
    (site.trust.folder / "alice.pub").write_bytes(SigningKey.from_seed(b"\x07" * 32).public_key.pem())


def replace_history(site, make_capture) -> None:
    """Swap vfd-hoist's whole history for another, validly signed one (e.g. from
    an older copy of the database): only the head file can tell."""
    other_db = site.root / "other.db"
    with Store.open(other_db, heads_path=None) as other:
        for i in range(3):
            other.append_baseline(make_capture(speed=42 + i), site.alice, f"r{i + 1}",
                                  trust=site.trust)
    sql(site.db, "DELETE FROM baselines WHERE device='vfd-hoist'")
    for row in dbsql.rows(other_db, "SELECT * FROM baselines"):
        sql(site.db, "INSERT INTO baselines VALUES (?, ?, ?, ?, ?, ?, ?)", *row)
    for row in dbsql.rows(other_db, "SELECT * FROM blobs"):
        if not dbsql.rows(site.db, "SELECT 1 FROM blobs WHERE digest = ?", row[0]):
            sql(site.db, "INSERT INTO blobs VALUES (?, ?, ?, ?)", *row)


CASES = [
    pytest.param(lambda s, mc: edit_manifest(s, 3), "latest", SignatureInvalidError,
                 r"vfd-hoist #3: signature .* does not match the stored manifest bytes",
                 id="manifest-byte-edited-newest"),
    pytest.param(lambda s, mc: edit_manifest(s, 2), "latest", SignatureInvalidError,
                 r"vfd-hoist #2: signature", id="manifest-byte-edited-older"),
    pytest.param(lambda s, mc: edit_signature(s, 3), "latest", SignatureInvalidError,
                 r"vfd-hoist #3: signature", id="signature-edited"),
    pytest.param(lambda s, mc: sql(s.db, "UPDATE baselines SET signature=? WHERE "
                                   "device='vfd-hoist' AND sequence=3", b"\x00"),
                 "latest", SignatureInvalidError, r"#3: signature", id="signature-truncated"),
    pytest.param(lambda s, mc: sql(s.db, "UPDATE baselines SET keyid=? WHERE device='vfd-hoist' "
                                   "AND sequence=3", s.bob.keyid),
                 "latest", StoreTamperedError, r"vfd-hoist #3: keyid column [0-9a-f]{16} disagrees",
                 id="signer-column-edited-to-other-trusted-key"),
    pytest.param(lambda s, mc: sql(s.db, "UPDATE baselines SET keyid=? WHERE device='vfd-hoist' "
                                   "AND sequence=3", "ab" * 32),
                 "latest", StoreTamperedError, r"#3: keyid column abababababababab disagrees",
                 id="signer-column-edited-to-unknown-key"),
    pytest.param(lambda s, mc: sql(s.db, "UPDATE baselines SET device='vfd-gantry' WHERE "
                                   "device='vfd-hoist' AND sequence=1"),
                 "latest:vfd-gantry", StoreTamperedError,
                 r"vfd-gantry #1: device column is 'vfd-gantry' but the signed manifest says "
                 r"'vfd-hoist'", id="device-column-edited"),
    pytest.param(lambda s, mc: sql(s.db, "UPDATE baselines SET device='vfd-gantry' WHERE "
                                   "device='vfd-hoist' AND sequence=2"),
                 "latest", ChainBrokenError, r"vfd-hoist #3: baseline #2 is missing",
                 id="device-column-edited-seen-from-original-device"),
    pytest.param(lambda s, mc: sql(s.db, "UPDATE baselines SET id=? WHERE device='vfd-hoist' AND "
                                   "sequence=3", "cd" * 32),
                 "latest", StoreTamperedError, r"#3: id column", id="id-column-edited"),
    pytest.param(lambda s, mc: sql(s.db, "DELETE FROM baselines WHERE device='vfd-hoist' AND "
                                   "sequence=2"),
                 "latest", ChainBrokenError, r"vfd-hoist #3: baseline #2 is missing .*deleted",
                 id="middle-row-deleted"),
    pytest.param(lambda s, mc: sql(s.db, "DELETE FROM baselines WHERE device='vfd-hoist' AND "
                                   "sequence=1"),
                 "latest", ChainBrokenError, r"vfd-hoist #2: baseline #1 is missing",
                 id="first-row-deleted"),
    pytest.param(lambda s, mc: swap_sequences(s), "latest", StoreTamperedError,
                 r"vfd-hoist #2: sequence column is 2 but the signed manifest says 1",
                 id="rows-sequence-swapped"),
    pytest.param(lambda s, mc: sql(s.db, "DELETE FROM baselines WHERE device='vfd-hoist' AND "
                                   "sequence=3"),
                 "latest", ChainBrokenError,
                 r"vfd-hoist: the store's history ends at #2 but the head file records #3 .*rollback",
                 id="newest-row-deleted-rollback"),
    pytest.param(lambda s, mc: sql(s.db, "DELETE FROM baselines WHERE device='vfd-hoist'"),
                 "latest", ChainBrokenError, r"history ends at #0 but the head file records #3",
                 id="all-rows-deleted-rollback"),
    pytest.param(replace_history, "latest", ChainBrokenError,
                 r"vfd-hoist #3: id differs from the head file's [0-9a-f]{16} \(history replaced\)",
                 id="history-replaced-by-other-signed-history"),
    pytest.param(lambda s, mc: s.heads.write_text("{not json"), "latest", ChainBrokenError,
                 r"rollback anchor .*heads.json is damaged", id="head-file-damaged"),
    pytest.param(lambda s, mc: edit_blob(s), "load", StoreTamperedError,
                 r"artifact content [0-9a-f]{16} in the store does not hash to its digest",
                 id="blob-content-edited"),
    pytest.param(lambda s, mc: delete_blob(s), "load", StoreTamperedError,
                 r"vfd-hoist #3: content of artifact holding/0-3 .* is missing", id="blob-deleted"),
    pytest.param(lambda s, mc: (s.trust.folder / "alice.pub").unlink(), "latest", UntrustedKeyError,
                 r"vfd-hoist #3: signer key [0-9a-f]{16} is not in .*trust",
                 id="key-removed-from-trust"),
    pytest.param(lambda s, mc: replace_trusted_key(s), "latest", UntrustedKeyError,
                 r"vfd-hoist #3: signer key [0-9a-f]{16} is not in", id="key-replaced-same-filename"),
    pytest.param(lambda s, mc: (s.trust.folder / "alice.pub").write_bytes(b"garbage"), "latest",
                 UntrustedKeyError, r"not in .*; unusable: alice.pub: .* is not a PEM public key",
                 id="trust-file-unreadable"),
]


@pytest.mark.parametrize(("tamper", "action", "error", "message"), CASES)
def test_tampering_is_caught(three, make_capture: Callable, tamper: Callable, action: str,
                             error: type[BaselineInvalidError], message: str,
                             request: pytest.FixtureRequest) -> None:
    tamper(three, make_capture)
    store = three.reopen()
    device = action.split(":")[1] if ":" in action else "vfd-hoist"
    with pytest.raises(error, match=message) as caught:
        if action == "load":
            store.load_artifacts(store.latest(device, three.trust))
        else:
            store.latest(device, three.trust)
    assert type(caught.value) is error  # exactly this kind, not a sibling
    if action != "load":
        # history reports the problem instead of raising, for `baseline history`
        entries = store.history(device, three.trust)
        bad = [e for e in entries if not e.ok]
        assert bad and bad[0].problem_kind == error.reason
        assert str(caught.value) in {e.problem for e in bad}
        # a broken chain is never extended
        with pytest.raises(BaselineInvalidError):
            store.append_baseline(make_capture(device), three.bob, "on top", trust=three.trust)
    if "head-file-damaged" not in request.node.callspec.id:  # that one anchors every device
        # the other device's baselines are untouched and still verify
        assert three.store.latest("vfd-trolley", three.trust).sequence == 1


def test_untampered_history_is_all_ok(three) -> None:
    entries = three.store.history("vfd-hoist", three.trust)
    assert [(e.sequence, e.ok, e.reason, e.signer_name) for e in entries] == [
        (1, True, "r1", "alice"), (2, True, "r2", "alice"), (3, True, "r3", "alice")]
