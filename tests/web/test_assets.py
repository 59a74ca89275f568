"""Assets from signed baselines: firmware changes over a device's history, and
supplier flags sent as alerts (`assets --alert`) to a real jsonl sink."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from integrity.cli import cli
from support.site import add_to_site_toml
from support.web import drive_capture


def _history(site, inventory, firmwares: list[str]) -> None:
    from baselines.signing import SigningKey
    from integrity.cli._common import open_store, trust_store
    from integrity.inventory import load_site

    inventory.write({"name": "vfd-a", "protocol": "modbus", "host": "127.0.0.1", "port": 1,
                     "unit": 1, "holding": ["0-99"]})
    s = load_site(site.root)
    at = datetime.now(timezone.utc) - timedelta(days=len(firmwares))
    key = SigningKey.load(site.key, None)
    with open_store(s) as store:
        for i, fw in enumerate(firmwares):
            store.append_baseline(drive_capture("vfd-a", at + timedelta(days=i), firmware=fw),
                                  key, f"firmware {fw}", trust=trust_store(s),
                                  now=at + timedelta(days=i))


def test_firmware_changes_over_baselines(site, inventory):
    _history(site, inventory, ["V4.09", "V4.09", "V4.12"])
    r = CliRunner().invoke(cli, ["--site", str(site.root), "assets", "--json"],
                           catch_exceptions=False)
    [dev] = json.loads(r.stdout)["devices"]
    assert dev["identity"]["firmware"] == "V4.12" and dev["baseline_sequence"] == 3
    assert [(c["sequence"], c["before"], c["after"], c["reason"])
            for c in dev["firmware_changes"]] == [(3, "V4.09", "V4.12", "firmware V4.12")]
    text = CliRunner().invoke(cli, ["--site", str(site.root), "assets"]).stdout
    assert "firmware V4.09 -> V4.12 at baseline #3" in text


def test_flags_are_sent_as_alerts(site, inventory):
    _history(site, inventory, ["V4.09"])
    add_to_site_toml(site.root, '[suppliers]\nminimum_firmware = { "Nordwind*" = "4.10" }\n\n'
                                '[[alerts]]\ntype = "jsonl"\npath = "alerts.jsonl"\n')
    r = CliRunner().invoke(cli, ["--site", str(site.root), "assets", "--alert"],
                           catch_exceptions=False)
    assert r.exit_code == 0 and "FLAG firmware" in r.stdout
    [line] = (site.root / "alerts.jsonl").read_text().splitlines()
    alert = json.loads(line)
    assert alert["kind"] == "SITE_WARNING" and alert["device"] == "vfd-a"
    assert "below the minimum 4.10" in alert["summary"]


def test_device_without_baseline_is_unknown_identity_under_a_policy(site, inventory):
    inventory.write({"name": "vfd-new", "protocol": "modbus", "host": "127.0.0.1", "port": 1,
                     "unit": 1, "holding": ["0-9"]})
    add_to_site_toml(site.root, '[suppliers]\ndisallowed_vendors = ["Kessler*"]\n')
    doc = json.loads(CliRunner().invoke(cli, ["--site", str(site.root), "assets", "--json"]).stdout)
    assert [f["rule"] for f in doc["flags"]] == ["unknown-identity"]
    assert doc["devices"][0]["identity"] is None and "no baseline" in doc["devices"][0]["problem"]
