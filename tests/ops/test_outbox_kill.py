"""The alert outbox survives a kill: a sweep killed (-9) while the webhook
receiver holds its request delivers the alert after restart, exactly once per
stable id at the receiver, and never again after that.

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


def start_sweep(site_root: Path) -> subprocess.Popen:
    code = "from integrity.cli import cli; cli()"
    return subprocess.Popen([sys.executable, "-c", code, "--site", str(site_root), "sweep",
                             "--all", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OUTBOX_TEST_SECRET": SECRET})


def test_alert_whose_delivery_was_killed_arrives_after_restart_exactly_once(
        run, site, helpers, drive, http_server):
    helpers.write_inventory(site.root, helpers.device_table(drive))
    helpers.capture_all(run, site)
    helpers.add_to_site_toml(site.root, f"""
[[alerts]]
type = "webhook"
name = "soc"
url = "{http_server.url}"
secret_env = "OUTBOX_TEST_SECRET"
timeout = {CEILING}
retries = 0
""")
    image = drive.snapshot_image()
    attacker_write_register(drive.host, drive.port, image.get("unit", 1),
                            image["holding"]["start"] + 3, image["holding"]["values"][3] + 1)

    http_server.hold()
    first = start_sweep(site.root)
    try:
        assert http_server.holds.wait(CEILING), first.communicate(timeout=CEILING)
        first.kill()  # SIGKILL while the receiver holds the request
        first.communicate(timeout=CEILING)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    http_server.release.set()
    [held] = http_server.held
    alert_id = held.headers[ALERT_ID]
    assert json.loads(held.body)["id"] == alert_id
    assert http_server.requests == []  # nothing was accepted before the kill

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
