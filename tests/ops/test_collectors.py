"""A killed collector does not haunt status for ever: STALLED (and one alert)
while another collector of its zone runs, "gone" after GONE_AFTER, and
`plc-integrity collectors forget ID` removes it with its claims.  A zone whose
only collector died stays STALLED and keeps its zone-unwatched warning."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from integrity.zones import GONE_AFTER, collector_states, zone_statuses, zone_warnings

pytestmark = pytest.mark.usefixtures("store_backend")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
INFO = {"interval_s": 10.0}


def beat(ident: str, zones: list[str], ago: timedelta) -> dict:
    return {"id": ident, "zones": zones, "at": NOW - ago, "info": INFO}


class Dev:
    def __init__(self, name: str, zone: str) -> None:
        self.name, self.zone = name, zone


DEVICES = [Dev("vfd-3", "berth-3"), Dev("vfd-1", "berth-1")]


@pytest.mark.parametrize("silent, other, expected", [
    pytest.param(timedelta(minutes=5), True, "STALLED", id="recently-killed"),
    pytest.param(GONE_AFTER + timedelta(minutes=1), True, "gone", id="replaced-long-ago"),
    pytest.param(GONE_AFTER + timedelta(days=9), False, "STALLED", id="zones-only-collector"),
])
def test_a_killed_collector_is_gone_only_once_replaced_for_long(silent, other, expected):
    beats = [beat("c1", ["berth-3"], silent)]
    if other:
        beats.append(beat("c2", ["berth-3"], timedelta(seconds=1)))
    assert collector_states(beats, NOW)["c1"] == expected
    [z3, _z1] = sorted(zone_statuses(beats, DEVICES, {"berth-3"}, NOW),
                       key=lambda z: z.zone != "berth-3")
    assert z3.state == ("running" if other else "STALLED")
    kinds = [w.kind for w in zone_warnings([z3], True)]
    assert kinds == {"STALLED": ["collector-stalled"] if other else ["zone-unwatched"],
                     "gone": []}[expected]


def test_a_collector_serving_two_zones_is_gone_only_when_both_are_served():
    beats = [beat("c1", ["berth-1", "berth-3"], GONE_AFTER * 2),
             beat("c3", ["berth-3"], timedelta(seconds=1))]
    assert collector_states(beats, NOW)["c1"] == "STALLED"
    beats.append(beat("c4", ["berth-1"], timedelta(seconds=1)))
    assert collector_states(beats, NOW)["c1"] == "gone"


def test_the_stalled_collector_is_alerted_once_and_no_more_once_gone(site, helpers, drive, tmp_path):
    from baselines.store import Store
    from integrity.alerts import Dispatcher, JsonlSink
    from integrity.evidence import EvidenceWatch
    from integrity.inventory import load_site
    from integrity.zones import site_zone_warnings

    helpers.write_inventory(site.root, helpers.device_table(drive, zone="berth-3"))
    helpers.add_to_site_toml(site.root, '[[schedules]]\ndevices = ["*"]\nquick = "15m"\n')
    loaded = load_site(site.root)
    log = tmp_path / "alerts.jsonl"
    with Store.open(loaded.store_url, heads_path=loaded.heads_path) as store:
        store.collector_beat("c1", ["berth-3"], NOW - timedelta(minutes=5), INFO)
        watch = EvidenceWatch(store, type("T", (), {"keys": lambda self: []})(), None,
                              dispatcher=Dispatcher([JsonlSink(log)]),
                              more_warnings=lambda t: site_zone_warnings(store, loaded, t))
        for at in (NOW, NOW + timedelta(hours=1), NOW + GONE_AFTER * 2):
            store.collector_beat("c2", ["berth-3"], at, INFO)  # c2 lives on
            watch.step(at)
    assert [a["summary"][:41] for a in helpers.read_jsonl(log)] == [
        "collector c1 of zone berth-3 is STALLED ("]


def test_collectors_list_and_forget(run, site, helpers, drive):
    from baselines.store import Store
    from integrity.inventory import load_site
    from support.schemas import validate

    helpers.write_inventory(site.root, helpers.device_table(drive, zone="berth-3"))
    loaded = load_site(site.root)
    now = datetime.now(timezone.utc)
    with Store.open(loaded.store_url, heads_path=loaded.heads_path) as store:
        store.collector_beat("c1", ["berth-3"], now - GONE_AFTER * 2, INFO)
        store.collector_beat("c2", ["berth-3"], now, INFO)
        store.set_due("vfd-hoist/quick", now - GONE_AFTER * 3, None)
        assert store.claim_jobs("c1", ["berth-3"], ["vfd-hoist/quick"], now - GONE_AFTER * 2,
                                timedelta(minutes=5))

    code, doc = run.json("collectors", "list")
    assert code == 0
    validate("collectors-list.json", doc)
    assert {c["id"]: c["state"] for c in doc["collectors"]} == {"c1": "gone", "c2": "running"}
    code, doc = run.json("status")
    [zone] = doc["zones"]
    assert zone["state"] == "running" and not doc["warnings"]

    code, doc = run.json("collectors", "forget", "c2")
    assert code == 2 and "collector 'c2' is running" in doc["error"]
    code, doc = run.json("collectors", "forget", "c9")
    assert code == 2 and "no collector 'c9'" in doc["error"] and "c1, c2" in doc["error"]
    code, doc = run.json("collectors", "forget", "c1")
    assert code == 0, doc
    validate("collectors-forget.json", doc)
    assert doc["forgotten"]["id"] == "c1" and doc["forgotten"]["state"] == "gone"
    with Store.open(loaded.store_url, heads_path=loaded.heads_path) as store:
        assert store.claims_held() == {}
    code, doc = run.json("status")
    assert [c["id"] for c in doc["zones"][0]["collectors"]] == ["c2"]
    assert "forgot collector c2" not in run("collectors", "forget", "c2").output
    assert run("collectors", "list").output.startswith("c2  running  zones berth-3")
