"""`plc-integrity maintenance start/end`: drift alerts held back, checks still recorded,
and `end` verifies at once, printing the diff and sending the news the window held."""

from __future__ import annotations

import json

import pytest

from simulators.modbus import attacker_write_register


@pytest.fixture
def baselined(run, site, helpers, drive):
    helpers.write_inventory(site.root, helpers.device_table(drive))
    helpers.capture_all(run, site)
    helpers.add_to_site_toml(site.root, '[[alerts]]\ntype = "jsonl"\npath = "alerts.jsonl"\n')
    assert run("sweep", "--all").exit_code == 0
    image = drive.snapshot_image()
    return image.get("unit", 1), image["holding"]["start"], image["holding"]["values"]


def alerts(helpers, site):
    return [(x["kind"], x["state"]) for x in helpers.read_jsonl(site.root / "alerts.jsonl")]


def test_maintenance_holds_back_drift_alerts_and_end_verifies_and_prints_the_diff(
        run, site, helpers, drive, baselined):
    unit, start, values = baselined
    r = run("maintenance", "start", "vfd-hoist", "--reason", "WO-4711 retune hoist",
            "--until", "2h")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("vfd-hoist: maintenance until ") and "(WO-4711 retune hoist)" in r.output

    attacker_write_register(drive.host, drive.port, unit, start + 17, values[17] + 5)
    r = run("sweep", "--all", "--json")
    assert r.exit_code == 1  # the drift is still found and recorded...
    doc = json.loads(r.stdout)
    assert doc["results"][0]["status"] == "DRIFT" and doc["alerts"] == []  # ...but not sent
    assert alerts(helpers, site) == []

    status = json.loads(run("status", "--json").stdout)
    [row] = status["devices"]
    assert (row["state"], row["last_status"]) == ("DRIFT", "DRIFT")
    assert row["maintenance_until"] is not None
    assert "DRIFT (maint.)" in run("status").output

    r = run("maintenance", "end", "vfd-hoist")
    assert r.exit_code == 1, r.output
    assert f"holding[{start + 17}]: {values[17]} -> {values[17] + 5}" in r.output
    assert "baseline capture vfd-hoist --key KEY --reason" in r.output
    assert "1 alert(s) raised" in r.output
    assert alerts(helpers, site) == [("STATE_CHANGE", "DRIFT")]
    [row] = json.loads(run("status", "--json").stdout)["devices"]
    assert row["maintenance_until"] is None

    from baselines.store import Store
    from integrity.inventory import load_site

    loaded = load_site(site.root)
    with Store.open(loaded.store_url, heads_path=loaded.heads_path) as store:
        kinds = [e["kind"] for e in store.events()]
        assert kinds[:2] == ["maintenance-end", "maintenance-start"]
        assert [c["status"] for c in store.checks("vfd-hoist", limit=10)] == \
            ["DRIFT", "DRIFT", "OK"]


def test_end_after_a_restored_device_is_ok_and_silent(run, site, helpers, drive, baselined):
    unit, start, values = baselined
    assert run("maintenance", "start", "vfd-hoist", "--reason", "WO-1").exit_code == 0
    attacker_write_register(drive.host, drive.port, unit, start + 17, values[17] + 5)
    assert run("sweep", "--all").exit_code == 1
    attacker_write_register(drive.host, drive.port, unit, start + 17, values[17])

    r = run("maintenance", "end", "vfd-hoist")

    assert r.exit_code == 0, r.output
    assert "vfd-hoist: OK" in r.output and "no differences" in r.output
    assert alerts(helpers, site) == []


@pytest.mark.parametrize("args, words", [
    pytest.param(("vfd-hoist", "--reason", "x", "--until", "soon"), "--until",
                 id="bad-until"),
    pytest.param(("vfd-hoist", "--reason", "x", "--until", "2001-01-01T00:00+00:00"),
                 "is in the past", id="until-in-the-past"),
    pytest.param(("vfd-hoist",), "--reason", id="no-reason"),
    pytest.param(("vfd-hoist", "--reason", "  "), "--reason", id="blank-reason"),
    pytest.param(("vfd-nowhere", "--reason", "x"), "vfd-nowhere", id="unknown-device"),
])
def test_maintenance_start_usage_errors_are_exit_2(run, site, helpers, drive, args, words):
    helpers.write_inventory(site.root, helpers.device_table(drive))
    r = run("maintenance", "start", *args)
    assert r.exit_code == 2, r.output
    assert words in r.output
    assert "Traceback" not in r.output


def test_maintenance_longer_than_seven_days_is_refused(run, site, helpers, drive):
    helpers.write_inventory(site.root, helpers.device_table(drive))
    r = run("maintenance", "start", "vfd-hoist", "--reason", "WO 9", "--until", "30d")
    assert r.exit_code == 2 and "7 days" in r.output
