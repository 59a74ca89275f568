"""Bad drill/backup keys in [[schedules]] stop every command with exit 2, naming file and
field, and `config check` lists them all; a missing backup folder is only for config check."""

from __future__ import annotations

import json

import pytest

HOIST = {"name": "vfd-hoist", "protocol": "modbus", "host": "127.0.0.1", "port": 1502,
         "holding": ["0-99"], "tags": ["crane-3"]}
BACKUP = 'backup = "30 1 * * *"\nbackup_dir = "backups"\n'


@pytest.mark.parametrize("schedule, field, words", [
    pytest.param('drill = "0 3 * * 8"', "drill", "day of week", id="bad-drill-cron"),
    pytest.param('drill = "weekly"', "drill", "not a duration", id="drill-not-a-schedule"),
    pytest.param('backup = "0 25 * * *"\nbackup_dir = "b"\nretention = 3', "backup", "hour",
                 id="bad-backup-cron"),
    pytest.param('backup = "1d"\nretention = 3', "backup_dir", "backup needs backup_dir",
                 id="missing-backup-dir"),
    pytest.param('backup = "1d"\nbackup_dir = ""\nretention = 3', "backup_dir",
                 "backup needs backup_dir", id="empty-backup-dir"),
    pytest.param(BACKUP, "retention", "retention must be", id="missing-retention"),
    pytest.param(BACKUP + "retention = 0", "retention", "at least 1", id="retention-zero"),
    pytest.param(BACKUP + 'retention = "14"', "retention", "whole number", id="retention-text"),
    pytest.param(BACKUP + "retention = true", "retention", "whole number", id="retention-bool"),
    pytest.param('deep = "1d"\nretention = 3', "retention", "belongs with backup",
                 id="retention-without-backup"),
    pytest.param('deep = "1d"\nbackup_dir = "b"', "backup_dir", "belongs with backup",
                 id="backup-dir-without-backup"),
    pytest.param('drill = "7d"\n\n[[schedules]]\ntag = "crane-3"\ndrill = "1d"', "drill",
                 "'vfd-hoist' already has a drill schedule", id="device-drilled-twice"),
    pytest.param(BACKUP + 'retention = 3\n\n[[schedules]]\ntag = "crane-3"\n' + BACKUP
                 + "retention = 5", "backup_dir", "already rotated by another schedule",
                 id="one-folder-two-rotations"),
])
def test_bad_drill_or_backup_keys_are_exit_2_naming_the_field(run, site, helpers, schedule,
                                                              field, words):
    helpers.write_inventory(site.root, HOIST)
    (site.root / "backups").mkdir()  # only the field under test is wrong
    helpers.add_to_site_toml(site.root, '[[schedules]]\ndevices = ["vfd-*"]\n' + schedule + "\n")
    for command in (("status",), ("run", "--once"), ("restore", "drill", "--all")):
        r = run(*command)
        assert r.exit_code == 2, r.output
        assert f"field '{field}'" in r.output and words in r.output, r.output
        assert str(site.root / "site.toml") in r.output
        assert "Traceback" not in r.output
    code, doc = run.json("config", "check")
    assert code == 2
    assert [(p["field"], p["file"]) for p in doc["problems"]] == \
        [(field, str(site.root / "site.toml"))], doc["problems"]
    assert words in doc["problems"][0]["message"]


def test_a_missing_backup_folder_loads_but_config_check_says_it(run, site, helpers):
    # The medium may be mounted only at backup time, so loading does not require it.
    helpers.write_inventory(site.root, HOIST)
    helpers.add_to_site_toml(site.root, '[[schedules]]\ndevices = ["vfd-*"]\ndrill = "0 3 * * 0"\n'
                                        + BACKUP + "retention = 14\n")
    assert run("status").exit_code == 0
    code, doc = run.json("config", "check")
    assert code == 2
    [problem] = doc["problems"]
    assert problem["field"] == "backup_dir"
    assert f"{site.root / 'backups'} does not exist" in problem["message"]
    (site.root / "backups").mkdir()
    r = run("config", "check", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["schedules"] == 1
