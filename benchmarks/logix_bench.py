"""Logix check cost against the bare-pycomm3 limit.

For a simulated controller with about 300 and 3,000 tags (same UDTs as plc-gantry),
measures on loopback:
  quick check   LogixDriver.collect(QUICK): open without tag upload, identity, AuditValue
  deep check    LogixDriver.collect(DEEP): open with full tag/UDT upload, modules, config tags
  bare quick    pycomm3 LogixDriver open(init_tags=False) + the two 0x8E reads + close
  bare upload   pycomm3 LogixDriver open() with full tag upload + close  (the limit)
and prints medians, the ratios check/limit, and the peak Python memory of one deep
check (tracemalloc; simulator included, since it runs in this process).

    .venv/bin/python benchmarks/logix_bench.py [--runs 7]

Both client and simulator run in this one process: the figures are CPU cost of both
sides, not network latency.  Real controllers add ~1-5 ms per request.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

from pycomm3 import LogixDriver as PycommLogix

from drivers.logix import LogixDriver
from integrity.model import Device, Mode
from simulators.logix import LogixSimulator
from simulators.logix.generate import sized_image


def _median_ms(fn, runs: int) -> float:
    fn()  # warm-up: imports, caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def bench(n_tags: int, runs: int) -> dict[str, float]:
    sim = LogixSimulator(sized_image(n_tags))
    sim.start()
    try:
        entry = sim.inventory_entry()
        table = {k: v for k, v in entry.items() if k not in ("name", "protocol", "host", "port")}
        device = Device(sim.name, "logix", sim.host, sim.port,
                        LogixDriver.parse_options(table, file=None, device=sim.name), timeout=5.0,
                        max_rps=None)  # no politeness ceiling: driver overhead only
        path = f"{sim.host}:{sim.port}/0"

        def check(mode: Mode):
            with LogixDriver(device) as driver:
                return driver.collect(mode)

        def bare(upload: bool):
            plc = PycommLogix(path, init_tags=upload)
            plc.socket_timeout = 5.0
            plc.open()
            if not upload:
                for attr in (0x1B, 0x1C):
                    plc.generic_message(service=0x0E, class_code=0x8E, instance=1, attribute=attr)
            plc.close()

        tags = len(check(Mode.DEEP).by_key()["tags/controller"].value())
        out = {"tags": float(n_tags), "controller_tags": float(tags),
               "quick_ms": _median_ms(lambda: check(Mode.QUICK), runs),
               "bare_quick_ms": _median_ms(lambda: bare(False), runs),
               "deep_ms": _median_ms(lambda: check(Mode.DEEP), runs),
               "bare_upload_ms": _median_ms(lambda: bare(True), runs)}
        tracemalloc.start()
        check(Mode.DEEP)
        out["deep_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return out
    finally:
        sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"{'tags':>6} {'quick':>9} {'bare q':>9} {'ratio':>6} {'deep':>9} {'bare up':>9} "
          f"{'ratio':>6} {'peak MiB':>9}")
    for n in (300, 3000):
        r = bench(n, args.runs)
        print(f"{n:>6} {r['quick_ms']:>7.1f}ms {r['bare_quick_ms']:>7.1f}ms "
              f"{r['quick_ms'] / r['bare_quick_ms']:>6.2f} {r['deep_ms']:>7.1f}ms "
              f"{r['bare_upload_ms']:>7.1f}ms {r['deep_ms'] / r['bare_upload_ms']:>6.2f} "
              f"{r['deep_peak_mib']:>9.1f}")


if __name__ == "__main__":
    main()
