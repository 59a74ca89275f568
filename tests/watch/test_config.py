"""[watch] in site.toml: validated where it is read, every mistake named."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest

from integrity.errors import ConfigError
from integrity.watch.config import parse_watch
from support.watch_replay import replay


def test_defaults_and_a_full_table():
    assert parse_watch(None, file="site.toml").settle == timedelta(seconds=30)
    policy = parse_watch({"engineering_stations": ["10.20.0.5", "10.20.9.0/24", "fd00::1"],
                          "settle": "45s", "dedupe": "2s", "interface": "eth1",
                          "quiet": [{"operations": ["modbus.write-*"], "devices": ["vfd-*"],
                                     "stations": ["10.20.0.7"]}]}, file="site.toml")
    assert policy.allowed("10.20.9.77") and policy.allowed("fd00::1")
    assert not policy.allowed("10.20.0.6") and not policy.allowed("not-an-address")
    assert policy.settle == timedelta(seconds=45) and policy.dedupe == timedelta(seconds=2)
    assert policy.is_quiet("modbus.write-register", "vfd-hoist", "10.20.0.7")
    assert not policy.is_quiet("modbus.write-register", "plc-hoist", "10.20.0.7")
    assert not policy.is_quiet("s7.plc-stop", "vfd-hoist", "10.20.0.7")
    assert not policy.is_quiet("modbus.write-register", None, "10.20.0.7")


@pytest.mark.parametrize("table, field", [
    pytest.param({"engineering_stations": "10.0.0.1"}, "watch.engineering_stations", id="not-a-list"),
    pytest.param({"engineering_stations": ["10.0.0.300"]}, "watch.engineering_stations", id="bad-address"),
    pytest.param({"settle": "soon"}, "watch.settle", id="bad-duration"),
    pytest.param({"settle": "2d"}, "watch.settle", id="too-long"),
    pytest.param({"stations": []}, "watch.stations", id="unknown-key"),
    pytest.param({"quiet": [{}]}, "watch.quiet", id="empty-quiet-rule-silences-everything"),
    pytest.param({"quiet": [{"devices": "vfd-*"}]}, "watch.quiet.devices", id="quiet-not-a-list"),
    pytest.param({"quiet": {"devices": ["x"]}}, "watch.quiet", id="quiet-not-tables"),
    pytest.param({"interface": 3}, "watch.interface", id="bad-interface"),
])
def test_mistakes_are_config_errors_naming_the_field(table, field):
    with pytest.raises(ConfigError) as err:
        parse_watch(table, file="site.toml")
    assert err.value.field == field and err.value.file == "site.toml"


def test_events_round_trip_through_their_json():
    from integrity.watch.events import WireEvent

    (event,) = replay("s7/snap7_s300_stop.pcapng")[0]
    doc = event.to_dict()
    assert WireEvent.from_dict(doc).to_dict() == doc
    with pytest.raises(ValueError):
        WireEvent.from_dict({**doc, "schema": 2})
    assert ipaddress.ip_address(doc["src"])
