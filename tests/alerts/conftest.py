"""Real local servers the alert sinks talk to, all on 127.0.0.1 with OS ports.

- ``http_server``: http.server in a thread; records each request and answers
  with the statuses a test scripts (then 200).
- ``smtp_server`` / ``smtp_tls_server``: aiosmtpd, the second with STARTTLS
  required and AUTH, using a throw-away self-signed certificate.
- ``udp_listener`` / ``tcp_listener``: syslog receivers.
- ``dead_port``: a bound socket that never listens, so connections to it are
  refused at once (a dead sink without waiting for a timeout).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import queue
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support.receivers import HttpReceiver

LOOPBACK = "127.0.0.1"
WAIT = 5.0  # generous: how long a listener waits for something that should come at once


# --- HTTP -----------------------------------------------------------------------------------

@pytest.fixture
def http_server() -> Iterator[HttpReceiver]:
    with HttpReceiver(path="/hooks/plc?token=abc") as server:
        yield server


# --- SMTP -----------------------------------------------------------------------------------

@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes
    login: bytes | None


@dataclass
class _MailHandler:
    mails: "queue.Queue[Mail]" = field(default_factory=queue.Queue)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd naming)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        self.mails.put(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login))
        return "250 OK"


class _OsPortController(Controller):
    """aiosmtpd's Controller, but bound to port 0 with the real port read back."""

    def _create_server(self):
        create = super()._create_server()

        async def bind():
            server = await create
            self.port = server.sockets[0].getsockname()[1]
            return server
        return bind()


SMTP_USER, SMTP_PASSWORD = "alerts", "s3cret-pw"


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and \
        (auth_data.login, auth_data.password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
    # handled=False: let aiosmtpd answer 535 itself (handled=True means "I replied").
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass
class SmtpServer:
    host: str
    port: int
    mails: "queue.Queue[Mail]"
    ca_file: str | None = None
    username: str = SMTP_USER
    password: str = SMTP_PASSWORD

    def next_mail(self) -> Mail:
        return self.mails.get(timeout=WAIT)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    handler = _MailHandler()
    controller = _OsPortController(handler, hostname=LOOPBACK, port=0)
    controller.start()
    yield SmtpServer(LOOPBACK, controller.port, handler.mails)
    controller.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plc-integrity test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def smtp_tls_server(tls_files: tuple[Path, Path]) -> Iterator[SmtpServer]:
    cert_file, key_file = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    handler = _MailHandler()
    controller = _OsPortController(handler, hostname=LOOPBACK, port=0, tls_context=context,
                                   require_starttls=True, authenticator=_authenticate,
                                   auth_require_tls=True)
    controller.start()
    yield SmtpServer(LOOPBACK, controller.port, handler.mails, str(cert_file))
    controller.stop()


# --- syslog listeners -----------------------------------------------------------------------

@pytest.fixture
def udp_listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    sock.settimeout(WAIT)
    yield sock
    sock.close()


@dataclass
class TcpListener:
    port: int
    streams: "queue.Queue[bytes]"

    def next_stream(self) -> bytes:
        """Everything one client sent, up to its end of stream."""
        return self.streams.get(timeout=WAIT)


@pytest.fixture
def tcp_listener() -> Iterator[TcpListener]:
    server = socket.create_server((LOOPBACK, 0))
    server.settimeout(0.2)
    streams: "queue.Queue[bytes]" = queue.Queue()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(WAIT)
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
                streams.put(b"".join(chunks))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield TcpListener(server.getsockname()[1], streams)
    stop.set()
    thread.join(WAIT)
    server.close()


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else gets it), not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a hung peer)."""
    sock = socket.create_server((LOOPBACK, 0), backlog=16)
    yield sock.getsockname()[1]
    sock.close()


# --- check results --------------------------------------------------------------------------

from integrity.model import Change, CheckResult, Difference, Kind, Mode, Status, ValueChange  # noqa: E402

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)


def _digest(text: str) -> str:
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()


class Results:
    """Builds CheckResults the way integrity.check reports them."""

    t0 = T0

    @staticmethod
    def drift(device: str = "vfd-hoist", *, at: dt.datetime = T0, value: int = 1800,
              extra_keys: tuple[str, ...] = ()) -> CheckResult:
        diffs = [Difference("holding/0-1999", Change.MODIFIED, Kind.CONFIG, _digest("base"),
                            _digest(f"now-{value}"), (ValueChange("holding[17]", 1500, value),))]
        diffs += [Difference(k, Change.ADDED, Kind.CODE, None, _digest(k)) for k in extra_keys]
        return CheckResult(device, "modbus", Status.DRIFT, at, Mode.DEEP, "f" * 64, "bl-0001", 1,
                           "alice@site", tuple(diffs))

    @staticmethod
    def ok(device: str = "vfd-hoist", *, at: dt.datetime = T0) -> CheckResult:
        return CheckResult(device, "modbus", Status.OK, at, Mode.DEEP, "e" * 64, "bl-0001", 1,
                           "alice@site")

    @staticmethod
    def unreachable(device: str = "vfd-hoist", *, at: dt.datetime = T0,
                    reason: str = "timeout") -> CheckResult:
        return CheckResult(device, "modbus", Status.UNREACHABLE, at, Mode.DEEP, reason=reason,
                           message=f"no answer from 127.0.0.1:5020 ({reason})")


@pytest.fixture
def results() -> type[Results]:
    return Results
