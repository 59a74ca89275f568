"""Fleet sweep against the bare-library limit (a script, not a test).

    .venv/bin/python benchmarks/sweep_bench.py                      # 300 drives, 50 S7, 20 Logix
    .venv/bin/python benchmarks/sweep_bench.py --drives 75 --s7 12 --logix 5 --latency 0.005

A fleet of simulated devices (benchmarks/fleet.py) runs in ``--fleet-procs``
separate processes, every reply delayed by ``--latency`` seconds.  This process
builds a site for it, captures signed baselines (not timed), then, on the same
fleet and data, times for each ``--concurrency`` level:
  (a) the limit: the bare libraries (pymodbus, python-snap7, pycomm3) sending the
      drivers' read requests, on threads, and with Modbus on pymodbus's asyncio client;
  (b) plc-integrity's sweep: ``integrity.sweep.run_sweep`` (what ``plc-integrity
      sweep --all`` calls), reading, verifying baselines, comparing, recording.
It prints both times, b/a (best of each), devices per second, and memory: the
tracemalloc peak of one sweep (Python allocations of this process), the results'
own size, and ru_maxrss of this process.  Run two fleet sizes and compare
"peak per device" to see that memory does not grow beyond the results.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bare  # noqa: E402
from baselines.signing import SigningKey, TrustStore, generate_keypair  # noqa: E402
from baselines.store import Store  # noqa: E402
from integrity.check import capture_baselines  # noqa: E402
from integrity.inventory import load_site  # noqa: E402
from integrity.model import Device, Mode, Status  # noqa: E402
from integrity.site import init_site  # noqa: E402
from integrity.sweep import run_sweep  # noqa: E402

PROTOCOL_ORDER = {"s7": 0, "logix": 1, "modbus": 2}


class Fleet:
    """The fleet processes; stopped by closing their stdin."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.inventories: list[Path] = []
        for k in range(args.fleet_procs):
            out = workdir / f"fleet-{k}.toml"
            cmd = [sys.executable, str(ROOT / "benchmarks" / "fleet.py"), "--drives", str(args.drives),
                   "--s7", str(args.s7), "--logix", str(args.logix), "--latency", str(args.latency),
                   "--shard", f"{k}/{args.fleet_procs}", "--out", str(out)]
            self.procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                               text=True))
            self.inventories.append(out)

    def wait_ready(self) -> int:
        total = 0
        for proc in self.procs:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line.startswith("ready"):
                raise SystemExit(f"fleet process {proc.args} failed to start (exit {proc.poll()})")
            total += int(line.split()[1])
        return total

    def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def make_site(workdir: Path, inventories: list[Path]) -> tuple[list[Device], Path, SigningKey]:
    root = workdir / "site"
    init_site(root)
    key_path, pub_path, _ = generate_keypair("bench", workdir / "keys", None)
    TrustStore(root / "trust").add(pub_path)
    for inv in inventories:
        (root / "devices" / inv.name).write_text(inv.read_text(encoding="utf-8"), encoding="utf-8")
    site = load_site(root)
    devices = sorted(site.devices, key=lambda d: (PROTOCOL_ORDER[d.protocol], d.name))
    return devices, root, SigningKey.load(key_path, None)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def sweep_once(devices: list[Device], store: Store, trust: TrustStore, mode: Mode,
               concurrency: int) -> Any:
    report = run_sweep(devices, store, trust, mode=mode, concurrency=concurrency)
    bad = [r for r in report.results if r.status is not Status.OK]
    if bad:
        raise SystemExit(f"sweep found {len(bad)} devices not OK, e.g. {bad[0].device}: "
                         f"{bad[0].status.value} {bad[0].message}")
    return report


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes held by an object graph (the results a sweep returns)."""
    seen = seen if seen is not None else set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        size += sum(deep_size(v, seen) for v in obj)
    elif hasattr(obj, "__dict__"):
        size += deep_size(vars(obj), seen)
    elif hasattr(obj, "__slots__"):
        size += sum(deep_size(getattr(obj, s), seen) for s in obj.__slots__ if hasattr(obj, s))
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drives", type=int, default=300)
    parser.add_argument("--s7", type=int, default=50)
    parser.add_argument("--logix", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per device reply")
    parser.add_argument("--fleet-procs", type=int, default=2, help="processes serving the fleet")
    parser.add_argument("--concurrency", default="16,32,64,128",
                        help="comma-separated levels tried for both (a) and (b)")
    parser.add_argument("--mode", choices=("deep", "quick"), default="deep")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed runs of each measurement per level; the best counts")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    mode = Mode(args.mode)

    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        workdir = Path(tmp)
        fleet = Fleet(args, workdir)
        try:
            served = fleet.wait_ready()
            devices, root, key = make_site(workdir, fleet.inventories)
            assert len(devices) == served
            site = load_site(root)
            trust = TrustStore(site.trust_dir)
            store = Store.open(site.store_url, heads_path=site.heads_path)
            try:
                setup_s, outcomes = timed(lambda: capture_baselines(
                    devices, store, trust, key, "benchmark", mode=Mode.DEEP, concurrency=64))
                failed = [o for o in outcomes if o.error is not None]
                if failed:
                    raise SystemExit(f"baseline capture failed for {len(failed)} devices, e.g. "
                                     f"{failed[0].device.name}: {failed[0].error}")
                print(f"fleet: {served} devices ({args.drives} Modbus drives, {args.s7} S7 CPUs, "
                      f"{args.logix} Logix controllers) in {args.fleet_procs} processes, "
                      f"latency {args.latency * 1000:g} ms/reply; baselines captured in {setup_s:.1f} s "
                      f"(not timed below); mode {mode.value}")
                figures = run_levels(devices, store, trust, mode, levels, args.rounds)
                figures.update(measure_memory(devices, store, trust, mode, figures))
            finally:
                store.close()
        finally:
            fleet.stop()
    report(figures, served, args)


def run_levels(devices: list[Device], store: Store, trust: TrustStore, mode: Mode,
               levels: list[int], rounds: int = 3) -> dict[str, Any]:
    # One untimed pass each: imports, connection code paths, the manifest cache.
    bare.read_fleet(devices, max(levels))
    sweep_once(devices, store, trust, mode, max(levels))
    rows = []
    print(f"{'concurrency':>11} {'bare threads s':>15} {'bare asyncio s':>15} {'sweep s':>9}")
    for c in levels:
        # Interleaved and best of ``rounds`` for each of the three, so a noisy
        # moment on this shared machine cannot favour one side.
        threads_s = async_s = sweep_s = float("inf")
        for _ in range(rounds):
            threads_s = min(threads_s, timed(lambda: bare.read_fleet(devices, c))[0])
            async_s = min(async_s, timed(lambda: bare.read_fleet_async(devices, c))[0])
            sweep_s = min(sweep_s, timed(lambda: sweep_once(devices, store, trust, mode, c))[0])
        rows.append({"concurrency": c, "bare_threads_s": threads_s, "bare_async_s": async_s,
                     "sweep_s": sweep_s})
        print(f"{c:>11} {threads_s:>15.2f} {async_s:>15.2f} {sweep_s:>9.2f}", flush=True)
    best_bare = min(rows, key=lambda r: min(r["bare_threads_s"], r["bare_async_s"]))
    best_sweep = min(rows, key=lambda r: r["sweep_s"])
    return {"rows": rows,
            "bare_s": min(best_bare["bare_threads_s"], best_bare["bare_async_s"]),
            "bare_concurrency": best_bare["concurrency"],
            "bare_how": "threads" if best_bare["bare_threads_s"] <= best_bare["bare_async_s"] else "asyncio",
            "sweep_s": best_sweep["sweep_s"], "sweep_concurrency": best_sweep["concurrency"]}


def measure_memory(devices: list[Device], store: Store, trust: TrustStore, mode: Mode,
                   figures: dict[str, Any]) -> dict[str, Any]:
    """tracemalloc peaks of one sweep and one bare pass (separately: tracing slows
    allocation several-fold, so these runs are not the timed ones)."""
    tracemalloc.start()
    bare.read_fleet(devices, figures["bare_concurrency"])
    bare_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    report = sweep_once(devices, store, trust, mode, figures["sweep_concurrency"])
    sweep_peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {"bare_peak_mib": bare_peak / 2**20, "sweep_peak_mib": sweep_peak / 2**20,
            "results_mib": deep_size(report.results) / 2**20,
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def report(f: dict[str, Any], n: int, args: argparse.Namespace) -> None:
    ratio = f["sweep_s"] / f["bare_s"]
    print()
    print(f"(a) bare libraries (limit): {f['bare_s']:.2f} s  ({f['bare_how']}, concurrency "
          f"{f['bare_concurrency']})  {n / f['bare_s']:.0f} devices/s")
    print(f"(b) plc-integrity sweep:    {f['sweep_s']:.2f} s  (concurrency {f['sweep_concurrency']})"
          f"  {n / f['sweep_s']:.0f} devices/s")
    print(f"ratio b/a: {ratio:.2f}  (goal <= 1.15)")
    print(f"memory: sweep peak {f['sweep_peak_mib']:.1f} MiB ({f['sweep_peak_mib'] * 1024 / n:.1f} KiB/device), "
          f"results {f['results_mib']:.2f} MiB ({f['results_mib'] * 1024 / n:.2f} KiB/device); bare pass peak "
          f"{f['bare_peak_mib']:.1f} MiB; this process's maxrss {f['maxrss_mib']:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps({**f, "devices": n, "ratio": ratio, "drives": args.drives,
                                         "s7": args.s7, "logix": args.logix,
                                         "latency": args.latency}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
