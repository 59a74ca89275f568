"""Fixtures for the baselines tests: real key files, a real trust/ folder and
a real database: each test runs twice, on an SQLite file in tmp_path and on a
fresh database of a real PostgreSQL server (``store_url`` in support/postgres.py).  Keys come from fixed seeds (fast, reproducible);
only the key-generation tests make random keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from baselines.signing import SigningKey, TrustStore
from baselines.store import Store
from integrity.model import Artifact, Capture, Kind, Mode

T0 = datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=timezone.utc)


def seeded_key(n: int) -> SigningKey:
    return SigningKey.from_seed(bytes([n]) * 32)


def write_pub(key: SigningKey, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.public_key.pem())
    return path


@dataclass
class Site:
    root: Path
    db: Path | str  # an SQLite file, or a PostgreSQL URL (support.dbsql takes either)
    heads: Path
    trust: TrustStore
    alice: SigningKey
    bob: SigningKey
    store: Store

    def reopen(self) -> Store:
        self.store.close()
        self.store = Store.open(self.db, heads_path=self.heads)
        return self.store


@pytest.fixture
def make_capture() -> Callable[..., Capture]:
    def make(device: str = "vfd-hoist", *, speed: int = 1500, block: bytes = b"\x70\x70code",
             at: datetime = T0, mode: Mode = Mode.DEEP) -> Capture:
        return Capture(
            device=device, protocol="modbus", mode=mode, captured_at=at,
            artifacts=(
                Artifact.from_value("identity", Kind.IDENTITY,
                                    {"vendor": "ACME Drives", "product_code": "AD-9", "revision": "1.2"}),
                Artifact.from_value("holding/0-3", Kind.CONFIG,
                                    {"start": 0, "values": [speed, 20, 30, 0]}, quick=False),
                Artifact.from_bytes("blocks/FC/10", Kind.CODE, block),
            ),
            policy={"holding": ["0-3"], "excluded": ["input"]})
    return make


@pytest.fixture
def site(tmp_path: Path, store_url: Path | str) -> Iterator[Site]:
    alice, bob = seeded_key(1), seeded_key(2)
    trust = TrustStore(tmp_path / "trust")
    trust.add(write_pub(alice, tmp_path / "keys" / "alice.pub"))
    trust.add(write_pub(bob, tmp_path / "keys" / "bob.pub"))
    db, heads = store_url, tmp_path / "state" / "heads.json"
    s = Site(tmp_path, db, heads, trust, alice, bob, Store.open(db, heads_path=heads))
    yield s
    s.store.close()


@pytest.fixture
def three(site: Site, make_capture: Callable[..., Capture]) -> Site:
    """vfd-hoist with baselines #1..#3 (different settings each) plus vfd-trolley #1."""
    for i in range(3):
        site.store.append_baseline(make_capture(speed=1500 + i, at=T0 + timedelta(hours=i)),
                                   site.alice, f"r{i + 1}", trust=site.trust,
                                   now=T0 + timedelta(hours=i, minutes=5))
    site.store.append_baseline(make_capture("vfd-trolley"), site.bob, "trolley", trust=site.trust,
                               now=T0)
    return site
