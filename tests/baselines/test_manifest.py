"""The manifest: canonical bytes, strict parsing, and a golden signed fixture.

The golden files pin the exact bytes a fixed key signs for a fixed capture at
fixed times.  If canonicalisation drifts (key order, time format, float text,
a new field), the bytes change and every stored baseline would stop verifying:
this test fails first.  Regenerate only for a deliberate format change (with a
new format_version):  PLC_INTEGRITY_REGEN_GOLDEN=1 pytest tests/baselines/test_manifest.py
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from baselines.manifest import Manifest
from baselines.signing import SigningKey
from integrity import canonical
from integrity.errors import StoreTamperedError
from integrity.model import Artifact, Capture, Kind, Mode

GOLDEN = Path(__file__).with_name("golden")
SEED = bytes(range(32))


def golden_manifest() -> tuple[Manifest, SigningKey]:
    key = SigningKey.from_seed(SEED)
    capture = Capture(
        device="vfd-hoist", protocol="modbus", mode=Mode.DEEP,
        captured_at=datetime(2024, 1, 31, 12, 0, 0, tzinfo=timezone.utc),
        artifacts=(
            Artifact.from_value("identity", Kind.IDENTITY,
                                {"vendor": "ACME Drives", "product_code": "AD-9", "revision": "1.2",
                                 "name": "Hubwerk Süd"}),
            Artifact.from_value("holding/0-3", Kind.CONFIG,
                                {"start": 0, "values": [1500, -1, 0.1, 65535]}, quick=False),
            Artifact.from_bytes("blocks/FC/10", Kind.CODE, b"\x70\x70\x00\xffcode"),
        ),
        policy={"holding": ["0-3"], "excluded": {"input": "live values"}})
    manifest = Manifest.from_capture(
        capture, sequence=2, previous="ab" * 32, signer=key.keyid, reason="commissioning FAT",
        signed_at=datetime(2024, 1, 31, 12, 5, 30, 250000, tzinfo=timezone.utc))
    return manifest, key


def test_golden_signed_fixture_is_stable() -> None:
    manifest, key = golden_manifest()
    data = manifest.to_bytes()
    signature = key.sign(data)
    if os.environ.get("PLC_INTEGRITY_REGEN_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / "manifest.json").write_bytes(data)
        (GOLDEN / "manifest.sig.hex").write_text(signature.hex() + "\n")
    assert data == (GOLDEN / "manifest.json").read_bytes()
    assert signature.hex() == (GOLDEN / "manifest.sig.hex").read_text().strip()
    # and the stored golden bytes still parse to the same manifest and id
    stored = (GOLDEN / "manifest.json").read_bytes()
    assert Manifest.from_bytes(stored) == manifest
    assert manifest.id == canonical.sha256(stored)
    key.public_key.verify(bytes.fromhex((GOLDEN / "manifest.sig.hex").read_text()), stored)


def test_round_trip_and_times_in_one_fixed_form() -> None:
    manifest, _key = golden_manifest()
    data = manifest.to_bytes()
    assert b'"signed_at":"2024-01-31T12:05:30.250000Z"' in data
    assert b'"captured_at":"2024-01-31T12:00:00.000000Z"' in data
    assert Manifest.from_bytes(data) == manifest


def doc_bytes(**changes: object) -> bytes:
    manifest, _key = golden_manifest()
    doc = manifest.to_dict()
    doc.update(changes)
    return canonical.encode({k: v for k, v in doc.items() if v is not DROP})


DROP = object()


@pytest.mark.parametrize(("data", "message"), [
    pytest.param(b'{"format_version": 1}', "not canonical JSON", id="not-canonical"),
    pytest.param(b"\xff", "not canonical JSON", id="not-utf8"),
    pytest.param(b"[]", "not a JSON object", id="not-an-object"),
    pytest.param(canonical.encode({"format_version": 2, "junk": True}),
                 "format_version 2 is not supported", id="newer-format-checked-first"),
    pytest.param(doc_bytes(type="something/else"), "document type", id="foreign-document"),
    pytest.param(doc_bytes(extra=1), r"unknown \['extra'\]", id="unknown-field"),
    pytest.param(doc_bytes(reason=DROP), r"missing \['reason'\]", id="missing-field"),
    pytest.param(doc_bytes(fingerprint="00" * 32), "fingerprint .* does not match", id="fingerprint"),
    pytest.param(doc_bytes(sequence=1), "sequence 1 must have previous = null", id="seq1-previous"),
    pytest.param(doc_bytes(sequence=True), "sequence True must be an integer", id="bool-sequence"),
    pytest.param(doc_bytes(signed_at="2024-01-31T12:05:30Z"), "signed_at .* is not a UTC time",
                 id="time-form"),
    pytest.param(doc_bytes(mode="fast"), "'fast' is not a valid Mode", id="bad-mode"),
])
def test_from_bytes_refuses(data: bytes, message: str) -> None:
    with pytest.raises(StoreTamperedError, match=message):
        Manifest.from_bytes(data)


def test_constructor_validates() -> None:
    manifest, _key = golden_manifest()
    with pytest.raises(ValueError, match="reason must be non-empty"):
        replace(manifest, reason="  ")
    with pytest.raises(ValueError, match="needs previous"):
        replace(manifest, previous=None)
    with pytest.raises(ValueError, match="sorted by key"):
        replace(manifest, artifacts=tuple(reversed(manifest.artifacts)))


@pytest.mark.parametrize("edit", [
    pytest.param(lambda b: b.replace(b",", b", ", 1), id="white-space"),
    pytest.param(lambda b: b.replace(b'"artifacts":', b'"artifacts" :'), id="space-before-colon"),
    pytest.param(lambda b: b + b" ", id="trailing-space"),
    pytest.param(lambda b: b.replace(b'"type":', b'"type":"x","type":', 1), id="duplicate-key"),
    pytest.param(lambda b: json.dumps(json.loads(b), sort_keys=True, separators=(",", ":"),
                                      ensure_ascii=True).encode(), id="ascii-escaped"),
])
def test_the_single_re_encoding_still_refuses_every_non_canonical_form(edit) -> None:
    """from_bytes parses without decode's own re-encoding; its one final
    comparison must still refuse any byte that is not the canonical form."""
    data = doc_bytes(reason="Ümlaut reason")
    assert Manifest.from_bytes(data)
    edited = edit(data)
    assert edited != data
    with pytest.raises(StoreTamperedError):
        Manifest.from_bytes(edited)
