"""Backup bundle cost against its limit (a script, not a test).

    .venv/bin/python benchmarks/backup_bench.py [--devices 1000] [--runs 3]

A store with one signed deep baseline per device (identity, 2,000 holding
registers, four raw block images of 2-8 KiB, all distinct).  Measured:
(a) the limit: every blob read from the same SQLite store with a bare SELECT,
written into a plain ``tarfile`` archive, then read back and SHA-256 hashed
member by member; (b) ``export_bundle`` (verified histories, manifests,
signatures, keys, index, SHA256SUMS) and ``verify_bundle`` (strict container,
every hash, every signature and chain).  Median times, the ratio b/a, and the
peak Python memory of each side (tracemalloc, one run each).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import statistics
import sys
import tarfile
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402

from baselines.bundle import export_bundle  # noqa: E402
from baselines.bundle_verify import verify_bundle  # noqa: E402
from baselines.signing import SigningKey, TrustStore  # noqa: E402
from baselines.store import Store  # noqa: E402
from baselines.verify import _parse  # noqa: E402
from integrity.model import Artifact, Capture, Kind, Mode  # noqa: E402

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def build(root: Path, devices: int) -> tuple[Path, TrustStore]:
    key = SigningKey.from_seed(b"\x05" * 32)
    (root / "trust").mkdir()
    (root / "trust" / "bench.pub").write_bytes(key.public_key.pem())
    trust = TrustStore(root / "trust")
    rng = random.Random(7)
    db = root / "store.db"
    with Store.open(db, heads_path=root / "heads.json") as store:
        for i in range(devices):
            arts = [Artifact.from_value("identity", Kind.IDENTITY, {"serial": f"SN{i:06d}"}),
                    Artifact.from_value("holding/0-1999", Kind.CONFIG,
                                        {"start": 0, "values": [rng.randrange(65536)
                                                                for _ in range(2000)]})]
            for n in range(4):
                arts.append(Artifact.from_bytes(f"blocks/FC/{n}", Kind.CODE,
                                                rng.randbytes(rng.randrange(2048, 8192))))
            store.append_baseline(Capture(f"dev-{i:05d}", "modbus", Mode.DEEP, T0, tuple(arts)),
                                  key, "bench", trust=trust, now=T0)
    return db, trust


def plain_tar(db: Path, out: Path) -> None:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn, tarfile.open(out, "w") as tar:
        for digest, content in conn.execute(text("SELECT digest, content FROM blobs "
                                                 "ORDER BY digest")):
            info = tarfile.TarInfo(f"blobs/{digest}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    engine.dispose()
    with tarfile.open(out, "r") as tar:
        for member in tar:
            fh = tar.extractfile(member)
            h = hashlib.sha256()
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
            assert h.hexdigest() == member.name[6:]


def bundle(db: Path, root: Path, trust: TrustStore, out: Path, devices: int) -> None:
    with Store.open(db, heads_path=root / "heads.json") as store, open(out, "wb") as fh:
        export_bundle(store, trust, [f"dev-{i:05d}" for i in range(devices)], fh)
    _parse.cache_clear()  # an offline verify runs in its own process: no parses to reuse
    report = verify_bundle(out, root / "trust")
    assert report.ok, report.problems[:3]


def measure(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(samples), peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        db, trust = build(root, args.devices)
        print(f"store of {args.devices} devices built in {time.perf_counter() - started:.1f} s")
        tar_s, tar_mib = measure(lambda: plain_tar(db, root / "plain.tar"), args.runs)
        bun_s, bun_mib = measure(lambda: bundle(db, root, trust, root / "b.plcbak", args.devices),
                                 args.runs)
        raw = os.path.getsize(root / "plain.tar")
        size = os.path.getsize(root / "b.plcbak")
    print(f"median of {args.runs} runs; peak Python memory by tracemalloc (one run)")
    print(f"{'':<44} {'time s':>8} {'peak MiB':>9} {'file MiB':>9}")
    print(f"{'(a) plain tar of the blobs + read back/hash':<44} {tar_s:>8.2f} {tar_mib:>9.2f} "
          f"{raw / 2**20:>9.1f}")
    print(f"{'(b) backup export + backup verify':<44} {bun_s:>8.2f} {bun_mib:>9.2f} "
          f"{size / 2**20:>9.1f}")
    print(f"ratio b/a: time {bun_s / tar_s:.2f}, peak memory {bun_mib / max(tar_mib, 1e-9):.2f}")


if __name__ == "__main__":
    main()
