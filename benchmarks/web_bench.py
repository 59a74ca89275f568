"""Dashboard cost with a large fleet in the store (a script, not a test).

    .venv/bin/python benchmarks/web_bench.py [--devices 10000] [--checks 5] [--runs 3]

Builds a site whose store holds N signed baselines (synthetic Modbus drives,
never contacted: no device is read), ``--checks`` recorded checks per device
(one drift in 50) and alert records, then serves it with uvicorn on 127.0.0.1
and asks each page over HTTP: the fleet page and /api/status (every device's
baseline verified: signature, chain, content rows), a device page, /assets
(every identity artifact read), /metrics.  Reported per page: the best of
``--runs`` wall times with no cache (the worst case: every request recomputes),
the time with the cache warm, and the peak Python memory of one
request (tracemalloc, a separate pass since tracing slows everything).  Also
the process's peak RSS.
"""

from __future__ import annotations

import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_site import build, site_arguments  # noqa: E402
from support.web import get, serving  # noqa: E402

PAGES = ["/", "/api/status", "/devices/vfd-00042", "/assets", "/metrics"]


def measure(root: Path, runs: int) -> None:
    rows = []
    with serving(root, cache_seconds=0) as base:
        for page in PAGES:
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                status, _, body = get(base + page, timeout=600)
                times.append(time.perf_counter() - t)
                assert status == 200, (page, status, body[:300])
            rows.append([page, min(times), len(body)])
        tracemalloc.start()
        for row in rows:
            tracemalloc.reset_peak()
            get(base + row[0], timeout=600)
            row.append(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
    with serving(root, cache_seconds=60) as base:
        for row in rows:
            get(base + row[0], timeout=600)
            t = time.perf_counter()
            get(base + row[0], timeout=600)
            row.insert(2, time.perf_counter() - t)
    print(f"{'page':<22} {'no cache':>9} {'cache warm':>11} {'bytes':>11} {'peak MiB':>9}")
    for page, cold, warm, size, peak in rows:
        print(f"{page:<22} {cold:>8.2f}s {warm:>10.2f}s {size:>11,} {peak:>9.1f}")
    print(f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    ap = site_arguments(__doc__, runs=3)
    ap.add_argument("--keep", type=Path, help="Build (or reuse) the site here and keep it.")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="plc-web-bench-"))
    root = args.keep or tmp / "site"
    try:
        if not (root / "site.toml").exists():
            t = time.perf_counter()
            build(root, args.devices, args.checks)
            print(f"built {args.devices} devices x {args.checks} checks in "
                  f"{time.perf_counter() - t:.0f} s", file=sys.stderr)
        measure(root, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
