"""Issue 2 acceptance: a tampered store or trust folder is exit 5, saying what failed."""

from __future__ import annotations

import sqlite3

import pytest


def _db(site):
    return sqlite3.connect(site.root / "plc-integrity.db")


def _edit_column(site, column, edit, sequence=None):
    with _db(site) as db:
        if sequence is None:
            sequence = db.execute("SELECT max(sequence) FROM baselines").fetchone()[0]
        (value,) = db.execute(f"SELECT {column} FROM baselines WHERE sequence = ?",
                              (sequence,)).fetchone()
        db.execute(f"UPDATE baselines SET {column} = ? WHERE sequence = ?", (edit(value), sequence))


def flip_last_byte(v):
    v = bytes(v)
    return v[:-1] + bytes([v[-1] ^ 0x01])


def edit_reason(v):
    v = bytes(v)
    assert b"second baseline" in v
    return v.replace(b"second baseline", b"second baselinX")


def other_keyid(v):
    return "0" * 64


def delete_first(site):
    with _db(site) as db:
        db.execute("DELETE FROM baselines WHERE sequence = 1")


def delete_newest(site):
    with _db(site) as db:
        db.execute("DELETE FROM baselines WHERE sequence = 2")


def swap_sequences(site):
    with _db(site) as db:
        db.execute("UPDATE baselines SET sequence = -1 WHERE sequence = 1")
        db.execute("UPDATE baselines SET sequence = 1 WHERE sequence = 2")
        db.execute("UPDATE baselines SET sequence = 2 WHERE sequence = -1")


def untrust_key(site):
    for pub in (site.root / "trust").glob("*.pub"):
        pub.unlink()


def replace_trusted_key(site):
    from baselines.signing import generate_keypair

    pubs = list((site.root / "trust").glob("*.pub"))
    _, other_pub, _ = generate_keypair("intruder", site.keys_dir, None)
    for pub in pubs:
        pub.write_bytes(other_pub.read_bytes())


def edit_register_blob(site):
    """Forge the stored register values.  The verdict rests on signed digests,
    so this only matters where the content is shown: in the diff of a drift."""
    with _db(site) as db:
        for digest, content in db.execute("SELECT digest, content FROM blobs").fetchall():
            if bytes(content).startswith(b'{"start":0,'):
                forged = bytes(content).replace(b'{"start":0,"values":[', b'{"start":0,"values":[9', 1)
                db.execute("UPDATE blobs SET content = ? WHERE digest = ?", (forged, digest))


TAMPERS = [
    pytest.param(lambda s: _edit_column(s, "manifest", edit_reason), "signature", id="manifest-edited"),
    pytest.param(lambda s: _edit_column(s, "signature", flip_last_byte), "signature", id="signature-edited"),
    pytest.param(lambda s: _edit_column(s, "keyid", other_keyid), "", id="signer-edited"),
    pytest.param(delete_first, "", id="history-row-deleted"),
    pytest.param(delete_newest, "", id="newest-deleted-rollback"),
    pytest.param(swap_sequences, "", id="history-reordered"),
    pytest.param(untrust_key, "trust", id="key-removed-from-trust"),
    pytest.param(replace_trusted_key, "", id="trusted-key-replaced"),
    pytest.param(edit_register_blob, "content", id="artifact-content-edited", marks=pytest.mark.blob),
]


@pytest.mark.parametrize("tamper,words", TAMPERS)
def test_tampering_is_exit_5(request, run, site, drive, inventory, tamper, words):
    inventory.write(inventory.table(drive))
    for reason in ("first baseline", "second baseline"):
        r = run("baseline", "capture", "--all", "--key", str(site.key), "--reason", reason)
        assert r.exit_code == 0, r.output
    assert run("verify", "--all").exit_code == 0

    tamper(site)
    if request.node.get_closest_marker("blob") is not None:
        # Drift on the forged artifact, so its stored values would be shown.
        from simulators.modbus import attacker_write_register
        attacker_write_register(drive.host, drive.port, 1, 22, 2250)

    r = run("verify", "--all")
    assert r.exit_code == 5, r.output
    assert "BASELINE_INVALID" in r.output
    assert words.lower() in r.output.lower()
    if request.node.get_closest_marker("blob") is None:
        # history verifies every manifest (not contents) and exits 5 on any problem
        h = run("baseline", "history", "vfd-hoist")
        assert h.exit_code == 5, h.output
        # status reads every device's baseline in bulk (latest_many) and verifies
        # each as verify does: the tampered one shows as INVALID, never its id.
        code, doc = run.json("status")
        [row] = doc["devices"]
        assert code == 0 and row["baseline_id"] is None, row
        assert row["baseline_problem"].startswith("INVALID ("), row
        assert "INVALID (" in run("status").output


def _both_ways(root):
    """Every device's latest baseline, and vfd-hoist's history row by row,
    verified with the rows checked in this process and in the forked
    verification worker (baselines.parallel)."""
    from baselines.verify import verify_rows
    from integrity.cli._common import open_store, trust_store
    from integrity.errors import BaselineInvalidError
    from integrity.inventory import load_site
    from support.parallel import worker_checks_all

    site = load_site(root)
    trust = trust_store(site)
    names = [d.name for d in site.devices]
    with open_store(site) as store:
        latest = [store.latest_many(names, trust, parallel=p) for p in (False, True)]
        with store._tx("reading rows") as conn:
            rows = store._rows(conn, "vfd-hoist")
        try:
            head, anchor = store._head("vfd-hoist")
        except BaselineInvalidError:
            head, anchor = None, ""
    reports = [verify_rows("vfd-hoist", rows, trust, head, anchor),
               verify_rows("vfd-hoist", rows, trust, head, anchor,
                           checked=worker_checks_all(rows, trust))]
    return latest, reports


def _same_answer(a, b):
    from baselines.manifest import Baseline

    assert a.keys() == b.keys()
    for device in a:
        x, y = a[device], b[device]
        assert type(x) is type(y), device
        if isinstance(x, Baseline):
            assert (x.id, x.manifest, x.manifest_bytes, x.signature, x.keyid, x.signer_name) == \
                (y.id, y.manifest, y.manifest_bytes, y.signature, y.keyid, y.signer_name)
        else:
            assert (str(x), getattr(x, "reason", None)) == (str(y), getattr(y, "reason", None))


def _same_reports(a, b):
    (rows_a, extra_a), (rows_b, extra_b) = a, b
    assert [(r.row, r.manifest, r.signer_name, type(r.problem), str(r.problem), r.note)
            for r in rows_a] == [(r.row, r.manifest, r.signer_name, type(r.problem),
                                  str(r.problem), r.note) for r in rows_b]
    assert [str(e) for e in extra_a] == [str(e) for e in extra_b]


@pytest.mark.parametrize("tamper,words", [*TAMPERS, pytest.param(lambda s: None, "", id="untouched")])
def test_parallel_verification_gives_the_same_answers(run, site, drive, inventory, tamper, words):
    """status at scale checks the rows on two cores (baselines.parallel): on every
    tamper case above it must say exactly what the in-process check says."""
    inventory.write(inventory.table(drive))
    for reason in ("first baseline", "second baseline"):
        assert run("baseline", "capture", "--all", "--key", str(site.key),
                   "--reason", reason).exit_code == 0
    tamper(site)
    (alone, forked), reports = _both_ways(site.root)
    _same_answer(alone, forked)
    _same_reports(*reports)
