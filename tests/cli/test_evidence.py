"""Issue 8 item 2 acceptance, through the CLI: a deleted artifact content is
exit 5 on the next verify even while the device matches; an edited one is
caught by `baseline show` and by `store check`."""

from __future__ import annotations

import json
import sqlite3

import pytest


def _db(site):
    return sqlite3.connect(site.root / "plc-integrity.db")


def _register_digest(site) -> str:
    with _db(site) as db:
        for digest, content in db.execute("SELECT digest, content FROM blobs"):
            if bytes(content).startswith(b'{"start":0,'):
                return digest
    raise AssertionError("no register blob")


def _delete_blob(site, digest):
    with _db(site) as db:
        assert db.execute("DELETE FROM blobs WHERE digest = ?", (digest,)).rowcount == 1


def _edit_blob(site, digest):
    with _db(site) as db:
        (content,) = db.execute("SELECT content FROM blobs WHERE digest = ?", (digest,)).fetchone()
        forged = bytes(content).replace(b'"values":[', b'"values":[9', 1)
        db.execute("UPDATE blobs SET content = ? WHERE digest = ?", (forged, digest))


@pytest.fixture
def captured(run, site, drive, inventory):
    inventory.write(inventory.table(drive))
    assert run.capture().exit_code == 0
    assert run("verify", "--all").exit_code == 0
    return _register_digest(site)


def test_deleted_content_is_exit_5_on_the_next_verify(run, site, captured):
    _delete_blob(site, captured)
    r = run("verify", "--all")
    assert r.exit_code == 5, r.output
    assert "vfd-hoist" in r.output and "is missing from the store" in r.output
    code, doc = run.json("verify", "--all")
    [result] = doc["results"]
    assert code == 5 and result["status"] == "BASELINE_INVALID"
    assert "holding/" in result["message"] and captured[:16] in result["message"]


def test_edited_content_is_caught_by_baseline_show_and_store_check(run, site, captured):
    assert run("baseline", "show", "vfd-hoist").exit_code == 0
    assert run("store", "check").exit_code == 0
    _edit_blob(site, captured)
    r = run("baseline", "show", "vfd-hoist")
    assert r.exit_code == 5, r.output
    assert "does not hash to its digest" in r.output
    code, doc = run.json("baseline", "show", "vfd-hoist")
    assert code == 5 and doc["error_type"] == "StoreTamperedError"

    r = run("store", "check")
    assert r.exit_code == 5, r.output
    assert f"EDITED {captured[:16]}" in r.output and "vfd-hoist #1 holding/" in r.output
    code, doc = run.json("store", "check")
    assert code == 5 and doc["schema"] == 1 and doc["ok"] is False
    assert [p["kind"] for p in doc["problems"]] == ["edited"]


def test_store_check_reports_a_deleted_content_and_says_where(run, site, captured):
    _delete_blob(site, captured)
    r = run("store", "check", "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 5
    [problem] = doc["problems"]
    assert problem["kind"] == "missing" and problem["digest"] == captured
    assert problem["used_by"][0].startswith("vfd-hoist #1 holding/")


# -- issue 8 item 7: the site folder changed under us ------------------------------------------

def test_a_deleted_anchor_is_a_warning_in_verify_and_status(run, site, captured, monkeypatch,
                                                           tmp_path):
    # The signed checkpoint is the anchor (a deleted head file changes nothing).
    # Deleted, on a host that never saw it (else: exit 5, tests/trust), it is a warning.
    (site.root / "state" / "heads.json").unlink()
    (site.root / "state" / "checkpoint.json").unlink()
    monkeypatch.setenv("PLC_INTEGRITY_STATE_DIR", str(tmp_path / "another-host"))
    r = run("verify", "--all")
    assert r.exit_code == 0, r.output  # the device still matches; the anchor is what is gone
    assert "warning: no signed checkpoint" in r.stderr and "checkpoint.json" in r.stderr
    code, doc = run.json("verify", "--all")
    assert [w["kind"] for w in doc["warnings"]] == ["anchor-missing"]
    r = run("status")
    assert "warning: no signed checkpoint" in r.stdout
    assert run.json("status")[1]["warnings"][0]["kind"] == "anchor-missing"


def test_a_new_trusted_key_is_reported_once(run, site, captured):
    from baselines.signing import TrustStore, generate_keypair

    _, pub, keyid = generate_keypair("mallory", site.keys_dir, None)
    TrustStore(site.root / "trust").add(pub)
    r = run("verify", "--all")
    assert r.exit_code == 0
    assert f"a key appeared in {site.root / 'trust'} since the last run: mallory ({keyid[:8]}" \
        in r.stderr
    assert "mallory" not in run("verify", "--all").stderr
    assert "mallory" not in run("status").output


def test_deleted_content_makes_baseline_history_exit_5(run, site, captured):
    _delete_blob(site, captured)
    r = run("baseline", "history", "vfd-hoist")
    assert r.exit_code == 5, r.output
    assert "#1" in r.output and "is missing from the store" in r.output
