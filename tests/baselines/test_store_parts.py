"""Issue 9, a cleaner house: the store split by what it keeps behind one
``Store`` facade, signing passed in as a Signer, trust read once per command."""

from __future__ import annotations

import inspect

from baselines.store import Store

from .conftest import T0

PUBLIC = ["alert_record", "alert_records", "anchor_warning", "append_baseline",
          "artifact_content", "baseline", "beat", "check_contents", "checks", "close",
          "count_blobs", "devices", "due", "events", "forget_jobs", "heartbeat", "history",
          "last_store_check", "latest", "latest_many", "load_artifact", "load_artifacts",
          "note_trust_keys", "open", "record_check", "record_checks", "record_store_check",
          "save_alert_record", "save_alert_records", "schedule_rows", "set_due", "add_event"]


def test_the_facade_keeps_every_public_method() -> None:
    have = {n for n, _ in inspect.getmembers(Store, callable) if not n.startswith("_")}
    assert set(PUBLIC) <= have


def test_each_part_lives_in_its_own_module() -> None:
    where = {n: getattr(Store, n).__module__ for n in
             ("append_baseline", "load_artifacts", "record_checks", "set_due", "open")}
    assert where == {"append_baseline": "baselines.history", "load_artifacts": "baselines.contents",
                     "record_checks": "baselines.checks", "set_due": "baselines.runtime",
                     "open": "baselines.store"}


class CountingSigner:
    """A signer held elsewhere (an agent, an HSM) behind the Signer members."""

    def __init__(self, key) -> None:
        self._key = key
        self.keyid = key.keyid
        self.signed = 0

    def sign(self, data: bytes) -> bytes:
        self.signed += 1
        return self._key.sign(data)


def test_any_signer_can_sign(site, make_capture) -> None:
    # Only keyid and sign() are used: the Signer protocol.
    signer = CountingSigner(site.alice)
    b = site.store.append_baseline(make_capture(), signer, "via a signer", trust=site.trust, now=T0)
    assert signer.signed == 1 and b.keyid == site.alice.keyid
    assert site.store.latest("vfd-hoist", site.trust).id == b.id


def test_a_snapshot_of_trust_serves_a_whole_command(three) -> None:
    snapshot = three.trust.snapshot()
    for pub in three.trust.folder.glob("*.pub"):
        pub.unlink()  # the folder changes mid-command; the command's view does not
    many = three.store.latest_many(["vfd-hoist", "vfd-trolley"], snapshot)
    assert [many[d].sequence for d in ("vfd-hoist", "vfd-trolley")] == [3, 1]
    assert three.store.latest("vfd-hoist", snapshot).sequence == 3
    assert [e.ok for e in three.store.history("vfd-hoist", snapshot)] == [True, True, True]
    assert snapshot.snapshot() is snapshot and [k.name for k in snapshot.keys()] == ["alice", "bob"]
