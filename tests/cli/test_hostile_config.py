"""Issue 8 items 3 and 4: hostile inventory bytes and names are configuration
errors (exit 2 naming the file, one JSON document with --json), never a
traceback, and a name is matched in full (no trailing newline, ASCII digits)."""

from __future__ import annotations

import json

import pytest

GOOD = '[[devices]]\nname = "vfd-a"\nprotocol = "modbus"\nhost = "127.0.0.1"\nholding = ["0-9"]\n'

DECODING = [
    pytest.param(GOOD.encode().replace(b'host = "127', b'host = "\xff127'), "not UTF-8",
                 id="non-utf8-byte"),
    pytest.param(GOOD.encode("utf-16"), "UTF-16", id="utf16-with-bom"),
    pytest.param(b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply",
                 id="deeply-nested-array"),
]


@pytest.mark.parametrize("data,words", DECODING)
def test_undecodable_inventory_is_exit_2_naming_the_file(run, site, data, words):
    (site.root / "devices" / "a.toml").write_bytes(data)
    r = run("verify", "--all")
    assert r.exit_code == 2, r.output
    assert "a.toml" in r.output and words in r.output
    assert "Traceback" not in r.output
    code, doc = run.json("verify", "--all")
    assert code == 2 and doc["exit_code"] == 2
    assert "a.toml" in doc["error"] and words in doc["error"]


def test_undecodable_site_toml_is_exit_2(run, site):
    path = site.root / "site.toml"
    path.write_bytes(path.read_bytes() + b"\n# caf\xe9\n")
    r = run("status")
    assert r.exit_code == 2 and "site.toml" in r.output and "line" in r.output


NAMES = [
    pytest.param('name = "vfd-hoist\\n"', "name", id="device-name-trailing-newline"),
    pytest.param('name = "vfd-a"\ntags = ["crane-3\\n"]', "tags", id="tag-trailing-newline"),
    pytest.param('name = "vfd-a"\ntags = ["two words"]', "tags", id="tag-with-space"),
    pytest.param('name = "vfd-a"\nholding = ["0-\u0669"]', "holding", id="arabic-indic-digit"),
    pytest.param('name = "vfd-a"\nholding = ["\uff11-9"]', "holding", id="fullwidth-digit"),
]


@pytest.mark.parametrize("line,field", NAMES)
def test_names_and_ranges_are_matched_in_full(run, site, line, field):
    extra = "" if "holding" in line else 'holding = ["0-9"]\n'
    (site.root / "devices" / "a.toml").write_text(
        f'[[devices]]\n{line}\nprotocol = "modbus"\nhost = "127.0.0.1"\n{extra}', encoding="utf-8")
    r = run("verify", "--all")
    assert r.exit_code == 2, r.output
    assert "a.toml" in r.output and field in r.output


def test_s7_block_range_with_unicode_digits_is_refused(run, site):
    (site.root / "devices" / "a.toml").write_text(
        '[[devices]]\nname = "plc-a"\nprotocol = "s7"\nhost = "127.0.0.1"\n'
        '[devices.dbs]\n"\u0661\u0660" = "content"\n', encoding="utf-8")
    r = run("verify", "--all")
    assert r.exit_code == 2, r.output


def test_key_name_with_trailing_newline_is_refused(run, tmp_path):
    out = tmp_path / "k"
    r = run("keys", "create", "evil\n", "--out", str(out), "--no-passphrase")
    assert r.exit_code == 2, r.output
    assert not out.exists() or not any(out.iterdir())


def test_trusted_key_name_with_trailing_newline_is_refused(site, tmp_path):
    from baselines.signing import TrustStore, generate_keypair
    from integrity.errors import KeyFileError

    _, pub, _ = generate_keypair("ok", tmp_path / "k", None)
    with pytest.raises(KeyFileError):
        TrustStore(site.root / "trust").add(pub, name="ok\n")


def test_json_document_for_a_decoding_error_is_exactly_one(run, site):
    (site.root / "devices" / "a.toml").write_bytes(b"\xfe\xff\x00[")
    r = run("verify", "--all", "--json")
    assert r.exit_code == 2
    assert json.loads(r.stdout)["error_type"] == "ConfigError"


# -- issue 8 "Also" ------------------------------------------------------------------------------

def test_reason_limits_are_checked_before_any_device_is_read(run, site, drive, inventory):
    inventory.write(inventory.table(drive))
    for reason in ("x" * 2001, "bad \udc80 byte"):
        drive.clear_requests()
        r = run("baseline", "capture", "--all", "--key", str(site.key), "--reason", reason)
        assert r.exit_code == 2, r.output
        assert "reason" in r.output
        assert drive.requests == []  # nothing was read


def test_a_writer_killed_mid_update_leaves_no_temp_file(site):
    from baselines.store import Store

    state = site.root / "state"
    # What a writer killed between writing and renaming leaves (old and new names).
    for name in (".heads.json.tmp", ".heads.json.4242.tmp"):
        (state / name).write_bytes(b'{"format_version":1,"heads":{}')
    Store.open(site.root / "plc-integrity.db", heads_path=state / "heads.json").close()
    assert sorted(p.name for p in state.iterdir() if p.name.endswith(".tmp")) == []


def test_only_plants_are_listed(tmp_path):
    from simulators.plant import plants

    (tmp_path / "crane").mkdir()
    (tmp_path / "crane" / "vfd-a.json").write_text("{}")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "make_s7.cpython-311.pyc").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    (tmp_path / "make_s7.py").write_text("")
    assert plants(tmp_path) == ["crane"]


def test_sim_start_lists_only_plants(run):
    r = run("sim", "start", "--plant", "__pycache__")
    assert r.exit_code == 2
    assert "known: crane" in r.output and "__pycache__" not in r.output.split("known:")[1]
