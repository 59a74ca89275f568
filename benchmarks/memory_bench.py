"""Sweeper memory against fleet size, the two halves apart (a script, not a test).

    .venv/bin/python benchmarks/memory_bench.py                  # 1,000 devices
    .venv/bin/python benchmarks/memory_bench.py --devices 10000 --json /tmp/mem-10k.json

Comparing the peak RSS of ``sweep --all`` on a small and a large fleet mixes two
things: the size of the site a sweep starts from (the inventory it loads, the
signed checkpoint it verifies) and the number of devices it checks (each one's
result, and whatever a check leaves behind), and on the scale benchmark's fleet
also the order of the devices (its S7 and Logix come in runs as long as the
fleet is large, and a deep sweep's peak is set by how many of those are read at
once, up to ``concurrency``).  So on one fleet (scale_bench's mix and order,
benchmarks/fleet.py), one baseline capture, each command its own process and
its peak RSS from wait4:

- the site's size: one device swept from the site of all N devices, and the same
  device from a site of the first device of each protocol alone (its own capture);
- the count checked: the first K devices in inventory order swept from the
  site of N, for K = N/10, N/2 and N, quick and deep (``--skip-deep``: quick
  only); every K starts with the same run of S7 and Logix.

Reported: each peak, and the growth per device between the ends of each range
in KiB, next to what a check result alone is (~0.45 KiB).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale_bench import mix, run_cli  # noqa: E402
from sweep_bench import Fleet, make_site  # noqa: E402

from integrity.inventory import load_site  # noqa: E402


def sweep(root: Path, names: list[str] | None, quick: bool) -> dict[str, Any]:
    """One ``sweep`` (the names given, or --all) in its own process: exit and peak RSS."""
    selection = names if names is not None else ["--all"]
    r = run_cli(root, "sweep", *selection, *(["--quick"] if quick else []), "--json")
    if r["exit"] != 0:
        raise SystemExit(f"sweep exit {r['exit']}: {r['output'][-2000:]}")
    return {"maxrss_mib": r["maxrss_mib"], "wall_s": r["wall_s"], "cpu_s": r["cpu_s"]}


def small_site(workdir: Path, full: Path, names: list[str]) -> Path:
    """A site holding only ``names`` (their tables copied from the full site's
    inventory), with the same trust/ and a capture of its own."""
    root = workdir / "small"
    shutil.copytree(full / "trust", root / "trust")
    (root / "devices").mkdir(parents=True)
    shutil.copy(full / "site.toml", root / "site.toml")
    (root / "devices" / "small.toml").write_text(
        "".join("[[devices]]\n" + "".join(line + "\n" for line in _table(full, name))
                for name in names), encoding="utf-8")
    return root


def _table(site: Path, name: str) -> list[str]:
    """The lines of ``name``'s [[devices]] table (with its sub-tables) in the
    site's devices files, as the fleet wrote them."""
    for path in sorted((site / "devices").glob("*.toml")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.strip() == f'name = "{name}"':
                start = max(j for j in range(i + 1) if lines[j].strip() == "[[devices]]")
                end = next((j for j in range(i, len(lines)) if lines[j].strip() == "[[devices]]"),
                           len(lines))
                return lines[start + 1:end]
    raise SystemExit(f"{name} not found in {site}/devices")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per reply")
    parser.add_argument("--fleet-procs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--skip-deep", action="store_true", help="quick sweeps only")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    n = args.devices
    drives, s7, logix = mix(n)
    fleet_args = SimpleNamespace(drives=drives, s7=s7, logix=logix, latency=args.latency,
                                 fleet_procs=args.fleet_procs)
    figures: dict[str, Any] = {"devices": n, "drives": drives, "s7": s7, "logix": logix,
                               "concurrency": args.concurrency, "latency": args.latency}
    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        workdir = Path(tmp)
        fleet = Fleet(fleet_args, workdir)  # type: ignore[arg-type]
        try:
            fleet.wait_ready()
            _devices, root, _key = make_site(workdir, fleet.inventories)
            toml = root / "site.toml"
            toml.write_text(toml.read_text().replace("concurrency = 16",
                                                     f"concurrency = {args.concurrency}"))
            key = next((workdir / "keys").glob("*.key"))
            devices = load_site(root).devices
            order = [d.name for d in devices]  # inventory order
            # One device of each protocol: a site of the first device alone would not
            # import the other drivers, several MiB that do not grow with the site.
            firsts = list({d.protocol: d.name for d in reversed(devices)}.values())
            print(f"fleet: {n} devices ({drives} Modbus, {s7} S7, {logix} Logix), "
                  f"concurrency {args.concurrency}", flush=True)
            for site in (root, small := small_site(workdir, root, firsts)):
                r = run_cli(site, "baseline", "capture", "--all", "--key", str(key),
                            "--reason", "memory benchmark")
                if r["exit"] != 0:
                    raise SystemExit(f"capture failed: {r['output'][-2000:]}")
            first = order[:1]
            sweep(root, first, True)  # warm: page cache, .pyc files
            figures["site"] = {"small": len(firsts), "of_small": sweep(small, first, True),
                               "of_n": sweep(root, first, True)}
            print(f"one device swept, site of {len(firsts)}: "
                  f"{figures['site']['of_small']['maxrss_mib']:.1f} MiB; site of {n:,}: "
                  f"{figures['site']['of_n']['maxrss_mib']:.1f} MiB", flush=True)
            counts = sorted({max(1, n // 10), n // 2, n})
            for mode in ("quick",) if args.skip_deep else ("quick", "deep"):
                runs = {}
                for k in counts:
                    runs[k] = sweep(root, order[:k] if k < n else None, mode == "quick")
                    print(f"{mode}: first {k:,} of {n:,} checked: "
                          f"{runs[k]['maxrss_mib']:.1f} MiB ({runs[k]['wall_s']:.1f} s)",
                          flush=True)
                figures[mode] = {str(k): v for k, v in runs.items()}
        finally:
            fleet.stop()
    report(figures, counts)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")


def per_device_kib(low: float, high: float, count: int) -> float:
    return (high - low) * 1024 / count


def report(f: dict[str, Any], counts: list[int]) -> None:
    n = f["devices"]
    site = f["site"]
    print()
    low, high = site["of_small"]["maxrss_mib"], site["of_n"]["maxrss_mib"]
    print(f"site of {site['small']} -> site of {n:,} (one device swept): {low:.1f} -> {high:.1f} "
          f"MiB, {per_device_kib(low, high, n - site['small']):.2f} KiB per device in the site")
    for mode in ("quick", "deep"):
        if mode not in f:
            continue
        runs = [f[mode][str(k)]["maxrss_mib"] for k in counts]
        steps = " -> ".join(f"{k:,}: {v:.1f}" for k, v in zip(counts, runs))
        print(f"{mode}, devices checked of {n:,}: {steps} MiB, "
              f"{per_device_kib(runs[0], runs[-1], counts[-1] - counts[0]):.2f} KiB per device "
              "checked")


if __name__ == "__main__":
    main()
