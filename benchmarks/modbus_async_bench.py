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
and prints each time, its ratio to bare-async, and drives per second.  Only reading
is timed (no store, no comparison): this measures the driver against the library.
"""

from __future__ import annotations

import argparse
import asyncio
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


def start_fleet(args: argparse.Namespace, workdir: Path) -> tuple[list[subprocess.Popen], list[Device]]:
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
    devices = []
    for out in outs:
        for t in tomllib.loads(out.read_text(encoding="utf-8"))["devices"]:
            options = ModbusDriver.parse_options({k: v for k, v in t.items() if k not in COMMON},
                                                 file=str(out), device=t["name"])
            devices.append(Device(t["name"], "modbus", t["host"], t["port"], options=options,
                                  timeout=t["timeout"], retries=t["retries"],
                                  max_rps=args.max_rps or None))
    return procs, sorted(devices, key=lambda d: d.name)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drives", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.005)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fleet-procs", type=int, default=2)
    parser.add_argument("--max-rps", type=float, default=200.0,
                        help="the driver's per-device ceiling (0: none); the bare reads have none")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        procs, devices = start_fleet(args, Path(tmp))
        try:
            best: dict[str, float] = {}
            for _ in range(args.rounds):
                for name, way in WAYS.items():  # interleaved: drift in load hits all alike
                    started = time.perf_counter()
                    way(devices, args.concurrency)
                    elapsed = time.perf_counter() - started
                    best[name] = min(best.get(name, elapsed), elapsed)
        finally:
            for proc in procs:
                if proc.stdin:
                    proc.stdin.close()
            for proc in procs:
                proc.wait(30)
    print(f"{len(devices)} drives, latency {args.latency * 1000:g} ms, concurrency "
          f"{args.concurrency}, max_rps {args.max_rps or 'none'}, best of {args.rounds}")
    for name, seconds in best.items():
        print(f"  {name:15s} {seconds:7.3f} s  {seconds / best['bare-async']:5.2f} x bare-async"
              f"  {len(devices) / seconds:7.1f} drives/s")


if __name__ == "__main__":
    main()
