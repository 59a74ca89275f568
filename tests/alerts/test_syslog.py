"""The syslog sink against real UDP and TCP listeners on loopback."""

from __future__ import annotations

import os
import re

import pytest

from integrity.alerts import AlertTracker, SinkError, SyslogSink
from integrity.alerts.model import Alert, AlertKind
from integrity.alerts.sinks.syslog import cef_extension_escape, cef_header_escape, parse_address
from integrity.model import Status

# RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
RFC5424 = re.compile(rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) "
                     rb"(?P<host>[!-~]{1,255}) (?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) "
                     rb"(?P<msgid>[!-~]{1,32}) (?P<sd>-|\[.*?(?<!\\)\]) (?P<msg>.*)$", re.S)
SD_PARAM = re.compile(r'(\w+)="((?:[^"\\\]]|\\["\\\]])*)"')


@pytest.fixture
def alert(results):
    _, alerts = AlertTracker().observe(None, results.drift(), now=results.t0)
    return alerts[0]


def tricky_alert(results) -> Alert:
    """A device name and message full of characters each format must escape."""
    return Alert(kind=AlertKind.STATE_CHANGE, device='press|7 "x"]', state=Status.BASELINE_INVALID,
                 at=results.t0, since=results.t0, previous_state=Status.OK,
                 summary="a=b \\ c|d\nsecond line", reason="bad-signature",
                 message="signature does not match", baseline_id="bl-9", signer="eve")


def test_udp_rfc5424_structure(udp_listener, alert):
    port = udp_listener.getsockname()[1]
    SyslogSink("127.0.0.1", port, protocol="udp", facility=4, hostname="checker-01").send(alert)
    datagram, _ = udp_listener.recvfrom(65535)

    m = RFC5424.match(datagram)
    assert m, datagram
    assert int(m["pri"]) == 4 * 8 + 3  # facility auth, severity error (drift)
    assert m["ts"] == b"2026-03-01T08:00:00.000000Z"
    assert (m["host"], m["app"], m["msgid"]) == (b"checker-01", b"plc-integrity", b"STATE_CHANGE")
    assert m["procid"] == str(os.getpid()).encode()
    sd = m["sd"].decode()
    assert sd.startswith("[plc-integrity@32473 ")
    params = dict(SD_PARAM.findall(sd))
    assert params == {"kind": "STATE_CHANGE", "device": "vfd-hoist", "state": "DRIFT",
                      "since": "2026-03-01T08:00:00.000000Z", "baselineId": "bl-0001",
                      "signer": "alice@site", "maintenance": "false", "alertId": alert.id}
    assert m["msg"].startswith(b"\xef\xbb\xbf")  # UTF-8 MSG carries the BOM
    assert m["msg"][3:].decode() == \
        "DRIFT vfd-hoist: modified holding/0-1999 (holding[17]: 1500 → 1800)"


def test_rfc5424_escapes_structured_data(udp_listener, results):
    port = udp_listener.getsockname()[1]
    SyslogSink("127.0.0.1", port, hostname="h").send(tricky_alert(results))
    datagram, _ = udp_listener.recvfrom(65535)
    m = RFC5424.match(datagram)
    assert m, datagram
    assert int(m["pri"]) == 16 * 8 + 2  # default local0; a bad baseline is critical
    params = dict(SD_PARAM.findall(m["sd"].decode()))
    assert params["device"] == 'press|7 \\"x\\"\\]'
    assert params["reason"] == "bad-signature"


def test_tcp_octet_counting_and_cef_fields(tcp_listener, results):
    alert = tricky_alert(results)
    sink = SyslogSink("127.0.0.1", tcp_listener.port, protocol="tcp", format="cef", hostname="h")
    sink.send(alert)
    stream = tcp_listener.next_stream()

    length, _, frame = stream.partition(b" ")
    assert int(length) == len(frame)  # RFC 6587 octet counting: exactly one whole frame
    m = RFC5424.match(frame)
    assert m and m["sd"] == b"-" and m["msgid"] == b"STATE_CHANGE"
    cef = m["msg"].decode()
    assert not cef.startswith("\ufeff")
    # Split the header on unescaped pipes: 7 header fields then the extension.
    fields = re.split(r"(?<!\\)\|", cef, maxsplit=7)
    assert fields[:7] == ["CEF:0", "plc-integrity", "plc-integrity", "0.1.0",
                          "STATE_CHANGE:BASELINE_INVALID", "Device state changed to BASELINE_INVALID",
                          "10"]
    ext = fields[7]
    assert "\n" not in ext
    pairs = dict(re.findall(r"(\w+)=((?:[^=\\]|\\.)*?)(?= \w+=|$)", ext))
    assert pairs["msg"] == "a\\=b \\\\ c|d\\nsecond line"
    assert pairs["cs1Label"] == "device" and pairs["cs1"] == 'press|7 "x"]'
    assert pairs["cs2"] == "BASELINE_INVALID" and pairs["cs3"] == "OK"
    assert pairs["cs4"] == "bl-9" and pairs["cs5"] == "eve" and pairs["reason"] == "bad-signature"
    assert pairs["rt"] == str(int(results.t0.timestamp() * 1000))
    assert "cs6" not in pairs and "cs6Label" not in pairs  # no label without a value


def test_cef_escaping_rules():
    assert cef_header_escape("a|b\\c\nd") == "a\\|b\\\\c d"
    assert cef_extension_escape("a=b\\c\r\nd|e") == "a\\=b\\\\c\\nd|e"


def test_tcp_dead_listener_is_a_sink_error(dead_port, alert):
    with pytest.raises(SinkError, match="ConnectionRefusedError"):
        SyslogSink("127.0.0.1", dead_port, protocol="tcp", timeout=1.0).send(alert)


@pytest.mark.parametrize("text, expected", [
    pytest.param("siem.example:514", ("siem.example", 514), id="name"),
    pytest.param("[::1]:6514", ("::1", 6514), id="ipv6"),
])
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", [
    pytest.param("siem.example", id="no-port"),
    pytest.param("::1:514", id="bare-ipv6"),
    pytest.param("host:0", id="port-zero"),
    pytest.param("host:70000", id="port-too-big"),
])
def test_parse_address_rejects(text):
    with pytest.raises(ValueError):
        parse_address(text)
