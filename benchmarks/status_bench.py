"""Cost of ``plc-integrity status`` over a large store (a script, not a test).

    .venv/bin/python benchmarks/status_bench.py [--devices 10000] [--checks 5] [--runs 5]
        [--site DIR] [--profile DIR]

Builds (once; kept in ``--site`` or a cache folder under the temp dir, reused by
the next run with the same sizes) a site of N Modbus drives, each with one
signed baseline and ``--checks`` recorded checks (benchmarks/bench_site.py: no
device is ever contacted), then runs ``plc-integrity status --all`` and
``status --all --json``, each as its own process, ``--runs`` times interleaved,
and reports the best wall time, that process's CPU (wait4: with the
verification worker it forks, baselines/parallel.py), the least CPU of the
command's own process (without that worker, which runs on the other core: on
a busy box, a steadier figure than wall time for before/after) and peak RSS,
next to the bare
start-up (the interpreter and the imports of the status command)
measured the same way in the same run.  ``--profile DIR`` also runs each under
cProfile and prints where the time goes (the .prof files stay in DIR).
``--compare SRC`` also runs the same commands from another source tree (e.g.
``git archive main | tar -x -C /tmp/main``), interleaved: before and after
under the same load.

Measured as installed: an installed plc-integrity has its bytecode compiled
(pip does it at install), so the measured processes may write and reuse .pyc
files (under the cache folder, whatever PYTHONDONTWRITEBYTECODE says; one
warm-up run per tree first).  ``--no-bytecode`` measures with every module
compiled again at each start, as a shell with PYTHONDONTWRITEBYTECODE=1 does
(about half a second more at start-up on a 2-core box).
"""

from __future__ import annotations

import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_site import build, site_arguments  # noqa: E402
from own_usage import Measured  # noqa: E402

# The command's own CPU (without any worker it forked) goes to stderr at exit.
CLI = [sys.executable, "-c", "import atexit, resource, sys; atexit.register(lambda: print("
       "'OWN-CPU', sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), file=sys.stderr)); "
       "from integrity.cli import main; main()"]
# What every status process pays before reading anything.
STARTUP = [sys.executable, "-c", "import integrity.cli, integrity.cli.ops, integrity.status, "
           "baselines.store"]
COMMANDS = {"table": ["status", "--all"], "json": ["status", "--all", "--json"]}
# (label, file suffix, function): cumulative time of each in a cProfile run.
PARTS = [
    ("load_site (inventory)", "integrity/inventory.py", "load_site"),
    ("store open", "baselines/store.py", "open"),
    ("latest_many (all)", "baselines/history.py", "latest_many"),
    ("  Ed25519 verify", "baselines/signing.py", "verify"),
    ("  Manifest.from_bytes", "baselines/manifest.py", "from_bytes"),
    ("  canonical.encode", "integrity/canonical.py", "encode"),
    ("  missing_contents", "baselines/contents.py", "missing_contents"),
    ("last_checks", "baselines/checks.py", "last_checks"),
    ("collect_status", "integrity/status.py", "collect_status"),
    ("render (table)", "integrity/status.py", "render"),
    ("to_dict + emit_json", "integrity/cli/_common.py", "emit_json"),
]


# Set by main(): where measured processes keep bytecode (None: they compile every time).
PYCACHE: Path | None = None


def _env(code: Path | None) -> dict[str, str]:
    env = {**os.environ, **({"PYTHONPATH": str(code)} if code else {})}
    if PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)  # mirrors each source's absolute path
    return env


def run(argv: list[str], code: Path | None = None) -> dict[str, Any]:
    """One process: wall, its own CPU (wait4, with any worker it waited for)
    and peak RSS; output discarded.  ``code``: the source tree to import
    plc-integrity from (default: installed)."""
    env = _env(code)
    start = time.perf_counter()
    # Run in the tree itself: ``python -c`` puts the working folder first on sys.path.
    # Through a small launcher: started from this process (which may have just built
    # the site), its peak RSS would start at this one's (benchmarks/own_usage.py).
    measured = Measured(argv)
    proc = measured.start(stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                          cwd=code or ROOT)
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    proc.wait()
    wall = time.perf_counter() - start
    u = measured.usage()
    code = u["exit"]
    if code not in (0, 1, 4, 5):  # drift / no baseline / integrity are answers, not failures
        raise SystemExit(f"{' '.join(argv[3:])} exited {code}:\n{err[-2000:]}")
    own = [float(line.split()[1]) for line in err.splitlines() if line.startswith("OWN-CPU ")]
    return {"wall": wall, "cpu": u["utime"] + u["stime"],
            "own": own[0] if own else u["utime"] + u["stime"],
            "rss": u["maxrss_kib"] / 1024, "exit": code}


def profile(root: Path, name: str, args: list[str], folder: Path) -> None:
    out = folder / f"status-{name}.prof"
    subprocess.run([sys.executable, "-c", "import cProfile; from integrity.cli import main; "
                    f"cProfile.run('main()', {str(out)!r})", "--site", str(root), *args],
                   stdout=subprocess.DEVNULL, check=False, cwd=ROOT, env=_env(None))
    stats = pstats.Stats(str(out))
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"\ncProfile of status {' '.join(args[1:])}: {total:.2f} s under cProfile, which "
          f"slows Python code more than C ({out})")
    for label, suffix, func in PARTS:
        cum = sum(v[3] for (f, _line, fn), v in stats.stats.items()  # type: ignore[attr-defined]
                  if fn == func and f.endswith(suffix))
        calls = sum(v[1] for (f, _line, fn), v in stats.stats.items()  # type: ignore[attr-defined]
                    if fn == func and f.endswith(suffix))
        if cum:
            print(f"  {label:<24} {cum:7.3f} s {100 * cum / total:5.1f}%  ({calls} calls)")


def main() -> None:
    ap = site_arguments(__doc__, runs=5)
    ap.add_argument("--site", type=Path, help="Build (or reuse) the site here.")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="Also run each command under cProfile; .prof files go here.")
    ap.add_argument("--compare", type=Path, metavar="SRC",
                    help="Also run the commands from this source tree, interleaved.")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="Compile every module at each start (no .pyc), as with "
                         "PYTHONDONTWRITEBYTECODE=1.")
    args = ap.parse_args()
    root = args.site or (Path(tempfile.gettempdir())
                         / f"plc-status-bench-{args.devices}x{args.checks}" / "site")
    if not (root / "site.toml").exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        build(root, args.devices, args.checks)
        print(f"built {args.devices} devices x {args.checks} checks in "
              f"{time.perf_counter() - t:.0f} s ({root})", file=sys.stderr)
    trees: dict[str, Path | None] = {"": None, **({f" {args.compare}": args.compare}
                                                    if args.compare else {})}
    global PYCACHE
    PYCACHE = None if args.no_bytecode else root.parent / "pycache"
    for code in trees.values():  # warm-up: writes the bytecode the timed runs read
        run(STARTUP, code)
    results: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.runs):  # interleaved, so a burst of load hits every command alike
        for label, code in trees.items():
            results.setdefault("start-up" + label, []).append(run(STARTUP, code))
            for name, cmd in COMMANDS.items():
                results.setdefault(name + label, []).append(
                    run([*CLI, "--site", str(root), *cmd], code))
    print(f"{args.devices} devices, best of {args.runs} (load average "
          f"{os.getloadavg()[0]:.1f}; "
          f"{'no bytecode' if args.no_bytecode else 'bytecode cached, as installed'}):")
    for name, runs in results.items():
        b = min(runs, key=lambda r: r["wall"])
        label = name.replace("start-up", "start-up + imports") if name.startswith("start-up") \
            else f"status ({name.split()[0]}){name[len(name.split()[0]):]}"
        own = min(r["own"] for r in runs)
        print(f"  {label:<20} wall {b['wall']:6.2f} s  cpu {b['cpu']:6.2f} s  own cpu {own:5.2f} s  "
              f"rss {b['rss']:5.0f} MiB" + ("" if name.startswith("start-up") else f"  exit {b['exit']}"))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        for name, cmd in COMMANDS.items():
            profile(root, name, cmd, args.profile)


if __name__ == "__main__":
    main()
