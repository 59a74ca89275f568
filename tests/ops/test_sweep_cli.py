"""`plc-integrity sweep` and `status` end to end: a mixed fleet on loopback, one device
down, alerts through site.toml [[alerts]] to a real webhook and a real syslog listener."""

from __future__ import annotations

import json

import pytest

from integrity.alerts.sinks.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from simulators.modbus import attacker_write_register

SECRET = "ops-test-webhook-secret"


def fleet_with_one_down(run, site, helpers, plant, closed_port):
    """The crane plant plus 'vfd-spare', baselined while alive, then dead (refused)."""
    tables = [helpers.device_table(sim) for sim in plant]
    spare = helpers.device_table(plant["vfd-trolley"], name="vfd-spare")
    helpers.write_inventory(site.root, *tables, spare)
    helpers.capture_all(run, site)
    helpers.write_inventory(site.root, *tables, {**spare, "port": closed_port})


def assert_checker_only_read(plant):
    for sim in plant:
        assert sim.requests, sim.name
        assert all(r.read for r in sim.requests), [r for r in sim.requests if not r.read]


def test_mixed_fleet_with_one_device_down_is_exit_3_and_one_json_document(
        run, site, helpers, plant, closed_port):
    fleet_with_one_down(run, site, helpers, plant, closed_port)
    assert {sim.image["protocol"] for sim in plant} == {"modbus", "s7", "logix", "s7plus"}

    r = run("sweep", "--all", "--json")

    assert r.exit_code == 3, r.output
    doc = json.loads(r.stdout)  # exactly one document: json.loads refuses trailing text
    assert doc["exit_code"] == 3
    statuses = {x["device"]: (x["protocol"], x["status"]) for x in doc["results"]}
    assert statuses == {"plc-gantry": ("logix", "OK"), "plc-hoist": ("s7", "OK"),
                        "plc-trolley": ("s7plus", "OK"),
                        "vfd-gantry": ("modbus", "OK"), "vfd-hoist": ("modbus", "OK"),
                        "vfd-trolley": ("modbus", "OK"), "vfd-spare": ("modbus", "UNREACHABLE")}
    [spare] = [x for x in doc["results"] if x["device"] == "vfd-spare"]
    assert spare["reason"] == "refused"
    # The first check in a non-OK state is news; OK devices are silent.
    assert [(a["kind"], a["device"], a["state"]) for a in doc["alerts"]] == \
        [("STATE_CHANGE", "vfd-spare", "UNREACHABLE")]
    assert doc["delivery"] is None  # no [[alerts]] sinks configured
    assert_checker_only_read(plant)

    r = run("sweep", "--all")  # the text form says the same, and the same state is no news
    assert r.exit_code == 3
    assert "UNREACHABLE" in r.output and "alert(s) raised" not in r.output

    r = run("status", "--json")
    assert r.exit_code == 0
    status = json.loads(r.stdout)
    assert status["scheduler"] == "not running"
    rows = {d["device"]: d for d in status["devices"]}
    assert rows["vfd-spare"]["state"] == "UNREACHABLE"
    assert rows["plc-hoist"]["state"] == "OK" and rows["plc-hoist"]["signer"] == site.keyid
    assert all(row["baseline_sequence"] == 1 and row["last_check"] for row in rows.values())


def test_sweep_by_tag_and_quick_records_history(run, site, helpers, plant):
    from baselines.store import Store
    from integrity.inventory import load_site

    tables = [helpers.device_table(sim, tags=["crane-3"] if sim.name.startswith("vfd") else [])
              for sim in plant]
    helpers.write_inventory(site.root, *tables)
    helpers.capture_all(run, site)

    r = run("sweep", "--tag", "crane-3", "--quick", "--json")

    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["mode"] == "quick"
    assert sorted(x["device"] for x in doc["results"]) == ["vfd-gantry", "vfd-hoist", "vfd-trolley"]
    loaded = load_site(site.root)
    with Store.open(loaded.store_url, heads_path=loaded.heads_path) as store:
        [last] = store.checks("vfd-hoist", limit=1)
        assert (last["status"], last["mode"]) == ("OK", "quick")
        assert store.checks("plc-hoist", limit=1) == []


def test_alerts_reach_webhook_and_syslog_through_site_toml_and_a_dead_sink_is_reported(
        run, site, helpers, drive, http_server, udp_listener, closed_port, monkeypatch):
    helpers.write_inventory(site.root, helpers.device_table(drive))
    helpers.capture_all(run, site)
    monkeypatch.setenv("OPS_TEST_WEBHOOK_SECRET", SECRET)
    helpers.add_to_site_toml(site.root, f"""
[[alerts]]
type = "syslog"
name = "dead-siem"
address = "127.0.0.1:{closed_port}"
protocol = "tcp"
timeout = 1.0

[[alerts]]
type = "webhook"
url = "{http_server.url}"
secret_env = "OPS_TEST_WEBHOOK_SECRET"
timeout = 2.0
retries = 0

[[alerts]]
type = "syslog"
address = "127.0.0.1:{udp_listener.getsockname()[1]}"
format = "cef"
hostname = "checker-01"
""")
    image = drive.snapshot_image()
    address = image["holding"]["start"] + 17
    original = image["holding"]["values"][17]
    attacker_write_register(drive.host, drive.port, image.get("unit", 1), address, original + 5)

    r = run("sweep", "--all", "--json")

    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    [alert] = doc["alerts"]
    assert (alert["kind"], alert["device"], alert["state"]) == ("STATE_CHANGE", "vfd-hoist", "DRIFT")
    # The dead sink lost the alert, and that loss is itself reported...
    delivery = doc["delivery"]
    assert [(f["sink"], f["device"]) for f in delivery["failures"]] == [("dead-siem", "vfd-hoist")]
    assert "Refused" in delivery["failures"][0]["error"]
    assert [a["kind"] for a in delivery["failure_alerts"]] == ["SINK_FAILURE"]
    delivered = sorted((d["sink"], d["alert"]) for d in delivery["delivered"])
    assert len(delivered) == 4  # the drift and the failure notice, to each working sink

    # ...while the webhook got both, signed with the site's secret...
    posted = [json.loads(x.body) for x in http_server.requests]
    assert [(p["kind"], p["device"]) for p in posted] == [("STATE_CHANGE", "vfd-hoist"),
                                                          ("SINK_FAILURE", "vfd-hoist")]
    assert f"holding[{address}]: {original} → {original + 5}" in posted[0]["summary"]
    assert posted[0]["baseline_id"] and posted[0]["signer"] == site.keyid
    for req in http_server.requests:
        assert verify(SECRET.encode(), req.headers[TIMESTAMP_HEADER], req.body,
                      req.headers[SIGNATURE_HEADER])
        assert not verify(b"another secret", req.headers[TIMESTAMP_HEADER], req.body,
                          req.headers[SIGNATURE_HEADER])
    # ...and so did the syslog listener, as CEF.
    datagrams = [udp_listener.recvfrom(65535)[0].decode() for _ in range(2)]
    cef = [d[d.index("CEF:0|"):] for d in datagrams]
    assert cef[0].startswith("CEF:0|plc-integrity|plc-integrity|")
    assert "|STATE_CHANGE:DRIFT|" in cef[0] and "cs1=vfd-hoist" in cef[0]
    assert "checker-01" in datagrams[0]
    assert "|SINK_FAILURE:DRIFT|" in cef[1]
    assert all(r.read for r in drive.requests if not _attacker(r)), "the checker sent a write"

    # The text form names the failed sink on stderr; the same drift is not sent again.
    r = run("sweep", "--all")
    assert r.exit_code == 1
    assert "alert(s) raised" not in r.output
    assert len(http_server.requests) == 2


def _attacker(request) -> bool:
    from simulators.base import is_attacker

    return is_attacker(request.peer)


def test_text_sweep_reports_a_failed_sink(run, site, helpers, drive, closed_port, tmp_path):
    helpers.write_inventory(site.root, helpers.device_table(drive))
    helpers.capture_all(run, site)
    helpers.add_to_site_toml(site.root, f"""
[[alerts]]
type = "syslog"
name = "dead-siem"
address = "127.0.0.1:{closed_port}"
protocol = "tcp"
timeout = 1.0

[[alerts]]
type = "jsonl"
path = "alerts.jsonl"
""")
    image = drive.snapshot_image()
    attacker_write_register(drive.host, drive.port, image.get("unit", 1),
                            image["holding"]["start"] + 3, image["holding"]["values"][3] + 1)

    r = run("sweep", "--all")

    assert r.exit_code == 1
    assert "1 alert(s) raised" in r.stdout
    assert "alert sink dead-siem failed:" in r.stderr
    lines = helpers.read_jsonl(site.root / "alerts.jsonl")
    assert [(x["kind"], x["device"]) for x in lines] == [("STATE_CHANGE", "vfd-hoist"),
                                                         ("SINK_FAILURE", "vfd-hoist")]


@pytest.mark.parametrize("column,value", [
    pytest.param("record", "{not json", id="record-not-json"),
    pytest.param("record", '{"format": 99}', id="record-unknown-format"),
])
def test_damaged_alert_state_resets_one_device_and_alerting_goes_on(run, site, helpers, drive,
                                                                    column, value):
    import sqlite3

    helpers.write_inventory(site.root, helpers.device_table(drive))
    helpers.capture_all(run, site)
    assert run("sweep", "--all").exit_code == 0
    with sqlite3.connect(site.root / "plc-integrity.db") as db:
        db.execute(f"UPDATE device_state SET {column} = ?", (value,))
        db.execute("UPDATE schedule SET next_due = 'garbage'")
    r = run("sweep", "--all", "--json")
    assert r.exit_code == 0, r.output
    assert run("status").exit_code == 0
