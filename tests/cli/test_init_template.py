"""`init`'s site.toml carries working, commented examples; `run` says what to add."""

from __future__ import annotations

import re

from integrity.alerts import parse_alert_tables
from integrity.inventory import load_site
from integrity.site import site_template
from simulators.plant import Plant


def uncomment_examples(template: str, section: str) -> str:
    """The template with the TOML lines of one example section uncommented."""
    head, rest = template.split(section, 1)
    body, sep, tail = rest.partition("\n# ---")
    body = re.sub(r"^# (\[\[\w+\]\]|[a-z_]+ = .*)$", r"\1", body, flags=re.MULTILINE)
    return head + section + body + sep + tail


def test_commented_schedule_and_alert_examples_work_when_uncommented(site, inventory,
                                                                    monkeypatch) -> None:
    text = site_template()
    for section in ("# --- Schedules", "# --- Alert sinks"):
        text = uncomment_examples(text, section)
    (site.root / "site.toml").write_text(text, encoding="utf-8")
    inventory.write({"name": "vfd-hoist", "protocol": "modbus", "host": "127.0.0.1", "port": 1502,
                     "holding": ["0-9"]})
    monkeypatch.setenv("PLC_INTEGRITY_WEBHOOK_SECRET", "s3cret")

    loaded = load_site(site.root)
    assert [(s.get("quick"), s.get("drill")) for s in loaded.schedules] == \
        [("15m", None), (None, "0 3 * * 0")]
    sinks = parse_alert_tables(list(loaded.alerts), file="site.toml", base_dir=loaded.root)
    assert len(sinks) == 3


def test_run_without_schedules_says_what_to_add(run, site) -> None:
    r = run("run", "--once")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr == (
        f"plc-integrity: error: {site.root / 'site.toml'}, field 'schedules': no [[schedules]]: "
        "nothing to run.  Add one to site.toml, e.g.\n"
        "  [[schedules]]\n"
        '  devices = ["*"]\n'
        '  quick = "15m"\n'
        '  deep = "0 2 * * *"\n'
        "(a site made by `plc-integrity init` carries this example, commented out)\n")


def test_simulated_plant_tags_its_devices() -> None:
    import tomllib

    doc = tomllib.loads(Plant("crane").inventory_toml())
    tags = {d["name"]: d["tags"] for d in doc["devices"]}
    assert tags["vfd-hoist"] == ["crane-3", "drive"]
    assert tags["plc-hoist"] == ["crane-3", "plc"]
    assert all("crane-3" in t for t in tags.values())
