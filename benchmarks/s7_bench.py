"""S7 check cost against its limit, on loopback (a script, not a test).

    .venv/bin/python benchmarks/s7_bench.py [--runs 5]

For a 20-block and a 200-block CPU (the simulator, in this same process, so
server CPU time is included on both sides): the deep check (collect + compare
with a baseline), the quick check, and the bare python-snap7 ``full_upload``
loop over the same blocks through one ``snap7.Client`` (the limit: what
uploading alone costs with the library), their ratio, and the peak Python
memory of one deep check (tracemalloc).  For the quick check: the requests
one quick and one deep check send (the simulator's log), deep/quick in time
and in requests, and the bare library reading the same quick floor
(benchmarks/bare.py ``read_s7(quick=True)``) against the quick check.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from snap7 import Block, Client  # noqa: E402

from drivers.s7 import S7Driver  # noqa: E402
from integrity.compare import compare  # noqa: E402
from integrity.model import Device, Mode  # noqa: E402
from simulators.s7 import S7Simulator  # noqa: E402
from simulators.s7_images import synthetic_image  # noqa: E402
from bare import read_s7  # noqa: E402  (benchmarks/bare.py, as scale_bench imports it)

logging.getLogger("snap7").setLevel(logging.CRITICAL)


def timed(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench(blocks: int, runs: int) -> dict[str, float]:
    with S7Simulator(synthetic_image(f"bench-{blocks}", blocks)) as sim:
        device = Device(sim.name, "s7", sim.host, sim.port, options=S7Driver.parse_options(
            {}, file=None, device=sim.name), timeout=5.0, retries=0,
            # No politeness ceiling: this measures the driver's own overhead on loopback.
            max_rps=None)

        def collect(mode: Mode):
            with S7Driver(device) as driver:
                return driver.collect(mode)

        def sent(mode: Mode) -> int:
            before = len(sim.requests)
            collect(mode)
            return len(sim.requests) - before

        baseline = collect(Mode.DEEP)
        deep = timed(lambda: compare(baseline.artifacts, collect(Mode.DEEP)), runs)
        quick = timed(lambda: compare(baseline.artifacts, collect(Mode.QUICK)), runs)
        deep_requests, quick_requests = sent(Mode.DEEP), sent(Mode.QUICK)
        bare_quick = timed(lambda: read_s7(device, quick=True), runs)

        targets = [(t, n) for t in ("OB", "FB", "FC", "DB", "SDB") for n in baseline.by_key()["blocks"].value()[t]]
        client = Client()
        client.connect(sim.host, 0, 2, sim.port)
        try:
            bare = timed(lambda: [client.full_upload(getattr(Block, t), n) for t, n in targets], runs)
        finally:
            client.disconnect()

        tracemalloc.start()
        compare(baseline.artifacts, collect(Mode.DEEP))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        requests = len(sim.requests)
    return {"blocks": blocks, "deep_s": deep, "quick_s": quick, "bare_upload_s": bare,
            "ratio": deep / bare, "deep_requests": deep_requests, "quick_requests": quick_requests,
            "bare_quick_s": bare_quick, "peak_mib": peak / 2**20, "image_kib": sum(
                len(a.content) for a in baseline.artifacts) / 1024, "requests": requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = [bench(n, args.runs) for n in (20, 200)]
    print(f"S7 check on loopback, median of {args.runs} runs (simulator in-process)")
    print(f"{'blocks':>6} {'deep s':>8} {'quick s':>8} {'bare upload s':>14} {'deep/bare':>10} "
          f"{'peak MiB':>9} {'captured KiB':>13}")
    for r in rows:
        print(f"{r['blocks']:>6} {r['deep_s']:>8.4f} {r['quick_s']:>8.4f} {r['bare_upload_s']:>14.4f} "
              f"{r['ratio']:>10.2f} {r['peak_mib']:>9.2f} {r['image_kib']:>13.1f}")
    print(f"\n{'blocks':>6} {'quick req':>9} {'deep req':>9} {'deep/quick req':>15} "
          f"{'deep/quick s':>13} {'bare quick s':>13} {'quick/bare':>11}")
    for r in rows:
        print(f"{r['blocks']:>6} {r['quick_requests']:>9} {r['deep_requests']:>9} "
              f"{r['deep_requests'] / r['quick_requests']:>15.1f} {r['deep_s'] / r['quick_s']:>13.1f} "
              f"{r['bare_quick_s']:>13.4f} {r['quick_s'] / r['bare_quick_s']:>11.2f}")


if __name__ == "__main__":
    main()
