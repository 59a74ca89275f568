"""The store's share of a sweep, on SQLite and on PostgreSQL side by side (a script, not a test).

    .venv/bin/python benchmarks/store_backends_bench.py                  # 1,000 devices
    .venv/bin/python benchmarks/store_backends_bench.py --devices 3000 --pg-url postgresql+psycopg://...

No devices are read: this times what a sweep and a collector ask of the store for
N devices, the same calls on both backends: storing one signed baseline per
device (``baseline capture``, not part of a sweep), verifying them all
(``latest_many``, once per sweep), recording N check results (one transaction),
saving N alert records, and a collector's claim and finish of N due jobs.
Without ``--pg-url`` a throwaway PostgreSQL server is started the way the tests
start one (tests/support/postgres.py: Debian's ``postgresql`` package, a Unix
socket in a temp folder), but durable (fsync on) like the SQLite file beside it
on the same disk.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from baselines.signing import SigningKey, TrustStore  # noqa: E402
from baselines.store import Store  # noqa: E402
from integrity.model import Artifact, Capture, CheckResult, Kind, Mode, Status  # noqa: E402

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def capture(device: str) -> Capture:
    return Capture(device=device, protocol="modbus", mode=Mode.DEEP, captured_at=T0, artifacts=(
        Artifact.from_value("identity", Kind.IDENTITY, {"vendor": "ACME", "product_code": "AD-9"}),
        Artifact.from_value("holding/0-1999", Kind.CONFIG,
                            {"start": 0, "values": [(i * 7 + len(device)) % 65536
                                                    for i in range(2000)]}, quick=False)),
        policy={"holding": ["0-1999"]})


def timed(label: str, fn: Callable[[], Any], out: dict[str, float]) -> Any:
    started = time.perf_counter()
    result = fn()
    out[label] = time.perf_counter() - started
    return result


def run(url: str | Path, n: int, trust: TrustStore, key: SigningKey) -> dict[str, float]:
    names = [f"vfd-{i:05d}" for i in range(n)]
    out: dict[str, float] = {}
    with Store.open(url) as store:
        timed("append N baselines", lambda: [store.append_baseline(
            capture(d), key, "bench", trust=trust, now=T0) for d in names], out)
        snapshot = trust.snapshot()
        latest = timed("latest_many", lambda: store.latest_many(names, snapshot), out)
        assert all(not isinstance(b, Exception) for b in latest.values())
        results = [CheckResult(d, "modbus", Status.OK, T0, mode=Mode.QUICK,
                               fingerprint="ab" * 32, baseline_id=latest[d].id) for d in names]
        timed("record_checks", lambda: store.record_checks(results), out)
        timed("save_alert_records", lambda: store.save_alert_records(
            {d: {"state": "OK", "since": T0.isoformat()} for d in names}, now=T0), out)
        jobs = [f"{d}/quick" for d in names]
        for j in jobs:
            store.set_due(j, T0, None)
        got = timed("claim_jobs", lambda: store.claim_jobs("c1", ["z"], jobs, T0,
                                                           timedelta(minutes=5)), out)
        assert len(got) == n
        timed("finish_jobs", lambda: store.finish_jobs(
            "c1", {j: T0 + timedelta(minutes=15) for j in jobs}, T0), out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--pg-url", help="an empty PostgreSQL database (default: a throwaway server)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        key = SigningKey.from_seed(b"\x01" * 32)
        pub = Path(tmp) / "bench.pub"
        pub.write_bytes(key.public_key.pem())
        trust = TrustStore(Path(tmp) / "trust")
        trust.add(pub)
        figures = {"sqlite": run(Path(tmp) / "bench.db", args.devices, trust, key)}
        server = None
        url = args.pg_url
        if url is None:
            from support.postgres import PostgresServer, find_bindir
            bindir = find_bindir()
            if bindir is None:
                sys.exit("no PostgreSQL installed (apt-get install -y postgresql) and no --pg-url")
            server = PostgresServer(bindir, durable=True)
            server.start()
            url = server.database()
        try:
            figures["postgresql"] = run(url, args.devices, trust, key)
        finally:
            if server is not None:
                server.stop()
    print(f"{args.devices} devices; seconds (lower is better)")
    print(f"{'operation':<22} {'SQLite':>9} {'PostgreSQL':>11} {'PG/SQLite':>10}")
    for op in figures["sqlite"]:
        a, b = figures["sqlite"][op], figures["postgresql"][op]
        print(f"{op:<22} {a:>9.3f} {b:>11.3f} {b / a:>10.2f}")


if __name__ == "__main__":
    main()
