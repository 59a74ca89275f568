"""verify holds the verified baselines of a few chunks of devices, not the fleet's."""

from __future__ import annotations

from integrity import check
from integrity.model import Device


class CountingStore:
    """Stands in for the store's latest_many only (a fake of an interface, not our code)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def latest_many(self, names: list[str], trust: object) -> dict[str, str]:
        self.calls.append(list(names))
        return {n: f"baseline of {n}" for n in names}


def test_baselines_are_loaded_per_chunk_as_reads_return_and_dropped_when_used(monkeypatch) -> None:
    monkeypatch.setattr(check, "LATEST_CHUNK", 3)
    devices = [Device(name=f"d{i}", protocol="modbus", host="127.0.0.1", port=502)
               for i in range(7)]
    store = CountingStore()
    latest = check._LatestInChunks(devices + devices[:1], store, trust=None)
    for name in ["d1", "d0", "d4", "d2", "d3", "d5", "d6", "d0"]:
        assert latest.pop(name) == f"baseline of {name}"
        assert len(latest.loaded) <= 2
    # d0 listed twice: its second check verifies it again on its own.
    assert store.calls == [["d0", "d1", "d2"], ["d3", "d4", "d5"], ["d6"], ["d0"]]
    assert latest.loaded == {}
