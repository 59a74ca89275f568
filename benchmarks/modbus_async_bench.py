"""Modbus read paths against the bare pymodbus asyncio limit (a script, not a test).

    .venv/bin/python benchmarks/modbus_async_bench.py                 # 300 drives, 5 ms, 64 at a time
    .venv/bin/python benchmarks/modbus_async_bench.py --drives 100 --latency 0.01 --rounds 3

A fleet of simulated vfd-hoist drives (benchmarks/fleet.py) runs in ``--fleet-procs``
separate processes, every reply delayed by ``--latency`` s.  On the same fleet this
process times, best of ``--rounds``, reading every drive once, ``--concurrency`` at
a time:
  bare-async    pymodbus's AsyncModbusTcpClient, the driver's requests, nothing else
                (benchmarks/bare.py: the limit)
  bare-threads  pymodbus's sync client on a thread pool (benchmarks/bare.py)
  driver-async  ModbusDriver.collect_async, all drives on one event loop
  driver-threads ModbusDriver.collect on a thread pool (what integrity.check does today)
and prints each time, its ratio to bare-async, drives per second, and the CPU this
process spent per drive (the fleet runs elsewhere; best round).  Only reading is
timed (no store, no comparison): this measures the driver against the library.

``--compare SRC`` also runs driver-async from another source tree (e.g. a
``git worktree add /tmp/base main``) and from this one, each in a fresh worker
process, interleaved with the rest: their CPU per drive and the ratio, read
with the process's own clock around the reads only (not its start or imports).

    .venv/bin/python benchmarks/modbus_async_bench.py --compare /tmp/base --rounds 5
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bare  # noqa: E402
from drivers.modbus import ModbusDriver  # noqa: E402
from integrity.model import Device  # noqa: E402

COMMON = {"name", "protocol", "host", "port", "timeout", "retries"}


def start_fleet(args: argparse.Namespace, workdir: Path) -> tuple[list[subprocess.Popen], list[Path]]:
    procs, outs = [], []
    for k in range(args.fleet_procs):
        out = workdir / f"fleet-{k}.toml"
        procs.append(subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "fleet.py"), "--drives", str(args.drives),
             "--s7", "0", "--logix", "0", "--latency", str(args.latency),
             "--shard", f"{k}/{args.fleet_procs}", "--out", str(out)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        outs.append(out)
    for proc in procs:
        if not (proc.stdout and proc.stdout.readline().startswith("ready")):
            raise SystemExit("a fleet process failed to start")
    return procs, outs


def load_devices(outs: list[Path], max_rps: float) -> list[Device]:
    devices = []
    for out in outs:
        for t in tomllib.loads(out.read_text(encoding="utf-8"))["devices"]:
            options = ModbusDriver.parse_options({k: v for k, v in t.items() if k not in COMMON},
                                                 file=str(out), device=t["name"])
            devices.append(Device(t["name"], "modbus", t["host"], t["port"], options=options,
                                  timeout=t["timeout"], retries=t["retries"],
                                  max_rps=max_rps or None))
    return sorted(devices, key=lambda d: d.name)


def driver_threads(devices: list[Device], concurrency: int) -> None:
    def one(device: Device) -> None:
        with ModbusDriver(device) as drv:
            drv.collect()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, devices))


def driver_async(devices: list[Device], concurrency: int) -> None:
    async def run() -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one(device: Device) -> None:
            async with sem, ModbusDriver(device) as drv:
                await drv.collect_async()

        await asyncio.gather(*(one(d) for d in devices))

    asyncio.run(run())


WAYS: dict[str, Callable[[list[Device], int], None]] = {
    "bare-async": bare.read_fleet_async, "bare-threads": bare.read_fleet,
    "driver-async": driver_async, "driver-threads": driver_threads}


def worker(argv: list[str]) -> None:
    """``--worker SRC CONCURRENCY MAX_RPS FLEET.toml...``: driver-async once, with the
    driver imported from SRC; prints the CPU seconds of the reads alone (JSON)."""
    src, concurrency, max_rps, *outs = argv
    sys.path.insert(0, src)  # before this tree's: the worker reads with SRC's driver
    for name in [m for m in sys.modules if m.split(".")[0] in ("drivers", "integrity")]:
        del sys.modules[name]
    global ModbusDriver, Device
    from drivers.modbus import ModbusDriver  # noqa: F811
    from integrity.model import Device  # noqa: F811
    import drivers.modbus
    assert Path(drivers.modbus.__file__).resolve().is_relative_to(Path(src).resolve())
    devices = load_devices([Path(o) for o in outs], float(max_rps))
    from integrity import canonical  # its one-off table of numbers' text: not per drive
    canonical.encode_uint16_table(0, array.array("H", [0]))
    before, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    driver_async(devices, int(concurrency))
    after = resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    print(json.dumps({"cpu_s": user + system, "user_s": user, "sys_s": system,
                      "wall_s": time.perf_counter() - wall, "drives": len(devices)}))


def in_worker(src: Path, args: argparse.Namespace, outs: list[Path]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", str(src), str(args.concurrency),
                          str(args.max_rps), *map(str, outs)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        return worker(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drives", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.005)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fleet-procs", type=int, default=2)
    parser.add_argument("--max-rps", type=float, default=200.0,
                        help="the driver's per-device ceiling (0: none); the bare reads have none")
    parser.add_argument("--compare", type=Path, metavar="SRC",
                        help="also run driver-async from SRC and from this tree, in workers")
    parser.add_argument("--only", nargs="*", choices=list(WAYS), default=list(WAYS),
                        help="the in-process ways to run (default: all)")
    args = parser.parse_args()
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    split: dict[str, tuple[float, float]] = {}  # user, kernel CPU of the workers' best rounds
    with tempfile.TemporaryDirectory() as tmp:
        procs, outs = start_fleet(args, Path(tmp))
        try:
            devices = load_devices(outs, args.max_rps)
            workers = {"this-tree": ROOT, "compare": args.compare} if args.compare else {}
            for _ in range(args.rounds):
                for name in args.only:  # interleaved: drift in load hits all alike
                    started, cpu0 = time.perf_counter(), time.process_time()
                    WAYS[name](devices, args.concurrency)
                    elapsed, spent = time.perf_counter() - started, time.process_time() - cpu0
                    best[name] = min(best.get(name, elapsed), elapsed)
                    cpu[name] = min(cpu.get(name, spent), spent)
                for name, src in workers.items():
                    got = in_worker(src, args, outs)
                    best[name] = min(best.get(name, got["wall_s"]), got["wall_s"])
                    if got["cpu_s"] < cpu.get(name, float("inf")):
                        cpu[name], split[name] = got["cpu_s"], (got["user_s"], got["sys_s"])
        finally:
            for proc in procs:
                if proc.stdin:
                    proc.stdin.close()
            for proc in procs:
                proc.wait(30)
    print(f"{len(devices)} drives, latency {args.latency * 1000:g} ms, concurrency "
          f"{args.concurrency}, max_rps {args.max_rps or 'none'}, best of {args.rounds}")
    ref = best.get("bare-async")
    for name, seconds in best.items():
        ratio = f"{seconds / ref:5.2f} x bare-async" if ref else ""
        print(f"  {name:15s} {seconds:7.3f} s  {ratio}  {len(devices) / seconds:7.1f} drives/s"
              f"  CPU {cpu[name] / len(devices) * 1000:6.3f} ms/drive"
              + (" (user %.3f, kernel %.3f)" % tuple(t / len(devices) * 1000 for t in split[name])
                 if name in split else ""))
    if args.compare:
        print(f"  CPU per drive, this tree / {args.compare}: "
              f"{cpu['this-tree'] / cpu['compare']:.3f}")


if __name__ == "__main__":
    main()
