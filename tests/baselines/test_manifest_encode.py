"""The manifest's canonical-form proof (``_encode_built``) gives exactly the
bytes of the reference encoder, integrity.canonical.encode, on generated
manifests: same bytes, so from_bytes is exactly as strict as before."""

from __future__ import annotations

import pickle
import random
from datetime import datetime, timedelta, timezone

import pytest

from baselines.manifest import ArtifactEntry, Manifest, _encode_built
from integrity import canonical
from integrity.errors import StoreTamperedError
from integrity.model import fingerprint

ALPHABET = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\x00", "\x1f", "\x7f", "\u00e9",
            "\u2028", "\u2603", "\U0001f527", "\ufeff", "{", "}", ",", ":"]


def _text(rng: random.Random, least: int = 0) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(least, 12)))


def _value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.randint(-2**70, 2**70)
    if kind == 1:
        return rng.choice([0.0, -0.0, 1.5, 1e-300, 1e300, 0.1, -2.5e-7, 3.0])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind in (3, 4, 5):
        return _text(rng)
    if kind in (6, 7):
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_text(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _manifest(rng: random.Random, version=1) -> Manifest:
    keys = sorted({f"holding/{rng.randint(0, 99)}-{rng.randint(100, 999)}"
                   for _ in range(rng.randint(1, 5))})
    arts = tuple(ArtifactEntry(k, rng.choice(["code", "config", "identity"]),
                               "%064x" % rng.getrandbits(256), rng.randint(0, 2**40),
                               rng.choice(["json", "raw"]), rng.choice([True, False]))
                 for k in keys)
    at = datetime(2020, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=rng.getrandbits(50))
    seq = rng.randint(1, 10**6)
    return Manifest(
        device=_text(rng, 1).strip() or "d", protocol=rng.choice(["modbus", "s7", "x\u00e9"]),
        mode=rng.choice(["quick", "deep"]), captured_at=at, signed_at=at + timedelta(seconds=1),
        artifacts=arts, fingerprint=fingerprint([(a.key, a.digest) for a in arts]),
        sequence=seq, previous=None if seq == 1 else "%064x" % rng.getrandbits(256),
        signer="%064x" % rng.getrandbits(256), reason="r" + _text(rng),
        policy={_text(rng): _value(rng) for _ in range(rng.randint(0, 5))},
        format_version=version)


@pytest.mark.parametrize("seed", range(20))
def test_the_proof_encodes_like_the_reference_encoder(seed):
    rng = random.Random(seed)
    for _ in range(50):
        m = _manifest(rng)
        doc = m.to_dict()
        assert _encode_built(doc) == canonical.encode(doc) == m.to_bytes()
        assert Manifest.from_bytes(m.to_bytes()) == m
        assert Manifest.unpack(pickle.loads(pickle.dumps(m.pack()))) == m


@pytest.mark.parametrize("version", [1.0, True])
def test_a_version_equal_to_1_but_not_written_1_is_refused(version):
    m = _manifest(random.Random(3), version)
    assert _encode_built(m.to_dict()) == canonical.encode(m.to_dict())
    with pytest.raises(StoreTamperedError, match="re-encode"):
        Manifest.from_bytes(m.to_bytes())


def test_non_canonical_bytes_are_still_refused():
    m = _manifest(random.Random(7))
    data = m.to_bytes()
    for bad in (data.replace(b'":', b'": ', 1), data.replace(b'"type"', b'"type" ', 1),
                b"{" + data[1:].replace(b",", b" ,", 1)):
        with pytest.raises(StoreTamperedError):
            Manifest.from_bytes(bad)
