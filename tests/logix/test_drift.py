"""Capture, change the controller, capture again: what drifts and what does not."""

from __future__ import annotations

import pytest

from integrity.compare import compare
from integrity.model import Mode, Status
from simulators.logix.attacker import attacker_write_tag


def _paths(values):
    """Value paths without the artifact-name prefix (the core compare may add one)."""
    return {v.path.split(".", 1)[1] if v.path.split(".", 1)[0] in _ROOTS else v.path: v
            for v in values}


_ROOTS = {"change-detection", "udt", "config", "identity", "controller", "programs", "module"}


def _diff(baseline, current):
    comparison = compare(baseline.artifacts, current)
    return comparison, {d.key: d for d in comparison.differences}


@pytest.mark.parametrize("mode", [Mode.QUICK, Mode.DEEP], ids=["quick", "deep"])
def test_capture_twice_same_fingerprint_and_ok(gantry, collect, assert_only_reads, mode):
    first = collect(gantry, mode)
    second = collect(gantry, mode)
    assert first.fingerprint == second.fingerprint
    assert compare(first.artifacts, second).status is Status.OK
    assert_only_reads(gantry)


def test_quick_reads_identity_and_audit_value_only(gantry, collect):
    quick = collect(gantry, Mode.QUICK)
    assert [a.key for a in quick.artifacts] == ["change-detection", "identity"]
    deep = collect(gantry, Mode.DEEP)
    assert {a.key for a in deep.artifacts if a.quick} == {"change-detection", "identity"}
    assert {"controller", "programs", "tasks", "tags/controller", "tags/program/Hoist",
            "udt/Motor", "udt/DriveParams", "module/1", "module/2", "config"} <= {
        a.key for a in deep.artifacts}
    # Quick against a deep baseline compares the quick subset: OK.
    assert compare(deep.artifacts, quick).status is Status.OK


@pytest.mark.parametrize("mode", [Mode.QUICK, Mode.DEEP], ids=["quick", "deep"])
def test_audit_value_change_is_drift(gantry, collect, mode):
    baseline = collect(gantry, Mode.DEEP)
    gantry.edit_routine("Hoist", "Brake", "XIC(Brake_Ok)OTE(Brake_Release);")
    comparison, diffs = _diff(baseline, collect(gantry, mode))
    assert comparison.status is Status.DRIFT
    change = _paths(diffs["change-detection"].values)
    assert list(change) == ["audit_value"]
    assert change["audit_value"].baseline == "0x5a3c9e01d2f47b68"
    assert change["audit_value"].current != "0x5a3c9e01d2f47b68"


def test_udt_member_added_is_drift_naming_the_udt(gantry, collect):
    baseline = collect(gantry)
    gantry.add_udt_member("DriveParams", "JerkLimit", "REAL")
    comparison, diffs = _diff(baseline, collect(gantry))
    assert comparison.status is Status.DRIFT
    udt = diffs["udt/DriveParams"]
    paths = _paths(udt.values)
    assert paths["members.JerkLimit"].baseline is None
    assert paths["members.JerkLimit"].current["type"] == "REAL"
    assert "structure_handle" in paths
    # The nested users of DriveParams change layout too, and the audit value moved.
    assert {"udt/Motor", "udt/Axis", "change-detection"} <= set(diffs)


def test_config_tag_written_by_another_client_names_tag_and_values(gantry, collect):
    baseline = collect(gantry)
    attacker_write_tag("127.0.0.1", gantry.port, "Gantry_MaxSpeed", 4.0)
    comparison, diffs = _diff(baseline, collect(gantry))
    assert set(diffs) == {"config"}  # a network write does not move the audit value
    [(path, change)] = _paths(diffs["config"].values).items()
    assert (path, change.baseline, change.current) == ("Gantry_MaxSpeed", 2.5, 4.0)
    # ... which is why the quick check does not see it.
    assert compare(baseline.artifacts, collect(gantry, Mode.QUICK)).status is Status.OK


def test_program_scoped_config_pattern_and_struct_config(gantry, collect):
    baseline = collect(gantry)
    config = baseline.by_key()["config"].value()
    assert config["Program:Hoist.Brake_ReleaseDelay"] == 250
    assert config["Hoist_DriveCfg"]["MaxCurrent"] == 310.0
    attacker_write_tag("127.0.0.1", gantry.port, "Program:Hoist.Brake_ReleaseDelay", 900)
    _, diffs = _diff(baseline, collect(gantry))
    [(path, change)] = _paths(diffs["config"].values).items()
    assert path == "Program:Hoist.Brake_ReleaseDelay"
    assert (change.baseline, change.current) == (250, 900)


def test_firmware_change_is_drift_in_quick_and_deep(gantry, collect):
    baseline = collect(gantry)
    gantry.set_revision(34, 1)
    for mode in (Mode.QUICK, Mode.DEEP):
        _, diffs = _diff(baseline, collect(gantry, mode))
        [(path, change)] = _paths(diffs["identity"].values).items()
        assert (path, change.baseline, change.current) == ("revision", "33.11", "34.1")


def test_keyswitch_change_is_drift(gantry, collect):
    baseline = collect(gantry)
    gantry.set_keyswitch("REMOTE PROG")
    _, diffs = _diff(baseline, collect(gantry))
    [(path, change)] = _paths(diffs["controller"].values).items()
    assert (path, change.baseline, change.current) == ("keyswitch", "REMOTE RUN", "REMOTE PROG")


def test_process_tag_changing_is_not_drift(gantry, collect, assert_only_reads):
    baseline = collect(gantry)
    for speed in (0.7, 1.9, 2.4):
        gantry.set_value("Gantry_ActualSpeed", speed)
        gantry.set_value("Recipe", [int(speed * 10)] * 64)
        assert compare(baseline.artifacts, collect(gantry)).status is Status.OK
    tag_reads = {"cip:0x4c@tag", "cip:0x52@tag", "cip:0x4c@0x6b", "cip:0x52@0x6b"}
    reads = [r for r in gantry.requests if r.operation in tag_reads]
    assert not any("Gantry_ActualSpeed" in r.detail for r in reads)
    assert_only_reads(gantry)


def test_routine_added_names_the_program(gantry, collect):
    baseline = collect(gantry)
    gantry.edit_routine("Trolley", "Bypass", "OTE(Trolley_Interlock_Bypass);")
    _, diffs = _diff(baseline, collect(gantry))
    assert {"programs", "change-detection"} <= set(diffs)
    [(path, change)] = _paths(diffs["programs"].values).items()
    assert path == "Trolley.routines"
    assert "Bypass" in change.current and "Bypass" not in change.baseline


def test_controller_without_change_detection(simulator, gantry_image, collect):
    del gantry_image["change_detection"]
    gantry_image["identity"]["revision"] = [19, 11]
    sim = simulator(gantry_image)
    quick = collect(sim, Mode.QUICK)
    cd = quick.by_key()["change-detection"].value()
    assert cd["available"] is False and cd["reason"]
    assert quick.policy["change_detection"] == "unavailable"
    # Never a match on identity alone: the quick check reads (and flags) everything.
    keys = {a.key for a in quick.artifacts if a.quick}
    assert {"tags/controller", "udt/Motor", "config"} <= keys
    baseline = collect(sim, Mode.DEEP)
    sim.add_udt_member("Alarm", "Severity", "DINT")
    comparison = compare(baseline.artifacts, collect(sim, Mode.QUICK))
    assert "udt/Alarm" in {d.key for d in comparison.differences}


def test_module_removed_from_a_configured_slot_is_drift(gantry, collect):
    baseline = collect(gantry)
    assert baseline.by_key()["module/2"].value()["product_name"] == "1756-IB16/A"
    del gantry.controller.modules[2]
    _, diffs = _diff(baseline, collect(gantry, modules=[1, 2]))  # the inventory still lists it
    assert set(diffs) == {"module/2"}
    assert _paths(diffs["module/2"].values)["present"].current is False
