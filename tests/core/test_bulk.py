"""integrity.bulk.paused_collector: off inside, restored as found after, errors included."""

from __future__ import annotations

import gc

import pytest

from integrity.bulk import paused_collector


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
