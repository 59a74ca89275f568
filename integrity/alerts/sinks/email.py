"""The e-mail sink: a plain-text message per alert through SMTP.

Subject: ``[plc-integrity] DRIFT vfd-hoist: modified holding/0-1999 (...)``,
bounded to one readable line.  The body lists every field of the alert.
STARTTLS is optional; when credentials are configured the config layer
insists on it, so a password never crosses the network in clear text.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from integrity.alerts.model import Alert, bound
from integrity.alerts.sinks.base import DEFAULT_TIMEOUT, Sink, SinkError

SUBJECT_MAX = 150


def subject(alert: Alert) -> str:
    return bound(f"[plc-integrity] {alert.headline()}", SUBJECT_MAX)


def body(alert: Alert) -> str:
    def line(label: str, value: object) -> str:
        return f"{label + ':':<16}{value}"

    rows = [alert.headline(), "",
            line("Device", alert.device), line("State", alert.state.value),
            line("Previously", alert.previous_state.value if alert.previous_state else "-"),
            line("Since", alert.since.isoformat()), line("Alert", alert.kind.value),
            line("Time", alert.at.isoformat())]
    if alert.protocol:
        rows.append(line("Protocol", alert.protocol))
    rows += [line("Baseline", alert.baseline_id or "-"), line("Signed by", alert.signer or "-")]
    if alert.reason:
        rows.append(line("Reason", alert.reason))
    if alert.message:
        rows.append(line("Message", alert.message))
    if alert.sink:
        rows.append(line("Sink", alert.sink))
    if alert.maintenance:
        rows.append(line("Maintenance", "yes (window open)"))
    if alert.differences:
        rows += ["", "Differences:"] + [f"  - {key}" for key in alert.differences]
        if alert.differences_truncated:
            rows.append("  - ... (more in the check history)")
    if alert.summary:
        rows += ["", "Summary:", f"  {alert.summary}"]
    rows += ["", f"Alert id: {alert.id}", "-- ", "plc-integrity"]
    return "\n".join(rows) + "\n"


class EmailSink(Sink):
    def __init__(self, host: str, port: int, *, sender: str, to: tuple[str, ...] | list[str],
                 starttls: bool = False, username: str | None = None, password: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, ca_file: str | None = None,
                 name: str | None = None) -> None:
        super().__init__()
        if not to:
            raise ValueError("an e-mail sink needs at least one recipient")
        if (username is None) != (password is None):
            raise ValueError("e-mail username and password go together")
        self.host, self.port, self.sender, self.to = host, port, sender, tuple(to)
        self.starttls, self.timeout = starttls, timeout
        self._username, self._password = username, password
        self._context = ssl.create_default_context(cafile=ca_file) if starttls else None
        self.name = name or f"email smtp://{host}:{port}"

    @property
    def max_duration(self) -> float:
        # connect, EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA: each waits at most timeout,
        # but in practice a dead server fails on connect; bound it loosely.
        return self.timeout * 4

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = subject(alert)
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = format_datetime(alert.at)
        msg["Message-ID"] = make_msgid(idstring=alert.id, domain="plc-integrity.invalid")
        msg["X-PLC-Integrity-Alert-Id"] = alert.id
        msg.set_content(body(alert))
        return msg

    def _send(self, alert: Alert) -> None:
        msg = self.message(alert)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self._context is not None:
                    smtp.starttls(context=self._context)
                    smtp.ehlo()
                if self._username is not None and self._password is not None:
                    smtp.login(self._username, self._password)
                refused = smtp.send_message(msg, from_addr=self.sender, to_addrs=list(self.to))
        except smtplib.SMTPAuthenticationError as exc:
            raise SinkError(f"SMTP login refused ({exc.smtp_code})", sink=self.name) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SinkError(f"SMTP server does not support {exc}", sink=self.name) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise SinkError(f"all recipients refused: {sorted(exc.recipients)}", sink=self.name) from exc
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
                else str(exc.smtp_error)
            raise SinkError(f"SMTP error {exc.smtp_code}: {text}", sink=self.name) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SinkError(f"{type(exc).__name__}: {exc}", sink=self.name) from exc
        if refused:
            # Delivered to some: still a failure, or the refused ones never hear of it.
            raise SinkError(f"recipients refused: {sorted(refused)}", sink=self.name)
