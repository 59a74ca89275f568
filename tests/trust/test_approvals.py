"""Issue 14: two-person approval under a signed site policy, through the CLI."""

from __future__ import annotations

import json

from simulators.modbus import attacker_write_register


def _second_key(site, name="bob"):
    from baselines.signing import TrustStore, generate_keypair

    key, pub, _ = generate_keypair(name, site.keys_dir, None)
    TrustStore(site.root / "trust").add(pub)
    return key


def _adopt(run, site, *args):
    r = run("policy", "init", "--root", "tester", *args)
    assert r.exit_code == 0, r.output
    r = run("policy", "sign", "--key", str(site.key))
    assert r.exit_code == 0 and "in force" in r.output, r.output


def test_two_person_approval(run, site, hoist):
    assert run.capture().exit_code == 0                      # #1, before any policy
    bob = _second_key(site)
    _adopt(run, site, "--threshold", "2")
    assert run("verify", "--all").exit_code == 0              # #1 stays valid under the policy

    attacker_write_register(hoist.host, hoist.port, 1, 22, 2250)   # the approved change
    r = run.capture(reason="WO 4711: new ramp")
    assert r.exit_code == 0 and "proposal" in r.output and "needs 1 more" in r.output, r.output

    # One signature: verify still holds the device to #1 (so the change is drift).
    code, doc = run.json("verify", "--all")
    assert code == 1 and doc["results"][0]["baseline_sequence"] == 1, doc
    r = run("status")
    assert "pending: vfd-hoist proposal" in r.output and "needs 1 more" in r.output, r.output
    code, doc = run.json("status")
    assert doc["proposals"][0]["approvals"]["signed_by"] == ["tester"]

    # The same key again: counted once, still pending.
    r = run("baseline", "approve", "vfd-hoist", "--key", str(site.key), "--yes")
    assert r.exit_code == 0 and "counts once" in r.output and "still needs" in r.output, r.output
    assert run("verify", "--all").exit_code == 1

    # The diff is shown before anything is signed, and given to tools as JSON.
    r = run("baseline", "approve", "vfd-hoist")
    assert "holding" in r.output and "2250" in r.output, r.output
    code, doc = run.json("baseline", "approve", "vfd-hoist")
    assert code == 0 and doc["schema"] == 1 and doc["approved"] is False
    assert doc["diff"]["differences"] and doc["proposal"]["approvals"]["needs"]

    # Without a terminal, signing needs --yes (one JSON document for the error too).
    code, doc = run.json("baseline", "approve", "vfd-hoist", "--key", str(bob))
    assert code == 2 and "--yes" in doc["error"], doc

    # The second approver: the proposal becomes baseline #2.
    code, doc = run.json("baseline", "approve", "vfd-hoist", "--key", str(bob), "--yes")
    assert code == 0 and doc["promoted"] and doc["approvals"]["signed_by"] == ["tester", "bob"]
    code, doc = run.json("verify", "--all")
    assert code == 0 and doc["results"][0]["baseline_sequence"] == 2, doc
    assert "pending" not in run("status").output
    assert run("baseline", "history", "vfd-hoist").exit_code == 0


def test_reject_closes_a_proposal(run, site, hoist):
    assert run.capture().exit_code == 0
    _second_key(site)
    _adopt(run, site, "--threshold", "2")
    assert "proposal" in run.capture(reason="unplanned").output
    r = run("baseline", "reject", "vfd-hoist", "--reason", "not in any work order")
    assert r.exit_code == 0 and "rejected" in r.output, r.output
    assert "pending" not in run("status").output
    r = run("baseline", "approve", "vfd-hoist", "--key", str(site.key), "--yes")
    assert "current baseline" in r.output   # nothing pending: re-approves #1 instead


def test_a_revoked_keys_later_signature_does_not_count(run, site, hoist):
    from datetime import datetime, timezone

    from baselines import approvals, tables
    from baselines.signing import SigningKey, TrustStore
    from baselines.store import Store
    from integrity.check import read_device
    from integrity.inventory import load_site
    from sqlalchemy import insert

    bob_path = _second_key(site)
    _adopt(run, site, "--threshold", "1")
    assert run("baseline", "capture", "--all", "--key", str(bob_path), "--reason",
               "by bob").exit_code == 0
    r = run("keys", "revoke", "bob", "--reason", "left the team", "--key", str(site.key))
    assert r.exit_code == 0 and "v2 is in force" in r.output, r.output
    r = run("verify", "--all")
    assert r.exit_code == 0, r.output   # signed before the revocation: still valid
    listed = run("keys", "list").output
    assert "revoked" in listed and "root" in listed, listed

    # bob's key, used later by someone with database access: a baseline row and
    # an approval statement under the policy in force, all validly signed.
    loaded = load_site(site.root)
    bob = SigningKey.load(bob_path, None)
    snapshot = TrustStore(loaded.trust_dir).snapshot()
    snapshot.policy = None            # the attacker's copy of the tool ignores the policy
    with Store.open(loaded.store_url) as store:
        capture = read_device(loaded.devices[0]).capture
        b = store.append_baseline(capture, bob, "backdoor", trust=snapshot)
        statement = approvals.make(bob, b.id, b.manifest, 2, datetime.now(timezone.utc))
        with store._tx("forging", write=True) as conn:
            conn.execute(insert(tables.approvals).values(
                target=b.id, keyid=bob.keyid, statement=statement.statement,
                signature=statement.signature, created_at="x"))
    r = run("verify", "--all")
    assert r.exit_code == 5, r.output
    assert "bob was revoked" in r.output, r.output
    # and bob cannot approve anything any more
    r = run("baseline", "approve", "vfd-hoist", "--key", str(bob_path), "--yes")
    assert r.exit_code == 5 and "revoked" in r.output, r.output


def test_an_expired_policy_stops_every_check(run, site, hoist):
    assert run.capture().exit_code == 0
    _adopt(run, site, "--expires", "2020-01-01")
    r = run("verify", "--all")
    assert r.exit_code == 5 and "expired" in r.output, r.output
    code, doc = run.json("policy", "show")
    assert code == 5 and doc["valid"] is False and "expired" in doc["error"]
    r = run.capture()
    assert r.exit_code == 5 and "expired" in r.output


def test_an_unsigned_or_edited_policy_stops_every_check(run, site, hoist):
    assert run.capture().exit_code == 0
    _adopt(run, site)
    policy = site.root / "trust" / "policy.toml"
    policy.write_text(policy.read_text().replace("threshold = 1\n\n[[rules]]",
                                                 "threshold = 1\n\n[[rules]]"), encoding="utf-8")
    policy.write_bytes(policy.read_bytes().replace(b'devices = ["*"]', b'devices = ["nothing"]'))
    r = run("verify", "--all")
    assert r.exit_code == 5 and "root signature" in r.output, r.output
    # Deleting it does not fall back to "anyone may sign": this host saw v1.
    policy.unlink()
    r = run("verify", "--all")
    assert r.exit_code == 5 and "missing" in r.output, r.output


def test_without_a_policy_nothing_changes(run, site, hoist):
    assert run.capture().exit_code == 0
    code, doc = run.json("policy", "show")
    assert code == 0 and doc["policy"] is None
    r = run("keys", "revoke", "tester", "--reason", "x", "--key", str(site.key))
    assert r.exit_code == 2 and "no policy" in r.output
    listed = json.loads(run("keys", "list", "--json").stdout)
    assert listed["keys"][0]["status"] == "active"


def test_a_proposal_overtaken_by_another_is_superseded(run, site, hoist):
    bob = _second_key(site)
    _adopt(run, site, "--threshold", "2")
    first = run.capture(reason="first idea").output.split("proposal ")[1][:12]
    second = run.capture(reason="second idea").output.split("proposal ")[1][:12]
    r = run("baseline", "approve", "vfd-hoist", "--key", str(bob), "--yes")
    assert r.exit_code == 2 and "--proposal" in r.output, r.output      # two pending: which?
    r = run("baseline", "approve", "vfd-hoist", "--proposal", second, "--key", str(bob), "--yes")
    assert r.exit_code == 0 and "baseline #1" in r.output, r.output
    r = run("baseline", "approve", "vfd-hoist", "--proposal", first, "--key", str(bob), "--yes")
    assert r.exit_code == 2 and "superseded" in r.output, r.output
    assert "pending" not in run("status").output                         # closed for good
