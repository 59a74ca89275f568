"""integrity.bulk: paused_collector off inside, restored as found after, errors included;
few_collections puts the thresholds back and unfreezes."""

from __future__ import annotations

import gc

import pytest

from integrity.bulk import few_collections, paused_collector


def test_the_collector_is_off_inside_and_back_on_after():
    assert gc.isenabled()
    with paused_collector():
        assert not gc.isenabled()
        with paused_collector():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block turned it off: still off
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), paused_collector():
        1 / 0
    assert gc.isenabled()


def test_a_collector_turned_off_elsewhere_stays_off():
    gc.disable()
    try:
        with paused_collector():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_few_collections_puts_the_collector_back():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with few_collections():
            assert gc.get_threshold()[0] == 50_000 and gc.get_freeze_count() > 0
            raise RuntimeError("a failing sweep")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
