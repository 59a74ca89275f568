from __future__ import annotations

import signal
import subprocess
import sys
import tomllib

import pytest
from click.testing import CliRunner

from integrity.cli import cli


def test_demo_runs_end_to_end():
    r = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "Demo complete" in r.output
    assert "DRIFT" in r.output and "holding[" in r.output


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGTERM, id="sigterm"),
                                 pytest.param(signal.SIGINT, id="ctrl-c")])
def test_sim_start_writes_inventory_says_ready_and_stops_cleanly(tmp_path, sig):
    inv = tmp_path / "sim.toml"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from integrity.cli import main; main()", "sim", "start",
         "--plant", "crane", "--inventory-out", str(inv)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.strip() == "ready":
                break
        assert lines and lines[-1].strip() == "ready", (lines, proc.stderr.read())
        devices = tomllib.loads(inv.read_text())["devices"]
        names = {d["name"] for d in devices}
        assert {"vfd-hoist", "vfd-trolley", "vfd-gantry"} <= names
        assert all(d["host"] == "127.0.0.1" and d["port"] > 0 for d in devices)
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_sim_inventory_works_as_a_site_inventory(run, site, tmp_path):
    from simulators.plant import Plant

    with Plant("crane") as plant:
        plant.write_inventory(site.root / "devices" / "sim.toml")
        r = run("baseline", "capture", "--all", "--key", str(site.key), "--reason", "x")
        assert r.exit_code == 0, r.output
        r = run("verify", "--all")
        assert r.exit_code == 0, r.output
