"""The signed checkpoint read as written (a pattern, no JSON objects per head)
against the general reading (JSON parsed, proven canonical by encoding it again).

The fast reading may decline any document, which the general one then takes; it
must never accept one the general one refuses, nor read one differently."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import pytest

from baselines.checkpoint import (Checkpoint, Entry, _signed_fields, _signed_fields_as_written,
                                  read_checkpoint)
from baselines.localstate import LocalState

NOW = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def written(tmp_path, heads: dict[str, Entry]) -> tuple[bytes, bytes]:
    """(envelope, signed document) as Checkpoint.write makes them."""
    cp = Checkpoint(tmp_path / "cp.json", LocalState(tmp_path, tmp_path / "state"),
                    key_path=tmp_path / "cp.key")
    cp.write(heads, NOW, create_key=True)
    envelope = (tmp_path / "cp.json").read_bytes()
    return envelope, json.loads(envelope)["signed"].encode("utf-8")


def fleet(n: int, seed: int = 0) -> dict[str, Entry]:
    rnd = random.Random(seed)
    names = {f"{rnd.choice(['vfd', 'S7', 'logix.', 'a_b-', '9'])}{i:0{rnd.randint(1, 6)}d}"
             for i in range(n)}
    return {name: Entry(rnd.choice([1, 2, 255, 256, 10**17]), "%064x" % rnd.getrandbits(256),
                        rnd.choice([0, 1, 7, 300])) for name in names}


def general(signed: bytes):
    try:
        return "ok", _signed_fields(signed)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        return "refused", type(exc)


def assert_agrees(signed: bytes) -> bool:
    """The fast reading declines, or reads exactly what the general one reads.
    True if it took the document."""
    fast = _signed_fields_as_written(signed)
    if fast is None:
        return False
    assert general(signed) == ("ok", fast), signed[:300]
    return True


@pytest.mark.parametrize("n", [0, 1, 2, 300])
def test_what_this_module_writes_is_read_the_fast_way_and_the_same(tmp_path, n):
    heads = fleet(n, seed=n)
    envelope, signed = written(tmp_path, heads)
    assert assert_agrees(signed)
    cp = read_checkpoint(tmp_path / "cp.json")
    assert dict(cp.heads) == heads and cp.version == 1
    assert cp.issued == NOW and cp.expires > NOW


def _swap_first_two(s: bytes) -> bytes:
    first = s.index(b'{"id"')
    a_end = s.index(b"},", first) + 1
    b_end = s.index(b"}", a_end + 1) + 1
    a_start = s.index(b'"heads":{') + len(b'"heads":{')
    return s[:a_start] + s[a_end + 1:b_end] + b"," + s[a_start:a_end] + s[b_end:]


def _dup_first(s: bytes) -> bytes:
    start = s.index(b'"heads":{') + len(b'"heads":{')
    end = s.index(b"},", start) + 1
    return s[:start] + s[start:end] + b"," + s[start:]


EDITS = {
    "space": lambda s: s.replace(b'"heads":{', b'"heads": {', 1),
    "newline-at-end": lambda s: s + b"\n",
    "unsorted-heads": _swap_first_two,
    "duplicate-head": _dup_first,
    "uppercase-id": lambda s: s.replace(b'"id":"ab', b'"id":"Ab', 1),
    "short-id": lambda s: s.replace(b'"id":"', b'"id":"0', 1),
    "negative-policy": lambda s: s.replace(b'"policy":0', b'"policy":-1', 1),
    "leading-zero": lambda s: s.replace(b'"sequence":1', b'"sequence":01', 1),
    "sequence-zero": lambda s: s.replace(b'"sequence":1}', b'"sequence":0}', 1),
    "huge-sequence": lambda s: s.replace(b'"sequence":1}', b'"sequence":1' + b"0" * 30 + b"}", 1),
    "escaped-name": lambda s: s.replace(b'{"vfd', b'{"vf\\u0064', 1),
    "unicode-name": lambda s: s.replace(b'{"vfd', b'{"v\xc3\xa4d', 1),
    "extra-head-key": lambda s: s.replace(b'"sequence":', b'"x":1,"sequence":', 1),
    "extra-top-key": lambda s: s.replace(b'"issued":', b'"is":1,"issued":', 1),
    "trailing-comma": lambda s: s.replace(b'}},"issued"', b'},},"issued"', 1),
    "version-zero": lambda s: s[:s.rindex(b'"version":')] + b'"version":0}',
    "float-version": lambda s: s[:s.rindex(b'"version":')] + b'"version":1.0}',
    "other-type": lambda s: s.replace(b"plc-integrity/checkpoint", b"plc-integrity/checkpoinT"),
    "no-heads": lambda s: s.replace(b'"heads":', b'"hexds":', 1),
    "heads-a-list": lambda s: s.replace(b'"heads":{', b'"heads":[', 1),
    "bad-time": lambda s: s.replace(b'"issued":"2026', b'"issued":"2X26', 1),
    "month-13": lambda s: s.replace(b'"issued":"2026-12', b'"issued":"2026-13', 1),
    "fake-split": lambda s: s.replace(b'"heads":{', b'"heads":{"a":{"id":"x"},"issued":"1",'
                                      b'"type":"plc-integrity/checkpoint","version":1},', 1),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_an_edited_document_is_declined_or_read_the_same(tmp_path, edit):
    heads = {"vfd-a": Entry(1, "ab" * 32, 0), "vfd-b": Entry(2, "cd" * 32, 0),
             "vfd-c": Entry(1, "ef" * 32, 0)}
    _envelope, signed = written(tmp_path, heads)
    edited = edit(signed)
    assert edited != signed
    assert_agrees(edited)
    if general(edited)[0] == "refused":
        assert _signed_fields_as_written(edited) is None


def test_random_damage_is_declined_or_read_the_same(tmp_path):
    _envelope, signed = written(tmp_path, fleet(40, seed=1))
    rnd = random.Random(7)
    alphabet = b'{}[]",:0123456789abcdefAZ-._ \\\n'
    taken = 0
    for _ in range(3000):
        at = rnd.randrange(len(signed))
        how = rnd.randrange(3)
        piece = bytes([rnd.choice(alphabet)])
        edited = (signed[:at] + piece + signed[at + 1:] if how == 0 else
                  signed[:at] + signed[at + 1:] if how == 1 else signed[:at] + piece + signed[at:])
        taken += assert_agrees(edited)
    assert taken  # some damage leaves a document in the written form (another id, say)
