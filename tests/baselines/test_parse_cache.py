"""The parsed-manifest cache is bounded by the bytes it keeps, not by a count: a
thousand S7 manifests held ~30 MiB under a 1,024-entry lru_cache."""

from __future__ import annotations

from dataclasses import replace

import pytest

from baselines import verify
from baselines.verify import _ParseCache
from integrity.errors import StoreTamperedError
from tests.baselines.test_manifest import golden_manifest


def manifests(n: int) -> list[bytes]:
    """n real manifests of one size (sequences 100, 101...)."""
    base, _key = golden_manifest()
    return [replace(base, sequence=100 + i).to_bytes() for i in range(n)]


def test_kept_to_its_budget_with_the_newest_kept():
    datas = manifests(40)
    cache = _ParseCache(budget=10 * len(datas[-1]))
    first = cache(datas[0])
    for data in datas:
        assert cache(data).to_bytes() == data
        assert cache.size <= cache.budget
    assert cache(datas[-1]) is cache(datas[-1])  # the newest are kept
    assert cache(datas[0]) is not first          # the oldest went, and is parsed again


def test_a_hit_moves_to_the_back_of_the_queue():
    a, b, *others = manifests(9)
    cache = _ParseCache(budget=8 * len(a))
    kept_a, kept_b = cache(a), cache(b)
    for data in others[:-1]:
        cache(data)                # full: a, b and six more
    assert cache(a) is kept_a      # a used again: b is now the oldest
    cache(others[-1])              # ... and goes
    assert cache(a) is kept_a
    assert cache(b) is not kept_b
    assert cache.size == 8 * len(a)


def test_what_does_not_parse_is_not_kept():
    cache = _ParseCache(budget=1 << 20)
    for _ in range(2):
        with pytest.raises(StoreTamperedError):
            cache(b'{"not":"a manifest"}')
    assert cache.size == 0


def test_a_manifest_larger_than_an_eighth_of_the_budget_is_parsed_but_not_kept():
    (data,) = manifests(1)
    cache = _ParseCache(budget=8 * len(data) - 1)
    assert cache(data) is not cache(data)
    assert cache.size == 0


def test_the_stores_cache_has_a_byte_budget():
    assert isinstance(verify._parse, _ParseCache)
    assert verify._parse.budget <= 4 * 1024 * 1024
