"""Issue 14: roles, compromised keys, rotation, and edited approvals."""

from __future__ import annotations

import sqlite3

from simulators.modbus import attacker_write_register


def _key(site, name):
    from baselines.signing import TrustStore, generate_keypair

    key, pub, keyid = generate_keypair(name, site.keys_dir, None)
    TrustStore(site.root / "trust").add(pub)
    return key, keyid


def _policy(run, site, rules: str, keys: str) -> None:
    """Adopt a hand-written policy v1 (as an engineer would write it)."""
    (site.root / "trust" / "policy.draft.toml").write_text(f'''
version = 1
expires = "2099-01-01"
[root]
keys = ["tester"]
threshold = 1
{keys}
{rules}
''', encoding="utf-8")
    r = run("policy", "sign", "--key", str(site.key))
    assert r.exit_code == 0 and "in force" in r.output, r.output


def test_roles_need_distinct_people(run, site, hoist):
    eng, _ = _key(site, "erin")
    sec, _ = _key(site, "sam")
    both, _ = _key(site, "bo")
    _policy(run, site, '''
[[rules]]
devices = ["vfd-*"]
threshold = 2
roles = { engineer = 1, security = 1 }
''', '''
[keys.erin]
roles = ["engineer"]
[keys.sam]
roles = ["security"]
[keys.bo]
roles = ["engineer", "security"]
''')
    r = run("baseline", "capture", "--all", "--key", str(both), "--reason", "first")
    assert "proposal" in r.output and "needs 1 more signature" in r.output, r.output
    # erin (engineer) completes it: bo fills the security slot, erin the engineer one.
    code, doc = run.json("baseline", "approve", "vfd-hoist", "--key", str(eng), "--yes")
    assert code == 0 and doc["promoted"], doc
    assert run("verify", "--all").exit_code == 0
    # Two engineers are not one of each.
    attacker_write_register(hoist.host, hoist.port, 1, 22, 2250)
    run("baseline", "capture", "--all", "--key", str(eng), "--reason", "second")
    eng2, _ = _key(site, "eve")
    # eve is only in trust/: under a policy that approves nothing ...
    code, doc = run.json("baseline", "approve", "vfd-hoist", "--key", str(eng2), "--yes")
    assert code == 5 and "not one of the policy's keys" in doc["error"], doc
    # ... until a root key grants her a role (a signed policy change)
    r = run("keys", "grant", "eve", "--role", "engineer", "--key", str(site.key))
    assert r.exit_code == 0 and "v2 is in force" in r.output, r.output
    code, doc = run.json("baseline", "approve", "vfd-hoist", "--key", str(eng2), "--yes")
    assert doc["promoted"] is None and "security" in doc["approvals"]["needs"], doc
    code, doc = run.json("baseline", "approve", "vfd-hoist", "--key", str(sec), "--yes")
    assert doc["promoted"], doc


def test_a_compromised_key_flags_what_it_signed_alone(run, site, hoist):
    mallory, _ = _key(site, "mallory")
    _policy(run, site, '[[rules]]\ndevices = ["*"]\nthreshold = 1\n', "[keys.mallory]")
    assert run("baseline", "capture", "--all", "--key", str(mallory), "--reason",
               "by mallory").exit_code == 0
    assert run("verify", "--all").exit_code == 0
    r = run("keys", "revoke", "mallory", "--reason", "laptop stolen", "--compromised",
            "--key", str(site.key))
    assert r.exit_code == 0, r.output
    r = run("verify", "--all")
    assert r.exit_code == 5 and "compromised" in r.output and "re-approve" in r.output, r.output
    # Re-approval by a good key, after seeing what is approved, restores it.
    r = run("baseline", "approve", "vfd-hoist", "--key", str(site.key), "--yes")
    assert r.exit_code == 0 and "re-approved" in r.output, r.output
    assert "re-approval of #1: what it changed from nothing" in r.output, r.output
    assert run("verify", "--all").exit_code == 0
    assert "compromised" in run("keys", "list").output


def test_rotation_hands_over_roles_and_keeps_old_signatures(run, site, hoist):
    _policy(run, site, '[[rules]]\ndevices = ["*"]\nthreshold = 1\n',
            '[keys.tester]\nroles = ["engineer"]\n')
    assert run.capture().exit_code == 0
    new, _ = _key(site, "tester-2027")
    r = run("keys", "rotate", "tester", "--to", "tester-2027", "--key", str(site.key))
    # A new root key signs its first policy too (TUF's root rotation): the old
    # root's signature alone does not hand over.
    assert r.exit_code == 0 and "not in force yet" in r.output, r.output
    r = run("policy", "sign", "--key", str(new))
    assert r.exit_code == 0 and "v2 is in force" in r.output, r.output
    assert run("verify", "--all").exit_code == 0            # signed before the rotation
    code, doc = run.json("keys", "list")
    by_name = {k["name"]: k for k in doc["keys"]}
    assert by_name["tester"]["status"] == "revoked" and by_name["tester-2027"]["root"]
    assert by_name["tester-2027"]["roles"] == ["engineer"]
    assert run.capture().exit_code == 5                       # the old key signs no more
    r = run("baseline", "capture", "--all", "--key", str(new), "--reason", "new key")
    assert r.exit_code == 0, r.output
    # and a further policy change needs the new root key
    r = run("keys", "expire", "tester-2027", "--on", "2098-01-01", "--key", str(site.key))
    assert r.exit_code == 5 and "not a root key" in r.output, r.output
    r = run("keys", "expire", "tester-2027", "--on", "2098-01-01", "--key", str(new))
    assert r.exit_code == 0 and "v3 is in force" in r.output, r.output


def test_an_edited_approval_is_exit_5(run, site, hoist):
    bob, _ = _key(site, "bob")
    _policy(run, site, '[[rules]]\ndevices = ["*"]\nthreshold = 2\n', "[keys.bob]")
    run.capture()
    assert run("baseline", "approve", "vfd-hoist", "--key", str(bob), "--yes").exit_code == 0
    assert run("verify", "--all").exit_code == 0
    with sqlite3.connect(site.root / "plc-integrity.db") as db:
        db.execute("UPDATE approvals SET statement = replace(statement, 'vfd-hoist', 'vfd-hoisT')")
    r = run("verify", "--all")
    assert r.exit_code == 5 and "approval" in r.output, r.output
    with sqlite3.connect(site.root / "plc-integrity.db") as db:
        db.execute("DELETE FROM approvals")
    r = run("verify", "--all")
    assert r.exit_code == 5 and "needs" in r.output, r.output


def test_hostile_approval_and_proposal_rows_fail_closed(run, site, hoist):
    bob, _ = _key(site, "bob")
    _policy(run, site, '[[rules]]\ndevices = ["*"]\nthreshold = 2\n', "[keys.bob]")
    run.capture()
    with sqlite3.connect(site.root / "plc-integrity.db") as db:
        db.execute("UPDATE proposals SET manifest = 'text, not bytes'")
    r = run("status")
    assert r.exit_code == 0 and "wrong type" in r.output, r.output
    code, doc = run.json("baseline", "approve", "vfd-hoist", "--key", str(bob))
    assert code == 5 and "wrong type" in doc["error"], doc
    r = run("baseline", "approve", "vfd-hoist", "--key", str(bob))
    assert r.exit_code == 5


def test_revoking_the_last_root_key_is_refused(run, site, hoist):
    _policy(run, site, '[[rules]]\ndevices = ["*"]\nthreshold = 1\n', "")
    r = run("keys", "revoke", "tester", "--reason", "x", "--key", str(site.key))
    assert r.exit_code == 2 and "rotate it" in r.output, r.output
    assert not (site.root / "trust" / "policy.draft.toml").exists()
