"""canonical.encode_uint16_table (the Modbus range artifacts' encoding) gives exactly
canonical.encode's bytes: every stored baseline keeps its digests."""

from __future__ import annotations

import array
import random

from integrity import canonical

EDGES = [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 32767, 32768, 65534, 65535]


def tables() -> list[tuple[int, list[int]]]:
    rng = random.Random(17)
    out = [(0, []), (0, [0]), (65535, [65535]), (17, EDGES), (0, EDGES[::-1] * 150),
           (-1, [1, 2]), (2**70, [3]), (0, [0] * 2000), (0, [65535] * 2000), (100, [0, 1] * 8)]
    for _ in range(400):
        n = rng.choice([0, 1, 2, 7, 125, 126, 250, 2000, rng.randrange(2100)])
        pick = rng.choice([lambda: rng.randrange(65536), lambda: rng.choice(EDGES),
                           lambda: rng.randrange(2), lambda: rng.randrange(10)])
        out.append((rng.choice([0, 1, 17, 3000, 65535, rng.randrange(65536)]),
                    [pick() for _ in range(n)]))
    return out


def test_fast_table_encoding_is_byte_identical_to_the_generic_encoding():
    for start, values in tables():
        fast = canonical.encode_uint16_table(start, array.array("H", values))
        assert fast == canonical.encode({"start": start, "values": values}), (start, values[:10])
        assert canonical.decode(fast) == {"start": start, "values": values}


def test_anything_but_an_unsigned_16_bit_array_takes_the_generic_path():
    # The fast path relies on the array's type code for "an int in 0..65535"; any other
    # input is encoded (or refused) by canonical.encode itself.
    assert canonical.encode_uint16_table(5, [True, 2]) == b'{"start":5,"values":[true,2]}'
    assert canonical.encode_uint16_table(5, array.array("l", [-3, 70000])) == \
        b'{"start":5,"values":[-3,70000]}'
    assert canonical.encode_uint16_table(True, array.array("H", [1])) == \
        b'{"start":true,"values":[1]}'
    try:
        canonical.encode_uint16_table(0, array.array("d", [float("nan")]))
    except canonical.CanonicalError:
        pass
    else:
        raise AssertionError("NaN must be refused as canonical.encode refuses it")
