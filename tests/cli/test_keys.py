from __future__ import annotations

import os
import stat


def test_keys_create_trust_and_list(run, site, tmp_path):
    out = tmp_path / "k"
    r = run("keys", "create", "bob", "--out", str(out), "--trust", "--no-passphrase")
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(os.stat(out / "bob.key").st_mode) == 0o600
    keyid = r.output.split()[2]
    assert len(keyid) == 64
    r = run("keys", "list")
    assert f"{keyid[:8]}  bob " in r.output


def test_keys_create_with_passphrase_env_and_capture(run, site, drive, inventory, tmp_path,
                                                      monkeypatch):
    monkeypatch.setenv("PLCI_TEST_PASS", "correct horse")
    out = tmp_path / "k"
    r = run("keys", "create", "carol", "--out", str(out), "--trust", "--passphrase-env",
            "PLCI_TEST_PASS")
    assert r.exit_code == 0, r.output
    inventory.write(inventory.table(drive))
    key = str(out / "carol.key")
    # CliRunner's stdin is not a terminal: no prompt, a clear error instead
    r = run("baseline", "capture", "--all", "--key", key, "--reason", "x")
    assert r.exit_code == 2 and "passphrase" in r.output
    monkeypatch.setenv("PLCI_WRONG", "wrong")
    r = run("baseline", "capture", "--all", "--key", key, "--reason", "x",
            "--passphrase-env", "PLCI_WRONG")
    assert r.exit_code == 2 and "passphrase" in r.output.lower()
    r = run("baseline", "capture", "--all", "--key", key, "--reason", "x",
            "--passphrase-env", "PLCI_TEST_PASS")
    assert r.exit_code == 0, r.output


def test_keys_create_without_terminal_needs_a_choice(run, tmp_path):
    r = run("keys", "create", "dave", "--out", str(tmp_path / "k"))
    assert r.exit_code == 2 and "--no-passphrase" in r.output


def test_capture_with_untrusted_key_is_refused(run, site, drive, inventory, tmp_path):
    out = tmp_path / "k"
    assert run("keys", "create", "eve", "--out", str(out), "--no-passphrase").exit_code == 0
    inventory.write(inventory.table(drive))
    r = run("baseline", "capture", "--all", "--key", str(out / "eve.key"), "--reason", "x")
    assert r.exit_code != 0 and "trust" in r.output.lower()
    assert run("verify", "--all").exit_code == 4


def test_keys_list_names_unusable_files_in_trust(run, site):
    (site.root / "trust" / "zz.pub").write_text("not a key")
    r = run("keys", "list")
    assert r.exit_code == 0 and f"{site.keyid[:8]}  tester" in r.output
    assert "unusable" in r.output and "zz.pub" in r.output
