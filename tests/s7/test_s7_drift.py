"""Capture, change the simulated CPU, capture again: exactly the right drift."""

from __future__ import annotations

from datetime import datetime

from integrity.compare import compare
from integrity.model import Change, Kind, Mode, Status
from simulators import s7_blocks
from simulators.base import is_attacker
from simulators.s7 import attacker_download_db, tampered_db_image

UPLOADS = {"start_upload", "upload", "end_upload"}


def keys(comparison) -> list[str]:
    return [d.key for d in comparison.differences]


def checker_only_read(sim) -> None:
    mine = [r for r in sim.requests if not is_attacker(r.peer)]
    assert mine and all(r.read for r in mine), [r for r in mine if not r.read]


def test_capture_twice_is_identical_and_ok(sim, device, collect):
    first, second = collect(device), collect(device)
    assert first.fingerprint == second.fingerprint
    assert compare(first.artifacts, second).status is Status.OK
    by_key = first.by_key()
    # 25 blocks: info for each, an image for each (no DB is ignored here)
    assert len([k for k in by_key if k.endswith("/info")]) == 25
    assert by_key["blocks/FC/10"].kind is Kind.CODE and not by_key["blocks/FC/10"].quick
    assert by_key["blocks/DB/10"].kind is Kind.CONFIG
    assert by_key["blocks/DB/20"].kind is Kind.STRUCTURE
    assert by_key["blocks/SDB/0"].kind is Kind.CONFIG
    assert by_key["mode"].value() == {"mode": "RUN", "code": 8}
    identity = by_key["identity"].value()
    assert identity["order_number"] == "6ES7 315-2EH14-0AB0" and identity["firmware"] == "V3.2.7"
    assert identity["serial"] == "S C-H4N739142018" and identity["plant_id"] == "CRANE1-HOIST"
    assert by_key["blocks"].value()["SFC"][:3] == [0, 1, 2]
    assert first.policy["dbs"] == {"10": "content", "20": "structure"}
    checker_only_read(sim)


def test_one_bit_in_fc_mc7_is_drift_on_that_block_only(sim, device, collect):
    baseline = collect(device)
    sim.flip_mc7_bit("FC", 10, bit=77)
    deep = compare(baseline.artifacts, collect(device))
    assert keys(deep) == ["blocks/FC/10"]
    assert deep.differences[0].change is Change.MODIFIED
    # Block info was kept: the metadata-only quick check cannot see it; that is why deep exists.
    assert compare(baseline.artifacts, collect(device, Mode.QUICK)).status is Status.OK


def test_db10_download_by_a_second_client_is_drift_naming_db10(sim, device, collect):
    baseline = collect(device)
    image = tampered_db_image(sim.block_image("DB", 10), 0, b"\x42\x20\x00\x00",  # rated load 40 t
                              when=datetime(2024, 2, 2, 3, 4, 5))
    attacker_download_db(sim.host, sim.port, 10, image)
    result = compare(baseline.artifacts, collect(device))
    assert keys(result) == ["blocks/DB/10", "blocks/DB/10/info", "checksums"]
    assert {v.path for v in result.differences[1].values} == {"checksum", "code_date"}
    # the CPU's program checksum moved with the DB's own: a quick check sees the download too
    assert {v.path for v in result.differences[2].values} == {"program.checksum_xor"}
    assert any(r.operation == "request_download" for r in sim.requests)  # it really was a download
    checker_only_read(sim)


def test_db20_process_values_under_structure_are_not_drift(sim, device, collect):
    baseline = collect(device)
    sim.set_db_values(20, 0, b"\x12\x34\x56\x78" * 4)
    assert compare(baseline.artifacts, collect(device)).status is Status.OK
    # the same kind of change in the content DB is drift
    sim.set_db_values(10, 0, b"\x00\x00\x00\x00")
    assert keys(compare(baseline.artifacts, collect(device))) == ["blocks/DB/10"]


def test_ignored_db_leaves_values_and_info_out_but_not_its_existence(sim, make_device, collect):
    entry = {**sim.inventory_entry(), "dbs": {"10": "content", "20-29": "ignore"}}
    device = make_device(entry)
    baseline = collect(device)
    assert "blocks/DB/20" not in baseline.by_key() and "blocks/DB/21/info" not in baseline.by_key()
    # The program checksum covers the ignored DBs too: it is left out, not held to.
    assert baseline.by_key()["checksums"].value()["program"] is None
    sim.replace_block_image(s7_blocks.build("DB", 20, b"\x01" * 96, name="RECIPE", language="DB"))
    assert compare(baseline.artifacts, collect(device)).status is Status.OK
    assert compare(baseline.artifacts, collect(device, Mode.QUICK)).status is Status.OK
    sim.remove_block("DB", 21)
    assert keys(compare(baseline.artifacts, collect(device))) == ["blocks"]


def test_added_and_removed_blocks_are_drift(sim, device, collect):
    baseline = collect(device)
    sim.replace_block_image(s7_blocks.build("FC", 99, b"\x70\x00" * 20, name="ROGUE"))
    added = compare(baseline.artifacts, collect(device))
    assert keys(added) == ["blocks", "blocks/FC/99", "blocks/FC/99/info", "checksums"]
    assert [d.change for d in added.differences[1:3]] == [Change.ADDED, Change.ADDED]
    sim.remove_block("FC", 99)
    sim.remove_block("OB", 35)
    removed = compare(baseline.artifacts, collect(device))
    assert keys(removed) == ["blocks", "blocks/OB/35", "blocks/OB/35/info", "checksums"]
    assert [d.change for d in removed.differences[1:3]] == [Change.REMOVED, Change.REMOVED]


def test_quick_mode_sees_checksum_and_size_changes_without_uploading(sim, make_device, collect):
    # Without the CPU's checksums (ken_rel 0) the quick check reads every block's info.
    sim.checksums_valid = False
    device = make_device(sim.inventory_entry())
    baseline = collect(device)
    quick_before = collect(device, Mode.QUICK)
    assert quick_before.mode is Mode.QUICK and all(a.quick for a in quick_before.artifacts)
    assert compare(baseline.artifacts, quick_before).status is Status.OK

    changed = s7_blocks.build("FC", 2, b"\x10\x20" * 200, name="LIMITS", language="LAD")
    sim.replace_block("FC", 2, changed)
    sim.clear_requests()
    result = compare(baseline.artifacts, collect(device, Mode.QUICK))
    assert result.mode is Mode.QUICK and keys(result) == ["blocks/FC/2/info"]
    assert {"checksum", "mc7_size", "load_size"} <= {v.path for v in result.differences[0].values}
    assert not UPLOADS & {r.operation for r in sim.requests}
    checker_only_read(sim)


def test_run_to_stop_is_state_drift(sim, device, collect):
    baseline = collect(device)
    sim.set_mode("STOP")
    result = compare(baseline.artifacts, collect(device, Mode.QUICK))
    assert keys(result) == ["mode"] and result.differences[0].kind is Kind.STATE


def test_simulator_record_shows_only_reads_from_the_checker(sim, device, collect):
    collect(device)
    collect(device, Mode.QUICK)
    ops = {r.operation for r in sim.requests}
    assert ops == {"setup_communication", "read_szl", "list_blocks", "list_blocks_of_type",
                   "get_block_info", "start_upload", "upload", "end_upload"}
    checker_only_read(sim)
