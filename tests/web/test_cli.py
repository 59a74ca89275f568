"""serve's refusals, a real `serve` process, `assets` and `report` through the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from integrity.cli import cli
from support.site import add_to_site_toml
from support.web import TOKEN, get


def run(root: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--site", str(root), *args], env=env or {},
                              catch_exceptions=False)


@pytest.mark.parametrize("bind", ["0.0.0.0:0", "[::]:0", "plc-mon.example:8800"])
def test_serve_off_loopback_without_auth_refuses(crane_week, bind):
    r = run(crane_week.root, "serve", "--bind", bind, env={"PLC_INTEGRITY_TOKEN": ""})
    assert r.exit_code == 2
    assert "refusing to listen" in r.stderr and "PLC_INTEGRITY_TOKEN" in r.stderr


@pytest.mark.parametrize("args, says", [
    (["--bind", "8800"], "HOST:PORT"),
    (["--bind", "127.0.0.1:99999"], "HOST:PORT"),
    (["--bind", "0.0.0.0:0", "--token-file", "/nonexistent/token"], "cannot read a token"),
], ids=["no-host", "bad-port", "token-file-missing"])
def test_serve_bad_settings_exit_2(crane_week, args, says):
    r = run(crane_week.root, "serve", *args)
    assert r.exit_code == 2 and says in r.stderr


def test_short_token_is_refused(crane_week):
    r = run(crane_week.root, "serve", "--bind", "0.0.0.0:0", env={"PLC_INTEGRITY_TOKEN": "short"})
    assert r.exit_code == 2 and "at least 16 characters" in r.stderr


def test_serve_process_with_token_file(crane_week, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    env = {**os.environ, "PLC_INTEGRITY_TOKEN": ""}
    proc = subprocess.Popen([sys.executable, "-c", "from integrity.cli import main; main()",
                             "--site", str(crane_week.root),
                             "serve", "--bind", "127.0.0.1:0", "--token-file", str(token_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.endswith("; ready\n"), (line, proc.stderr.read() if proc.poll() else "")
        base = line.split()[1].rstrip("/")
        assert base.startswith("http://127.0.0.1:")
        assert get(base + "/healthz")[0] == 200
        assert get(base + "/api/status", headers={"Authorization": "Bearer nope"})[0] == 401
        status, _, body = get(base + "/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and json.loads(body)["schema"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_assets_flag_devices_by_supplier_rules(crane_week):
    r = run(crane_week.root, "assets")
    assert r.exit_code == 0
    assert "Nordwind Antriebe" in r.stdout and "CPU 315-2 PN/DP" in r.stdout
    assert "FLAG disallowed: vendor 'Kessler Drives' is not allowed (Kessler*)" in r.stdout
    doc = json.loads(run(crane_week.root, "assets", "--json").stdout)
    assert doc["schema"] == 1
    flagged = {(f["device"], f["rule"]) for f in doc["flags"]}
    assert flagged >= {("vfd-gantry", "disallowed"), ("vfd-spare", "disallowed"),
                       ("vfd-trolley", "firmware"), ("plc-hoist", "segment")}
    assert not {f for f in flagged if f[0] in ("vfd-hoist", "plc-gantry")}
    gantry = next(d for d in doc["devices"] if d["device"] == "plc-gantry")
    assert [m["model"] for m in gantry["identity"]["modules"]] == ["1756-EN2T/D", "1756-IB16/A"]
    assert gantry["identity"]["firmware"] == "33.11"


def test_assets_csv_and_selection(crane_week):
    r = run(crane_week.root, "assets", "--tag", "plcs", "--csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    plcs = {d.name for d in crane_week.site.devices if "plcs" in d.tags}
    assert {row["device"] for row in rows} == plcs and "plc-hoist" in plcs
    hoist = next(row for row in rows if row["device"] == "plc-hoist")
    assert hoist["vendor"] == "Siemens" and hoist["firmware"] == "V3.2.7"
    assert hoist["flags"].startswith("segment: must be segmented")


def test_segmented_tag_clears_the_segment_flag(crane_week, tmp_path):
    from integrity.assets import Identity, SupplierPolicy, flags_for
    from integrity.model import Device

    policy = SupplierPolicy(segment_vendors=("Siemens",))
    ident = Identity(vendor="Siemens", model="CPU 315-2 PN/DP", firmware="V3.2.7")
    plain = Device("plc", "s7", "127.0.0.1", 102)
    assert [f.rule for f in flags_for(plain, ident, policy)] == ["segment"]
    tagged = Device("plc", "s7", "127.0.0.1", 102, tags=("segmented",))
    assert flags_for(tagged, ident, policy) == []


@pytest.mark.parametrize("table, field", [
    ("[suppliers]\ndisallowed_vendors = \"Kessler\"\n", "suppliers.disallowed_vendors"),
    ("[suppliers]\nminimum_firmware = { \"X*\" = \"new\" }\n", "suppliers.minimum_firmware"),
    ("[suppliers]\nbanned = []\n", "suppliers.banned"),
], ids=["not-a-list", "version-without-digits", "unknown-key"])
def test_bad_supplier_policy_is_exit_2(site, table, field):
    add_to_site_toml(site.root, table)
    r = run(site.root, "assets")
    assert r.exit_code == 2 and field in r.stderr and "site.toml" in r.stderr


def test_report_of_the_week_shows_drift_restore_and_approval(crane_week, tmp_path):
    out = tmp_path / "week.json"
    r = run(crane_week.root, "report", "--all", "--out", str(out), "--key", str(crane_week.key),
            "--from", crane_week.start.date().isoformat())
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["schema"] == 1
    dev = {d["device"]: d for d in doc["devices"]}
    hoist = dev["vfd-hoist"]["drifts"]
    assert [x["ended"] for x in hoist] == ["restored", "open"]
    assert hoist[0]["end"] and hoist[0]["differences"] and hoist[1]["end"] is None
    [approved] = dev["vfd-trolley"]["drifts"]
    assert approved["ended"] == "approved" and approved["reason"] == "WO 4711: new ramp"
    assert approved["new_baseline"] == 2 and approved["signer"] == "tester"
    assert [b["reason"] for b in dev["vfd-trolley"]["baselines"]] == ["commissioning",
                                                                     "WO 4711: new ramp"]
    [down] = dev["vfd-spare"]["unreachable"]
    assert down["end"] is None and down["reason"] == "refused"
    assert dev["vfd-hoist"]["by_outcome"]["DRIFT/deep"] == 2
    assert [e["kind"] for e in doc["backups"]] == ["restore-drill"]
    assert run(crane_week.root, "report", "verify", str(out)).exit_code == 0


def test_report_html_is_self_contained_and_signed(crane_week, tmp_path):
    out = tmp_path / "week.html"
    r = run(crane_week.root, "report", "--out", str(out), "--key", str(crane_week.key), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["signature"] == str(out) + ".sig"
    html = out.read_text()
    for needle in ("restored", "approved", "WO 4711: new ramp", "<svg", "restore-drill",
                   "still at the end of the period"):
        assert needle in html
    assert "<script" not in html and "<link" not in html and "src=" not in html
    ok = run(crane_week.root, "report", "verify", str(out), "--sig", str(out) + ".sig")
    assert ok.exit_code == 0 and "verified, signed by tester" in ok.stdout
    out.write_text(html.replace("restored", "fine", 1))
    bad = run(crane_week.root, "report", "verify", str(out))
    assert bad.exit_code == 5 and "signature does not match" in bad.stderr


def test_report_csv_rows(crane_week, tmp_path):
    out = tmp_path / "week.csv"
    assert run(crane_week.root, "report", "--out", str(out)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    outcomes = {(r["section"], r["device"], r["outcome"]) for r in rows}
    assert ("drift", "vfd-hoist", "restored") in outcomes
    assert ("drift", "vfd-trolley", "approved") in outcomes
    assert ("unreachable", "vfd-spare", "refused") in outcomes


def test_report_period_must_be_forward(crane_week, tmp_path):
    r = run(crane_week.root, "report", "--from", "2026-12-01", "--to", "2026-11-01",
            "--out", str(tmp_path / "x.html"))
    assert r.exit_code == 2 and "--to" in r.stderr
