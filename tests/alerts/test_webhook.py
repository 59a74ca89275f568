"""The webhook sink against a real HTTP server on loopback."""

from __future__ import annotations

import json

import pytest

from integrity.alerts import AlertTracker, SinkError, WebhookSink
from integrity.alerts.sinks.webhook import (ALERT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
                                            sign, verify)

SECRET = b"shared-hmac-secret"


@pytest.fixture
def alert(results):
    _, alerts = AlertTracker().observe(None, results.drift(), now=results.t0)
    return alerts[0]


def make_sink(url, sleeps, **kw):
    return WebhookSink(url, SECRET, timeout=2.0, sleep=sleeps.append, clock=lambda: 1_760_000_000.0,
                       **kw)


def test_posts_signed_json(http_server, alert):
    make_sink(http_server.url, []).send(alert)

    [request] = http_server.requests
    assert request.path == "/hooks/plc?token=abc"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == alert.to_dict()
    timestamp = request.headers[TIMESTAMP_HEADER]
    assert timestamp == "1760000000"
    assert request.headers[ALERT_ID_HEADER] == alert.id
    signature = request.headers[SIGNATURE_HEADER]
    # What a receiver does: HMAC over "<timestamp>." + the exact body bytes.
    import hashlib
    import hmac
    expected = hmac.new(SECRET, b"1760000000." + request.body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    assert verify(SECRET, timestamp, request.body, signature)
    assert not verify(b"wrong", timestamp, request.body, signature)
    assert not verify(SECRET, "1760000001", request.body, signature)  # timestamp is signed too


def test_retries_after_500_with_backoff_then_succeeds(http_server, alert):
    http_server.statuses = [500, 503]
    sleeps: list[float] = []
    make_sink(http_server.url, sleeps, retries=3, backoff=0.5).send(alert)
    assert len(http_server.requests) == 3
    assert sleeps == [0.5, 1.0]
    assert len({r.body for r in http_server.requests}) == 1  # the same alert each time
    assert len({r.headers[ALERT_ID_HEADER] for r in http_server.requests}) == 1


def test_gives_up_after_n_retries(http_server, alert):
    http_server.statuses = [500] * 10
    sleeps: list[float] = []
    with pytest.raises(SinkError, match=r"gave up after 3 attempts: HTTP 500"):
        make_sink(http_server.url, sleeps, retries=2, backoff=1.0).send(alert)
    assert len(http_server.requests) == 3
    assert sleeps == [1.0, 2.0]


def test_client_error_is_not_retried(http_server, alert):
    http_server.statuses = [403]
    sleeps: list[float] = []
    with pytest.raises(SinkError, match=r"HTTP 403 .*not retried"):
        make_sink(http_server.url, sleeps, retries=3).send(alert)
    assert len(http_server.requests) == 1 and sleeps == []


def test_connection_refused_is_retried_then_reported(dead_port, alert):
    sleeps: list[float] = []
    sink = make_sink(f"http://127.0.0.1:{dead_port}/hook?token=hide-me", sleeps, retries=2)
    with pytest.raises(SinkError, match="ConnectionRefusedError") as info:
        sink.send(alert)
    assert sleeps == [0.5, 1.0]
    assert "hide-me" not in str(info.value)  # the name never carries the query string


def test_https_with_a_trusted_self_signed_certificate(tls_files, alert):
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/hook"
        WebhookSink(url, SECRET, timeout=2.0, ca_file=str(tls_files[0])).send(alert)
        assert json.loads(bodies[0])["device"] == "vfd-hoist"
        # Without trusting the certificate: refused at once, not retried.
        sleeps: list[float] = []
        with pytest.raises(SinkError, match="certificate"):
            WebhookSink(url, SECRET, timeout=2.0, sleep=sleeps.append).send(alert)
        assert sleeps == []
    finally:
        server.shutdown()
        server.server_close()


def test_sign_is_hex_hmac_sha256():
    assert sign(b"k", "1", b"{}") == \
        "sha256=" + __import__("hmac").new(b"k", b"1.{}", "sha256").hexdigest()
