"""The checkpoint under concurrent appends, and what the library offers backups."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from baselines.checkpoint import Checkpoint, read_checkpoint
from baselines.localstate import LocalState
from baselines.signing import SigningKey, TrustStore
from baselines.store import Store
from integrity.model import Artifact, Capture, Kind, Mode


def _capture(device: str, n: int) -> Capture:
    return Capture(device=device, protocol="modbus", mode=Mode.DEEP,
                   captured_at=datetime.now(timezone.utc),
                   artifacts=(Artifact.from_value("holding/0-0", Kind.CONFIG,
                                                  {"start": 0, "values": [n]}),))


def test_concurrent_appends_all_reach_the_checkpoint(tmp_path) -> None:
    key = SigningKey.from_seed(b"\x01" * 32)
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "alice.pub").write_bytes(key.public_key.pem())
    trust = TrustStore(tmp_path / "trust").snapshot()
    db = tmp_path / "plc-integrity.db"

    def store() -> Store:  # each as if another process, with its own view of the files
        return Store.open(db, heads_path=tmp_path / "state" / "heads.json",
                          checkpoint=Checkpoint.for_site(tmp_path))

    stores = [store(), store()]

    def work(n: int) -> None:
        for i in range(4):
            stores[n % 2].append_baseline(_capture(f"dev-{n % 2}", n * 10 + i), key, "r",
                                          trust=trust)

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(work, range(4)))
        cp = read_checkpoint(tmp_path / "state" / "checkpoint.json")
        assert {d: e.sequence for d, e in cp.heads.items()} == {"dev-0": 8, "dev-1": 8}
        assert cp.version == 16                       # one version per change
        assert LocalState(tmp_path).read()["checkpoint_version"] == 16
        for s in stores:
            assert s.latest("dev-0", trust).sequence == 8
    finally:
        for s in stores:
            s.close()


def test_a_capture_of_many_devices_signs_one_checkpoint_version(tmp_path) -> None:
    """``baseline capture --all`` appends inside ``deferred_heads``: one new
    checkpoint version at the end instead of one per device (which rewrote and
    re-signed a file naming every device for each: O(N²)), and appends inside
    the block see the pending heads."""
    key = SigningKey.from_seed(b"\x02" * 32)
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "alice.pub").write_bytes(key.public_key.pem())
    trust = TrustStore(tmp_path / "trust").snapshot()
    path = tmp_path / "state" / "checkpoint.json"
    with Store.open(tmp_path / "plc-integrity.db", heads_path=tmp_path / "state" / "heads.json",
                    checkpoint=Checkpoint.for_site(tmp_path)) as store:
        store.append_baseline(_capture("dev-0", 0), key, "first", trust=trust)
        before = read_checkpoint(path).version
        with store.deferred_heads():
            for i in range(40):
                store.append_baseline(_capture(f"dev-{i}", i + 1), key, "all", trust=trust)
            # a second link of one device in the same block builds on the pending head
            store.append_baseline(_capture("dev-3", 99), key, "again", trust=trust)
            assert read_checkpoint(path).version == before  # nothing signed yet
            assert store.latest("dev-3", trust).sequence == 2
        cp = read_checkpoint(path)
        assert cp.version == before + 1
        assert {d: e.sequence for d, e in cp.heads.items()} == {
            f"dev-{i}": {0: 2, 3: 2}.get(i, 1) for i in range(40)}
        assert store.latest("dev-0", trust).sequence == 2
        assert store.latest("dev-3", trust).sequence == 2
