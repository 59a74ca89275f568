"""The syslog sink: RFC 5424 messages, or CEF carried in syslog, over UDP or TCP.

RFC 5424 form::

    <PRI>1 TIMESTAMP HOSTNAME plc-integrity PROCID MSGID [plc-integrity@32473 ...] BOM MSG

- MSGID is the alert kind (STATE_CHANGE, NEW_DRIFT, ...).
- The structured data element carries device, state, previous state, since,
  baseline id, signer, reason and the maintenance flag, so a SIEM can filter
  without parsing the text.  32473 is the private enterprise number RFC 5612
  reserves for documentation; the project has none of its own.
- MSG is UTF-8 and therefore starts with a BOM, as RFC 5424 section 6.4 requires.

CEF form: the same header with no structured data ("-") and, as MSG, the CEF
record ``CEF:0|plc-integrity|plc-integrity|<version>|<kind>:<state>|<name>|<severity>|<ext>``,
without a BOM (CEF parsers look for "CEF:" right after the header).

Transport: UDP sends one datagram per alert (best effort by nature: nothing
tells us a datagram was lost); TCP opens a connection per alert and frames it
with octet counting (RFC 6587 section 3.4.1: ``<length> <message>``).
"""

from __future__ import annotations

import os
import re
import socket
from datetime import datetime, timezone

from integrity import __version__
from integrity.alerts.model import Alert
from integrity.alerts.sinks.base import DEFAULT_TIMEOUT, Sink, SinkError

APP_NAME = "plc-integrity"
SD_ID = "plc-integrity@32473"
UDP_MAX = 2048  # what every RFC 5426 receiver must accept; bounded summaries keep us under it

FACILITIES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
              "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12,
              "security": 13, "console": 14, "solaris-cron": 15,
              **{f"local{i}": 16 + i for i in range(8)}}


def syslog_severity(alert: Alert) -> int:
    """RFC 5424 severity (0 emergency .. 7 debug) from the alert's 0..10 scale."""
    s = alert.severity
    return 2 if s >= 9 else 3 if s >= 7 else 4 if s >= 4 else 5 if s >= 2 else 6


def _header_token(value: str | None, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, or the nil value."""
    cleaned = re.sub(r"[^\x21-\x7e]", "", value or "")[:limit]
    return cleaned or "-"


def _sd_escape(value: str) -> str:
    # RFC 5424 6.3.3: inside PARAM-VALUE, '"', '\' and ']' must be escaped.
    return re.sub(r'(["\\\]])', r"\\\1", value)


def _timestamp(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _structured_data(alert: Alert) -> str:
    params = {"kind": alert.kind.value, "device": alert.device, "state": alert.state.value,
              "previousState": alert.previous_state.value if alert.previous_state else None,
              "since": _timestamp(alert.since), "baselineId": alert.baseline_id,
              "signer": alert.signer, "reason": alert.reason, "sink": alert.sink,
              "maintenance": "true" if alert.maintenance else "false", "alertId": alert.id}
    body = " ".join(f'{k}="{_sd_escape(v)}"' for k, v in params.items() if v is not None)
    return f"[{SD_ID} {body}]"


def _header(alert: Alert, *, facility: int, hostname: str, procid: str) -> str:
    pri = facility * 8 + syslog_severity(alert)
    return (f"<{pri}>1 {_timestamp(alert.at)} {_header_token(hostname, 255)} {APP_NAME} "
            f"{_header_token(procid, 128)} {_header_token(alert.kind.value, 32)}")


def format_rfc5424(alert: Alert, *, facility: int, hostname: str, procid: str) -> bytes:
    text = alert.headline()
    if alert.message and alert.message not in text:
        text += f" - {alert.message}"
    return (f"{_header(alert, facility=facility, hostname=hostname, procid=procid)} "
            f"{_structured_data(alert)} ").encode("utf-8") + b"\xef\xbb\xbf" + text.encode("utf-8")


def cef_header_escape(value: str) -> str:
    """CEF header fields: escape '\\' and '|'; newlines are not allowed, so they become spaces."""
    return re.sub(r"[\r\n]+", " ", value.replace("\\", "\\\\").replace("|", "\\|"))


def cef_extension_escape(value: str) -> str:
    """CEF extension values: escape '\\' and '=', and write newlines as \\n / \\r."""
    return (value.replace("\\", "\\\\").replace("=", "\\=")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r"))


_CEF_NAMES = {"STATE_CHANGE": "Device state changed to {state}", "NEW_DRIFT": "New drift",
              "REMINDER": "Device still {state}", "RECOVERY": "Device recovered",
              "SINK_FAILURE": "Alert not delivered", "WIRE_EVENT": "PLC change seen on the wire",
              "WIRE_CHECK": "Device {state} after a change seen on the wire",
              "STORE_DAMAGE": "Stored evidence damaged", "SITE_WARNING": "Site warning",
              "DRILL_FAILED": "Backup does not restore the device",
              "DRILL_RECOVERED": "Backup restores the device again",
              "BACKUP_FAILED": "Scheduled backup failed"}


def format_cef(alert: Alert) -> str:
    """The CEF record (without the syslog header)."""
    def ms(ts: datetime) -> str:
        return str(int(ts.timestamp() * 1000))

    ext: list[tuple[str, str | None]] = [
        ("rt", ms(alert.at)), ("start", ms(alert.since)), ("cat", alert.kind.value),
        ("msg", alert.summary or alert.message), ("reason", alert.reason),
        ("externalId", alert.id),
        ("cs1Label", "device"), ("cs1", alert.device),
        ("cs2Label", "state"), ("cs2", alert.state.value),
        ("cs3Label", "previousState"),
        ("cs3", alert.previous_state.value if alert.previous_state else None),
        ("cs4Label", "baselineId"), ("cs4", alert.baseline_id),
        ("cs5Label", "signer"), ("cs5", alert.signer),
        ("cs6Label", "differences"), ("cs6", ",".join(alert.differences) or None),
        ("cn1Label", "maintenance"), ("cn1", "1" if alert.maintenance else "0"),
    ]
    if alert.sink:
        ext.append(("destinationServiceName", alert.sink))
    if alert.operation:
        ext += [("act", alert.operation), ("src", alert.source)]
    # A label without its value would mislead a parser; drop both together.
    present = {k for k, v in ext if v is not None}
    pairs = [(k, v) for k, v in ext if v is not None
             and not (k.endswith("Label") and k[:-5] not in present)]
    header = [
        # A wire alert's event class is the operation seen (CEF signature id).
        "CEF:0", APP_NAME, APP_NAME, __version__,
        f"{alert.kind.value}:{alert.operation or alert.state.value}",
        _CEF_NAMES[alert.kind.value].format(state=alert.state.value), str(alert.severity)]
    return ("|".join([header[0]] + [cef_header_escape(h) for h in header[1:]]) + "|"
            + " ".join(f"{k}={cef_extension_escape(v)}" for k, v in pairs if v is not None))


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6addr]:port``.  Raises ValueError with the reason."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\[\]\s]+):(\d+)", address or "")
    if not match:
        raise ValueError(f"{address!r} is not host:port (use [addr]:port for IPv6)")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range 1-65535")
    return host, port


class SyslogSink(Sink):
    def __init__(self, host: str, port: int, *, protocol: str = "udp", format: str = "rfc5424",
                 facility: int = FACILITIES["local0"], timeout: float = DEFAULT_TIMEOUT,
                 hostname: str | None = None, name: str | None = None) -> None:
        super().__init__()
        if protocol not in ("udp", "tcp"):
            raise ValueError(f"syslog protocol must be udp or tcp, not {protocol!r}")
        if format not in ("rfc5424", "cef"):
            raise ValueError(f"syslog format must be rfc5424 or cef, not {format!r}")
        if not 0 <= facility <= 23:
            raise ValueError(f"syslog facility {facility} is out of range 0-23")
        self.host, self.port, self.protocol, self.format = host, port, protocol, format
        self.facility, self.timeout = facility, timeout
        self.hostname = hostname or socket.gethostname()
        self.name = name or f"syslog {protocol}://{host}:{port} ({format})"

    @property
    def max_duration(self) -> float:
        return self.timeout * 2  # connect + send

    def render(self, alert: Alert) -> bytes:
        if self.format == "cef":
            header = _header(alert, facility=self.facility, hostname=self.hostname,
                             procid=str(os.getpid()))
            return f"{header} - {format_cef(alert)}".encode("utf-8")
        return format_rfc5424(alert, facility=self.facility, hostname=self.hostname,
                              procid=str(os.getpid()))

    def _send(self, alert: Alert) -> None:
        message = self.render(alert)
        try:
            if self.protocol == "udp":
                # Cut on a character boundary: a half UTF-8 sequence would make
                # a strict receiver drop the whole datagram.
                self._send_udp(message[:UDP_MAX].decode("utf-8", "ignore").encode("utf-8"))
            else:
                self._send_tcp(b"%d " % len(message) + message)
        except OSError as exc:
            raise SinkError(f"{type(exc).__name__}: {exc.strerror or exc}", sink=self.name) from exc

    def _send_udp(self, datagram: bytes) -> None:
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        family, _, _, _, addr = infos[0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(self.timeout)
            sock.sendto(datagram, addr)

    def _send_tcp(self, frame: bytes) -> None:
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
            sock.sendall(frame)
            # Half-close so a receiver reading to EOF gets the frame now; we do
            # not wait for anything back (syslog has no acknowledgement).
            sock.shutdown(socket.SHUT_WR)
