"""One convention for every command: --site anywhere, one way to choose devices,
and --json as exactly one JSON document (usage errors included), each with
``"schema": 1`` and the shape docs/schemas/ describes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from integrity import __version__
from integrity.cli import cli

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


@pytest.fixture
def two_drives(site, drive, inventory, run):
    """vfd-hoist (tags crane-3, hoist) and vfd-trolley (crane-3), both baselined."""
    inventory.write(inventory.table(drive, tags=["crane-3", "hoist"]),
                    inventory.table(drive, name="vfd-trolley", tags=["crane-3"]))
    assert run.capture().exit_code == 0
    return site


def chosen(doc: dict) -> list[str]:
    """The devices a command's JSON document reports on."""
    for key in ("results", "captured", "devices"):
        if key in doc:
            return sorted(d if isinstance(d, str) else d["device"] for d in doc[key])
    raise AssertionError(doc)


SELECTING = [
    pytest.param(("verify",), id="verify"),
    pytest.param(("diff",), id="diff"),
    pytest.param(("sweep",), id="sweep"),
    pytest.param(("baseline", "capture", "--reason", "again"), id="baseline-capture"),
    pytest.param(("maintenance", "start", "--reason", "WO 1"), id="maintenance-start"),
    pytest.param(("maintenance", "end"), id="maintenance-end"),
    pytest.param(("status",), id="status"),
]
CHOICES = [
    pytest.param(("vfd-hoist",), ["vfd-hoist"], id="name"),
    pytest.param(("vfd-*",), ["vfd-hoist", "vfd-trolley"], id="pattern"),
    pytest.param(("--tag", "hoist"), ["vfd-hoist"], id="tag"),
    pytest.param(("--tag", "hoist", "vfd-trolley"), ["vfd-hoist", "vfd-trolley"],
                 id="tag-and-name"),
    pytest.param(("--all",), ["vfd-hoist", "vfd-trolley"], id="all"),
]


@pytest.mark.parametrize("command", SELECTING)
@pytest.mark.parametrize("selection, expected", CHOICES)
def test_every_selecting_command_chooses_devices_the_same_way(run, two_drives, command,
                                                              selection, expected):
    extra = ("--key", str(two_drives.key)) if command[:2] == ("baseline", "capture") else ()
    code, doc = run.json(*command, *extra, *selection)
    assert code == 0, doc
    assert chosen(doc) == expected


@pytest.mark.parametrize("command", SELECTING)
@pytest.mark.parametrize("selection, message", [
    pytest.param(("vfd-nope",), "no device named 'vfd-nope'", id="unknown-name"),
    pytest.param(("plc-*",), "no device matches 'plc-*'", id="pattern-matches-nothing"),
    pytest.param(("--tag", "crane-9"), "no device has tag 'crane-9'", id="unknown-tag"),
    pytest.param(("--all", "vfd-hoist"), "--all stands alone", id="all-with-names"),
])
def test_a_choice_that_matches_nothing_is_exit_2(run, two_drives, command, selection, message):
    extra = ("--key", str(two_drives.key)) if command[:2] == ("baseline", "capture") else ()
    code, doc = run.json(*command, *extra, *selection)
    assert code == 2 and doc["exit_code"] == 2 and message in doc["error"]


def test_status_without_a_choice_is_every_device(run, two_drives):
    code, doc = run.json("status")
    assert code == 0 and chosen(doc) == ["vfd-hoist", "vfd-trolley"]


@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_site_is_accepted_before_or_after_the_command_or_from_the_environment(
        two_drives, where, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the current folder is not the site
    root = str(two_drives.root)
    args = {"before": ["--site", root, "verify", "--all"],
            "after": ["verify", "--all", "--site", root],
            "env": ["verify", "--all"]}[where]
    env = {"PLC_INTEGRITY_SITE": root if where == "env" else ""}
    r = CliRunner().invoke(cli, args, env=env)
    assert r.exit_code == 0, r.output
    assert "vfd-hoist" in r.stdout


def test_site_after_a_nested_command(two_drives, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["baseline", "history", "vfd-hoist", "--site",
                                 str(two_drives.root)], env={"PLC_INTEGRITY_SITE": ""})
    assert r.exit_code == 0, r.output


REPORTING = [
    pytest.param(("verify", "--all"), id="verify"),
    pytest.param(("diff", "--all"), id="diff"),
    pytest.param(("sweep", "--all"), id="sweep"),
    pytest.param(("status",), id="status"),
    pytest.param(("baseline", "show", "vfd-hoist"), id="baseline-show"),
    pytest.param(("baseline", "history", "vfd-hoist"), id="baseline-history"),
    pytest.param(("maintenance", "start", "--all", "--reason", "x"), id="maintenance-start"),
    pytest.param(("maintenance", "end", "--all"), id="maintenance-end"),
    pytest.param(("events",), id="events"),
    pytest.param(("config", "check"), id="config-check"),
    pytest.param(("keys", "list"), id="keys-list"),
]
# Usage errors are found before a site is opened: these need no drives.
REPORTING_TOO = [
    pytest.param(("backup", "export", "--all"), id="backup-export"),
    pytest.param(("backup", "verify", "x.plcbak"), id="backup-verify"),
    pytest.param(("backup", "list", "x.plcbak"), id="backup-list"),
    pytest.param(("backup", "import", "x.plcbak"), id="backup-import"),
    pytest.param(("restore", "drill", "--all"), id="restore-drill"),
    pytest.param(("restore", "plan", "vfd-hoist"), id="restore-plan"),
    pytest.param(("restore", "apply", "vfd-hoist"), id="restore-apply"),
    pytest.param(("watch",), id="watch"),
    pytest.param(("policy", "show"), id="policy-show"),
    pytest.param(("checkpoint", "show"), id="checkpoint-show"),
    pytest.param(("checkpoint", "sign"), id="checkpoint-sign"),
    pytest.param(("baseline", "approve", "vfd-hoist"), id="baseline-approve"),
    pytest.param(("baseline", "reject", "vfd-hoist"), id="baseline-reject"),
    pytest.param(("collectors", "list"), id="collectors-list"),
    pytest.param(("collectors", "forget", "gw-1"), id="collectors-forget"),
]


@pytest.mark.parametrize("command", REPORTING)
def test_a_usage_error_with_json_is_one_json_document(run, two_drives, command):
    assert_one_usage_error(run, command)


@pytest.mark.parametrize("command", REPORTING_TOO)
def test_a_usage_error_of_the_backup_restore_watch_and_trust_commands_too(run, command):
    assert_one_usage_error(run, command)


def assert_one_usage_error(run, command) -> None:
    r = run(*command, "--json", "--frobnicate")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)  # exactly one document: anything else fails to parse
    assert doc == {"schema": 1, "exit_code": 2, "error": "No such option '--frobnicate'.",
                   "error_type": "UsageError"}
    validate("error.json", doc)
    assert "No such option" in r.stderr


def test_verify_json_frobnicate_is_exit_2_with_one_document(run, two_drives):
    """The issue's own example."""
    r = run("verify", "--json", "--frobnicate")
    assert r.exit_code == 2 and json.loads(r.stdout)["exit_code"] == 2


def test_a_configuration_error_with_json_is_one_json_document(run, two_drives):
    code, doc = run.json("verify", "vfd-nope")
    assert code == 2
    validate("error.json", doc)


# -- the documented shapes, checked against real output ------------------------------------------

def registry():
    from referencing import Registry, Resource

    resources = [(p.name, Resource.from_contents(json.loads(p.read_text())))
                 for p in sorted(SCHEMAS.glob("*.json"))]
    return Registry().with_resources(resources)


def validate(name: str, doc: dict) -> None:
    import jsonschema

    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator(schema, registry=registry(),
                                    format_checker=jsonschema.FormatChecker()).validate(doc)


@pytest.mark.parametrize("command, schema", [
    pytest.param(("verify", "--all"), "results.json", id="verify"),
    pytest.param(("diff", "vfd-hoist"), "results.json", id="diff"),
    pytest.param(("sweep", "--tag", "crane-3"), "sweep.json", id="sweep"),
    pytest.param(("status",), "status.json", id="status"),
    pytest.param(("baseline", "show", "vfd-hoist"), "baseline-show.json", id="baseline-show"),
    pytest.param(("baseline", "history", "vfd-hoist"), "baseline-history.json",
                 id="baseline-history"),
    pytest.param(("maintenance", "start", "vfd-hoist", "--reason", "x"), "maintenance-start.json",
                 id="maintenance-start"),
    pytest.param(("maintenance", "end", "vfd-hoist"), "sweep.json", id="maintenance-end"),
    pytest.param(("events",), "events.json", id="events"),
    pytest.param(("config", "check"), "config-check.json", id="config-check"),
    pytest.param(("keys", "list"), "keys-list.json", id="keys-list"),
    pytest.param(("store", "prune", "--keep", "90d"), "store-prune.json", id="store-prune"),
])
def test_every_json_document_has_schema_1_and_its_documented_shape(run, two_drives, drive,
                                                                   command, schema):
    from simulators.modbus import attacker_write_register

    attacker_write_register(drive.host, drive.port, 1, 22, 2250)  # something to report
    run("maintenance", "start", "vfd-trolley", "--reason", "so events has one")
    code, doc = run.json(*command)
    assert doc["schema"] == 1
    validate(schema, doc)
    if "exit_code" in doc:
        assert doc["exit_code"] == code


def test_capture_json_has_its_documented_shape(run, two_drives):
    code, doc = run.json("baseline", "capture", "--all", "--key", str(two_drives.key),
                         "--reason", "again")
    assert code == 0 and [c["sequence"] for c in doc["captured"]] == [2, 2]
    validate("baseline-capture.json", doc)


def test_backup_and_restore_documents_have_their_documented_shape(run, two_drives, drive, tmp_path,
                                                                 restore_traffic_marked):
    """One site, one drive, every backup and restore document from a real run."""
    from simulators.modbus import attacker_write_register

    bundle = tmp_path / "site.plcbak"
    docs = [("backup-export.json", run.json("backup", "export", "--all", "--out", str(bundle))),
            ("backup-verify.json", run.json("backup", "verify", str(bundle))),
            ("backup-list.json", run.json("backup", "list", str(bundle))),
            ("backup-import.json", run.json("backup", "import", str(bundle))),
            ("restore-drill.json", run.json("restore", "drill", "vfd-hoist")),
            ("restore-drill.json", run.json("restore", "drill", "--from", str(bundle)))]
    flipped = tmp_path / "flipped.plcbak"
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 1
    flipped.write_bytes(bytes(data))
    docs.append(("backup-verify.json", run.json("backup", "verify", str(flipped))))
    attacker_write_register(drive.host, drive.port, 1, 22, 2250)  # something to restore
    docs.append(("restore-plan.json", run.json("restore", "plan", "vfd-hoist")))
    # Refusals and unreadable input are one error document each.
    docs += [("error.json", run.json("restore", "apply", "vfd-hoist")),  # no --confirm
             ("error.json", run.json("backup", "import", str(tmp_path / "none.plcbak")))]
    assert run("maintenance", "start", "vfd-hoist", "--reason", "WO 1").exit_code == 0
    docs.append(("restore-apply.json", run.json("restore", "apply", "vfd-hoist", "--confirm",
                                                "vfd-hoist")))
    docs.append(("restore-plan.json", run.json("restore", "plan", "vfd-hoist")))
    for name, (code, doc) in docs:
        assert doc["schema"] == 1, (name, doc)
        validate(name, doc)
        if "exit_code" in doc:
            assert doc["exit_code"] == code, (name, doc)


def _pcap_of_a_register_write(path: Path, drive) -> None:
    """A capture of one Modbus write (FC 6) from 127.0.0.9 to the drive simulator."""
    import socket
    import struct

    import dpkt

    adu = struct.pack(">HHHBBHH", 1, 0, 6, drive.unit, 6, 22, 2250)
    tcp = dpkt.tcp.TCP(sport=40000, dport=drive.port, seq=1000, flags=0x18, data=adu)
    ip = dpkt.ip.IP(src=socket.inet_aton("127.0.0.9"), dst=socket.inet_aton(drive.host),
                    p=dpkt.ip.IP_PROTO_TCP, data=tcp)
    with open(path, "wb") as fh:
        dpkt.pcap.Writer(fh, linktype=dpkt.pcap.DLT_RAW).writepkt(bytes(ip), ts=1764576000.0)


def test_every_watch_line_has_its_documented_shape(run, two_drives, drive, tmp_path):
    """watch --json prints one object per line: events, the checks they trigger, a summary."""
    pcap = tmp_path / "write.pcap"
    _pcap_of_a_register_write(pcap, drive)
    r = run("watch", "--pcap", str(pcap), "--check", "--json")
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    listed = run("watch", "--list", "--json")
    lines += [json.loads(line) for line in listed.stdout.splitlines()]
    assert {d["type"] for d in lines} == {"event", "check", "summary"}, lines
    for doc in lines:
        validate("watch.json", doc)


def test_every_schema_is_a_valid_json_schema():
    import jsonschema

    for path in sorted(SCHEMAS.glob("*.json")):
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_version():
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and r.stdout == f"plc-integrity, version {__version__}\n"
