"""Restore for an S7-1200/1500 (S7CommPlus): the drill rebuilds the CPU from its
backup alone and names what no backup holds; plan lists what differs and writes
nothing; apply refuses (restoring over S7CommPlus is not supported)."""

from __future__ import annotations

import copy
from typing import Iterator

import pytest

from simulators.base import IMAGES, load_image
from simulators.s7plus import S7PlusSimulator, attacker_download, attacker_write_db
from simulators.s7plus_program import Block

IMAGE = load_image(IMAGES / "crane" / "plc-trolley.json")
PASSWORD = "trolley-secret"
NOT_SUPPORTED = "restoring over S7CommPlus is not supported"


@pytest.fixture
def unprotected() -> Iterator[S7PlusSimulator]:
    """plc-trolley with no know-how-protected block: its backup can be complete."""
    image = copy.deepcopy(IMAGE)
    for block in image["blocks"]:
        block.pop("knowhow_protected", None)
    with S7PlusSimulator(image) as sim:
        yield sim


def test_a_complete_backup_rebuilds_a_cpu_that_checks_clean(unprotected, baselined):
    site = baselined([unprotected], all_content=True)
    code, doc = site.cli.json("restore", "drill", "plc-trolley")
    [r] = doc["results"]
    assert code == 0 and r["verdict"] == "RESTORABLE", doc
    assert r["missing"] == [] and r["differences"] == []
    assert any("TIA Portal project" in n for n in r["notes"])


def test_tls_and_a_password_are_not_needed_to_drill(monkeypatch, baselined):
    monkeypatch.setenv("PLC_TROLLEY_PASSWORD", PASSWORD)
    image = copy.deepcopy(IMAGE)
    image["blocks"] = [b for b in image["blocks"] if not b.get("knowhow_protected")]
    with S7PlusSimulator(image, tls=True, password=PASSWORD) as sim:
        site = baselined([sim], all_content=True)
    code, doc = site.cli.json("restore", "drill", "plc-trolley")
    [r] = doc["results"]
    assert code == 0 and r["verdict"] == "RESTORABLE", doc
    assert any("without TLS" in n for n in r["notes"])


def test_what_the_cpu_would_not_give_or_the_policy_left_out_is_missing(unprotected, baselined):
    from support.site import Inventory

    unprotected.optimized_dbs.add(1)  # DB 1 refuses byte reads, as an optimized DB does
    site = baselined([unprotected], all_content=False)
    table = Inventory.table(unprotected, dbs={"1-2": "content", "3": "ignore"})
    Inventory(site.root).write(table)
    assert site.cli.capture("plc-trolley").exit_code == 0
    code, doc = site.cli.json("restore", "drill", "plc-trolley")
    [r] = doc["results"]
    assert code == 1 and r["verdict"] == "NOT RESTORABLE", doc
    db1, db3 = r["missing"]
    assert db1.startswith("DB 1 (TrolleyParams): the backup does not hold its values: not "
                          "readable when the baseline was captured (the CPU refused a byte read")
    assert db3 == "DB 3: not in the backup (policy `ignore`)"


def test_plan_lists_what_differs_and_writes_nothing(crane, baselined):
    site = baselined(crane, all_content=True)
    plc = crane["plc-trolley"]
    attacker_download(plc.host, plc.port, "FC", 21, b"L #In; T #Out")
    attacker_write_db(plc.host, plc.port, 1, 0, b"\x44\x00\x00\x00")
    plc.program.load(Block("FC", 30, "Extra", "SCL", b"RETURN;"))  # as a download leaves it
    seen = len(plc.requests)
    r = site.cli("restore", "plan", "plc-trolley")
    assert r.exit_code == 1, r.output
    assert f"NOT SUPPORTED: {NOT_SUPPORTED}" in r.output and "TIA Portal" in r.output
    assert "CANNOT restore over the network: FC 21 differs: code, block info" in r.output
    assert "CANNOT restore over the network: DB 1 differs: values" in r.output
    code, doc = site.cli.json("restore", "plan", "plc-trolley")
    assert code == 1 and doc["schema"] == 1 and doc["writes"] == [] and doc["cpu_mode"] == "RUN"
    assert doc["unsupported"].startswith(NOT_SUPPORTED)
    assert doc["cannot"] == ["the block list differs", "DB 1 differs: values",
                             "FC 21 differs: code, block info",
                             "FC 30 is on the CPU but not in the baseline: deleting blocks is "
                             "left to the engineering tool"]
    assert all(x.read for x in plc.requests[seen:])  # the plan only read


def test_plan_of_a_matching_cpu_still_says_it_is_not_supported(crane, baselined):
    site = baselined(crane, all_content=True)
    r = site.cli("restore", "plan", "plc-trolley")
    assert r.exit_code == 0 and "nothing to write" in r.output and NOT_SUPPORTED in r.output


def test_apply_refuses_before_anything_is_sent(crane, baselined):
    site = baselined(crane, all_content=True)
    plc = crane["plc-trolley"]
    attacker_download(plc.host, plc.port, "FC", 21, b"L #In; T #Out")
    assert site.cli("maintenance", "start", "plc-trolley", "--reason", "WO 12").exit_code == 0
    seen = len(plc.requests)
    r = site.cli("restore", "apply", "plc-trolley", "--confirm", "plc-trolley", "--allow-run")
    assert r.exit_code == 2, r.output
    assert NOT_SUPPORTED in r.output and "nothing was written" in r.output
    code, doc = site.cli.json("restore", "apply", "plc-trolley", "--confirm", "plc-trolley")
    assert code == 2 and doc["schema"] == 1 and NOT_SUPPORTED in doc["error"], doc
    assert len(plc.requests) == seen  # refused before the CPU was even read
