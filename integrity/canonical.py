"""The one canonical encoding.

Everything plc-integrity hashes or signs is either raw device bytes (an uploaded
block image, kept exactly as the device sent it) or the output of ``encode``
below: JSON with sorted keys, no insignificant white space, UTF-8, and only the
types that round-trip exactly.  Nothing else is ever hashed or signed, and a
value is never re-serialised before its signature is checked.

Rules, so that two machines always produce the same bytes:
- objects: keys are strings, sorted by code point; no duplicates;
- integers of any size; booleans; null; strings (UTF-8, not ASCII-escaped);
- floats only when finite, written with Python's shortest round-trip repr
  (device REAL values are converted from float32 by the driver first);
- bytes are not JSON: drivers give them as lowercase hex strings.
"""

from __future__ import annotations

import array
import hashlib
import json
import math
from typing import Any


class CanonicalError(ValueError):
    """A value that has no canonical encoding (NaN, bytes, a non-string key...)."""


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalError(f"{path or 'value'}: non-finite float {value!r} has no canonical form")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"{path or 'value'}: key {key!r} is not a string")
            _check(item, f"{path}.{key}" if path else key)
        return
    raise CanonicalError(f"{path or 'value'}: {type(value).__name__} has no canonical form")


_PLAIN = frozenset({int, str, bool, type(None)})


def _ok(value: Any) -> bool:
    """The rules, checked without building error paths (the common case).
    ``_check`` walks again to name the offending value only when this fails."""
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return True
    if t is float:
        return math.isfinite(value)
    if t is list or t is tuple:
        # Register tables are long lists of ints: one C-level pass over the types.
        if set(map(type, value)) <= _PLAIN:
            return True
        return all(_ok(v) for v in value)
    if t is dict:
        return all(type(k) is str and _ok(v) for k, v in value.items())
    # Subclasses (IntEnum, str subclasses...) take the careful path.
    return False


def encode(value: Any) -> bytes:
    """Return the canonical bytes of a JSON-able value.

    Raises CanonicalError for anything outside the rules in the module docstring.
    """
    if not _ok(value):
        _check(value, "")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


_uint16_text: list[bytes] | None = None  # b"0" ... b"65535", built on first use (~3 MiB, ~15 ms)


def encode_uint16_table(start: int, values: "array.array[int]") -> bytes:
    """``encode({"start": start, "values": list(values)})``, byte for byte, for an
    ``array('H')`` of register or bit values: the shape of every Modbus range artifact.

    A drive's 2,000 registers cost the generic path ~170 us (checking each value's
    type, then json's encoder); here the array's type code already proves every value
    is an int in 0..65535, and each one's text is looked up, about half the cost.
    tests/core/test_canonical_fast.py compares the two over generated tables.
    """
    if type(start) is not int or not isinstance(values, array.array) or values.typecode != "H":
        return encode({"start": start, "values": list(values)})
    global _uint16_text
    text = _uint16_text
    if text is None:  # built whole, then published: a reading thread never sees half of it
        text = _uint16_text = [str(i).encode("ascii") for i in range(65536)]
    # Keys in code point order, as encode sorts them: "start" < "values".
    return b'{"start":%d,"values":[%b]}' % (start, b",".join(map(text.__getitem__, values)))


def decode(data: bytes) -> Any:
    """Parse canonical bytes, and refuse bytes that are not in canonical form.

    A stored document that parses but would not re-encode to the same bytes has
    been edited by something other than plc-integrity.
    """
    # Stored documents may have been written by an attacker: every way the
    # parser can fail (bad UTF-8, huge integers, deep nesting, lone surrogates)
    # is a CanonicalError, never a crash.
    try:
        value = json.loads(bytes(data).decode("utf-8"))
        same = encode(value) == data
    except (ValueError, RecursionError, TypeError) as exc:  # JSONDecodeError, UnicodeError are ValueErrors
        raise CanonicalError(f"not canonical JSON: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if not same:
        raise CanonicalError("document is valid JSON but not in canonical form")
    return value


def parse(data: bytes) -> Any:
    """Parse stored JSON bytes WITHOUT proving canonical form.

    Only for a caller that proves it more strictly itself: one that builds its
    model from the value, re-encodes the model and compares the result with
    ``data`` byte for byte (``Manifest.from_bytes``).  Equal bytes are the
    canonical encoding of that model, so ``decode``'s own re-encoding would be
    a second proof of the same thing.  Raises CanonicalError like ``decode``.
    """
    try:
        return json.loads(bytes(data).decode("utf-8"))
    except (ValueError, RecursionError, TypeError) as exc:
        raise CanonicalError(f"not canonical JSON: {type(exc).__name__}: {str(exc)[:200]}") from exc


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
