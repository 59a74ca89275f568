"""Issue 2 acceptance, end to end through the CLI against a real Modbus drive simulator."""

from __future__ import annotations

import json
import time

from simulators.modbus import attacker_write_register


def capture(run, site, *devices):
    return run("baseline", "capture", *(devices or ("--all",)), "--key", str(site.key),
               "--reason", "test baseline")


def test_capture_verify_drift_diff_and_back(run, site, drive, inventory):
    inventory.write(inventory.table(drive))
    image = drive.snapshot_image()
    address = image["holding"]["start"] + 17
    original = image["holding"]["values"][17]
    unit = image.get("unit", 1)

    r = capture(run, site)
    assert r.exit_code == 0, r.output
    assert "vfd-hoist: baseline #1" in r.output

    r = run("verify", "--all")
    assert r.exit_code == 0, r.output
    assert "OK" in r.output

    attacker_write_register(drive.host, drive.port, unit, address, original + 7)
    r = run("verify", "vfd-hoist")
    assert r.exit_code == 1, r.output
    assert "DRIFT" in r.output and "modified holding/" in r.output

    r = run("diff", "vfd-hoist")
    assert r.exit_code == 1
    assert f"holding[{address}]: {original} -> {original + 7}" in r.output

    r = run("diff", "vfd-hoist", "--json")
    [result] = json.loads(r.output)["results"]
    [d] = result["differences"]
    assert d["values"] == [{"path": f"holding[{address}]", "baseline": original,
                            "current": original + 7}]

    attacker_write_register(drive.host, drive.port, unit, address, original)
    r = run("verify", "vfd-hoist")
    assert r.exit_code == 0, r.output


def test_live_values_are_not_drift(run, site, drive, inventory):
    inventory.write(inventory.table(drive))
    assert capture(run, site).exit_code == 0
    drive.set_input(0, [1234, 5678])
    assert run("verify", "--all").exit_code == 0


def test_verify_json_is_one_document(run, site, drive, inventory):
    inventory.write(inventory.table(drive))
    capture(run, site)
    r = run("verify", "--all", "--json")
    doc = json.loads(r.output)  # exactly one document, nothing else on stdout
    assert doc["exit_code"] == 0
    assert [x["status"] for x in doc["results"]] == ["OK"]


def test_no_baseline_is_exit_4(run, site, drive, inventory):
    inventory.write(inventory.table(drive))
    r = run("verify", "--all")
    assert r.exit_code == 4, r.output
    assert "NO_BASELINE" in r.output


def test_dead_devices_are_exit_3_and_others_still_checked(run, site, drive, inventory, closed_port,
                                                          silent_listener, resetting_listener):
    names = ("vfd-closed", "vfd-silent", "vfd-reset")
    # Baselines for every name while the drive answers for all of them ...
    inventory.write(inventory.table(drive),
                    *(inventory.table(drive, name=n) for n in names))
    assert capture(run, site).exit_code == 0
    # ... then three of them die, each in its own way.
    inventory.write(
        inventory.table(drive),
        inventory.table(drive, name="vfd-closed", port=closed_port),
        inventory.table(drive, name="vfd-silent", port=silent_listener.port),
        inventory.table(drive, name="vfd-reset", port=resetting_listener.port))
    started = time.monotonic()
    r = run("verify", "--all", "--json")
    elapsed = time.monotonic() - started
    assert r.exit_code == 3, r.output
    by_name = {x["device"]: x for x in json.loads(r.output)["results"]}
    assert by_name["vfd-hoist"]["status"] == "OK"
    for name in names:
        assert by_name[name]["status"] == "UNREACHABLE", by_name[name]
        assert name in by_name[name]["message"]
    assert by_name["vfd-closed"]["reason"] == "refused"
    assert by_name["vfd-silent"]["reason"] == "timeout"
    assert by_name["vfd-reset"]["reason"] in ("refused", "protocol")
    # Generous bound: catches a 12 s library default, cannot flake on a busy machine.
    assert elapsed < 8

    r = run("verify", "--all")
    assert "UNREACHABLE" in r.output and "refused" in r.output and "timeout" in r.output


def test_capture_refuses_unreadable_devices(run, site, drive, inventory, closed_port):
    inventory.write(inventory.table(drive), inventory.table(drive, name="vfd-dead", port=closed_port))
    r = capture(run, site)
    assert r.exit_code == 3
    assert "vfd-dead: NOT captured" in r.output and "refused" in r.output
    assert "vfd-hoist: baseline #1" in r.output


def test_baseline_show_and_history(run, site, drive, inventory):
    inventory.write(inventory.table(drive))
    assert capture(run, site).exit_code == 0
    r = run("baseline", "capture", "vfd-hoist", "--key", str(site.key), "--reason", "after WO 17")
    assert r.exit_code == 0 and "baseline #2" in r.output

    r = run("baseline", "show", "vfd-hoist")
    assert r.exit_code == 0, r.output
    assert "baseline #2 of vfd-hoist (modbus)" in r.output and "after WO 17" in r.output
    assert "holding/0-1999" in r.output and "identity" in r.output

    doc = json.loads(run("baseline", "show", "vfd-hoist", "--json").output)
    assert doc["verified"] is True and doc["manifest"]["sequence"] == 2
    assert doc["manifest"]["previous"] == json.loads(
        run("baseline", "history", "vfd-hoist", "--json").output)["baselines"][0]["id"]

    r = run("baseline", "history", "vfd-hoist")
    assert r.exit_code == 0 and "test baseline" in r.output and "after WO 17" in r.output
    assert "'" not in r.output  # reasons are shown as written, not as Python reprs


def test_show_without_baseline_is_exit_4(run, site, drive, inventory):
    inventory.write(inventory.table(drive))
    r = run("baseline", "show", "vfd-hoist")
    assert r.exit_code == 4 and "vfd-hoist" in r.output


def test_labels_name_changed_values_in_diffs(run, site, drive, inventory):
    table = inventory.table(drive, labels={"holding[22]": "maximum speed, rpm"})
    inventory.write(table)
    assert capture(run, site).exit_code == 0
    attacker_write_register(drive.host, drive.port, 1, 22, 2250)
    r = run("diff", "vfd-hoist")
    assert "holding[22] (maximum speed, rpm): 1500 -> 2250" in r.output
    [result] = json.loads(run("diff", "vfd-hoist", "--json").output)["results"]
    [d] = result["differences"]
    assert d["values"][0]["label"] == "maximum speed, rpm"
