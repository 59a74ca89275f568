"""Scale: a fleet of N devices, the real commands against the bare libraries (a script).

    .venv/bin/python benchmarks/scale_bench.py                   # 1,000 devices
    .venv/bin/python benchmarks/scale_bench.py --devices 10000 --json /tmp/scale-10k.json
    .venv/bin/python benchmarks/scale_bench.py --drives 300      # Modbus drives only
    .venv/bin/python benchmarks/scale_bench.py --devices 3000 --skip-deep --compare /tmp/main

The fleet is 80% Modbus drives (2,000 holding registers each), 15% S7 CPUs and
5% Logix controllers, every reply held back by ``--latency`` seconds, served by
``--fleet-procs`` processes (benchmarks/fleet.py: the drives of one process
share one event loop).  On that fleet, in one run, this script times:

- ``plc-integrity baseline capture --all`` (a subprocess: the real command);
- for quick and deep: the bare libraries reading what the drivers read
  (benchmarks/bare.py, in this process, threads, the same concurrency) and
  ``plc-integrity sweep --all [--quick]`` (a subprocess), interleaved and best
  of ``--rounds``; wall time, the ratio, and CPU seconds per device of each
  (the sweep's from wait4 on its process, so the fleet's CPU is not counted,
  and less the CPU of starting the CLI at all, measured with ``--version``);
- the sweeper's peak RSS (ru_maxrss of the sweep process, started by a small launcher so
  that this process's own peak does not floor it: benchmarks/own_usage.py);
- ``plc-integrity status`` (a subprocess);
- the store's size and bytes per recorded check.

Quick-check floors per protocol (what a quick check must still read):
Modbus has no cheaper signal than the registers themselves, so quick = deep;
S7 reads SZL identity/protection/mode and the block lists, and nothing per
block when the CPU vouches for its program checksums in that protection record
(else one block-info per block; never uploads); Logix reads identity and the two change-detection
attributes (AuditValue, ChangesToDetect), and everything only when the
controller has no change detection.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bare  # noqa: E402
from own_usage import Measured  # noqa: E402
from sweep_bench import Fleet, make_site  # noqa: E402

CLI = [sys.executable, "-c", "from integrity.cli import cli; cli()"]
# What every sweep process pays before its first device: the interpreter and
# the imports of the CLI, store, drivers and alerting (subtracted from its CPU).
STARTUP = [sys.executable, "-c", "import integrity.cli, integrity.cli.ops, integrity.sweep, "
           "baselines.store, drivers.modbus, drivers.s7, drivers.logix, sqlalchemy, alembic"]


def mix(n: int) -> tuple[int, int, int]:
    """(drives, s7, logix) for n devices: 80% / 15% / 5%."""
    s7, logix = round(n * 0.15), round(n * 0.05)
    return n - s7 - logix, s7, logix


def run_cli(root: Path | None, *args: str, argv: list[str] | None = None,
            profile: Path | None = None, spy: str | None = None,
            code: Path | None = None) -> dict[str, Any]:
    """One plc-integrity command in its own process: wall, CPU and peak RSS.
    ``code``: another source tree to run the command from (``--compare``)."""
    start = time.perf_counter()
    cmd = argv or [*CLI, "--site", str(root), *args]
    if profile is not None:  # the same command under cProfile
        cmd = [sys.executable, "-c", "import cProfile, sys; from integrity.cli import cli; "
               f"cProfile.run('cli()', {str(profile)!r})", "--site", str(root), *args]
    if spy is not None and profile is not None:  # py-spy: on-CPU samples of every thread
        cmd = [spy, "record", "--format", "raw", "-r", "200", "-o", str(profile), "--",
               *CLI, "--site", str(root), *args]
    env = {**os.environ, "PYTHONPATH": str(code)} if code else None
    # The command's own rusage (not the fleet's, not other children's), from a small
    # launcher: started from this process, its peak RSS would start at this one's
    # (benchmarks/own_usage.py).  The pipes are read on threads so a large output
    # cannot block it.
    measured = Measured(cmd)
    proc = measured.start(stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=code)
    out: list[bytes] = []
    import threading
    readers = [threading.Thread(target=lambda s=s: out.append(s.read()), daemon=True)
               for s in (proc.stdout, proc.stderr)]
    for r in readers:
        r.start()
    proc.wait()
    wall = time.perf_counter() - start
    for r in readers:
        r.join()
    usage = measured.usage()
    return {"wall_s": wall, "cpu_s": usage["utime"] + usage["stime"], "sys_s": usage["stime"],
            "switches": usage["switches"], "maxrss_mib": usage["maxrss_kib"] / 1024,
            "exit": usage["exit"], "output": b"".join(out).decode("utf-8", "replace")}


def bare_run(devices: list[Any], concurrency: int, quick: bool) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    bare.read_fleet(devices, concurrency, quick=quick)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime)
            + (after.ru_stime - before.ru_stime), "sys_s": after.ru_stime - before.ru_stime,
            "switches": (after.ru_nvcsw - before.ru_nvcsw) + (after.ru_nivcsw - before.ru_nivcsw)}


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return min(runs, key=lambda r: r["wall_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--drives", type=int, help="Modbus drives (default: 80%% of --devices)")
    parser.add_argument("--s7", type=int, help="S7 CPUs (default: 15%% of --devices)")
    parser.add_argument("--logix", type=int, help="Logix controllers (default: 5%% of --devices)")
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per reply")
    parser.add_argument("--fleet-procs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-deep", action="store_true", help="quick sweeps only")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--py-spy", dest="spy", metavar="PY_SPY",
                        help="with --profile: sample with this py-spy (all threads) instead "
                             "of cProfile (the main thread only); writes collapsed stacks")
    parser.add_argument("--compare", type=Path, metavar="SRC",
                        help="also run each sweep from this source tree (e.g. `git worktree "
                             "add /tmp/main main`), interleaved: before and after on the same "
                             "fleet under the same load")
    parser.add_argument("--profile", type=Path,
                        help="also run each sweep and status once under cProfile; the "
                             ".prof files go in this folder (read them with pstats)")
    args = parser.parse_args()
    drives, s7, logix = mix(args.devices)
    if (args.drives, args.s7, args.logix) != (None, None, None):
        # One protocol's share alone (e.g. --drives 300 --s7 0 --logix 0): unset ones are 0.
        drives, s7, logix = args.drives or 0, args.s7 or 0, args.logix or 0
        args.devices = drives + s7 + logix
    fleet_args = SimpleNamespace(drives=drives, s7=s7, logix=logix, latency=args.latency,
                                 fleet_procs=args.fleet_procs)
    figures: dict[str, Any] = {"devices": args.devices, "drives": drives, "s7": s7,
                               "logix": logix, "latency": args.latency,
                               "concurrency": args.concurrency}
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        workdir = Path(tmp)
        fleet = Fleet(fleet_args, workdir)  # type: ignore[arg-type]
        try:
            served = fleet.wait_ready()
            devices, root, _key = make_site(workdir, fleet.inventories)
            assert len(devices) == served == args.devices, (len(devices), served)
            toml = root / "site.toml"
            toml.write_text(toml.read_text().replace("concurrency = 16",
                                                     f"concurrency = {args.concurrency}"))
            key = next((workdir / "keys").glob("*.key"))
            print(f"fleet: {served} devices ({drives} Modbus, {s7} S7, {logix} Logix) in "
                  f"{args.fleet_procs} processes, {args.latency * 1000:g} ms/reply; "
                  f"concurrency {args.concurrency}", flush=True)
            # The median of several: one start-up's noise, divided by a few hundred
            # devices, would move the CPU per device by a good fraction of a millisecond.
            startups = sorted((run_cli(None, argv=STARTUP) for _ in range(max(3, args.rounds))),
                              key=lambda r: r["cpu_s"])
            startup = startups[len(startups) // 2]
            figures["cli_startup"] = {k: startup[k] for k in ("wall_s", "cpu_s", "maxrss_mib")}
            capture = run_cli(root, "baseline", "capture", "--all", "--key", str(key),
                              "--reason", "scale benchmark")
            if capture["exit"] != 0:
                raise SystemExit(f"capture failed ({capture['exit']}): {capture['output'][-2000:]}")
            figures["capture"] = {k: capture[k] for k in ("wall_s", "cpu_s", "maxrss_mib")}
            print(f"baseline capture --all: {capture['wall_s']:.1f} s", flush=True)
            for mode in ("quick",) if args.skip_deep else ("quick", "deep"):
                figures[mode] = measure(root, devices, mode, args, startup["cpu_s"])
            status = [run_cli(root, "status", "--json") for _ in range(args.rounds)]
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                run_cli(root, "status", "--json", profile=args.profile / "status.prof",
                        spy=args.spy)
            figures["status"] = {k: best(status)[k] for k in ("wall_s", "cpu_s", "maxrss_mib")}
            db = root / "plc-integrity.db"
            figures["store_bytes"] = db.stat().st_size
        finally:
            fleet.stop()
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")


def measure(root: Path, devices: list[Any], mode: str, args: argparse.Namespace,
            startup_cpu: float) -> dict[str, Any]:
    quick = mode == "quick"
    flags = ["--quick"] if quick else []
    bare.read_fleet(devices, args.concurrency, quick=quick)  # warm: imports, code paths
    bares, sweeps, others = [], [], []
    for _ in range(args.rounds):  # interleaved: a noisy moment cannot favour one side
        bares.append(bare_run(devices, args.concurrency, quick))
        for code, runs in ((None, sweeps), *(((args.compare, others),) if args.compare else ())):
            sweep = run_cli(root, "sweep", "--all", *flags, "--json", code=code)
            if sweep["exit"] != 0:
                raise SystemExit(f"{mode} sweep exit {sweep['exit']}: {sweep['output'][-2000:]}")
            runs.append(sweep)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        run_cli(root, "sweep", "--all", *flags, "--json", profile=args.profile / f"{mode}.prof",
                spy=args.spy)
    b, s = best(bares), best(sweeps)
    n = len(devices)
    out = {"bare_s": b["wall_s"], "sweep_s": s["wall_s"], "ratio": s["wall_s"] / b["wall_s"],
           "bare_cpu_ms_per_device": b["cpu_s"] / n * 1000,
           "sweep_cpu_ms_per_device": (s["cpu_s"] - startup_cpu) / n * 1000,
           "sweep_maxrss_mib": max(x["maxrss_mib"] for x in sweeps),
           # Kernel time and context switches per device: where threads fight over
           # the GIL or the CPUs, these grow while the Python work stays the same.
           "bare_sys_ms_per_device": b["sys_s"] / n * 1000,
           "sweep_sys_ms_per_device": s["sys_s"] / n * 1000,
           "bare_switches_per_device": b["switches"] / n,
           "sweep_switches_per_device": s["switches"] / n}
    out["cpu_ratio"] = out["sweep_cpu_ms_per_device"] / out["bare_cpu_ms_per_device"]
    if others:
        o = best(others)
        out["compare"] = {"source": str(args.compare), "sweep_s": o["wall_s"],
                          "ratio": o["wall_s"] / b["wall_s"],
                          "sweep_cpu_ms_per_device": (o["cpu_s"] - startup_cpu) / n * 1000,
                          "sweep_sys_ms_per_device": o["sys_s"] / n * 1000,
                          "sweep_switches_per_device": o["switches"] / n,
                          "sweep_maxrss_mib": max(x["maxrss_mib"] for x in others)}
        c = out["compare"]
        c["cpu_ratio"] = c["sweep_cpu_ms_per_device"] / out["bare_cpu_ms_per_device"]
        print(f"{mode} from {args.compare}: sweep {c['sweep_s']:.1f} s (ratio {c['ratio']:.2f}); "
              f"CPU/device {c['sweep_cpu_ms_per_device']:.2f} ms ({c['cpu_ratio']:.2f}x), of it kernel "
              f"{c['sweep_sys_ms_per_device']:.2f} ms; context switches/device "
              f"{c['sweep_switches_per_device']:.1f}; "
              f"sweeper RSS {c['sweep_maxrss_mib']:.0f} MiB", flush=True)
    print(f"{mode}: sweep {out['sweep_s']:.1f} s vs bare {out['bare_s']:.1f} s "
          f"(ratio {out['ratio']:.2f}); CPU/device {out['sweep_cpu_ms_per_device']:.2f} ms vs "
          f"{out['bare_cpu_ms_per_device']:.2f} ms ({out['cpu_ratio']:.2f}x), of it kernel "
          f"{out['sweep_sys_ms_per_device']:.2f} vs {out['bare_sys_ms_per_device']:.2f} ms; "
          f"context switches/device {out['sweep_switches_per_device']:.1f} vs "
          f"{out['bare_switches_per_device']:.1f}; sweeper RSS "
          f"{out['sweep_maxrss_mib']:.0f} MiB", flush=True)
    return out


def report(f: dict[str, Any]) -> None:
    print()
    print("| devices | quick sweep (bare, ratio) | quick CPU/device sweep vs bare | "
          "deep sweep (bare, ratio) | sweeper RSS quick/deep | capture --all | status |")
    q, d = f.get("quick", {}), f.get("deep")
    deep = (f"{d['sweep_s']:.1f} s ({d['bare_s']:.1f} s, {d['ratio']:.2f})" if d else "-")
    rss = f"{q['sweep_maxrss_mib']:.0f}" + (f" / {d['sweep_maxrss_mib']:.0f}" if d else "")
    print(f"| {f['devices']:,} | {q['sweep_s']:.1f} s ({q['bare_s']:.1f} s, {q['ratio']:.2f}) | "
          f"{q['sweep_cpu_ms_per_device']:.2f} vs {q['bare_cpu_ms_per_device']:.2f} ms "
          f"({q['cpu_ratio']:.2f}x) | {deep} | {rss} MiB | {f['capture']['wall_s']:.1f} s | "
          f"{f['status']['wall_s']:.2f} s |")
    print(f"store: {f['store_bytes'] / 2**20:.1f} MiB after capture and "
          f"the sweeps; CLI start-up {f['cli_startup']['wall_s']:.2f} s "
          f"wall, {f['cli_startup']['cpu_s']:.2f} s CPU (included in the command times)")


if __name__ == "__main__":
    main()
