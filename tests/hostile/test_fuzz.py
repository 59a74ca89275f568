"""A seeded fuzzing proxy mutates genuine simulator replies (issue 8).

Every check ends in exit 0 (the mutation touched nothing that is read), 1 (it
changed hashed content) or 3 (could not check), never a traceback or a driver
bug, within the timeout plus a genuine check's time; the simulators still saw
only reads.  A few hundred exchanges per protocol here; more with
``benchmarks/fuzz_bench.py``.
"""

from __future__ import annotations

import pytest

from support.hostile import PROTOCOLS
from support.hostile_bench import fuzz

RUNS = {"s7": 8, "modbus": 25, "logix": 20}  # about 300 reply frames each


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_mutated_replies_never_break_a_promise(bench, only_reads, protocol):
    report = fuzz(bench, protocol, range(RUNS[protocol]))
    assert report.problems == []
    assert report.runs == RUNS[protocol] and report.mutations >= report.runs // 2
    assert report.exchanges >= 200, report
    only_reads(bench.sims[protocol])
