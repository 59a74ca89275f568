"""The documents of assets, report and report verify against docs/schemas/
(jsonschema is a test dependency of the CLI conventions; skipped without it)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from integrity.cli import cli

from support.schemas import validate


def run(root: Path, *args: str) -> dict:
    r = CliRunner().invoke(cli, ["--site", str(root), *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_assets_json(crane_week):
    validate("assets.json", run(crane_week.root, "assets", "--json"))


def test_report_json_and_file(crane_week, tmp_path):
    out = tmp_path / "r.json"
    validate("report.json", run(crane_week.root, "report", "--out", str(out), "--key",
                                str(crane_week.key), "--json"))
    validate("report-file.json", json.loads(out.read_text()))
    validate("report.json", run(crane_week.root, "report", "verify", str(out), "--json"))
