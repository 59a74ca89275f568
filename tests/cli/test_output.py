"""Exact output of the main commands (STYLE rule 12): state is set through the
library at fixed times, the command runs through click, and the whole text is
compared.  Ids and digests come from the library or the command's own JSON."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from integrity import check
from integrity.cli._common import open_store, trust_store
from integrity.inventory import load_site
from integrity.model import CheckResult, Mode, Status
from integrity.render import in_flight_line, sweep_log_line
from integrity.sweep import SweepReport
from simulators.modbus import attacker_write_register

T0 = datetime(2026, 11, 30, 8, 15, 30, 123456, tzinfo=timezone.utc)
T1 = datetime(2026, 11, 30, 9, 0, 5, tzinfo=timezone.utc)


def capture_at(site, reason: str, now: datetime, *names: str) -> dict:
    """Baselines signed at ``now`` through the library: {device: Baseline}."""
    from baselines.signing import SigningKey

    loaded = load_site(site.root)
    devices = [d for d in loaded.devices if not names or d.name in names]
    with open_store(loaded) as store:
        outcomes = check.capture_baselines(devices, store, trust_store(loaded),
                                           SigningKey.load(site.key, None), reason, now=now)
    assert all(o.error is None for o in outcomes), outcomes
    return {o.device.name: o.baseline for o in outcomes}


@pytest.fixture
def hoist(site, drive, inventory):
    inventory.write(inventory.table(drive, tags=["crane-3"]))
    first = capture_at(site, "commissioning", T0)["vfd-hoist"]
    return SimpleNamespace(site=site, drive=drive, first=first, by=f"tester ({site.keyid[:8]})")


def test_verify_ok_and_drift(run, hoist):
    b = hoist.first
    r = run("verify", "--all")
    assert (r.exit_code, r.stdout) == (0, f"vfd-hoist OK               baseline #1 {b.id[:12]} (deep)\n")

    attacker_write_register(hoist.drive.host, hoist.drive.port, 1, 22, 2250)
    r = run("verify", "vfd-hoist")
    assert (r.exit_code, r.stdout) == (
        1, "vfd-hoist DRIFT            modified holding/0-1999 (1 value)\n")


def test_diff(run, hoist):
    attacker_write_register(hoist.drive.host, hoist.drive.port, 1, 22, 2250)
    _, doc = run.json("diff", "vfd-hoist")
    [d] = doc["results"][0]["differences"]
    r = run("diff", "vfd-hoist")
    assert r.exit_code == 1
    assert r.stdout == (
        f"vfd-hoist: DRIFT against baseline #1 {hoist.first.id[:12]} signed by {hoist.by} "
        "(deep check)\n"
        f"  modified holding/0-1999  [config]  {d['baseline_digest'][:12]} -> "
        f"{d['current_digest'][:12]}\n"
        "      holding[22]: 1500 -> 2250\n")


def test_baseline_show_is_aligned_with_names_and_seconds(run, hoist):
    b = hoist.first
    m = b.manifest
    rows = {a.key: a for a in m.artifacts}
    config, ident = rows["holding/0-1999"], rows["identity"]
    width = max(len(str(config.size)), len(str(ident.size)), len("BYTES"))
    r = run("baseline", "show", "vfd-hoist")
    assert r.exit_code == 0
    assert r.stdout == (
        "baseline #1 of vfd-hoist (modbus)\n"
        f"  id          {b.id}\n"
        f"  signed by   {hoist.by}  at 2026-11-30 08:15:30\n"
        "  captured    2026-11-30 08:15:30  mode deep\n"
        "  reason      commissioning\n"
        "  previous    -\n"
        f"  fingerprint {m.fingerprint}\n"
        "  2 artifacts:\n"
        f"    KEY             KIND      {'BYTES':>{width}}  SHA-256\n"
        f"    holding/0-1999  config    {config.size:>{width}}  {config.digest[:16]}\n"
        f"    identity        identity  {ident.size:>{width}}  {ident.digest[:16]}\n")


def test_baseline_history_reasons_without_quotes(run, hoist):
    second = capture_at(hoist.site, "WO 4711: new ramp", T1)["vfd-hoist"]
    r = run("baseline", "history", "vfd-hoist")
    assert r.exit_code == 0
    assert r.stdout == (
        "#   ID            SIGNED (UTC)         SIGNER             STATE  REASON\n"
        f"#1  {hoist.first.id[:12]}  2026-11-30 08:15:30  {hoist.by}  ok     commissioning\n"
        f"#2  {second.id[:12]}  2026-11-30 09:00:05  {hoist.by}  ok     WO 4711: new ramp\n")


def test_status_shows_the_baseline_the_drift_was_found_against(run, hoist):
    attacker_write_register(hoist.drive.host, hoist.drive.port, 1, 22, 2250)
    assert run("sweep", "--all").exit_code == 1
    capture_at(hoist.site, "approved", T1)          # a newer baseline, captured since
    _, doc = run.json("status")
    [row] = doc["devices"]
    assert row["baseline_id"] == hoist.first.id and row["baseline_sequence"] == 1
    since = row["since"][:19].replace("T", " ")
    last = row["last_check"][:19].replace("T", " ")
    r = run("status")
    assert r.exit_code == 0
    assert r.stdout == (
        "scheduler: not running (no heartbeat recorded)\n"
        "DEVICE    STATE            SINCE                LAST CHECK                            "
        "NEXT DUE             BASELINE\n"
        f"vfd-hoist DRIFT            {since:<20} {last + ' DRIFT':<37} {'-':<20} "
        f"#1 {hoist.first.id[:12]} by {hoist.by}\n")


def test_unreachable_without_a_baseline_is_could_not_check(run, site, inventory, closed_port):
    inventory.write({"name": "vfd-new", "protocol": "modbus", "host": "127.0.0.1",
                     "port": closed_port, "holding": ["0-9"], "timeout": 0.5, "retries": 0})
    _, doc = run.json("verify", "vfd-new")
    [result] = doc["results"]
    assert (doc["exit_code"], result["status"], result["note"]) == (3, "UNREACHABLE",
                                                                    "no baseline yet")
    r = run("verify", "vfd-new")
    assert r.exit_code == 3
    assert r.stdout == (f"vfd-new UNREACHABLE      {result['reason']}: {result['message']}"
                        "  [no baseline yet]\n")


def test_maintenance_end_goes_through_the_sweep_path(run, hoist):
    assert run("maintenance", "start", "vfd-hoist", "--reason", "WO 4711").exit_code == 0
    attacker_write_register(hoist.drive.host, hoist.drive.port, 1, 22, 2250)
    r = run("maintenance", "end", "vfd-hoist")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0] == (f"vfd-hoist: DRIFT against baseline #1 {hoist.first.id[:12]} signed by "
                        f"{hoist.by} (deep check)")
    assert lines[-2:] == [
        "  next: restore vfd-hoist, or approve its new state with "
        "`plc-integrity baseline capture vfd-hoist --key KEY --reason ...`",
        "1 alert(s) raised"]
    _, doc = run.json("status")  # the sweep path advanced the alert state
    assert doc["devices"][0]["state"] == "DRIFT"


def test_maintenance_start(run, hoist):
    r = run("maintenance", "start", "--tag", "crane-3", "--reason", "WO 4711", "--until", "90m")
    assert r.exit_code == 0
    assert r.stdout.startswith("vfd-hoist: maintenance until ") and r.stdout.endswith(
        " UTC (WO 4711)\n")


def test_events_lists_what_was_recorded(run, site):
    loaded = load_site(site.root)
    with open_store(loaded) as store:
        store.add_event(T0, "start", "2 jobs, pid 4242")
        store.add_event(T1, "sink-failed", "soc-webhook: alert for vfd-hoist not delivered: 503")
        store.add_event(T1, "stop", "stopped by signal")
    r = run("events")
    assert r.exit_code == 0
    assert r.stdout == (
        "2026-11-30 08:15:30  start        2 jobs, pid 4242\n"
        "2026-11-30 09:00:05  sink-failed  soc-webhook: alert for vfd-hoist not delivered: 503\n"
        "2026-11-30 09:00:05  stop         stopped by signal\n")
    code, doc = run.json("events", "--limit", "1")
    assert code == 0
    [event] = doc["events"]
    assert (event["at"][:19], event["kind"]) == ("2026-11-30T09:00:05", "stop")


# -- progress and the daemon's log line -------------------------------------------------------

@pytest.mark.parametrize("done, in_flight, expected", [
    pytest.param(0, ["plc-hoist", "vfd-a", "vfd-b"], "[0/9] reading plc-hoist, vfd-a, vfd-b",
                 id="start"),
    pytest.param(8, ["plc-hoist"], "[8/9] reading plc-hoist", id="one-left"),
    pytest.param(9, [], "[9/9]", id="done"),
    pytest.param(2, [f"vfd-{i:02}" for i in range(7)],
                 "[2/9] reading vfd-00, vfd-01, vfd-02, vfd-03, vfd-04, vfd-05 +1", id="too-many"),
])
def test_progress_names_the_devices_still_in_flight(done, in_flight, expected):
    assert in_flight_line(done, 9, in_flight, width=64) == expected


def result(device: str, status: Status, reason: str | None = None) -> CheckResult:
    return CheckResult(device=device, protocol="modbus", status=status, checked_at=T0,
                       mode=Mode.QUICK, reason=reason)


def test_the_daemon_log_line_names_devices_and_outcomes():
    report = SweepReport(T0, T1, Mode.QUICK, (
        result("vfd-hoist", Status.DRIFT), result("plc-hoist", Status.UNREACHABLE, "timeout"),
        result("vfd-a", Status.OK), result("vfd-b", Status.OK)), (), None)
    assert sweep_log_line(report) == (
        "2026-11-30 08:15:30 quick sweep of 4 devices: vfd-hoist DRIFT, plc-hoist UNREACHABLE "
        "(timeout), 2 OK; exit 1, 0 alert(s)")


def test_sweep_progress_follows_the_reads_in_flight(capsys):
    from integrity.cli.ops import InFlight
    from integrity.model import Device

    devices = [Device(name=f"vfd-{i}", protocol="modbus", host="h", port=1) for i in range(4)]
    progress = InFlight(devices, concurrency=2)
    progress.start()
    progress(1, 4, result("vfd-1", Status.OK))     # vfd-0 is slow; vfd-2 starts
    progress(2, 4, result("vfd-2", Status.OK))     # vfd-3 starts
    progress.clear()
    assert capsys.readouterr().err == (
        "\r[0/4] reading vfd-0, vfd-1"
        "\r[1/4] reading vfd-0, vfd-2"
        "\r[2/4] reading vfd-0, vfd-3"
        "\r" + " " * 26 + "\r")
