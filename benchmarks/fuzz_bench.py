"""Fuzz the drivers with mutated genuine replies, longer than CI does (a script, not a test).

    .venv/bin/python benchmarks/fuzz_bench.py                    # 200 checks per protocol
    .venv/bin/python benchmarks/fuzz_bench.py --runs 1000 --first-seed 5000 --protocol s7

One simulator per protocol (the crane plant's plc-hoist, vfd-hoist, plc-gantry)
behind the seeded fuzzing proxy of tests/support/hostile.py (hostile_bench.py): each check gets
about ``--per-run`` of its genuine replies mutated (bit flips, truncation,
drops, duplicates, replays, length fields...).  Every outcome is held to the
promises of issue 8: exit 0, 1 or 3, never a traceback or a driver bug, within
the timeout plus a genuine check's time, and the simulators saw only reads
(requests on a mutated, unverifiable session or connection id are listed apart).
Prints, per protocol, the runs, reply frames exchanged, mutations, outcomes
and the slowest check; exits 1 when any promise was broken (each is listed
with its seed, so it can be replayed).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from drivers.registry import quiet_vendor_logs  # noqa: E402
from simulators.base import checker_violations  # noqa: E402
from support.hostile import PROTOCOLS  # noqa: E402
from support.hostile_bench import bench_at, fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="checks per protocol")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--protocol", choices=PROTOCOLS, action="append",
                        help="only these protocols (repeatable; default: all)")
    parser.add_argument("--timeout", type=float, default=0.3, help="device timeout, seconds")
    parser.add_argument("--per-run", type=float, default=1.5,
                        help="mutations per check, on average")
    args = parser.parse_args()
    quiet_vendor_logs()
    logging.getLogger("integrity.check").setLevel(logging.CRITICAL)

    broken = 0
    with tempfile.TemporaryDirectory() as tmp, bench_at(Path(tmp)) as bench:
        for protocol in args.protocol or PROTOCOLS:
            started = time.monotonic()
            seeds = range(args.first_seed, args.first_seed + args.runs)
            report = fuzz(bench, protocol, seeds, timeout=args.timeout, per_run=args.per_run)
            took = time.monotonic() - started
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items()))
            print(f"{protocol:7} {report.runs} checks, {report.exchanges} reply frames, "
                  f"{report.mutations} mutations in {took:.1f} s; slowest check "
                  f"{report.slowest:.2f} s\n        {outcomes}")
            for problem in report.problems:
                print(f"  BROKEN {problem}")
            broken += len(report.problems)
    # A mutated session handle (RegisterSession) or target connection id (Forward
    # Open) is chosen by the device and cannot be checked by the driver: the reads
    # that follow pass the guard, but the simulator cannot attribute them and
    # records them as non-reads.  Listed apart; anything else is a broken promise.
    violations = checker_violations()
    unattributable = [r for r in violations
                      if r.detail == "no registered session" or r.operation == "cip:unconnected-id"]
    for request in unattributable[:5]:
        print(f"  unattributable (mutated session/connection id): {request}")
    others = [r for r in violations if r not in unattributable]
    for request in others[:20]:
        print(f"  NON-READ {request}")
    return 1 if broken or others else 0


if __name__ == "__main__":
    sys.exit(main())
