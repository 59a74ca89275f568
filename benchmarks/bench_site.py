"""A site whose store holds N signed baselines and some check history, for the
benchmarks that read a large store (web_bench, status_bench).  No device is
ever contacted: the captures are made up in memory (tests/support/web.py).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import tomli_w  # noqa: E402

from baselines.signing import SigningKey, TrustStore, generate_keypair  # noqa: E402
from baselines.store import Store  # noqa: E402
from integrity.inventory import load_site  # noqa: E402
from integrity.site import init_site  # noqa: E402
from support.web import drift_result, drive_capture  # noqa: E402


def build(root: Path, devices: int, checks: int) -> None:
    """N Modbus drives (vfd-00000 ...) in 20 tags, one signed baseline each, ``checks``
    recorded checks per device (the last a drift for one device in 50) and alert records."""
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
    # baseline.  Readers then report the anchor missing (a warning).
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


def site_arguments(doc: str, runs: int) -> argparse.ArgumentParser:
    """The options every large-store benchmark shares: its site's size and its runs."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--checks", type=int, default=5, help="Recorded checks per device.")
    ap.add_argument("--runs", type=int, default=runs)
    return ap
