from datetime import datetime, timezone

import pytest

from integrity.compare import MAX_VALUE_CHANGES, compare
from integrity.model import Artifact, Capture, Change, Kind, Mode, Status

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def table(key, values, start=0, quick=True):
    return Artifact.from_value(key, Kind.CONFIG, {"start": start, "values": values}, quick=quick)


def cap(*arts, mode=Mode.DEEP):
    return Capture("dev", "modbus", mode, NOW, arts)


def test_equal_is_ok():
    base = [table("holding/0-2", [1, 2, 3])]
    result = compare(base, cap(table("holding/0-2", [1, 2, 3])))
    assert result.status is Status.OK and result.differences == ()


def test_modified_register_is_named_by_address_with_both_values():
    base = [table("holding/100-102", [1, 2, 3], start=100)]
    result = compare(base, cap(table("holding/100-102", [1, 9, 3], start=100)))
    [d] = result.differences
    assert (d.key, d.change) == ("holding/100-102", Change.MODIFIED)
    assert [(v.path, v.baseline, v.current) for v in d.values] == [("holding[101]", 2, 9)]


def test_added_and_removed_artifacts():
    result = compare([table("a", [1])], cap(table("b", [1])))
    assert [(d.key, d.change) for d in result.differences] == [("a", Change.REMOVED), ("b", Change.ADDED)]


def test_nested_values_are_named_by_path():
    old = Artifact.from_value("udt/Motor", Kind.STRUCTURE, {"members": {"Speed": {"offset": 0}}})
    new = Artifact.from_value("udt/Motor", Kind.STRUCTURE, {"members": {"Speed": {"offset": 4},
                                                                        "Torque": {"offset": 8}}})
    [d] = compare([old], cap(new)).differences
    assert [(v.path, v.baseline, v.current) for v in d.values] == [
        ("members.Speed.offset", 0, 4), ("members.Torque", None, {"offset": 8})]


def test_raw_images_name_the_changed_bytes():
    old = Artifact.from_bytes("blocks/FC/1", Kind.CODE, bytes(10))
    new = Artifact.from_bytes("blocks/FC/1", Kind.CODE, bytes(5) + b"\x01" + bytes(4))
    [d] = compare([old], cap(new)).differences
    assert [(v.path, v.baseline, v.current) for v in d.values] == [("bytes[5:6]", "00", "01")]


def test_quick_capture_only_looks_at_quick_baseline_artifacts():
    base = [table("info", [1]), Artifact.from_bytes("blocks/FC/1", Kind.CODE, b"x", quick=False)]
    result = compare(base, cap(table("info", [1]), mode=Mode.QUICK))
    assert result.status is Status.OK and result.mode is Mode.QUICK


def test_deep_capture_against_quick_baseline_is_reduced_and_says_so():
    base = [table("info", [1])]
    current = cap(table("info", [1]), Artifact.from_bytes("blocks/FC/1", Kind.CODE, b"x"))
    result = compare(base, current, baseline_mode=Mode.QUICK)
    assert result.status is Status.OK and result.mode is Mode.QUICK and "quick" in result.note


def test_value_changes_are_bounded():
    base = [table("holding/0-999", [0] * 1000)]
    [d] = compare(base, cap(table("holding/0-999", [1] * 1000))).differences
    assert len(d.values) == MAX_VALUE_CHANGES and d.values_truncated


@pytest.mark.parametrize("old,new", [
    pytest.param(1, 1.0, id="int-vs-float"),
    pytest.param(True, 1, id="bool-vs-int"),
])
def test_type_changes_count(old, new):
    a = Artifact.from_value("x", Kind.CONFIG, {"v": old})
    b = Artifact.from_value("x", Kind.CONFIG, {"v": new})
    assert compare([a], cap(b)).status is Status.DRIFT
