"""What a sweep holds per device stays small and shared (issue 13: memory flat in
fleet size): equal options and tag lists are one object, a device without labels
holds no dict of its own, alert records are advanced a chunk at a time, and the
cyclic garbage of checked devices is collected as the sweep goes."""

from __future__ import annotations

import gc
import pickle
import weakref
from datetime import datetime, timezone

from baselines.store import Store
from integrity.alerts import AlertTracker
from integrity.bulk import device_done, few_collections, release_free_memory
from integrity.cli._common import trust_store
from integrity.inventory import load_site
from integrity.model import NO_LABELS, CheckResult, Mode, Status
from integrity.sweep import observe_results

SITE = """
[settings]
store = "plc-integrity.db"
"""
DEVICES = """
[[devices]]
name = "{name}"
protocol = "modbus"
host = "127.0.0.1"
port = 1502
holding = ["0-99"]
tags = ["berth-3", "drives"]
"""


def write_site(tmp_path, names, extra=""):
    (tmp_path / "site.toml").write_text(SITE + extra, encoding="utf-8")
    (tmp_path / "devices").mkdir()
    half = len(names) // 2
    for i, part in enumerate((names[:half], names[half:])):
        (tmp_path / "devices" / f"fleet-{i}.toml").write_text(
            "".join(DEVICES.format(name=n) for n in part), encoding="utf-8")
    return load_site(tmp_path)


def test_devices_declared_alike_share_their_options_and_tags(tmp_path):
    site = write_site(tmp_path, [f"vfd-{i}" for i in range(6)])
    first = site.devices[0]
    assert [d.name for d in site.devices] == [f"vfd-{i}" for i in range(6)]  # order kept
    for d in site.devices[1:]:  # across both files
        assert d.options is first.options and d.tags is first.tags
        assert d.labels is NO_LABELS
    trust = trust_store(site)
    assert trust.tags_of("vfd-0") is trust.tags_of("vfd-5")
    assert trust.tags_of("vfd-0") == frozenset({"berth-3", "drives"})


def test_a_device_with_labels_has_its_own_and_devices_pickle(tmp_path):
    extra = """
[[devices]]
name = "labelled"
protocol = "modbus"
host = "127.0.0.1"
holding = ["0-9"]
labels = { "holding[2]" = "maximum speed, rpm" }
"""
    site = write_site(tmp_path, ["vfd-0", "vfd-1"], extra)
    labelled = next(d for d in site.devices if d.name == "labelled")
    assert dict(labelled.labels) == {"holding[2]": "maximum speed, rpm"}
    plain = site.devices[-1]
    assert plain.labels == {} and plain.labels is NO_LABELS
    for device in (labelled, plain):  # the shared empty labels pickle as themselves
        again = pickle.loads(pickle.dumps(device))
        assert again == device
    assert pickle.loads(pickle.dumps(plain)).labels is NO_LABELS


NOW = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


def results(statuses):
    return [CheckResult(f"dev-{i}", "modbus", status, NOW, mode=Mode.DEEP, baseline_id="b1")
            for i, status in enumerate(statuses)]


def test_alert_records_advanced_in_chunks_are_those_of_one_pass(tmp_path):
    rounds = [[Status.OK] * 7,
              [Status.OK, Status.DRIFT, Status.OK, Status.UNREACHABLE, Status.OK, Status.DRIFT,
               Status.OK],
              [Status.OK] * 7]
    seen = {}
    for chunk in (2, 500):
        with Store.open(tmp_path / f"chunk-{chunk}.db") as store:
            raised = []
            for k, statuses in enumerate(rounds):
                alerts = observe_results(results(statuses), store, AlertTracker(), NOW,
                                         sinks=["log"], chunk=chunk)
                raised.append(sorted((a.device, a.kind.value) for a in alerts))
            seen[chunk] = (raised, store.alert_records(), store.outbox_summary())
    assert seen[2] == seen[500]
    raised, records, _ = seen[2]
    assert raised[0] == [] and len(raised[1]) == 3 and len(records) == 7


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_the_garbage_of_checked_devices_is_collected_every_few_devices():
    with few_collections(collect_every=3):
        gc.disable()  # only device_done may collect from here
        try:
            cycle = Cycle()
            alive = weakref.ref(cycle)
            del cycle
            device_done()
            device_done()
            assert alive() is not None
            device_done()
            assert alive() is None
        finally:
            gc.enable()


def test_outside_a_sweep_counting_devices_collects_nothing():
    gc.disable()
    try:
        cycle = Cycle()
        alive = weakref.ref(cycle)
        del cycle
        for _ in range(1000):
            device_done()
        assert alive() is not None
    finally:
        gc.enable()
        gc.collect()
    release_free_memory()  # (glibc: hands free pages back; elsewhere nothing)
