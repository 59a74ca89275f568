from __future__ import annotations

import re
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
    # The offline backup verifies against the site's trust/ folder alone.
    assert "== Offline backup" in r.output
    assert re.search(r"verified against \S+/trust: complete and intact", r.output), r.output
    # The drill: the drives are rebuilt from the backup; plc-trolley's know-how-protected
    # FC 20 cannot be (the CPU never gives its code), and the demo says so and still passes.
    verdicts = dict(re.findall(r"^   (\S+)\s+(RESTORABLE|NOT RESTORABLE)", r.output, re.M))
    assert verdicts["vfd-hoist"] == verdicts["plc-gantry"] == "RESTORABLE", verdicts
    trolley = next(line for line in r.output.splitlines()
                   if line.startswith("   plc-trolley") and "RESTORABLE" in line)
    assert "NOT RESTORABLE: know-how protected: FC 20 (Limits)" in trolley
    assert "kept as `structure` (size, interface and metadata only): DB 1, DB 2, DB 20" in r.output


def test_the_demo_drill_fails_only_on_what_a_backup_cannot_hold():
    from integrity.demo import _reasons, drill_as_expected
    from integrity.drill import DrillResult

    knowhow = DrillResult("plc-trolley", "s7plus", False, missing=(
        "FC 20 (Limits): know-how protected, so the CPU refuses to upload its code",
        "DB 2 (X): kept as `structure` (size, interface and metadata only); its values ...",
        "DB 3 (Y): kept as `structure` (size, interface and metadata only); its values ..."))
    assert _reasons(knowhow.missing) == [
        "know-how protected: FC 20 (Limits)",
        "kept as `structure` (size, interface and metadata only): DB 2 (X), DB 3 (Y)"]
    ok = DrillResult("vfd-hoist", "modbus", True)
    assert drill_as_expected([ok, knowhow])
    assert not drill_as_expected([])
    # A rebuilt device that differs from its baseline, or an error, is a real failure.
    assert not drill_as_expected([ok, DrillResult("vfd-gantry", "modbus", False,
                                                  differences=("modified holding/0-1999",))])
    assert not drill_as_expected([DrillResult("plc-hoist", "s7", False, missing=("DB 1: x",),
                                              error="the image does not load")])


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
