"""plc-integrity watch: --pcap with --json lines, --list, and clear errors (exit 2)."""

from __future__ import annotations

import json

from support.site import add_to_site_toml
from support.watch_replay import capture

STOP = "s7/snap7_s300_stop.pcapng"


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_pcap_json_is_one_object_per_line_then_recorded_and_listed(run):
    r = run("watch", "--pcap", str(capture(STOP)), "--json")
    assert r.exit_code == 0, r.output
    docs = lines(r.stdout)
    assert all(d["schema"] == 1 for d in docs)
    assert [(d["type"], d.get("operation")) for d in docs] == [
        ("event", "unknown-device"), ("event", "s7.plc-stop"), ("summary", None)]
    assert docs[1]["alerted"] is True and docs[1]["codes"]["function"] == "0x29"
    listed = run("watch", "--list", "--json")
    assert [d["operation"] for d in lines(listed.stdout)] == ["s7.plc-stop", "unknown-device"]
    text = run("watch", "--list")
    assert "s7.plc-stop" in text.stdout and "from 134.249.62.206" in text.stdout


def test_engineering_station_and_inventory_from_site_toml(run, site):
    add_to_site_toml(site.root, '[watch]\nengineering_stations = ["134.249.62.0/24"]\n')
    (site.root / "devices" / "plc.toml").write_text(
        '[[devices]]\nname = "plc-crane"\nprotocol = "s7"\nhost = "134.249.61.163"\n')
    r = run("watch", "--pcap", str(capture(STOP)), "--json")
    (event, summary) = lines(r.stdout)
    assert (event["device"], event["station_allowed"], event["alerted"]) == ("plc-crane", True, True)


def test_bad_watch_table_names_the_field(run, site):
    add_to_site_toml(site.root, '[watch]\nengineering_stations = ["10.0.0.300"]\n')
    r = run("watch", "--pcap", str(capture(STOP)))
    assert r.exit_code == 2
    assert "watch.engineering_stations" in r.stderr and "10.0.0.300" in r.stderr


def test_source_errors_exit_2(run, tmp_path):
    assert run("watch").exit_code == 2
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    r = run("watch", "--pcap", str(junk))
    assert r.exit_code == 2 and "not a pcap or pcapng capture" in r.stderr
    r = run("watch", "--interface", "no-such-if0")
    assert r.exit_code == 2 and "no such interface" in r.stderr


def test_live_capture_without_cap_net_raw_says_what_it_needs(site):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    capsh = shutil.which("capsh")
    if capsh is None or os.geteuid() != 0:
        pytest.skip("needs root and capsh (Debian: libcap2-bin) to drop CAP_NET_RAW")
    exe = Path(sys.executable).with_name("plc-integrity")
    r = subprocess.run([capsh, "--drop=cap_net_raw", "--", "-c",
                        f"'{exe}' --site '{site.root}' watch --interface lo --json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["exit_code"] == 2 and "root or the CAP_NET_RAW capability" in doc["error"]
