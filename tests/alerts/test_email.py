"""The e-mail sink against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from integrity.alerts import AlertTracker, EmailSink, SinkError


@pytest.fixture
def alert(results):
    _, alerts = AlertTracker().observe(None, results.drift(), now=results.t0)
    return alerts[0]


def parse(mail):
    return message_from_bytes(mail.data, policy=policy.default)


def test_plain_smtp_subject_body_recipients(smtp_server, alert):
    sink = EmailSink(smtp_server.host, smtp_server.port, sender="plc-integrity@site.example",
                     to=["ot-sec@site.example", "shift@site.example"], timeout=3.0)
    sink.send(alert)
    mail = smtp_server.next_mail()
    assert mail.sender == "plc-integrity@site.example"
    assert mail.recipients == ["ot-sec@site.example", "shift@site.example"]
    msg = parse(mail)
    assert msg["Subject"] == \
        "[plc-integrity] DRIFT vfd-hoist: modified holding/0-1999 (holding[17]: 1500 → 1800)"
    assert msg["To"] == "ot-sec@site.example, shift@site.example"
    assert msg["X-PLC-Integrity-Alert-Id"] == alert.id
    assert msg.get_content_type() == "text/plain"
    body = msg.get_content()
    for line in ("Device:         vfd-hoist", "State:          DRIFT",
                 "Baseline:       bl-0001", "Signed by:      alice@site", "  - holding/0-1999",
                 "Since:          2026-03-01T08:00:00+00:00"):
        assert line in body.splitlines()
    assert mail.login is None


def test_starttls_and_login(smtp_tls_server, alert):
    sink = EmailSink(smtp_tls_server.host, smtp_tls_server.port, sender="a@site.example",
                     to=["b@site.example"], starttls=True, username=smtp_tls_server.username,
                     password=smtp_tls_server.password, ca_file=smtp_tls_server.ca_file, timeout=3.0)
    sink.send(alert)
    mail = smtp_tls_server.next_mail()
    assert mail.login == smtp_tls_server.username.encode()
    assert parse(mail)["Subject"].startswith("[plc-integrity] DRIFT vfd-hoist")


def test_wrong_password_is_a_sink_error(smtp_tls_server, alert):
    sink = EmailSink(smtp_tls_server.host, smtp_tls_server.port, sender="a@site.example",
                     to=["b@site.example"], starttls=True, username=smtp_tls_server.username, password="nope",
                     ca_file=smtp_tls_server.ca_file, timeout=3.0)
    with pytest.raises(SinkError, match="login refused"):
        sink.send(alert)


def test_server_requiring_starttls_refuses_plain_mail(smtp_tls_server, alert):
    sink = EmailSink(smtp_tls_server.host, smtp_tls_server.port, sender="a@site.example",
                     to=["b@site.example"], timeout=3.0)
    with pytest.raises(SinkError, match="SMTP error 530"):
        sink.send(alert)


def test_dead_smtp_server(dead_port, alert):
    sink = EmailSink("127.0.0.1", dead_port, sender="a@site.example", to=["b@site.example"],
                     timeout=1.0)
    with pytest.raises(SinkError, match="ConnectionRefusedError"):
        sink.send(alert)
