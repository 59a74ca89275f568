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

import argparse
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import tomli_w  # noqa: E402

from baselines.signing import SigningKey, TrustStore, generate_keypair  # noqa: E402
from baselines.store import Store  # noqa: E402
from integrity.inventory import load_site  # noqa: E402
from integrity.site import init_site  # noqa: E402
from support.web import drift_result, drive_capture, get, serving  # noqa: E402

PAGES = ["/", "/api/status", "/devices/vfd-00042", "/assets", "/metrics"]


def build(root: Path, devices: int, checks: int) -> None:
    init_site(root)
    key_path, pub, _ = generate_keypair("bench", root.parent / "keys", None)
    TrustStore(root / "trust").add(pub)
    names = [f"vfd-{i:05d}" for i in range(devices)]
    (root / "devices" / "fleet.toml").write_text(tomli_w.dumps({"devices": [
        {"name": n, "protocol": "modbus", "host": "127.0.0.1", "port": 1, "unit": 1,
         "holding": ["0-99"], "tags": [f"line-{i % 20}"]} for i, n in enumerate(names)]}))
    site = load_site(root)
    key, trust = SigningKey.load(key_path, None), TrustStore(site.trust_dir).snapshot()
    start = datetime.now(timezone.utc) - timedelta(days=7)
    # No head file while building: advancing it rewrites the whole file per
    # baseline.  The dashboard then reports the anchor missing (a warning).
    with Store.open(site.store_url, heads_path=None) as store:
        for i, n in enumerate(names):
            b = store.append_baseline(drive_capture(n, start, firmware=f"V4.{i % 20:02d}",
                                                    value=i % 7),
                                      key, "commissioning", trust=trust, now=start)
            store.record_checks([drift_result(n, start + timedelta(hours=12 * (c + 1)), b,
                                              drift=c == checks - 1 and i % 50 == 0,
                                              signer=key.keyid) for c in range(checks)])
            if i % 1000 == 999:
                print(f"  built {i + 1} devices", file=sys.stderr)
        store.save_alert_records({n: {"state": "DRIFT" if i % 50 == 0 else "OK",
                                      "since": start.isoformat()} for i, n in enumerate(names)})


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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--checks", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
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
