"""What the store holds is shown, never obeyed: markup in a reason or a value
is escaped, and a tampered baseline shows as INVALID without breaking a page."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from support.web import drift_result, drive_capture, get, serving

EVIL = '<script>alert("x")</script><img src=http://evil.example/x>'


@pytest.fixture
def hostile_site(site, inventory):
    from baselines.signing import SigningKey
    from integrity.cli._common import open_store, trust_store
    from integrity.inventory import load_site

    inventory.write(*({"name": n, "protocol": "modbus", "host": "127.0.0.1", "port": 1,
                       "unit": 1, "holding": ["0-99"]} for n in ("vfd-a", "vfd-b")))
    s = load_site(site.root)
    at = datetime.now(timezone.utc) - timedelta(days=1)
    key = SigningKey.load(site.key, None)
    with open_store(s) as store:
        trust = trust_store(s)
        for name in ("vfd-a", "vfd-b"):
            b = store.append_baseline(drive_capture(name, at, vendor=EVIL), key, EVIL,
                                      trust=trust, now=at)
            store.record_checks([drift_result(name, at + timedelta(hours=1), b, drift=True,
                                              signer=key.keyid)])
        store.add_event(at, "restore-drill", EVIL)
    db = sqlite3.connect(s.root / "plc-integrity.db")
    db.execute("UPDATE baselines SET signature = zeroblob(64) WHERE device = 'vfd-b'")
    db.commit()
    db.close()
    return site


@pytest.mark.parametrize("path", ["/", "/devices/vfd-a", "/devices/vfd-b", "/health", "/assets"])
def test_markup_from_the_store_is_escaped(hostile_site, path):
    with serving(hostile_site.root) as base:
        status, _, body = get(base + path)
    assert status == 200
    assert "<script>" not in body and "<img" not in body
    if path in ("/devices/vfd-a", "/health", "/assets"):
        assert "&lt;script&gt;" in body


def test_tampered_baseline_shows_invalid(hostile_site):
    with serving(hostile_site.root) as base:
        doc = json.loads(get(base + "/api/status")[2])
        shown = {d["device"]: d["shown"] for d in doc["devices"]}
        assert shown == {"vfd-a": "DRIFT", "vfd-b": "INVALID"}
        status, _, body = get(base + "/devices/vfd-b")
    assert status == 200 and "INVALID" in body and "signature" in body


@pytest.mark.parametrize("row, shown", [
    ({"state": "DRIFT", "last_status": "OK"}, "DRIFT"),
    ({"state": None, "last_status": "OK"}, "OK"),
    ({"state": "DRIFT", "maintenance_until": "2026-12-01T18:00:00+00:00"}, "MAINTENANCE"),
    ({"state": "OK", "baseline_problem": "INVALID (bad-signature)"}, "INVALID"),
    ({"state": "BASELINE_INVALID"}, "INVALID"),
    ({}, "NEVER_CHECKED"),
], ids=["alert-state-first", "last-check", "maintenance", "invalid-now", "invalid-state", "never"])
def test_display_state(row, shown):
    from integrity.web.views import display_state

    assert display_state(row) == shown


def test_watcher_and_sink_failures_from_events(site):
    from integrity.cli._common import open_store
    from integrity.inventory import load_site
    from integrity.web.views import health

    s = load_site(site.root)
    at = datetime.now(timezone.utc)
    with open_store(s) as store:
        assert health(store, now=at)["watcher"] is None
        store.add_event(at, "watch", '{"device": "vfd-a"}')
        store.add_event(at, "sink-failed", "webhook: 503")
        store.add_event(at, "sink-failure", "syslog: refused")
        doc = health(store, now=at)
    assert doc["watcher"]["heartbeat_at"] is None and doc["watcher"]["last_event_at"]
    assert [e["kind"] for e in doc["sink_failures"]] == ["sink-failure", "sink-failed"]
