import math

import pytest

from integrity import canonical
from integrity.model import Artifact, Capture, Kind, fingerprint


def test_encoding_is_sorted_compact_utf8():
    assert canonical.encode({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()


@pytest.mark.parametrize("value", [
    pytest.param(math.nan, id="nan"),
    pytest.param(math.inf, id="inf"),
    pytest.param(b"\x00", id="bytes"),
    pytest.param({1: "x"}, id="int-key"),
    pytest.param({"a": {1, 2}}, id="set"),
])
def test_values_without_canonical_form_are_refused(value):
    with pytest.raises(canonical.CanonicalError):
        canonical.encode(value)


@pytest.mark.parametrize("data", [
    pytest.param(b'{"b":1,"a":2}', id="unsorted"),
    pytest.param(b'{"a": 2}', id="whitespace"),
    pytest.param(b'{"a":1,"a":2}', id="duplicate-key"),
    pytest.param(b'\xff', id="not-utf8"),
])
def test_decode_refuses_non_canonical_bytes(data):
    with pytest.raises(canonical.CanonicalError):
        canonical.decode(data)


def test_fingerprint_depends_on_pairs_not_order():
    a = Artifact.from_value("a", Kind.CONFIG, 1)
    b = Artifact.from_value("b", Kind.CONFIG, 2)
    assert fingerprint([(a.key, a.digest), (b.key, b.digest)]) == \
        fingerprint([(b.key, b.digest), (a.key, a.digest)])


def test_capture_rejects_duplicate_keys_and_naive_times():
    from datetime import datetime, timezone
    a = Artifact.from_value("a", Kind.CONFIG, 1)
    with pytest.raises(ValueError, match="duplicate"):
        Capture("d", "modbus", "deep", datetime.now(timezone.utc), (a, a))
    with pytest.raises(ValueError, match="timezone"):
        Capture("d", "modbus", "deep", datetime.now(), (a,))


def test_golden_digest_of_a_register_table():
    # Catches canonicalisation drift: this digest is part of every stored baseline.
    art = Artifact.from_value("holding/0-3", Kind.CONFIG, {"start": 0, "values": [1, 2, 3, 65535]})
    assert art.content == b'{"start":0,"values":[1,2,3,65535]}'
    assert art.digest == canonical.sha256(b'{"start":0,"values":[1,2,3,65535]}')
