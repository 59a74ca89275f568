"""The plain-document path of Manifest parsing (``_plain``) agrees with the
dataclasses' constructors (``Manifest._constructed``, the reference) on every
document: generated valid ones and ones mutated field by field.  Either both
refuse it with the same message, or both build the same Manifest.  So the
faster path refuses everything the constructors refuse."""

from __future__ import annotations

import copy
import random
import string

import pytest

from baselines.manifest import ArtifactEntry, Manifest
from integrity import canonical
from integrity.errors import StoreTamperedError
from integrity.model import KEY_RE, Encoding, Kind, Mode, fingerprint, fingerprint_of_checked

HEX = "ab" * 32


class Text(str):
    """A str subclass: JSON never yields one, the constructors accept it."""


def _doc(rng: random.Random) -> dict:
    keys = sorted({f"{rng.choice(['holding', 'blocks/FC', 'db'])}/{rng.randint(0, 999)}"
                   for _ in range(rng.randint(0, 6))})
    arts = [ArtifactEntry(k, rng.choice(list(Kind)), "%064x" % rng.getrandbits(256),
                          rng.randint(0, 2**40), rng.choice(list(Encoding)), rng.random() < .5)
            for k in keys]
    seq = rng.randint(1, 4)
    return {"type": "plc-integrity/baseline", "format_version": 1, "device": "dev-1",
            "protocol": rng.choice(["modbus", "s7"]), "mode": rng.choice(["quick", "deep"]),
            "captured_at": "2024-01-31T12:00:00.000000Z",
            "signed_at": "2024-01-31T12:05:30.250000Z",
            "artifacts": [a.to_dict() for a in arts],
            "fingerprint": fingerprint([(a.key, a.digest) for a in arts]),
            "policy": rng.choice([{}, {"holding": ["0-3"]}, {"x": {"y": [1, None, True]}}]),
            "sequence": seq, "previous": None if seq == 1 else "%064x" % rng.getrandbits(256),
            "signer": HEX, "reason": "commissioning"}


# Values tried in place of each field: wrong types, edge values, near misses.
ODD = [None, True, False, 0, 1, -1, 2**70, 1.0, float("nan"), float("inf"), "", " ", "x", "X" * 201,
       "x" * 2001, HEX, HEX.upper(), HEX[:-1], Text("s"), Text(HEX), [], {}, ["a"], {"a": 1},
       "quick", "deep", "code", "json", "raw", "holding/1", "bad key!",
       "2024-01-31T12:00:00.000000Z",
       "2024-13-31T12:00:00.000000Z", "2024-01-31 12:00:00", "\ud800", {"k": float("nan")},
       {"k": b"x".hex()}, {1: 2}]
ENTRY_FIELDS = ["key", "kind", "digest", "size", "encoding", "quick"]
TOP_FIELDS = ["device", "protocol", "mode", "captured_at", "signed_at", "artifacts", "fingerprint",
              "policy", "sequence", "previous", "signer", "reason"]


def _outcome(build, doc):
    try:
        return build(copy.deepcopy(doc))
    except StoreTamperedError as exc:
        return f"refused: {exc}"


def _same(doc) -> None:
    plain, reference = _outcome(Manifest._from_doc, doc), _outcome(Manifest._constructed, doc)
    assert plain == reference, doc
    if isinstance(plain, Manifest):
        assert plain.to_dict() == reference.to_dict()
        assert type(plain.mode) is Mode and type(plain.policy) is type(reference.policy)
        assert all(type(e.kind) is Kind and type(e.encoding) is Encoding for e in plain.artifacts)
        assert plain.captured_at.tzinfo is not None and plain.signed_at.tzinfo is not None


def _mutants(rng: random.Random, doc: dict):
    for name in TOP_FIELDS:
        for value in ODD:
            yield {**doc, name: value}
    for i, entry in enumerate(doc["artifacts"]):
        for name in ENTRY_FIELDS:
            for value in ODD:
                arts = list(doc["artifacts"])
                arts[i] = {**entry, name: value}
                yield {**doc, "artifacts": arts}
        yield {**doc, "artifacts": [*doc["artifacts"][:i], {k: v for k, v in entry.items()
                                                             if k != "quick"},
                                    *doc["artifacts"][i + 1:]]}
        yield {**doc, "artifacts": [*doc["artifacts"][:i], {**entry, "extra": 1},
                                    *doc["artifacts"][i + 1:]]}
        yield {**doc, "artifacts": [*doc["artifacts"][:i], "entry", *doc["artifacts"][i + 1:]]}
    if len(doc["artifacts"]) > 1:  # out of order, duplicated
        yield {**doc, "artifacts": doc["artifacts"][::-1]}
        yield {**doc, "artifacts": [doc["artifacts"][0], *doc["artifacts"]]}
    yield {**doc, "fingerprint": fingerprint([("x", HEX)])}


@pytest.mark.parametrize("seed", range(6))
def test_plain_path_agrees_with_the_constructors(seed):
    rng = random.Random(seed)
    doc = _doc(rng)
    _same(doc)
    assert isinstance(_outcome(Manifest._from_doc, doc), Manifest)
    for mutant in _mutants(rng, doc):
        _same(mutant)


@pytest.mark.parametrize("seed", range(4))
def test_from_bytes_of_mutants_agrees_with_the_reference(seed):
    """Through the stored bytes as well (the re-encoding proof included)."""
    rng = random.Random(100 + seed)
    for mutant in _mutants(rng, _doc(rng)):
        try:
            data = canonical.encode(mutant)
        except (canonical.CanonicalError, UnicodeError):  # no bytes to store
            continue
        try:
            reference = Manifest._constructed(canonical.parse(data))
            expected = reference if reference.to_bytes() == data else "re-encode"
        except StoreTamperedError as exc:
            expected = str(exc)
        try:
            got = Manifest.from_bytes(data)
        except StoreTamperedError as exc:
            got = "re-encode" if "re-encode" in str(exc) else str(exc)
        assert got == expected, mutant


def test_fingerprint_of_checked_is_the_fingerprint():
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + "_.:-/[]"
    for _ in range(300):
        keys = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
                       for _ in range(rng.randint(0, 30))})
        assert all(KEY_RE.fullmatch(k) for k in keys)
        pairs = [(k, "%064x" % rng.getrandbits(256)) for k in keys]
        assert fingerprint_of_checked(pairs) == fingerprint(pairs)


def test_an_escaped_lone_surrogate_is_refused_not_a_crash():
    """JSON can escape what UTF-8 cannot hold; such bytes (on a row whose key
    is not trusted, parsed before any signature) are a tampered manifest."""
    doc = _doc(random.Random(1))
    data = canonical.encode(doc).replace(b'"reason":"commissioning"', b'"reason":"\\ud800"')
    assert b"ud800" in data
    with pytest.raises(StoreTamperedError, match="re-encode"):
        Manifest.from_bytes(data)
