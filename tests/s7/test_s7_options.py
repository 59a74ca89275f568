"""Inventory keys of an S7 device: rack, slot and DB policies, validated where they enter."""

from __future__ import annotations

import tomllib

import pytest
import tomli_w

from drivers.s7 import DbRule, S7Driver, S7Options
from integrity.errors import ConfigError


def parse(table):
    return S7Driver.parse_options(table, file="site.toml", device="plc-hoist")


def test_defaults_and_policies():
    assert parse({}) == S7Options(rack=0, slot=2, dbs=())
    opts = parse({"rack": 1, "slot": 3, "dbs": {"10": "content", "20-29": "structure", "99": "ignore"}})
    assert opts.dbs == (DbRule(10, 10, "content"), DbRule(20, 29, "structure"), DbRule(99, 99, "ignore"))
    assert [opts.db_policy(n) for n in (10, 25, 99, 5)] == ["content", "structure", "ignore", "structure"]


@pytest.mark.parametrize("table, field, message", [
    pytest.param({"rak": 0}, "rak", "unknown key", id="unknown-key"),
    pytest.param({"rack": 9}, "rack", "0..7", id="rack-range"),
    pytest.param({"slot": True}, "slot", "integer", id="bool-slot"),
    pytest.param({"dbs": ["10"]}, "dbs", "table", id="dbs-not-table"),
    pytest.param({"dbs": {"ten": "content"}}, "dbs.ten", "DB number or range", id="bad-number"),
    pytest.param({"dbs": {"30-20": "content"}}, "dbs.30-20", "DB number or range", id="reversed"),
    pytest.param({"dbs": {"10": "values"}}, "dbs.10", "content, structure, ignore", id="bad-policy"),
    pytest.param({"dbs": {"20-29": "ignore", "25": "content"}}, "dbs.25", "overlaps DB 20-29",
                 id="overlap"),
])
def test_bad_options_name_the_field(table, field, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse(table)
    assert (err.value.field, err.value.file, err.value.device) == (field, "site.toml", "plc-hoist")


def test_simulator_inventory_entry_is_valid_toml_for_the_driver(sim):
    entry = sim.inventory_entry()
    assert entry["dbs"] == {"10": "content", "20": "structure"} and entry["port"] == sim.port
    written = tomllib.loads(tomli_w.dumps({"devices": [entry]}))["devices"][0]
    assert written == entry
    table = {k: v for k, v in written.items() if k not in ("name", "protocol", "host", "port")}
    assert parse(table).db_policy(10) == "content"
