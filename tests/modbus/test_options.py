"""Inventory keys of a Modbus device: every bad value is a ConfigError naming its field."""

from __future__ import annotations

import pytest

from drivers.modbus import ModbusDriver
from drivers.modbus_options import ModbusOptions, Range
from integrity.errors import ConfigError


def parse(**table):
    return ModbusDriver.parse_options(table, file="site.toml", device="vfd-1")


def test_defaults_read_identity_only():
    assert parse() == ModbusOptions(unit=1, identity=True)


def test_ranges_are_parsed_sorted_and_labelled():
    opts = parse(unit=3, holding=["3000-3099", "0-1999", "2500"], coils=[7], identity=False)
    assert opts.holding == (Range(0, 1999), Range(2500, 2500), Range(3000, 3099))
    assert [r.label for r in opts.holding] == ["0-1999", "2500", "3000-3099"]
    assert opts.coils == (Range(7, 7),)
    assert opts.policy() == {"unit": 3, "identity": False,
                             "ranges": {"holding": ["0-1999", "2500", "3000-3099"], "coils": ["7"]}}


def test_single_address_written_as_a_range_gets_the_same_label():
    assert parse(holding=["17-17"]).holding[0].label == parse(holding=["17"]).holding[0].label == "17"


@pytest.mark.parametrize("table, field, words", [
    pytest.param({"unit": 256}, "unit", "0..255", id="unit-too-big"),
    pytest.param({"unit": True}, "unit", "0..255", id="unit-bool"),
    pytest.param({"unit": "1"}, "unit", "0..255", id="unit-string"),
    pytest.param({"identity": "yes"}, "identity", "true or false", id="identity-not-bool"),
    pytest.param({"holding": "0-10"}, "holding", "list", id="not-a-list"),
    pytest.param({"holding": ["10-5"]}, "holding", "starts after it ends", id="reversed"),
    pytest.param({"input": ["0-65536"]}, "input", "0..65535", id="too-high"),
    pytest.param({"coils": ["-1"]}, "coils", "is not", id="negative"),
    pytest.param({"discrete": ["a-b"]}, "discrete", "is not", id="not-numbers"),
    pytest.param({"holding": [1.5]}, "holding", "must be", id="float"),
    pytest.param({"holding": [True]}, "holding", "must be", id="bool-address"),
    pytest.param({"holding": ["0-99", "50-150"]}, "holding", "overlap", id="overlap"),
    pytest.param({"holding": ["5", "5"]}, "holding", "overlap", id="duplicate"),
    pytest.param({"registers": ["0-9"]}, "registers", "unknown key", id="unknown-key"),
    pytest.param({"identity": False}, "holding", "nothing to check", id="nothing-to-check"),
    pytest.param({"identity": False, "holding": []}, "holding", "nothing to check", id="empty"),
])
def test_bad_options_name_file_device_and_field(table, field, words):
    with pytest.raises(ConfigError) as err:
        parse(**table)
    assert err.value.field == field and err.value.device == "vfd-1" and err.value.file == "site.toml"
    assert words in str(err.value)


def test_driver_refuses_foreign_options():
    from integrity.model import Device

    with pytest.raises(ConfigError):
        ModbusDriver(Device("x", "modbus", "127.0.0.1", 502, options={"unit": 1}))


def test_remembered_ranges_tell_an_address_from_true_and_name_every_device():
    """Range lists are parsed once per distinct list (a fleet repeats a few):
    True == 1 must not pass as address 1, and a refused list names the device
    that holds it each time."""
    assert parse(holding=[1]).holding == (Range(1, 1),)
    with pytest.raises(ConfigError, match="must be"):
        parse(holding=[True])
    for device in ("vfd-1", "vfd-2"):
        with pytest.raises(ConfigError) as err:
            ModbusDriver.parse_options({"holding": ["5", "5"]}, file="a.toml", device=device)
        assert err.value.device == device and err.value.field == "holding"
    with pytest.raises(ConfigError, match="must be"):
        parse(holding=[{"start": 1}])  # unhashable: parsed without the memory, refused alike
    assert parse(holding=["0-1999"]) == parse(holding=["0-1999"])
