"""Every endpoint and every auth rule, over real HTTP: uvicorn on 127.0.0.1
port 0, asked with urllib (a real client, nothing mocked)."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.web import TOKEN, get, serving

PAGES = ["/", "/devices/vfd-hoist", "/health", "/assets", "/?tag=drives", "/?state=DRIFT"]
JSON = ["/api/status", "/api/devices/vfd-hoist", "/api/devices/vfd-hoist/diff", "/api/health",
        "/api/events", "/api/assets"]


@pytest.fixture(scope="module")
def open_server(crane_week):
    with serving(crane_week.root) as base:
        yield base


@pytest.fixture(scope="module")
def token_server(crane_week):
    with serving(crane_week.root, token=TOKEN) as base:
        yield base


@pytest.mark.parametrize("path", PAGES)
def test_pages_answer_with_security_headers(open_server, path):
    status, headers, body = get(open_server + path)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert "<script" not in body and "http://" not in body.replace("http://www.w3.org/2000/svg", "")


@pytest.mark.parametrize("path", JSON)
def test_json_endpoints_carry_schema_1(open_server, path):
    status, headers, body = get(open_server + path)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["schema"] == 1


def test_fleet_shows_the_drift_and_the_unreachable_spare(open_server):
    doc = json.loads(get(open_server + "/api/status")[2])
    shown = {d["device"]: d["shown"] for d in doc["devices"]}
    assert shown["vfd-hoist"] == "DRIFT" and shown["vfd-spare"] == "UNREACHABLE"
    assert shown["plc-hoist"] == "OK"
    hoist = next(d for d in doc["devices"] if d["device"] == "vfd-hoist")
    assert hoist["signer"] and hoist["signer_name"] == "tester"
    assert hoist["baseline_sequence"] == 1 and hoist["since"]
    body = get(open_server + "/")[2]
    assert 'data-device="vfd-hoist" data-state="DRIFT"' in body


def test_filters_by_tag_protocol_and_state(open_server):
    def names(query: str) -> set[str]:
        return {d["device"] for d in json.loads(get(open_server + "/api/status?" + query)[2])
                ["devices"]}

    assert names("tag=crane-2") == {"vfd-spare"}
    assert names("protocol=s7") == {"plc-hoist"}
    assert names("state=DRIFT") == {"vfd-hoist"}
    assert names("zone=nowhere") == set()


def test_device_page_has_timeline_baselines_and_the_diff(open_server):
    body = get(open_server + "/devices/vfd-hoist")[2]
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="timeline"' in body
    assert 'class="check drift"' in body and 'class="check ok"' in body
    assert "commissioning" in body
    assert "holding[22]" in body and "-&gt; 2250" in body          # value by value, as `diff`
    assert "Pending approvals" in body and "none recorded" in body
    trolley = get(open_server + "/devices/vfd-trolley")[2]
    assert "WO 4711: new ramp" in trolley


def test_diff_endpoint_is_the_clis_rendering(open_server):
    doc = json.loads(get(open_server + "/api/devices/vfd-hoist/diff")[2])
    assert doc["current"] is True and doc["status"] == "DRIFT" and doc["exit_code"] == 1
    assert doc["differences"][0]["values"][0]["current"] == 2250
    assert doc["text"].startswith("vfd-hoist: DRIFT against baseline #1")
    assert "holding[22]" in doc["text"]


def test_health_shows_scheduler_watcher_alerts_and_drills(open_server):
    doc = json.loads(get(open_server + "/api/health")[2])
    assert doc["scheduler"]["state"] == "not running" and doc["watcher"] is None
    assert {a["device"] for a in doc["alerts"]} >= {"vfd-hoist", "vfd-spare"}
    assert [e["kind"] for e in doc["backups"]] == ["restore-drill"]
    assert "none recorded" in get(open_server + "/health")[2]


def test_unknown_device_is_404_without_traceback(open_server):
    status, _, body = get(open_server + "/devices/nope")
    assert status == 404 and "no device named" in body and "Traceback" not in body
    status, _, body = get(open_server + "/api/devices/nope")
    assert status == 404 and json.loads(body)["error_type"] == "ConfigError"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get(open_server, method):
    status, headers, _ = get(open_server + "/", method=method)
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_foreign_host_header_is_refused_on_loopback(open_server):
    # A page that rebinds its DNS name to 127.0.0.1 sends its own name as Host.
    status, _, _ = get(open_server + "/api/status", headers={"Host": "evil.example"})
    assert status == 400


def test_metrics_parse_with_prometheus_parser(open_server):
    status, headers, body = get(open_server + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    devices = {s.labels["state"]: s.value for s in families["plc_integrity_devices"].samples}
    assert devices["DRIFT"] == 1 and devices["UNREACHABLE"] == 1
    checks = {(s.labels["status"], s.labels["mode"]): s.value
              for s in families["plc_integrity_checks"].samples if s.name.endswith("_total")}
    assert checks[("DRIFT", "deep")] >= 3
    assert "plc_integrity_sweep_lag_seconds" in families
    flags = {s.labels["rule"]: s.value for s in families["plc_integrity_supplier_flags"].samples}
    assert flags["disallowed"] == 2 and flags["firmware"] == 1 and flags["segment"] >= 1


@pytest.mark.parametrize("path", ["/", "/api/status", "/metrics", "/devices/vfd-hoist"])
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}",
                                  f"Bearer {TOKEN}x", "Bearer "])
def test_token_required_everywhere_but_healthz(token_server, path, auth):
    headers = {"Authorization": auth} if auth is not None else {}
    status, h, _ = get(token_server + path, headers=headers)
    assert status == 401 and h["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/", "/api/status", "/metrics", "/devices/vfd-hoist"])
def test_good_token_opens_every_path(token_server, path):
    status, _, _ = get(token_server + path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200


def test_healthz_needs_no_token(token_server):
    assert get(token_server + "/healthz")[:1] == (200,)


def test_proxy_header_mode(crane_week):
    with serving(crane_week.root, proxy_header="X-Forwarded-User") as base:
        assert get(base + "/api/status")[0] == 401
        assert get(base + "/api/status", headers={"X-Forwarded-User": "alice"})[0] == 200


def test_no_secrets_on_any_page(open_server, crane_week):
    secret = crane_week.key.read_text()
    marker = secret.splitlines()[1][:24]
    for path in PAGES + JSON + ["/metrics"]:
        body = get(open_server + path)[2]
        assert "PRIVATE KEY" not in body and marker not in body


def test_with_a_token_a_proxy_may_pass_its_own_host_name(token_server):
    status, _, _ = get(token_server + "/api/status", headers={
        "Host": "plc-mon.example", "Authorization": f"Bearer {TOKEN}"})
    assert status == 200


def test_port_in_use_is_a_clear_error(crane_week, open_server):
    from click.testing import CliRunner

    from integrity.cli import cli

    port = open_server.rsplit(":", 1)[1]
    r = CliRunner().invoke(cli, ["--site", str(crane_week.root), "serve", "--bind",
                                 f"127.0.0.1:{port}"], catch_exceptions=False)
    assert r.exit_code == 2 and "did not start" in r.stderr


def test_diff_endpoint_without_drift(open_server):
    doc = json.loads(get(open_server + "/api/devices/plc-hoist/diff")[2])
    assert doc == {"schema": 1, "device": "plc-hoist", "status": None, "current": False,
                   "text": "plc-hoist: no drift recorded"}
