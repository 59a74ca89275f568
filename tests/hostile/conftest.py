"""One crane controller per protocol, each behind a hostile proxy
(tests/support/hostile.py, hostile_bench.py), in one site with genuine signed baselines.

The baselines are captured once, through the proxies in pass-through mode;
each test then sets a proxy's policy and checks the device.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from support.hostile_bench import Bench, bench_at


@pytest.fixture(scope="module")
def host_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One host memory for the module: the site (and its checkpoint key) outlives a test."""
    path = str(tmp_path_factory.mktemp("host-state"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLC_INTEGRITY_STATE_DIR", path)
        yield path


@pytest.fixture(autouse=True)
def _host_state(host_state: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Overrides the suite's per-test host memory (tests/conftest.py) with the module's."""
    monkeypatch.setenv("PLC_INTEGRITY_STATE_DIR", host_state)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, host_state: str) -> Iterator[Bench]:
    with bench_at(tmp_path_factory.mktemp("hostile")) as b:
        yield b
