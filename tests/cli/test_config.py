"""Issue 2 acceptance: bad config or inventory is a clear error, exit 2, nothing written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


GOOD = '{name = "vfd-a", protocol = "modbus", host = "127.0.0.1", port = 1502, holding = ["0-9"]}'

CASES = [
    pytest.param("site.toml", "[settings\nstore = 1\n", ["site.toml", "not valid TOML"],
                 id="site-toml-syntax"),
    pytest.param("site.toml", '[settings]\ntimeout = "fast"\n', ["site.toml", "timeout"],
                 id="setting-wrong-type"),
    pytest.param("site.toml", "[settings]\nspeed = 1\n", ["site.toml", "speed"],
                 id="setting-unknown"),
    pytest.param("devices/a.toml", "devices = [\n", ["a.toml", "not valid TOML"],
                 id="inventory-syntax"),
    pytest.param("devices/a.toml", '[[devices]]\nname = "vfd-a"\nprotocol = "profinet"\nhost = "x"\n',
                 ["a.toml", "vfd-a", "protocol", "profinet"], id="unknown-protocol"),
    pytest.param("devices/a.toml", '[[devices]]\nname = "vfd-a"\nprotocol = "modbus"\n',
                 ["a.toml", "vfd-a", "host"], id="missing-host"),
    pytest.param("devices/a.toml",
                 '[[devices]]\nname = "vfd-a"\nprotocol = "modbus"\nhost = "h"\nport = "502"\n',
                 ["a.toml", "vfd-a", "port"], id="port-not-integer"),
    pytest.param("devices/a.toml",
                 '[[devices]]\nname = "vfd-a"\nprotocol = "modbus"\nhost = "h"\nport = 70000\n',
                 ["a.toml", "vfd-a", "port"], id="port-out-of-range"),
    pytest.param("devices/a.toml",
                 '[[devices]]\nname = "vfd-a"\nprotocol = "modbus"\nhost = "h"\nholding = ["20-10"]\n',
                 ["a.toml", "vfd-a", "holding"], id="range-reversed"),
    pytest.param("devices/a.toml",
                 '[[devices]]\nname = "vfd-a"\nprotocol = "modbus"\nhost = "h"\nholding = ["0-9"]\n'
                 'colour = "red"\n', ["a.toml", "vfd-a", "colour"], id="unknown-key"),
    pytest.param("devices/a.toml",
                 '[[devices]]\nname = "vfd-a"\nhost = "h"\nprofile = "nope"\n',
                 ["a.toml", "vfd-a", "profile", "nope"], id="unknown-profile"),
    pytest.param("devices/a.toml", f"devices = [{GOOD}, {GOOD}]\n",
                 ["a.toml", "vfd-a", "already used"], id="duplicate-name"),
    pytest.param("devices/a.toml", '[[devices]]\nname = "bad name!"\n', ["a.toml", "name"],
                 id="bad-device-name"),
]


@pytest.mark.parametrize("file,text,words", CASES)
@pytest.mark.parametrize("command", [
    pytest.param(("verify", "--all"), id="verify"),
    pytest.param(("baseline", "capture", "--all", "--reason", "x"), id="capture"),
])
def test_bad_config_is_exit_2_and_writes_nothing(run, site, file, text, words, command):
    path = site.root / file
    if file == "site.toml":
        path.write_text(path.read_text() + "\n" + text if not text.startswith("[settings") else text)
    else:
        path.write_text(text)
    if command[0] == "baseline":
        command = (*command, "--key", str(site.key))
    before = snapshot(site.root)
    r = run(*command)
    assert r.exit_code == 2, r.output
    for w in words:
        assert w in r.output, (w, r.output)
    assert "Traceback" not in r.output
    assert snapshot(site.root) == before


def test_unknown_device_name_is_exit_2(run, site):
    r = run("verify", "no-such-device")
    assert r.exit_code == 2 and "no-such-device" in r.output


def test_missing_site_is_exit_2(tmp_path):
    from click.testing import CliRunner

    from integrity.cli import cli

    r = CliRunner().invoke(cli, ["--site", str(tmp_path / "nowhere"), "verify", "--all"])
    assert r.exit_code == 2 and "plc-integrity init" in r.output


def test_init_refuses_to_overwrite(run, site):
    before = snapshot(site.root)
    r = run("init", str(site.root))
    assert r.exit_code == 2 and "already exists" in r.output
    assert snapshot(site.root) == before


def test_profiles_apply_and_device_keys_win(site):
    from integrity.inventory import load_site

    (site.root / "devices" / "a.toml").write_text(
        '[[devices]]\nname = "vfd-a"\nhost = "h"\nprofile = "abb-acs880"\nunit = 3\n')
    [dev] = load_site(site.root).devices
    assert dev.protocol == "modbus" and dev.port == 502
    assert dev.options.unit == 3


def test_json_error_is_still_one_document(run, site):
    (site.root / "devices" / "a.toml").write_text('[[devices]]\nname = "vfd-a"\nprotocol = "modbus"\n')
    r = run("verify", "--all", "--json")
    assert r.exit_code == 2
    import json
    doc = json.loads(r.stdout)
    assert doc["exit_code"] == 2 and "host" in doc["error"]


def test_unloadable_ca_file_is_a_config_error(run, site, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s")
    bad = site.root / "not-a-ca.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    path = site.root / "site.toml"
    path.write_text(path.read_text() + f'\n[[alerts]]\ntype = "webhook"\nurl = "https://h:8443/x"\n'
                    f'secret_env = "HOOK_SECRET"\nca_file = "{bad}"\n')
    (site.root / "devices" / "a.toml").write_text(f"devices = [{GOOD}]\n")
    r = run("sweep", "--all")
    assert r.exit_code == 2 and "ca_file" in r.output and "Traceback" not in r.output
