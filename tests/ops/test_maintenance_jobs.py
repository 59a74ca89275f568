"""Issue 10, scheduling: [[schedules]] runs restore drills and rotated backup bundles.

The daemon runs with a clock the test moves; alerts are observed as delivered,
in the jsonl file (and at a real HTTP receiver) that site.toml's [[alerts]] name.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from integrity.scheduler import Daemon, parse_schedules

SCHEDULE = """
[[schedules]]
devices = ["vfd-*"]
drill = "0 3 * * 0"
backup = "1d"
backup_dir = "{backup_dir}"
retention = 2
"""
JSONL = '[[alerts]]\ntype = "jsonl"\npath = "alerts.jsonl"\n'


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def start(site, clock, extra: str = "", backup_dir: str = "backups") -> SimpleNamespace:
    """The site as `run` loads it, an open store and a daemon on the test's clock."""
    from baselines.signing import TrustStore
    from baselines.store import Store
    from integrity.inventory import load_site
    from integrity.sweep import alerting

    (site.root / "site.toml").write_text((site.root / "site.toml").read_text()
                                         + SCHEDULE.format(backup_dir=backup_dir) + extra)
    loaded = load_site(site.root)
    jobs = parse_schedules(loaded.schedules, loaded.devices, file=str(site.root / "site.toml"))
    tracker, dispatcher = alerting(loaded)
    store = Store.open(loaded.store_url, heads_path=loaded.heads_path)
    daemon = Daemon(loaded.devices, jobs, store, TrustStore(loaded.trust_dir), clock=clock,
                    tracker=tracker, dispatcher=dispatcher)
    return SimpleNamespace(store=store, daemon=daemon, jobs=jobs)


def events(store, kind: str) -> list[str]:
    return [e["detail"] for e in reversed(store.events(limit=200)) if e["kind"] == kind]


def test_due_drills_and_backups_run_rotate_and_alert(run, site, helpers, drive, clock):
    from baselines.bundle_verify import verify_bundle

    helpers.write_inventory(site.root, helpers.device_table(drive))
    # A quick baseline holds no register values: the backup cannot rebuild the drive.
    assert run.capture("--all", "--quick").exit_code == 0
    backups = site.root / "backups"
    backups.mkdir()
    (backups / "README.txt").write_text("not a bundle: never pruned")
    w = start(site, clock, JSONL)
    assert [j.key for j in w.jobs] == [":backup/backups", ":drill/vfd-hoist"]

    # Monday 08:00: an interval backup starts at once; the weekly drill waits for Sunday.
    assert w.daemon.step() == []
    assert sorted(p.name for p in backups.iterdir()) == [
        "README.txt", "plc-integrity-20260302T080000Z.plcbak"]
    first = backups / "plc-integrity-20260302T080000Z.plcbak"
    assert verify_bundle(first, site.root / "trust").ok
    assert events(w.store, "backup") == [f"{first}: 1 devices, 1 baselines, "
                                         f"{verify_bundle(first).blobs} blobs"]
    assert w.store.due(":drill/vfd-hoist") == utc(2026, 3, 8, 3, 0)
    assert w.store.due(":backup/backups") == utc(2026, 3, 3, 8, 0)
    assert helpers.read_jsonl(site.root / "alerts.jsonl") == []

    # Sunday 03:00: the drill finds the backup incomplete and alerts, once; the
    # overdue backup runs once, not once per missed day.
    clock.t = utc(2026, 3, 8, 3, 0)
    seen = len(drive.requests)
    w.daemon.step()
    # The drill talked to a device rebuilt on loopback, never to the drive itself.
    assert len(drive.requests) == seen
    [verdict] = events(w.store, "restore-drill")
    assert verdict.startswith("vfd-hoist: NOT RESTORABLE: the baseline is quick")
    [alert] = helpers.read_jsonl(site.root / "alerts.jsonl")
    assert (alert["kind"], alert["device"], alert["state"]) == ("DRILL_FAILED", "vfd-hoist",
                                                                "NO_BASELINE")
    assert "missing: the baseline is quick" in alert["summary"] and alert["severity"] == 6
    assert len(list(backups.glob("*.plcbak"))) == 2
    clock.advance(minutes=1)
    w.daemon.step()
    assert len(helpers.read_jsonl(site.root / "alerts.jsonl")) == 1  # not on every step

    # A deep baseline holds everything: the next drill recovers, and the third
    # backup leaves the newest two bundles (and the other file) in place.
    assert run.capture("--all").exit_code == 0
    clock.t = utc(2026, 3, 15, 3, 0)
    w.daemon.step()
    assert events(w.store, "restore-drill")[-1] == "vfd-hoist: RESTORABLE"
    recovered = helpers.read_jsonl(site.root / "alerts.jsonl")[-1]
    assert (recovered["kind"], recovered["state"]) == ("DRILL_RECOVERED", "OK")
    assert sorted(p.name for p in backups.iterdir()) == [
        "README.txt", "plc-integrity-20260308T030000Z.plcbak",
        "plc-integrity-20260315T030000Z.plcbak"]
    assert events(w.store, "backup")[-1].endswith(f"removed {first.name}")
    w.store.close()


def test_a_backup_that_cannot_be_written_alerts_to_a_real_webhook(
        run, site, helpers, drive, clock, http_server, monkeypatch):
    helpers.write_inventory(site.root, helpers.device_table(drive))
    helpers.capture_all(run, site)
    monkeypatch.setenv("OPS_TEST_WEBHOOK_SECRET", "maintenance-secret")
    w = start(site, clock, f'[[alerts]]\ntype = "webhook"\nurl = "{http_server.url}"\n'
                           'secret_env = "OPS_TEST_WEBHOOK_SECRET"\nretries = 0\n',
              backup_dir="/nonexistent/usb-stick")
    w.daemon.step()
    [posted] = [json.loads(x.body) for x in http_server.requests]
    assert (posted["kind"], posted["device"]) == ("BACKUP_FAILED", "backup")
    assert "/nonexistent/usb-stick does not exist" in posted["summary"]
    [failed] = events(w.store, "backup-failed")
    assert "does not exist" in failed
    assert not Path("/nonexistent").exists()  # never created: the medium is not mounted
    # It waits for its next due time rather than failing on every step.
    assert w.store.due(":backup//nonexistent/usb-stick") == utc(2026, 3, 3, 8, 0)
    w.daemon.step()
    assert len(http_server.requests) == 1
    w.store.close()


def test_restore_drill_from_the_cli_alerts_to_the_sites_sinks(run, site, helpers, drive):
    helpers.write_inventory(site.root, helpers.device_table(drive))
    assert run.capture("--all", "--quick").exit_code == 0
    helpers.add_to_site_toml(site.root, JSONL)
    code, doc = run.json("restore", "drill", "--all")
    assert code == 1
    [alert] = doc["alerts"]
    assert (alert["kind"], alert["device"]) == ("DRILL_FAILED", "vfd-hoist")
    assert [a["kind"] for a in helpers.read_jsonl(site.root / "alerts.jsonl")] == ["DRILL_FAILED"]
    r = run("restore", "drill", "--all")  # the same finding again is not news
    assert r.exit_code == 1 and "alert(s) raised" not in r.output
    assert len(helpers.read_jsonl(site.root / "alerts.jsonl")) == 1
    helpers.capture_all(run, site)  # deep
    r = run("restore", "drill", "--all")
    assert r.exit_code == 0 and "1 alert(s) raised" in r.output, r.output
    assert helpers.read_jsonl(site.root / "alerts.jsonl")[-1]["kind"] == "DRILL_RECOVERED"
