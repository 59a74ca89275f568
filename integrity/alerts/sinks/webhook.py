"""The webhook sink: POST the alert as JSON, signed with HMAC-SHA256.

Request::

    POST <url>
    Content-Type: application/json
    X-PLC-Integrity-Timestamp: <unix seconds>
    X-PLC-Integrity-Alert-Id: <Alert.id, the same on every retry>
    X-PLC-Integrity-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

    <body: Alert.to_dict() as UTF-8 JSON>

The signed material is the timestamp header, a dot, then the exact body
bytes, so a receiver can refuse replays older than a few minutes as well as
forgeries: recompute the HMAC over ``timestamp.encode() + b"." + body`` and
compare with ``hmac.compare_digest``.

Delivery: any 2xx is success.  Connection errors, timeouts, 429 and 5xx are
retried ``retries`` times with exponential backoff (``backoff``, 2x, ...);
other statuses (4xx, and 3xx: a redirected POST would lose its body) fail at
once.  http.client is used directly, so no proxy from the environment and no
redirect ever sends an alert somewhere the site did not configure.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import ssl
import time
from typing import Callable
from urllib.parse import urlsplit

from integrity.alerts.model import Alert
from integrity.alerts.sinks.base import DEFAULT_TIMEOUT, Sink, SinkError

SIGNATURE_HEADER = "X-PLC-Integrity-Signature"
TIMESTAMP_HEADER = "X-PLC-Integrity-Timestamp"
ALERT_ID_HEADER = "X-PLC-Integrity-Alert-Id"
USER_AGENT = "plc-integrity-webhook/1"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: bytes, timestamp: str, body: bytes, header: str) -> bool:
    """Receiver side (and tests): constant-time check of a signature header."""
    return hmac.compare_digest(sign(secret, timestamp, body), header)


class _Retryable(Exception):
    pass


class WebhookSink(Sink):
    def __init__(self, url: str, secret: bytes, *, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = 3, backoff: float = 0.5, ca_file: str | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, name: str | None = None) -> None:
        super().__init__()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook url {url!r} must be http:// or https:// with a host")
        if not secret:
            raise ValueError("webhook secret must not be empty")
        if retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError("webhook retries/backoff must be >= 0 and timeout > 0")
        self.url, self._parts = url, parts
        self._secret = secret
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._context = ssl.create_default_context(cafile=ca_file) if parts.scheme == "https" else None
        self._sleep, self._clock = sleep, clock
        # The name goes into failure reports: no query string (it may hold a token).
        self.name = name or f"webhook {parts.scheme}://{parts.netloc}{parts.path}"

    @property
    def max_duration(self) -> float:
        # Each attempt may spend timeout connecting and timeout reading.
        waits = sum(self.backoff * 2 ** i for i in range(self.retries))
        return (self.retries + 1) * 2 * self.timeout + waits

    def _send(self, alert: Alert) -> None:
        body = json.dumps(alert.to_dict(), ensure_ascii=False, sort_keys=True).encode("utf-8")
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))
            try:
                self._post(body, alert.id)
                return
            except _Retryable as exc:
                last = str(exc)
        raise SinkError(f"gave up after {self.retries + 1} attempts: {last}", sink=self.name)

    def _post(self, body: bytes, alert_id: str) -> None:
        timestamp = str(int(self._clock()))
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   TIMESTAMP_HEADER: timestamp, ALERT_ID_HEADER: alert_id,
                   SIGNATURE_HEADER: sign(self._secret, timestamp, body)}
        parts = self._parts
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: http.client.HTTPConnection
        if self._context is not None:
            conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=self.timeout,
                                               context=self._context)
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=self.timeout)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            status, reason = response.status, response.reason
            response.read(64 * 1024)  # drain a little so the server sees a clean close
        except ssl.SSLCertVerificationError as exc:
            # A certificate problem will not fix itself on retry.
            raise SinkError(f"TLS certificate not accepted: {exc.verify_message}",
                            sink=self.name) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
        if 200 <= status < 300:
            return
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status} {reason}")
        raise SinkError(f"HTTP {status} {reason} (not retried)", sink=self.name)
