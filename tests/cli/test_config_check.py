"""`config check` lists every problem in a site without contacting a device;
durations read the same way everywhere; shell completion knows the inventory."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from click.testing import CliRunner

from integrity.cli import cli
from integrity.durations import parse_duration
from integrity.inventory import load_site
from support.site import add_to_site_toml

DRIVE = '[[devices]]\nname = "{name}"\nprotocol = "modbus"\nhost = "127.0.0.1"\nport = 1502\n'


def test_config_check_of_a_good_site(run, site, inventory):
    inventory.write({"name": "vfd-a", "protocol": "modbus", "host": "127.0.0.1", "port": 1,
                     "holding": ["0-9"]})
    r = run("config", "check")
    assert r.exit_code == 0, r.output
    assert r.stdout == (f"site {site.root}: 1 device, 0 schedules, 0 alert sinks, 1 trusted key\n"
                        "configuration ok\n")


def test_config_check_lists_every_problem_at_once(run, site, closed_port, monkeypatch):
    monkeypatch.delenv("PLCI_MISSING_SECRET", raising=False)
    devices = site.root / "devices"
    (devices / "a.toml").write_text(DRIVE.format(name="vfd-range") + 'holding = ["20-10"]\n')
    (devices / "b.toml").write_text(DRIVE.format(name="vfd-key") + 'holding = ["0-9"]\n'
                                    'colour = "red"\n')
    (devices / "c.toml").write_text(DRIVE.format(name="vfd-good") + 'holding = ["0-9"]\n')
    add_to_site_toml(site.root, '[[schedules]]\ndevices = ["*"]\nquick = "61 * * * *"\n\n'
                     '[[alerts]]\ntype = "webhook"\nurl = "https://soc.example/hook"\n'
                     'secret_env = "PLCI_MISSING_SECRET"\n')
    shutil.rmtree(site.root / "trust")

    r = run("config", "check")
    assert r.exit_code == 2
    lines = r.stdout.splitlines()
    assert lines[0] == f"site {site.root}: 1 device, 1 schedule, 0 alert sinks, 0 trusted keys"
    assert lines[1] == "5 problems:"
    problems = "\n".join(lines[2:])
    for words in (["a.toml", "vfd-range", "holding"],           # a bad range
                  ["b.toml", "vfd-key", "colour"],              # an unknown key
                  ["site.toml", "PLCI_MISSING_SECRET", "not set"],  # a missing secret
                  ["site.toml", "'quick'", "61"],               # a bad cron line
                  ["trust", "does not exist"]):                 # no trust folder
        assert any(all(w in line for w in words) for line in lines[2:]), (words, problems)


def test_config_check_json_lists_the_same_problems(run, site):
    (site.root / "devices" / "a.toml").write_text(DRIVE.format(name="vfd-x") + "holding = 5\n")
    code, doc = run.json("config", "check")
    assert code == 2 and doc["exit_code"] == 2
    [problem] = doc["problems"]
    assert problem["device"] == "vfd-x" and problem["field"] == "holding"


def test_config_check_without_a_site(tmp_path):
    r = CliRunner().invoke(cli, ["--site", str(tmp_path / "none"), "config", "check"])
    assert r.exit_code == 2 and "no site.toml" in r.stdout


def test_status_refuses_a_broken_alerts_table(run, site):
    add_to_site_toml(site.root, '[[alerts]]\ntype = "carrier-pigeon"\n')
    r = run("status")
    assert r.exit_code == 2 and "carrier-pigeon" in r.stderr


def test_status_does_not_need_the_alert_secrets(run, site, monkeypatch):
    monkeypatch.delenv("PLCI_UNSET", raising=False)
    add_to_site_toml(site.root, '[[alerts]]\ntype = "webhook"\nurl = "https://soc.example/h"\n'
                     'secret_env = "PLCI_UNSET"\n')
    assert run("status").exit_code == 0


# -- durations --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, seconds", [
    pytest.param("1.5s", 1.5, id="fraction-seconds"),
    pytest.param("500ms", 0.5, id="milliseconds"),
    pytest.param(2, 2.0, id="integer"),
    pytest.param(0.25, 0.25, id="float"),
    pytest.param("1h30m", 5400, id="compound"),
    pytest.param("2D", 172800, id="upper-case"),
])
def test_durations(value, seconds):
    assert parse_duration(value) == timedelta(seconds=seconds)


@pytest.mark.parametrize("value", [
    pytest.param("15", id="no-unit"), pytest.param("fast", id="words"),
    pytest.param(0, id="zero"), pytest.param("-1s", id="negative"),
    pytest.param(True, id="bool"), pytest.param("", id="empty"),
])
def test_bad_durations(value):
    with pytest.raises(ValueError, match="duration|zero"):
        parse_duration(value)


@pytest.mark.parametrize("text, seconds", [
    pytest.param('"1.5s"', 1.5, id="string-with-unit"),
    pytest.param('"500ms"', 0.5, id="milliseconds"),
    pytest.param("2", 2.0, id="number"),
])
def test_timeout_in_the_inventory_takes_a_duration(site, text, seconds):
    (site.root / "devices" / "a.toml").write_text(DRIVE.format(name="vfd-a")
                                                  + f"holding = [\"0-9\"]\ntimeout = {text}\n")
    [device] = load_site(site.root).devices
    assert device.timeout == seconds


def test_a_bad_timeout_names_the_file_device_and_field(run, site):
    (site.root / "devices" / "a.toml").write_text(DRIVE.format(name="vfd-a")
                                                  + 'holding = ["0-9"]\ntimeout = "fast"\n')
    r = run("verify", "--all")
    assert r.exit_code == 2
    assert "a.toml, device 'vfd-a', field 'timeout': 'fast' is not a duration" in r.stderr


def test_settings_timeout_and_remind_after_take_durations(site):
    add_to_site_toml(site.root, "")
    text = (site.root / "site.toml").read_text()
    text = text.replace("timeout = 3.0", 'timeout = "750ms"\nremind_after = "1.5h"')
    (site.root / "site.toml").write_text(text)
    settings = load_site(site.root).settings
    assert settings.timeout == 0.75 and settings.remind_after == timedelta(minutes=90)


# -- shell completion ---------------------------------------------------------------------------

def complete(site_root, words: str) -> list[str]:
    env = {"_PLC_INTEGRITY_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
           "PLC_INTEGRITY_SITE": str(site_root)}
    r = CliRunner().invoke(cli, [], env=env, prog_name="plc-integrity")
    return [line.split(",", 1)[1] for line in r.stdout.splitlines()]


def test_completion_of_device_names_and_tags(site, inventory):
    inventory.write({"name": "vfd-hoist", "protocol": "modbus", "host": "h", "port": 1,
                     "holding": ["0-9"], "tags": ["crane-3", "drive"]},
                    {"name": "plc-hoist", "protocol": "s7", "host": "h", "port": 1,
                     "tags": ["crane-3", "plc"]})
    assert complete(site.root, "plc-integrity verify vfd") == ["vfd-hoist"]
    assert complete(site.root, "plc-integrity verify ") == ["vfd-hoist", "plc-hoist"]
    assert complete(site.root, "plc-integrity sweep --tag cr") == ["crane-3"]
    assert complete(site.root, "plc-integrity status --tag ") == ["crane-3", "drive", "plc"]
    assert complete(site.root, "plc-integrity baseline show p") == ["plc-hoist"]
