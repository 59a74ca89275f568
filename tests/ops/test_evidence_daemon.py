"""Issue 8 items 2, 5 and 7 under the daemon: stored contents re-hashed on the
[store] check schedule with an alert on damage; a damaged due time recomputed
and reported; a deleted head file and a new trusted key said out loud."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from support.dbsql import rows, sql

from integrity.alerts.dispatch import Dispatcher
from integrity.alerts.sinks.jsonl import JsonlSink
from integrity.evidence import STORE_CHECK_JOB, EvidenceWatch
from integrity.scheduler import Daemon, parse_schedules
from integrity.status import collect_status

# Each test runs on SQLite and on a real PostgreSQL server (tests/support/postgres.py).
pytestmark = pytest.mark.usefixtures("store_backend")
SCHEDULE = {"devices": ["vfd-*"], "quick": "15m", "deep": "0 2 * * *"}
FAR = datetime(9999, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def fleet(run, site, helpers, drive):
    from baselines.signing import TrustStore
    from baselines.store import Store
    from integrity.inventory import load_site

    helpers.write_inventory(site.root, helpers.device_table(drive))
    helpers.add_to_site_toml(site.root, '[[schedules]]\ndevices = ["vfd-*"]\nquick = "15m"\n'
                                        'deep = "0 2 * * *"\n')
    helpers.capture_all(run, site)
    loaded = load_site(site.root)
    store = Store.open(loaded.store_url, heads_path=loaded.heads_path)
    yield SimpleNamespace(site=loaded, trust=TrustStore(loaded.trust_dir), store=store,
                          jobs=parse_schedules(loaded.schedules, loaded.devices), root=site.root,
                          alerts=site.root / "alerts.jsonl", keys_dir=site.keys_dir)
    store.close()


def make_daemon(fleet, clock, *, every=timedelta(days=7)) -> Daemon:
    watch = EvidenceWatch(fleet.store, fleet.trust, every, rng=random.Random(1),
                          dispatcher=Dispatcher([JsonlSink(fleet.alerts)]))
    return Daemon(fleet.site.devices, fleet.jobs, fleet.store, fleet.trust, clock=clock,
                  watch=watch)


def status(fleet, clock):
    return collect_status(fleet.site, fleet.store, fleet.trust, now=clock.now())


def edit_a_blob(url: str) -> None:
    [(digest, content)] = rows(url, "SELECT digest, content FROM blobs LIMIT 1")
    sql(url, "UPDATE blobs SET content = ? WHERE digest = ?", bytes(content) + b"!", digest)


# -- item 5 ------------------------------------------------------------------------------------

def test_a_due_time_far_beyond_its_schedule_is_recomputed_and_reported(fleet, clock):
    d = make_daemon(fleet, clock)
    d.step()
    assert len(fleet.store.checks("vfd-hoist")) == 1
    fleet.store.set_due("vfd-hoist/quick", FAR, None)
    fleet.store.set_due("vfd-hoist/deep", FAR, None)

    before = status(fleet, clock)
    assert sorted(w.kind for w in before.warnings) == ["due-reset", "due-reset"]
    assert "vfd-hoist/quick: stored due time 9999-01-01" in before.render()

    clock.advance(minutes=1)
    d.step()  # the damaged interval job is due at once again, and runs
    [run] = fleet.store.checks("vfd-hoist")  # the unchanged OK check extended the first's run
    assert run["run"]["checks"] == 2 and run["checked_at"] == clock.now().isoformat()
    assert fleet.store.due("vfd-hoist/quick") == clock.now() + timedelta(minutes=15)
    assert fleet.store.due("vfd-hoist/deep") == datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc)
    resets = [e["detail"] for e in fleet.store.events() if e["kind"] == "due-reset"]
    assert len(resets) == 2 and any("vfd-hoist/quick" in r and "9999" in r for r in resets)
    after = status(fleet, clock)
    assert [w.kind for w in after.warnings] == ["due-reset", "due-reset"]
    assert "the scheduler reset a damaged due time" in after.render()


def test_a_due_time_within_one_period_plus_jitter_is_kept(fleet, clock):
    jobs = parse_schedules([{**SCHEDULE, "jitter": "5m"}], fleet.site.devices)
    d = Daemon(fleet.site.devices, jobs, fleet.store, fleet.trust, clock=clock)
    d.step()
    kept = clock.now() + timedelta(minutes=19)  # 15m period + up to 5m jitter
    fleet.store.set_due("vfd-hoist/quick", kept, None)
    assert d.due_times(clock.now())["vfd-hoist/quick"] == kept
    assert not [e for e in fleet.store.events() if e["kind"] == "due-reset"]


# -- item 2: the scheduled store check ---------------------------------------------------------

def test_store_check_runs_on_its_schedule_and_alerts_on_damage(fleet, clock, helpers):
    d = make_daemon(fleet, clock)
    d.step()
    first = fleet.store.due(STORE_CHECK_JOB)
    assert clock.now() <= first <= clock.now() + timedelta(seconds=60)
    clock.t = first
    d.step()
    at, info = fleet.store.last_store_check()
    assert at == first and info["ok"] is True
    assert fleet.store.due(STORE_CHECK_JOB) == first + timedelta(days=7)

    edit_a_blob(fleet.site.store_url)
    clock.advance(days=6)
    d.step()
    assert fleet.store.last_store_check()[0] == first  # not due yet: not re-read
    assert not [a for a in helpers.read_jsonl(fleet.alerts) if a["kind"] == "STORE_DAMAGE"]

    clock.advance(days=1)
    d.step()
    [alert] = [a for a in helpers.read_jsonl(fleet.alerts) if a["kind"] == "STORE_DAMAGE"]
    assert alert["device"] == "store" and "DAMAGED: 1 edited" in alert["summary"]
    assert "EDITED" in alert["message"] and "vfd-hoist #1" in alert["message"]
    [warning] = [w for w in status(fleet, clock).warnings if w.kind == "store-damaged"]
    assert "1 edited" in warning.message
    assert status(fleet, clock).to_dict()["store_check"]["summary"].endswith("DAMAGED: 1 edited")
    assert "\nstore check: " in status(fleet, clock).render()


def test_a_store_check_due_time_beyond_its_period_is_recomputed(fleet, clock):
    fleet.store.set_due(STORE_CHECK_JOB, FAR, None)
    make_daemon(fleet, clock).step()
    assert fleet.store.due(STORE_CHECK_JOB) <= clock.now() + timedelta(seconds=60)
    assert any(e["kind"] == "due-reset" and STORE_CHECK_JOB in e["detail"]
               for e in fleet.store.events())


def test_store_check_off_never_rehashes(fleet, clock):
    make_daemon(fleet, clock, every=None).step()
    assert fleet.store.due(STORE_CHECK_JOB) is None
    assert fleet.store.last_store_check() is None


def test_the_site_jobs_due_time_survives_the_pruning_at_start(fleet):
    fleet.store.set_due(STORE_CHECK_JOB, FAR, None)
    fleet.store.forget_jobs({"vfd-hoist/quick"})
    assert fleet.store.due(STORE_CHECK_JOB) == FAR


# -- item 7 ------------------------------------------------------------------------------------

def test_a_deleted_head_file_is_a_warning_and_one_alert(fleet, clock, helpers):
    d = make_daemon(fleet, clock, every=None)
    d.step()
    assert not status(fleet, clock).warnings
    (fleet.root / "state" / "heads.json").unlink()
    [w] = status(fleet, clock).warnings
    assert w.kind == "anchor-missing" and "heads.json is missing" in w.message
    d.step()
    clock.advance(minutes=15)
    d.step()
    warnings = [a for a in helpers.read_jsonl(fleet.alerts) if a["kind"] == "SITE_WARNING"]
    assert len(warnings) == 1 and "heads.json is missing" in warnings[0]["summary"]


def test_a_key_that_appears_in_trust_is_reported_once(fleet, clock, helpers):
    from baselines.signing import generate_keypair

    d = make_daemon(fleet, clock, every=None)
    d.step()  # the first run remembers the keys it finds
    _, pub, keyid = generate_keypair("mallory", fleet.keys_dir, None)
    fleet.trust.add(pub)
    clock.advance(minutes=15)
    d.step()
    clock.advance(minutes=15)
    d.step()
    [alert] = [a for a in helpers.read_jsonl(fleet.alerts) if a["kind"] == "SITE_WARNING"]
    assert "mallory" in alert["summary"] and keyid[:8] in alert["summary"]
    assert not status(fleet, clock).warnings  # already reported


@pytest.mark.parametrize("text,expected", [
    pytest.param('"daily"', timedelta(days=1), id="daily"),
    pytest.param('"weekly"', timedelta(days=7), id="weekly"),
    pytest.param('"off"', None, id="off"),
    pytest.param('"36h"', timedelta(hours=36), id="duration"),
])
def test_store_check_setting(site, helpers, text, expected):
    from integrity.inventory import load_site

    assert load_site(site.root).settings.store_check == timedelta(days=7)  # init's template
    path = site.root / "site.toml"
    path.write_text(path.read_text().replace('check = "weekly"', f"check = {text}"))
    assert load_site(site.root).settings.store_check == expected


@pytest.mark.parametrize("text", ['"fortnightly"', "7", '"0s"'])
def test_bad_store_check_setting_is_a_config_error(site, text):
    from integrity.errors import ConfigError
    from integrity.inventory import load_site

    path = site.root / "site.toml"
    path.write_text(path.read_text().replace('check = "weekly"', f"check = {text}"))
    with pytest.raises(ConfigError, match=r"site.toml, field 'store.check': must be \"daily\""):
        load_site(site.root)
