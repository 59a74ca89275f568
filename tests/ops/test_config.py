"""Bad [[schedules]] tables stop every command with exit 2, naming file and field."""

from __future__ import annotations

import pytest

HOIST = {"name": "vfd-hoist", "protocol": "modbus", "host": "127.0.0.1", "port": 1502,
         "holding": ["0-99"], "tags": ["crane-3"]}
TROLLEY = {**HOIST, "name": "vfd-trolley", "tags": []}


@pytest.mark.parametrize("schedule, field, words", [
    pytest.param('devices = ["vfd-*"]\nquick = "15m"\nevery = "1h"', "every", "unknown key",
                 id="unknown-key"),
    pytest.param('devices = ["vfd-hoist"]\ntag = "crane-3"\nquick = "15m"', "devices",
                 "exactly one of devices or tag", id="both-devices-and-tag"),
    pytest.param('quick = "15m"', "devices", "exactly one of devices or tag",
                 id="neither-devices-nor-tag"),
    pytest.param('devices = "vfd-hoist"\nquick = "15m"', "devices", "list of names",
                 id="devices-not-a-list"),
    pytest.param('tag = ["crane-3"]\nquick = "15m"', "tag", "one tag name", id="tag-not-a-string"),
    pytest.param('devices = ["vdf-*"]\nquick = "15m"', "devices", "matches no device",
                 id="pattern-matches-nothing"),
    pytest.param('tag = "crane-9"\ndeep = "1d"', "tag", "matches no device",
                 id="tag-matches-nothing"),
    pytest.param('devices = ["vfd-*"]', "quick", "give quick or deep", id="no-mode"),
    pytest.param('devices = ["vfd-*"]\ndeep = "0 2 * * 8"', "deep", "day of week",
                 id="bad-cron"),
    pytest.param('devices = ["vfd-*"]\ndeep = "0 0 31 2 *"', "deep", "never matches",
                 id="cron-never-matches"),
    pytest.param('devices = ["vfd-*"]\nquick = "15"', "quick", "not a duration",
                 id="interval-without-unit"),
    pytest.param('devices = ["vfd-*"]\nquick = 15', "quick", "not a duration",
                 id="interval-as-number"),
    pytest.param('devices = ["vfd-*"]\nquick = "15m"\njitter = "soon"', "jitter",
                 "not a duration", id="bad-jitter"),
    pytest.param('devices = ["vfd-*"]\nquick = "15m"\n\n[[schedules]]\ntag = "crane-3"\n'
                 'quick = "1h"', "quick", "'vfd-hoist' already has a quick schedule",
                 id="duplicate-device-and-mode"),
])
def test_bad_schedule_is_exit_2_naming_the_field(run, site, helpers, schedule, field, words):
    helpers.write_inventory(site.root, HOIST, TROLLEY)
    helpers.add_to_site_toml(site.root, "[[schedules]]\n" + schedule + "\n")

    for command in (("status",), ("run", "--once")):
        r = run(*command)
        assert r.exit_code == 2, r.output
        assert f"field '{field}'" in r.output and words in r.output, r.output
        assert str(site.root / "site.toml") in r.output
        assert "Traceback" not in r.output


def test_same_device_in_quick_and_deep_schedules_is_fine(run, site, helpers):
    helpers.write_inventory(site.root, HOIST, TROLLEY)
    helpers.add_to_site_toml(site.root, '[[schedules]]\ntag = "crane-3"\nquick = "15m"\n\n'
                                        '[[schedules]]\ndevices = ["vfd-*"]\ndeep = "0 2 * * *"\n')
    r = run("status", "--json")
    assert r.exit_code == 0, r.output


def test_run_without_schedules_is_exit_2(run, site, helpers):
    helpers.write_inventory(site.root, HOIST)
    r = run("run", "--once")
    assert r.exit_code == 2
    assert "no [[schedules]]" in r.output
