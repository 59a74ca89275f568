"""Issue 11 acceptance, end to end: the CLI against the plc-trolley S7-1500
simulator (S7CommPlus) on loopback: capture and verify, deep and quick."""

from __future__ import annotations

import struct

from simulators.s7plus import attacker_download, attacker_write_db


def keys(doc: dict) -> list[str]:
    [result] = doc["results"] if "results" in doc else [doc]
    return [d["key"] for d in result["differences"]]


def baseline(run, inventory, sim, *args: str) -> None:
    inventory.write(inventory.table(sim))
    r = run.capture("--all", *args)
    assert r.exit_code == 0, r.output


def test_capture_and_verify_deep_and_quick(run, inventory, trolley, only_reads):
    baseline(run, inventory, trolley)
    code, doc = run.json("verify", "plc-trolley")
    assert code == 0, doc
    [result] = doc["results"]
    assert (result["status"], result["mode"]) == ("OK", "deep")
    code, doc = run.json("verify", "plc-trolley", "--quick")
    assert code == 0 and doc["results"][0]["mode"] == "quick"
    only_reads(trolley)


def test_quick_baseline_then_quick_verify(run, inventory, trolley):
    baseline(run, inventory, trolley, "--quick")
    assert run("verify", "--all", "--quick").exit_code == 0


def test_knowhow_protected_block_is_not_readable_and_the_check_says_so(run, inventory, trolley):
    baseline(run, inventory, trolley)
    code, doc = run.json("verify", "plc-trolley")
    [result] = doc["results"]
    assert code == 0 and result["status"] == "OK"
    # Not OK by omission: the result names what it could not prove, and why.
    assert "not proven" in result["note"] and "blocks/FC/20 (know-how protected" in result["note"]
    r = run("verify", "plc-trolley")
    assert "blocks/FC/20 (know-how protected" in r.output


def test_independent_client_writing_a_content_db_is_drift_naming_it(run, inventory, trolley):
    baseline(run, inventory, trolley)
    # s7commplus' own Client (not our helper) raises TrolleyParams.MaxSpeed.
    attacker_write_db(trolley.host, trolley.port, 1, 0, struct.pack(">f", 250.0))
    code, doc = run.json("diff", "plc-trolley")
    assert code == 1 and keys(doc) == ["blocks/DB/1"]
    r = run("verify", "plc-trolley")
    assert r.exit_code == 1 and "modified blocks/DB/1" in r.output
    assert [r.operation for r in trolley.requests if not r.read] == ["write_db"]


def test_structure_db_values_are_not_drift(run, inventory, trolley):
    baseline(run, inventory, trolley)
    attacker_write_db(trolley.host, trolley.port, 3, 0, struct.pack(">f", 12.5))
    assert run("verify", "plc-trolley").exit_code == 0


def test_downloaded_block_is_drift_naming_it_in_quick_mode(run, inventory, trolley):
    baseline(run, inventory, trolley, "--quick")
    attacker_download(trolley.host, trolley.port, "FC", 21, b"L #In; T #Out  // ramp bypassed")
    code, doc = run.json("verify", "plc-trolley", "--quick")
    assert code == 1 and keys(doc) == ["blocks/FC/21/info"]
    [change] = [d for d in doc["results"][0]["differences"]]
    assert any(v["path"].startswith("indicators.CRC") for v in change["values"]), change


def test_downloaded_block_is_drift_on_its_image_in_deep_mode(run, inventory, trolley):
    baseline(run, inventory, trolley)
    trolley.replace_code("OB", 1, b"NETWORK 1: NOP 0")
    code, doc = run.json("diff", "plc-trolley")
    assert code == 1 and keys(doc) == ["blocks/OB/1", "blocks/OB/1/info"]


def test_cpu_stopped_is_drift(run, inventory, trolley):
    baseline(run, inventory, trolley, "--quick")
    trolley.set_mode("STOP")
    code, doc = run.json("verify", "plc-trolley", "--quick")
    assert code == 1 and keys(doc) == ["mode"]


def test_a_content_db_turning_unreadable_is_drift_and_named(run, inventory, trolley):
    baseline(run, inventory, trolley)
    trolley.optimized_dbs.add(1)
    code, doc = run.json("verify", "plc-trolley")
    [result] = doc["results"]
    assert code == 1 and keys(doc) == ["blocks/DB/1"]
    assert "blocks/DB/1 (the CPU refused a byte read of the DB" in result["note"]


def test_a_refused_explore_is_not_readable_not_could_not_check(run, inventory, trolley):
    trolley.unexplorable.add(("FB", 10))
    baseline(run, inventory, trolley)
    code, doc = run.json("verify", "plc-trolley")
    [result] = doc["results"]
    assert code == 0 and "blocks/FB/10/interface (EXPLORE refused" in result["note"], result
