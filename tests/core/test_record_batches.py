"""verify records results in batches: RECORD_BATCH of them, or sooner once the
first of a batch has waited RECORD_WAIT, so a slow fleet's history is written
as it goes and a killed sweep loses at most one batch."""

from __future__ import annotations

import threading
import time

from integrity import check
from integrity.errors import NoBaselineError
from integrity.model import Device, Mode
from support.fakes import FakeDriver

SEEN = {name: threading.Event() for name in "abc"}


class BatchStore:
    """Stands in for the store's latest_many and record_checks (a fake of an interface)."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def latest_many(self, names: list[str], trust: object) -> dict[str, Exception]:
        return {n: NoBaselineError(f"no baseline for {n}") for n in names}

    def record_checks(self, results: list) -> list[int]:
        self.batches.append([r.device for r in results])
        return list(range(len(results)))


class PacedDriver(FakeDriver):
    """b answers RECORD_WAIT (and a little) after a's result was handled; c after b's."""

    def collect(self, mode=Mode.DEEP, *, now=None):
        name = self.device.name
        if name in "bc":
            assert SEEN["a" if name == "b" else "b"].wait(30)
        if name == "b":
            time.sleep(check.RECORD_WAIT + 0.1)
        return super().collect(mode, now=now)


def test_a_batch_closes_when_its_first_result_has_waited_long_enough():
    for event in SEEN.values():
        event.clear()
    devices = [Device(n, "modbus", "127.0.0.1", 1, None, timeout=0.1, retries=0,
                      check_timeout=30.0) for n in "abc"]
    store = BatchStore()
    results = check.verify(devices, store, None, concurrency=3, driver_factory=PacedDriver,
                           progress=lambda done, total, result: SEEN[result.device].set())
    assert [r.device for r in results] == ["a", "b", "c"]
    # Far fewer than RECORD_BATCH, yet a and b were written once a had waited.
    assert store.batches == [["a", "b"], ["c"]]
