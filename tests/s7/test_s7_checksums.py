"""The quick check on the CPU's own checksums (SZL 0x0232 index 4) instead of
one block-info request per block, and how it compares with every baseline."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

import pytest

from integrity.compare import compare
from integrity.model import Capture, Change, Mode, Status
from simulators import s7_blocks
from simulators.base import is_attacker
from simulators.s7 import S7Simulator, attacker_download_db, tampered_db_image
from simulators.s7_images import synthetic_image

NOT_QUICK = {"get_block_info", "start_upload", "upload", "end_upload"}


def keys(comparison) -> list[str]:
    return [d.key for d in comparison.differences]


def mine(sim, since: int = 0) -> list[str]:
    return [r.operation for r in sim.requests[since:] if not is_attacker(r.peer)]


def read(sim, device, collect, mode: Mode) -> tuple[Capture, list[str]]:
    since = len(sim.requests)
    capture = collect(device, mode)
    return capture, mine(sim, since)


def old_style(capture: Capture) -> Capture:
    """The capture as the driver made it before it read the checksums."""
    return dataclasses.replace(capture, artifacts=tuple(a for a in capture.artifacts
                                                        if a.key != "checksums"))


def download(sim, image: bytes, block_type: str, number: int) -> None:
    attacker_download_db(sim.host, sim.port, number, image)
    # The CPU applies a download when it reads the client's last answer, which
    # attacker_download_db does not wait for: wait for it here.
    deadline = time.monotonic() + 10
    while sim.block_image(block_type, number) != image and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.block_image(block_type, number) == image


def test_simulator_checksums_are_the_xor_of_its_block_infos(sim, device, collect):
    deep = collect(device).by_key()
    infos = [a.value() for k, a in deep.items() if k.endswith("/info")]
    assert len(infos) == 25

    def xor(types, field):
        out = 0
        for info in infos:
            if info["type"] in types:
                out ^= info[field]
        return out

    assert deep["checksums"].value() == {
        "valid": True, "ken_rel": 0x5656,
        "program": {"mc7_size_xor": xor(("OB", "DB", "FB", "FC"), "mc7_size"),
                    "checksum_xor": xor(("OB", "DB", "FB", "FC"), "checksum")},
        "hardware": {"mc7_size_xor": xor(("SDB",), "mc7_size"),
                     "checksum_xor": xor(("SDB",), "checksum")}}
    # The protection artifact is what it always was: baselines do not drift.
    assert deep["protection"].value() == {"sch_schal": 1, "sch_par": 0, "sch_rel": 1,
                                          "bart_sch": 2, "anl_sch": 0}


def test_quick_reads_no_block_info_and_sees_an_attacker_fc_download(sim, device, collect):
    baseline = collect(device)
    quick, ops = read(sim, device, collect, Mode.QUICK)
    assert not NOT_QUICK & set(ops)
    assert not any(k.startswith("blocks/") for k in quick.by_key())
    assert quick.policy["quick_skipped"] == ["blocks/"]
    assert compare(baseline.artifacts, quick).status is Status.OK

    image = tampered_db_image(sim.block_image("FC", 10), 3, b"\x70\x0b",  # an edited FC 10
                              when=datetime(2026, 11, 30))
    download(sim, image, "FC", 10)
    result = compare(baseline.artifacts, collect(device, Mode.QUICK))
    assert result.status is Status.DRIFT and keys(result) == ["checksums"]
    [diff] = result.differences
    assert diff.change is Change.MODIFIED and [v.path for v in diff.values] == ["program.checksum_xor"]
    assert "checksums differs" in result.note and "a deep check names what changed" in result.note
    assert keys(compare(baseline.artifacts, collect(device))) == [
        "blocks/FC/10", "blocks/FC/10/info", "checksums"]
    assert not [r for r in sim.requests if not r.read and not is_attacker(r.peer)]


def test_quick_costs_a_fixed_handful_of_requests_not_one_per_block(collect, make_device):
    # 20 blocks: the quick floor is setup, 4 SZL reads, the block counts and the 7
    # block lists; deep adds info + start/upload.../end per block.
    ratios = {}
    for blocks in (20, 60):
        with S7Simulator(synthetic_image(f"cpu-{blocks}", blocks)) as cpu:
            device = make_device(cpu.inventory_entry())
            _, deep = read(cpu, device, collect, Mode.DEEP)
            _, quick = read(cpu, device, collect, Mode.QUICK)
        assert sorted(quick) == sorted(["setup_communication", "list_blocks"] + ["read_szl"] * 4
                                       + ["list_blocks_of_type"] * 7)
        assert deep.count("get_block_info") == blocks
        ratios[blocks] = len(deep) / len(quick)
    # 112 / 13 = 8.6x at 20 blocks of ~600 bytes (two upload fragments each at PDU 480),
    # 25x at 60; block-info quick checks cost 33 requests at 20 blocks (3.4x).
    assert ratios[20] > 8 and ratios[60] > 20, ratios


def test_without_valid_checksums_quick_reads_every_block_info(sim, device, collect):
    sim.checksums_valid = False
    baseline = collect(device)
    assert baseline.by_key()["checksums"].value() == {"valid": False, "ken_rel": 0}
    quick, ops = read(sim, device, collect, Mode.QUICK)
    assert ops.count("get_block_info") == 25 and "quick_skipped" not in quick.policy
    sim.replace_block("FC", 2, s7_blocks.build("FC", 2, b"\x10\x20" * 200, name="LIMITS"))
    assert keys(compare(baseline.artifacts, collect(device, Mode.QUICK))) == ["blocks/FC/2/info"]


def test_ignored_db_means_block_info_even_with_valid_checksums(sim, make_device, collect):
    device = make_device({**sim.inventory_entry(), "dbs": {"20-29": "ignore"}})
    _, ops = read(sim, device, collect, Mode.QUICK)
    assert ops.count("get_block_info") == 23  # 25 blocks but DB 20 and 21


def test_old_baseline_without_checksums(sim, device, collect):
    """A baseline captured before the checksums were read: no false drift, and
    the block list still catches added and deleted blocks."""
    deep = collect(device)
    old_deep, old_quick = old_style(deep), old_style(collect(device, Mode.DEEP))
    assert "blocks/FC/10/info" in old_deep.by_key()
    # the driver of that time read block infos in a quick check as well
    old_quick = dataclasses.replace(old_quick, mode=Mode.QUICK, artifacts=tuple(
        a for a in old_quick.artifacts if a.quick))

    ok = compare(old_deep.artifacts, collect(device))
    assert ok.status is Status.OK and ok.note is None
    quick = compare(old_deep.artifacts, collect(device, Mode.QUICK))
    assert quick.status is Status.OK and "the baseline predates checksums" in quick.note
    assert compare(old_quick.artifacts, collect(device, Mode.QUICK),
                   baseline_mode=Mode.QUICK).status is Status.OK

    sim.replace_block_image(s7_blocks.build("FC", 99, b"\x70\x00" * 20, name="ROGUE"))
    sim.remove_block("OB", 35)
    for base, mode in ((old_deep, Mode.DEEP), (old_quick, Mode.QUICK)):
        assert keys(compare(base.artifacts, collect(device, Mode.QUICK), baseline_mode=mode)) == ["blocks"]
    assert keys(compare(old_deep.artifacts, collect(device))) == [
        "blocks", "blocks/FC/99", "blocks/FC/99/info", "blocks/OB/35", "blocks/OB/35/info"]


def test_quick_baseline_holds_checksums_and_a_deep_check_against_it(sim, device, collect):
    quick_base = collect(device, Mode.QUICK)
    deep = collect(device)
    result = compare(quick_base.artifacts, deep, baseline_mode=Mode.QUICK)
    assert result.status is Status.OK and result.mode is Mode.QUICK
    sim.replace_block("FC", 2, s7_blocks.build("FC", 2, b"\x10\x20" * 200, name="LIMITS"))
    result = compare(quick_base.artifacts, collect(device), baseline_mode=Mode.QUICK)
    assert keys(result) == ["checksums"]
    # a CPU that stops vouching for its checksums is itself a change of state
    sim.checksums_valid = False
    assert "checksums" in keys(compare(quick_base.artifacts, collect(device, Mode.QUICK),
                                       baseline_mode=Mode.QUICK))


@pytest.mark.parametrize("szl_id", [0x0232, 0x0132])
def test_simulator_answers_both_protection_lists(sim, szl_id):
    record = sim.szl(szl_id, 4)[4:]
    assert len(record) == 40 and record[14:16] == b"\x56\x56"
    assert sim.szl(szl_id, 4)[:4] == b"\x00\x28\x00\x01"
