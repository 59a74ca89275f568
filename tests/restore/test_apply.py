"""Issue 10 acceptance: an attacker changes vfd-hoist register 22 and downloads a
changed FC to plc-hoist; `restore plan` lists both; `restore apply` inside a
maintenance window puts them back and `verify` is OK; without a window or a
confirmation nothing is written (the simulators' request logs prove it)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from simulators.modbus import attacker_write_register
from simulators.s7 import attacker_download_db, tampered_db_image

pytestmark = pytest.mark.usefixtures("restore_traffic_marked")


def writes_seen(sim) -> int:
    return sum(1 for r in sim.requests if not r.read)


@pytest.fixture
def attacked(crane, baselined):
    site = baselined(crane, all_content=False)
    vfd, plc = crane["vfd-hoist"], crane["plc-hoist"]
    original = vfd.values("holding", 22)[0]
    attacker_write_register(vfd.host, vfd.port, 1, 22, original + 750)
    fc = tampered_db_image(plc.block_image("FC", 10), 4, b"\x00\x00",
                           when=datetime(2026, 11, 30))
    attacker_download_db(plc.host, plc.port, 10, fc)
    # The CPU applies a download when it reads the client's last answer, which
    # attacker_download_db does not wait for: wait here (no timing involved).
    deadline = time.monotonic() + 10
    while plc.block_image("FC", 10) != fc and time.monotonic() < deadline:
        time.sleep(0.01)
    assert plc.block_image("FC", 10) == fc
    assert site.cli("verify", "--all").exit_code == 1
    return site, vfd, plc, original


def test_plan_lists_both_changes_and_writes_nothing(attacked):
    site, vfd, plc, original = attacked
    before = writes_seen(vfd), writes_seen(plc)
    r = site.cli("restore", "plan", "vfd-hoist")
    assert r.exit_code == 1, r.output
    assert f"write  holding[22]: {original + 750} -> {original}" in r.output
    code, doc = site.cli.json("restore", "plan", "plc-hoist")
    assert code == 1 and doc["schema"] == 1 and doc["cpu_mode"] == "RUN"
    assert [(w["kind"], w["address"]) for w in doc["writes"]] == [("s7-block", "FC 10")]
    assert doc["cannot"] == []  # the CPU's checksums follow from the download, like the block list
    assert (writes_seen(vfd), writes_seen(plc)) == before


@pytest.mark.parametrize("args, window, why", [
    pytest.param(("--confirm", "vfd-hoist"), False, "not in a maintenance window", id="no-window"),
    pytest.param((), True, "--confirm vfd-hoist", id="no-confirm"),
    pytest.param(("--confirm", "vfd-gantry"), True, "--confirm vfd-hoist", id="wrong-confirm"),
])
def test_without_a_window_or_confirmation_nothing_is_written(attacked, args, window, why):
    site, vfd, plc, original = attacked
    if window:
        assert site.cli("maintenance", "start", "vfd-hoist", "--reason", "WO 4712").exit_code == 0
    before = writes_seen(vfd)
    r = site.cli("restore", "apply", "vfd-hoist", *args)
    assert r.exit_code == 2 and why in r.output and "nothing was written" in r.output, r.output
    assert writes_seen(vfd) == before
    assert vfd.values("holding", 22) == [original + 750]


def test_apply_in_a_window_restores_both_and_verify_is_ok(attacked):
    site, vfd, plc, original = attacked
    r = site.cli("maintenance", "start", "vfd-hoist", "plc-hoist", "--reason", "WO 4712: restore")
    assert r.exit_code == 0, r.output
    r = site.cli("restore", "apply", "vfd-hoist", "--confirm", "vfd-hoist")
    assert r.exit_code == 0, r.output
    assert "1 of 1 write(s) made" in r.output and "vfd-hoist: OK" in r.output
    assert vfd.values("holding", 22) == [original]
    assert [r.operation for r in vfd.requests if not r.read][-1] == "FC6"
    # A running CPU is not changed by default ...
    before = writes_seen(plc)
    r = site.cli("restore", "apply", "plc-hoist", "--confirm", "plc-hoist")
    assert r.exit_code == 2 and "--allow-run" in r.output and writes_seen(plc) == before
    # ... only when a person says so.
    code, doc = site.cli.json("restore", "apply", "plc-hoist", "--confirm", "plc-hoist",
                              "--allow-run")
    assert code == 0, doc
    assert [w["address"] for w in doc["written"]] == ["FC 10"] and doc["verify"]["status"] == "OK"
    assert {r.operation for r in plc.requests if not r.read} >= {"request_download"}
    assert site.cli("verify", "--all").exit_code == 0
    from baselines.store import Store
    with Store.open(site.root / "plc-integrity.db") as store:
        writes = [e["detail"] for e in store.events(200) if e["kind"] == "restore-write"]
    assert any(w.startswith(f"vfd-hoist holding[22]: {original + 750} -> {original}; confirmed "
                            "--confirm vfd-hoist by OS user ") for w in writes)
    assert any(w.startswith("plc-hoist FC 10:") for w in writes)


def test_plan_of_a_matching_device_is_empty(crane, baselined):
    site = baselined(crane, all_content=False)
    r = site.cli("restore", "plan", "vfd-trolley")
    assert r.exit_code == 0 and "nothing to write" in r.output


def test_logix_config_tags_are_restored(crane, baselined):
    from simulators.logix.attacker import attacker_write_tag

    site = baselined(crane, all_content=False)
    gantry = crane["plc-gantry"]
    attacker_write_tag(gantry.host, gantry.port, "Gantry_MaxSpeed", 4.5)
    attacker_write_tag(gantry.host, gantry.port, "Hoist_DriveCfg.Mode", 7)
    code, doc = site.cli.json("restore", "plan", "plc-gantry")
    assert code == 1, doc
    assert {w["address"]: (w["current"], w["target"]) for w in doc["writes"]} == {
        "Gantry_MaxSpeed": (4.5, 2.5), "Hoist_DriveCfg.Mode": (7, 2)}
    assert site.cli("maintenance", "start", "plc-gantry", "--reason", "WO 9").exit_code == 0
    r = site.cli("restore", "apply", "plc-gantry", "--confirm", "plc-gantry")
    assert r.exit_code == 0, r.output
    assert "2 of 2 write(s) made" in r.output and "plc-gantry: OK" in r.output


NO_WRITERS = ("bad = sorted(m for m in sys.modules if m == 'restore' or m.startswith('restore.'))"
              "\nassert not bad, bad\n")


def test_verify_sweep_and_run_never_load_the_writers():
    import subprocess
    import sys

    code = ("import sys, integrity.cli, integrity.check, integrity.sweep, integrity.scheduler, "
            "integrity.maintenance_jobs, integrity.drill, integrity.watch, drivers.registry\n"
            "from integrity.cli import cli\n" + NO_WRITERS)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_scheduled_drill_and_backup_never_load_the_writers(baselined, tmp_path):
    """verify, sweep and a `run` whose drill and backup are due, in one fresh process:
    the drill (integrity.drill) rebuilds and checks the drive, and restore/ stays unloaded."""
    import subprocess
    import sys

    from simulators.base import IMAGES, load_image
    from simulators.modbus import ModbusSimulator

    with ModbusSimulator(load_image(IMAGES / "crane" / "vfd-hoist.json")) as drive:
        site = baselined([drive])
        (tmp_path / "backups").mkdir()
        with open(site.root / "site.toml", "a", encoding="utf-8") as fh:
            fh.write(f'\n[[schedules]]\ndevices = ["*"]\ndrill = "7d"\nbackup = "7d"\n'
                     f'backup_dir = "{tmp_path / "backups"}"\nretention = 1\n')
        code = ("import sys\nfrom click.testing import CliRunner\nfrom integrity.cli import cli\n"
                f"site = {str(site.root)!r}\n"
                "for args in (['verify', '--all'], ['sweep', '--all'], ['run', '--once']):\n"
                "    r = CliRunner().invoke(cli, ['--site', site, *args])\n"
                "    assert r.exit_code == 0, (args, r.output)\n" + NO_WRITERS)
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    from baselines.store import Store

    with Store.open(site.root / "plc-integrity.db") as store:
        assert [e["detail"] for e in store.events(kind="restore-drill")] == \
            ["vfd-hoist: RESTORABLE"]
    assert len(list((tmp_path / "backups").glob("*.plcbak"))) == 1


def test_consecutive_registers_go_in_one_fc16(crane, baselined):
    site = baselined(crane, all_content=False)
    vfd = crane["vfd-trolley"]
    before = vfd.values("holding", 10, 3)
    for i in range(3):
        attacker_write_register(vfd.host, vfd.port, 1, 10 + i, before[i] + 1)
    assert site.cli("maintenance", "start", "vfd-trolley", "--reason", "WO 5").exit_code == 0
    seen = len(vfd.requests)
    r = site.cli("restore", "apply", "vfd-trolley", "--confirm", "vfd-trolley")
    assert r.exit_code == 0 and "3 of 3 write(s) made" in r.output, r.output
    assert [q.operation for q in vfd.requests[seen:] if not q.read] == ["FC16"]
    assert vfd.values("holding", 10, 3) == before


def _download(plc, block_type, number, image):
    attacker_download_db(plc.host, plc.port, number, image)
    deadline = time.monotonic() + 10
    while plc.block_image(block_type, number) != image and time.monotonic() < deadline:
        time.sleep(0.01)


def test_system_data_blocks_only_in_stop(crane, baselined):
    site = baselined(crane, all_content=False)
    plc = crane["plc-hoist"]
    sdb = tampered_db_image(plc.block_image("SDB", 1), 0, b"\x01", when=datetime(2026, 11, 30))
    _download(plc, "SDB", 1, sdb)
    assert site.cli("maintenance", "start", "plc-hoist", "--reason", "WO 6").exit_code == 0
    before = writes_seen(plc)
    r = site.cli("restore", "apply", "plc-hoist", "--confirm", "plc-hoist", "--allow-run")
    assert r.exit_code == 2 and "SDB 1" in r.output and "only in STOP" in r.output, r.output
    assert writes_seen(plc) == before
    plc.set_mode("STOP")  # the engineer stops the CPU; no --allow-run needed then
    r = site.cli("restore", "apply", "plc-hoist", "--confirm", "plc-hoist")
    assert "1 of 1 write(s) made" in r.output, r.output
    assert plc.block_image("SDB", 1) != sdb
    # The check afterwards sees the CPU in STOP, which differs from the baseline: said, not hidden.
    assert r.exit_code == 1 and "mode" in r.output


def test_plan_against_an_older_baseline_and_apply_refuses_it(crane, baselined):
    site = baselined(crane, all_content=False)
    vfd = crane["vfd-hoist"]
    old = vfd.values("holding", 22)[0]
    attacker_write_register(vfd.host, vfd.port, 1, 22, old + 1)
    assert site.cli.capture("vfd-hoist", reason="WO 7: new speed").exit_code == 0
    r = site.cli("restore", "plan", "vfd-hoist", "--baseline", "1")
    assert r.exit_code == 1 and f"holding[22]: {old + 1} -> {old}" in r.output, r.output
    assert site.cli("restore", "plan", "vfd-hoist").exit_code == 0
    r = site.cli("restore", "plan", "vfd-hoist", "--baseline", "zz")
    assert r.exit_code == 2 and "--baseline" in r.output
