"""The daemon's log names devices and outcomes; `events` lists what it recorded,
sink failures included."""

from __future__ import annotations

from simulators.modbus import attacker_write_register
from support.site import add_to_site_toml


def test_run_logs_devices_and_records_a_failing_sink(run, site, drive, inventory, closed_port,
                                                     monkeypatch):
    monkeypatch.setenv("PLCI_HOOK_SECRET", "s3cret")
    inventory.write(inventory.table(drive))
    assert run.capture().exit_code == 0
    add_to_site_toml(site.root, '[[schedules]]\ndevices = ["vfd-*"]\nquick = "15m"\n\n'
                     '[[alerts]]\ntype = "webhook"\nname = "soc"\n'
                     f'url = "http://127.0.0.1:{closed_port}/hook"\n'
                     'secret_env = "PLCI_HOOK_SECRET"\nretries = 0\ntimeout = 0.5\n')
    attacker_write_register(drive.host, drive.port, 1, 22, 2250)

    r = run("run", "--once")
    assert r.exit_code == 0, r.output
    [line] = [x for x in r.stdout.splitlines() if "sweep of" in x]
    assert line.endswith("quick sweep of 1 device: vfd-hoist DRIFT; exit 1, 1 alert(s)")
    assert "alert sink soc failed" in r.stderr

    code, doc = run.json("events")
    kinds = [e["kind"] for e in doc["events"]]
    assert kinds == ["start", "sink-failed", "stop"], doc
    assert doc["events"][1]["detail"].startswith("soc: alert for vfd-hoist not delivered: ")
    r = run("events")
    assert [x.split()[2] for x in r.stdout.splitlines()] == ["start", "sink-failed", "stop"]
