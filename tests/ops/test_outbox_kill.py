"""The alert outbox survives a kill: a sweep, a collector raising a site-level
alert, or a wire watcher, killed (-9) while the webhook receiver holds its
request: the alert arrives after restart, exactly once per stable id at the
receiver, and never again after that.

A real `plc-integrity sweep` subprocess, a real drive simulator, a real local
HTTP receiver; waits are on events (the receiver holding a request), never sleeps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from simulators.modbus import attacker_write_register

SECRET = "outbox-test-secret"
CEILING = 60.0  # seconds; each step should take a fraction of this
ALERT_ID = "X-PLC-Integrity-Alert-Id"


def start_cli(site_root: Path, *args: str) -> subprocess.Popen:
    code = "from integrity.cli import cli; cli()"
    return subprocess.Popen([sys.executable, "-c", code, "--site", str(site_root), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OUTBOX_TEST_SECRET": SECRET})


def start_sweep(site_root: Path) -> subprocess.Popen:
    return start_cli(site_root, "sweep", "--all", "--json")


def add_webhook(helpers, root: Path, url: str) -> None:
    helpers.add_to_site_toml(root, f"""
[[alerts]]
type = "webhook"
name = "soc"
url = "{url}"
secret_env = "OUTBOX_TEST_SECRET"
timeout = {CEILING}
retries = 0
""")


def kill_while_held(http_server, proc: subprocess.Popen):
    """Kill ``proc`` (-9) once the receiver holds its first request; return that request."""
    try:
        assert http_server.holds.wait(CEILING), proc.communicate(timeout=CEILING)
        proc.kill()  # SIGKILL while the receiver holds the request
        proc.communicate(timeout=CEILING)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    http_server.release.set()
    [held] = http_server.held
    assert json.loads(held.body)["id"] == held.headers[ALERT_ID]
    assert http_server.requests == []  # nothing was accepted before the kill
    return held


def received_ids(http_server) -> list[str]:
    return [r.headers[ALERT_ID] for r in http_server.requests]


def test_alert_whose_delivery_was_killed_arrives_after_restart_exactly_once(
        run, site, helpers, drive, http_server):
    helpers.write_inventory(site.root, helpers.device_table(drive))
    helpers.capture_all(run, site)
    add_webhook(helpers, site.root, http_server.url)
    image = drive.snapshot_image()
    attacker_write_register(drive.host, drive.port, image.get("unit", 1),
                            image["holding"]["start"] + 3, image["holding"]["values"][3] + 1)

    http_server.hold()
    held = kill_while_held(http_server, start_sweep(site.root))
    alert_id = held.headers[ALERT_ID]

    # Restart: the next sweep finds no new drift to announce (the state was
    # stored with the pending alert) but delivers what the killed one could not.
    second = start_sweep(site.root)
    out, err = second.communicate(timeout=CEILING)
    assert second.returncode == 1, out + err
    doc = json.loads(out)
    assert doc["alerts"] == []
    assert [d["alert"] for d in doc["delivery"]["delivered"]] == [alert_id]
    assert [r.headers[ALERT_ID] for r in http_server.requests] == [alert_id]
    assert json.loads(http_server.requests[0].body) == json.loads(held.body)

    # Delivered means done: a third run sends nothing again.
    third = start_sweep(site.root)
    out, err = third.communicate(timeout=CEILING)
    assert json.loads(out)["delivery"] is None, out + err
    assert [r.headers[ALERT_ID] for r in http_server.requests] == [alert_id]


def test_a_site_alert_whose_delivery_was_killed_arrives_after_restart_exactly_once(
        run, site, helpers, drive, http_server):
    """The collector of berth-3 finds berth-1 without a live collector and
    raises a SITE_WARNING; killed while the receiver holds it, the restarted
    collector delivers it and does not raise it again (what was announced is
    in the store, not in the killed process)."""
    helpers.write_inventory(site.root, helpers.device_table(drive, zone="berth-3"),
                            helpers.device_table(drive, name="vfd-b1", zone="berth-1"))
    helpers.capture_all(run, site)
    helpers.add_to_site_toml(site.root, '[[schedules]]\ndevices = ["*"]\nquick = "1h"\n')
    add_webhook(helpers, site.root, http_server.url)

    http_server.hold()
    collector = ("run", "--zone", "berth-3", "--collector-id", "gw-3")
    held = kill_while_held(http_server, start_cli(site.root, *collector))
    assert json.loads(held.body)["kind"] == "SITE_WARNING"
    assert "zone berth-1 has no live collector" in json.loads(held.body)["summary"]

    for _ in range(2):  # the restart delivers it; the run after that sends nothing more
        again = start_cli(site.root, *collector, "--once")
        out, err = again.communicate(timeout=CEILING)
        assert again.returncode == 0, out + err
        assert received_ids(http_server) == [held.headers[ALERT_ID]]
    assert json.loads(http_server.requests[0].body) == json.loads(held.body)


def test_a_wire_alert_whose_delivery_was_killed_arrives_after_restart_exactly_once(
        run, site, helpers, http_server):
    """`watch --pcap` of a PLC STOP: killed while the receiver holds the first
    wire alert, the replay run again delivers it and the rest, each id once;
    a third replay raises the same ids, which the outbox already sent."""
    from support.watch_replay import capture

    stop = str(capture("s7/snap7_s300_stop.pcapng"))
    add_webhook(helpers, site.root, http_server.url)
    http_server.hold()
    held = kill_while_held(http_server, start_cli(site.root, "watch", "--pcap", stop, "--json"))
    assert json.loads(held.body)["kind"] == "WIRE_EVENT"

    ids = None
    for _ in range(2):
        again = start_cli(site.root, "watch", "--pcap", stop, "--json")
        out, err = again.communicate(timeout=CEILING)
        assert again.returncode == 0, out + err
        alerted = [d for d in map(json.loads, out.splitlines()) if d.get("alerted")]
        assert alerted and any(d["operation"] == "s7.plc-stop" for d in alerted)
        got = received_ids(http_server)
        assert len(got) == len(set(got)) == len(alerted), got  # each id exactly once
        assert held.headers[ALERT_ID] in got
        assert ids is None or got == ids  # the third replay sends nothing new
        ids = got
