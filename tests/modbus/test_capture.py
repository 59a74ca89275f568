"""The driver against the real simulator: artifacts, chunking, gaps, bits, drift."""

from __future__ import annotations

import pytest

from integrity.errors import DeviceProtocolError
from integrity.model import Kind, Mode
from simulators.base import LEDGER, checker_violations
from simulators.modbus import attacker_write_coil, attacker_write_register


# Every test runs on both read paths: ``collect`` is the sync or the async path.

def test_capture_has_identity_and_one_artifact_per_declared_range(collect, simulator, device, assert_only_reads):
    sim = simulator()
    cap = collect(device(sim.port, holding=["0-1999", "3000-3003"], input=["4"],
                         coils=["0-10"], discrete=["100-102"]))
    arts = cap.by_key()
    assert sorted(arts) == ["coils/0-10", "discrete/100-102", "holding/0-1999",
                            "holding/3000-3003", "identity", "input/4"]
    assert arts["holding/0-1999"].value() == {"start": 0, "values": [(i * 7) % 65536 for i in range(2000)]}
    assert arts["holding/3000-3003"].value() == {"start": 3000, "values": [11, 12, 13, 14]}
    assert arts["input/4"].value() == {"start": 4, "values": [104]}
    assert arts["holding/0-1999"].kind is Kind.CONFIG and arts["identity"].kind is Kind.IDENTITY
    assert all(a.quick for a in cap.artifacts)
    assert dict(cap.policy) == {"unit": 1, "identity": True, "ranges": {
        "holding": ["0-1999", "3000-3003"], "input": ["4"], "coils": ["0-10"],
        "discrete": ["100-102"]}}
    assert cap.device == "dut" and cap.protocol == "modbus" and cap.mode is Mode.DEEP
    assert_only_reads(sim)


def test_bits_are_trimmed_to_the_range_as_ints(collect, simulator, device):
    sim = simulator()
    arts = collect(device(sim.port, identity=False, coils=["0-10"], discrete=["101"])).by_key()
    # .bits would be padded to 16 and 8: the artifact holds exactly the declared addresses.
    assert arts["coils/0-10"].value() == {"start": 0, "values": [1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0]}
    assert arts["discrete/101"].value() == {"start": 101, "values": [1]}


def test_2000_registers_take_16_requests_of_at_most_125(collect, simulator, device):
    sim = simulator()
    collect(device(sim.port, identity=False, holding=["0-1999"]))
    reads = [r for r in sim.requests if r.operation == "FC3"]
    counts = [int(r.detail.split("count=")[1]) for r in reads]
    assert len(reads) == 16 and max(counts) == 125 and sum(counts) == 2000


def test_chunks_never_cross_a_gap_between_declared_ranges(collect, simulator, device):
    sim = simulator()
    # 1990-1999 and 3000-3003 are separated by an unreadable gap; 1990-3003 would fail.
    cap = collect(device(sim.port, identity=False, holding=["1990-1999", "3000-3003"]))
    assert cap.by_key()["holding/1990-1999"].value()["values"][-1] == (1999 * 7) % 65536
    details = [r.detail for r in sim.requests]
    assert details == ["unit=1 address=1990 count=10", "unit=1 address=3000 count=4"]


def test_declared_range_not_readable_names_range_and_exception(collect, simulator, device):
    sim = simulator()
    with pytest.raises(DeviceProtocolError) as err:
        collect(device(sim.port, identity=False, holding=["1990-2010"]))
    text = str(err.value)
    assert "dut" in text and "holding 1990-2010 not readable" in text and "exception 2" in text


def test_attacker_write_changes_the_digest_and_live_inputs_do_not(collect, simulator, device):
    sim = simulator()
    dev = device(sim.port, holding=["0-1999"], coils=["0-10"])
    before = collect(dev).by_key()

    sim.set_input(0, [9999, 8888])  # live process values: not declared, not hashed
    after_live = collect(dev)
    assert {k: a.digest for k, a in before.items()} == {a.key: a.digest for a in after_live.artifacts}

    attacker_write_register(sim.host, sim.port, 1, 17, 4242)
    attacker_write_coil(sim.host, sim.port, 1, 3, False)
    after = collect(dev).by_key()
    assert after["holding/0-1999"].digest != before["holding/0-1999"].digest
    assert after["holding/0-1999"].value()["values"][17] == 4242
    assert after["coils/0-10"].value()["values"][3] == 0
    assert after["identity"].digest == before["identity"].digest
    # The writes are in the ledger, but marked as the attacker's, not the checker's.
    assert {"FC6", "FC5"} <= {r.operation for r in sim.requests if not r.read}
    assert [r for r in checker_violations() if r.device == sim.name] == []
    assert any(r.device == sim.name and r.operation == "FC6" for r in LEDGER)


def test_quick_mode_reads_the_same_artifacts(collect, simulator, device):
    sim = simulator()
    dev = device(sim.port, holding=["0-99"])
    assert collect(dev, Mode.QUICK).fingerprint == collect(dev, Mode.DEEP).fingerprint


def test_crane_drive_capture(collect, simulator, crane_image, device, assert_only_reads):
    sim = simulator(crane_image("vfd-hoist"))
    entry = sim.inventory_entry()
    assert entry["holding"] == ["0-1999"] and "input" not in entry
    keys = {k: v for k, v in entry.items() if k not in ("name", "protocol", "host", "port")}
    cap = collect(device(entry["port"], name=entry["name"], **keys))
    arts = cap.by_key()
    assert sorted(arts) == ["holding/0-1999", "identity"]
    assert arts["holding/0-1999"].value()["values"][10] == 40  # acceleration time, 0.1 s
    assert arts["identity"].value()["objects"]["0x06"]["text"] == "HOIST MAIN"
    assert_only_reads(sim)
