"""TLS (V2), certificate pinning and the PLC password, end to end.

The simulator's TLS is the s7commplus server's own (TLS records inside COTP,
as an S7-1500 does), with a fresh self-signed certificate; the password is the
legacy legitimation of S7-1500 firmware before V3.1 (SHA-1 XOR challenge),
checked by the simulator.  Not tested here: the new (AES, FW >= 3.1)
legitimation, which needs the TLS OMS exporter secret the emulator cannot give,
and CA-based verification (``tls_ca``), which only the library implements."""

from __future__ import annotations

import json

import pytest

from support.site import TIMEOUT


def result(run, *args: str) -> tuple[int, dict]:
    code, doc = run.json("verify", "plc-trolley", *args)
    return code, doc["results"][0]


def test_tls_pinned_and_password_capture_and_verify(run, inventory, secure_trolley, only_reads):
    inventory.write(inventory.table(secure_trolley))
    r = run.capture("--all")
    assert r.exit_code == 0, r.output
    code, res = result(run)
    assert code == 0 and res["status"] == "OK", res
    only_reads(secure_trolley)
    assert {"legitimation", "init_ssl"} <= {r.operation for r in secure_trolley.requests}


def test_wrong_password_is_exit_3_with_the_cause(run, inventory, secure_trolley, monkeypatch):
    inventory.write(inventory.table(secure_trolley))
    assert run.capture("--all").exit_code == 0
    monkeypatch.setenv("PLC_TROLLEY_PASSWORD", "guess")
    code, res = result(run)
    assert code == 3 and res["status"] == "UNREACHABLE" and res["reason"] == "access-denied"
    assert "password refused" in res["message"], res


def test_missing_password_variable_is_exit_3_naming_it(run, inventory, secure_trolley, monkeypatch):
    inventory.write(inventory.table(secure_trolley))
    assert run.capture("--all").exit_code == 0
    monkeypatch.delenv("PLC_TROLLEY_PASSWORD")
    code, res = result(run)
    assert code == 3 and "PLC_TROLLEY_PASSWORD is not set" in res["message"]


def test_wrong_tls_fingerprint_is_exit_3_with_the_cause(run, inventory, secure_trolley):
    inventory.write(inventory.table(secure_trolley))
    assert run.capture("--all").exit_code == 0
    inventory.write(inventory.table(secure_trolley, tls_fingerprint="ab" * 32))
    code, res = result(run)
    assert code == 3 and res["reason"] == "access-denied"
    assert "does not match the pinned fingerprint" in res["message"], res
    # Nothing but the TLS handshake happened: no session request was answered.
    r = run("verify", "plc-trolley")
    assert r.exit_code == 3 and "pinned fingerprint" in r.output


def test_plaintext_without_password_cannot_upload_and_says_so(run, inventory, secure_trolley):
    """The same CPU over TLS but without the password: HMI access only, so
    uploads are refused and recorded as not readable with the access level."""
    table = {**inventory.table(secure_trolley)}
    del table["password_env"]
    inventory.write(table)
    assert run.capture("--all").exit_code == 0
    code, res = result(run)
    assert code == 0 and "access level 3 (HMI access)" in res["note"]


@pytest.mark.parametrize("overrides, field", [
    pytest.param({"tls": False, "tls_fingerprint": "ab" * 32}, "tls_fingerprint", id="pin-without-tls"),
    pytest.param({"tls": True, "tls_fingerprint": "xyz"}, "tls_fingerprint", id="bad-fingerprint"),
    pytest.param({"password_env": "NOT A NAME"}, "password_env", id="bad-env-name"),
    pytest.param({"tls": "yes"}, "tls", id="tls-not-bool"),
    pytest.param({"dbs": {"1": "values"}}, "dbs.1", id="bad-db-policy"),
    pytest.param({"slot": 1}, "slot", id="unknown-key"),
])
def test_bad_options_are_config_errors(run, inventory, overrides, field):
    inventory.write({"name": "plc-x", "protocol": "s7plus", "host": "127.0.0.1", "port": 1,
                     "timeout": TIMEOUT, **overrides})
    code, doc = run.json("verify", "plc-x")
    assert code == 2 and field in json.dumps(doc), doc
