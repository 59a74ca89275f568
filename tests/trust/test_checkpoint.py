"""Issue 14: the signed checkpoint against rollback and freeze."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest

from baselines.checkpoint import Checkpoint, read_checkpoint


def _capture(run, site, reason):
    r = run("baseline", "capture", "--all", "--key", str(site.key), "--reason", reason)
    assert r.exit_code == 0, r.output


def test_rolling_back_site_and_store_together_is_exit_5(run, site, hoist, tmp_path):
    _capture(run, site, "first")
    copy = tmp_path / "earlier-copy"
    shutil.copytree(site.root, copy)          # the attacker's earlier copy: DB, trust/, state/
    _capture(run, site, "second")
    assert run("verify", "--all").exit_code == 0

    shutil.rmtree(site.root)
    shutil.copytree(copy, site.root)          # both rolled back together
    r = run("verify", "--all")
    assert r.exit_code == 5, r.output
    assert "checkpoint" in r.output and "rolled back" in r.output
    assert run("baseline", "history", "vfd-hoist").exit_code == 5


def test_rolling_back_the_store_alone_names_the_checkpoint(run, site, hoist, tmp_path):
    _capture(run, site, "first")
    db = site.root / "plc-integrity.db"
    shutil.copy(db, tmp_path / "old.db")
    _capture(run, site, "second")
    shutil.copy(tmp_path / "old.db", db)
    r = run("verify", "--all")
    assert r.exit_code == 5, r.output
    assert "checkpoint" in r.output and "records #2" in r.output


def _edit_signed(path, edit):
    env = json.loads(path.read_bytes())
    env["signed"] = edit(env["signed"])
    path.write_text(json.dumps(env))


@pytest.mark.parametrize("tamper,words", [
    pytest.param(lambda p: _edit_signed(p, lambda s: s.replace('"sequence":2', '"sequence":1')),
                 "signature does not match", id="heads-edited"),
    pytest.param(lambda p: p.write_bytes(p.read_bytes()[:-20]), "damaged", id="truncated"),
    pytest.param(lambda p: p.unlink(), "missing", id="deleted"),
])
def test_tampered_checkpoint_is_exit_5(run, site, hoist, tamper, words):
    _capture(run, site, "first")
    _capture(run, site, "second")
    tamper(site.root / "state" / "checkpoint.json")
    r = run("verify", "--all")
    assert r.exit_code == 5, r.output
    assert "checkpoint" in r.output and words in r.output


def test_a_checkpoint_signed_by_another_key_is_exit_5(run, site, hoist, tmp_path):
    _capture(run, site, "first")
    path = site.root / "state" / "checkpoint.json"
    doc = read_checkpoint(path)
    # The attacker's own checkpoint key, and a version far ahead: the pin catches it.
    from baselines.localstate import LocalState
    forged = Checkpoint(path, LocalState(site.root, tmp_path / "attacker"),
                        key_path=tmp_path / "attacker" / "cp.key")
    path.unlink()
    forged.write(doc.heads, create_key=True)
    r = run("verify", "--all")
    assert r.exit_code == 5, r.output
    assert "this host pinned" in r.output


def test_an_existing_site_without_checkpoint_keeps_its_history(run, site, hoist, monkeypatch,
                                                               tmp_path):
    _capture(run, site, "before the upgrade")
    # As a site from before checkpoints: no checkpoint, and a host that never saw one.
    (site.root / "state" / "checkpoint.json").unlink()
    monkeypatch.setenv("PLC_INTEGRITY_STATE_DIR", str(tmp_path / "fresh-host"))
    r = run("verify", "--all")
    assert r.exit_code == 0, r.output
    assert "no signed checkpoint" in r.output   # said, as a warning
    _capture(run, site, "after the upgrade")   # the first change signs the first checkpoint
    cp = read_checkpoint(site.root / "state" / "checkpoint.json")
    assert cp is not None and cp.heads["vfd-hoist"].sequence == 2
    r = run("verify", "--all")
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    assert run("baseline", "history", "vfd-hoist").exit_code == 0


def test_an_expired_checkpoint_is_reported_and_refresh_renews_it(run, site, hoist):
    _capture(run, site, "first")
    path = site.root / "state" / "checkpoint.json"
    from baselines.localstate import LocalState
    old = Checkpoint(path, LocalState(site.root))
    long_ago = datetime.now(timezone.utc) - timedelta(days=30)
    old.refresh(long_ago)
    r = run("verify", "--all")
    assert r.exit_code == 0, r.output
    assert "expired" in r.output and "frozen" in r.output
    r = run("checkpoint", "sign")
    assert r.exit_code == 0, r.output
    r = run("verify", "--all")
    assert r.exit_code == 0 and "expired" not in r.output, r.output


def test_the_policy_pins_the_checkpoint_key_for_a_new_host(run, site, hoist, monkeypatch,
                                                          tmp_path):
    _capture(run, site, "first")
    assert run("policy", "init", "--root", "tester").exit_code == 0
    assert "checkpoint" in (site.root / "trust" / "policy.draft.toml").read_text()
    assert run("policy", "sign", "--key", str(site.key)).exit_code == 0
    # An attacker's checkpoint, met by a host that has never seen this site:
    # no memory to pin it, but the signed policy does.
    path = site.root / "state" / "checkpoint.json"
    doc = read_checkpoint(path)
    from baselines.localstate import LocalState
    path.unlink()
    Checkpoint(path, LocalState(site.root, tmp_path / "attacker"),
               key_path=tmp_path / "attacker" / "cp.key").write(doc.heads, create_key=True)
    monkeypatch.setenv("PLC_INTEGRITY_STATE_DIR", str(tmp_path / "new-host"))
    r = run("verify", "--all")
    assert r.exit_code == 5 and "the site policy names" in r.output, r.output


def test_a_deliberate_restore_is_reanchored_with_the_checkpoint_key(run, site, hoist, tmp_path):
    _capture(run, site, "first")
    copy = tmp_path / "backup"
    shutil.copytree(site.root, copy)
    _capture(run, site, "second")
    shutil.rmtree(site.root)
    shutil.copytree(copy, site.root)
    assert run("verify", "--all").exit_code == 5
    assert run("checkpoint", "sign").exit_code == 5       # never builds on a rolled-back one
    r = run("checkpoint", "sign", "--reanchor")
    assert r.exit_code == 0 and "version 4" in r.output, r.output   # seen 3: it goes up
    code, doc = run.json("verify", "--all")
    assert code == 0 and doc["results"][0]["baseline_sequence"] == 1


def test_a_change_without_the_checkpoint_key_is_stored_and_said(run, site, hoist, monkeypatch,
                                                                tmp_path):
    _capture(run, site, "first")
    monkeypatch.setenv("PLC_INTEGRITY_CHECKPOINT_KEY", str(tmp_path / "not-here.key"))
    r = run("baseline", "capture", "--all", "--key", str(site.key), "--reason", "second")
    assert r.exit_code == 2 and "anchor was not updated" in r.output, r.output
    code, doc = run.json("verify", "--all")      # the database ahead of the checkpoint: accepted
    assert code == 0 and doc["results"][0]["baseline_sequence"] == 2, doc
    monkeypatch.delenv("PLC_INTEGRITY_CHECKPOINT_KEY")
    assert run("checkpoint", "sign").exit_code == 0      # catches up with the store
    cp = read_checkpoint(site.root / "state" / "checkpoint.json")
    assert cp.heads["vfd-hoist"].sequence == 2
