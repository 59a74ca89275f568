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
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    with bench_at(tmp_path_factory.mktemp("hostile")) as b:
        yield b
