"""One guarded, deadlined S7CommPlus session over the pinned ``s7commplus`` 0.3.0.

Three things are added around the library here, and nowhere else:

* **The guard at the single send point.**  Every S7CommPlus frame the library
  sends (plaintext, before TLS encryption) goes through
  ``S7CommPlusConnection._send_s7_data``; ``GuardedConnection`` overrides it
  and passes each frame through ``drivers.s7plus_guard.classify`` and the
  driver's ``guard`` before the bytes reach the socket.  (TLS handshake records
  and the COTP connect are not S7CommPlus requests and bypass it.)
* **A deadline per call.**  The library applies its socket timeout to each
  receive, so a peer trickling bytes could hold a read for ever.  Each call
  here arms a watchdog that shuts the socket down when the call's budget is
  spent; the call then fails and is reported as a timeout.
* **Error translation.**  No ``s7commplus``, ``ssl`` or socket exception leaves
  this module: each becomes a DeviceError subclass naming the device.

The library's ``Client`` is used for its request builders and parsers (explore,
db_read, upload_block), with our connection object put in its place, so we
never call ``Client.connect`` and never probe bundled legacy keys.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from typing import TYPE_CHECKING, Callable, TypeVar

from s7commplus import Client
from s7commplus.connection import S7CommPlusConnection
from s7commplus.error import (
    S7CertificateError,
    S7ConnectionError,
    S7Error,
    S7IntegrityError,
    S7ProtocolError,
    S7ReturnValueError,
    S7TimeoutError,
    S7TlsHandshakeError,
)
from s7commplus.legitimation import extract_session_version_string
from s7commplus.vlq import encode_uint32_vlq

from drivers.s7plus_guard import GET_VAR_SUBSTREAMED, classify
from integrity.errors import (
    DeviceAccessDeniedError,
    DeviceError,
    DeviceProtocolError,
    DeviceRefusedError,
    DeviceTimeoutError,
    ReadOnlyViolationError,
)

if TYPE_CHECKING:
    from drivers.s7plus import S7PlusDriver

T = TypeVar("T")
# The library logs what it then raises (or what the protection level shows); we
# translate those into results, so its warnings would only repeat them on stderr.
logging.getLogger("s7commplus").setLevel(logging.ERROR)
CONNECT_REQUESTS = 6  # InitSSL, TLS, CreateObject, set-up, protection level, legitimation


class GuardedConnection(S7CommPlusConnection):
    """The library's connection with the read-only guard at its send point."""

    def __init__(self, host: str, port: int, driver: "S7PlusDriver") -> None:
        super().__init__(host, port)
        self._driver = driver
        self.sent: list[str] = []  # operations sent, in order (tests, benchmarks)

    def _send_s7_data(self, data: bytes) -> None:
        operation, allowed = classify(bytes(data))
        # A refused frame raises ReadOnlyViolationError here: nothing reaches the socket.
        self._driver.guard(operation if allowed else f"refused:{operation}")
        self._driver.pace()
        self.sent.append(operation)
        super()._send_s7_data(data)


class Watchdog:
    """One thread per session that calls ``on_expire`` when an armed deadline
    passes.  (A threading.Timer per request cost more than the request itself;
    waking this thread on every request too: it is woken only when idle or
    when the new deadline is earlier than the one it waits for.)"""

    def __init__(self, on_expire: Callable[[], None]) -> None:
        self._on_expire = on_expire
        self._cond = threading.Condition()
        self._deadline = 0.0
        self._armed = False
        self._waiting_until: float | None = None  # None: idle, waiting for an arm
        self._closed = False
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="s7plus-deadline")
                self._thread.start()
            self._deadline = time.monotonic() + seconds
            self._armed = True
            if self._waiting_until is None or self._deadline < self._waiting_until:
                self._cond.notify()  # otherwise it wakes by an earlier deadline and looks again

    def disarm(self) -> None:
        with self._cond:
            self._armed = False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._waiting_until = self._deadline
                    self._cond.wait(remaining)
                elif self._armed:
                    self._armed = False
                    self._on_expire()
                else:
                    self._waiting_until = None
                    self._cond.wait()


class Session:
    """Connect, run library calls under a deadline, close.  Owned by one driver."""

    def __init__(self, driver: "S7PlusDriver", *, password: str | None) -> None:
        self.driver = driver
        self.device = driver.device
        self.options = driver.options
        self.password = password
        self.connection = GuardedConnection(self.device.host, self.device.port, driver)
        self.client = Client()
        self._expired = threading.Event()
        self._watchdog = Watchdog(self._expire)

    # -- deadline --------------------------------------------------------------
    def _socket(self) -> socket.socket | None:
        return getattr(self.connection._iso_conn, "socket", None)

    def _expire(self) -> None:
        self._expired.set()
        sock = self._socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def call(self, what: str, fn: Callable[[], T], *, requests: int = 1) -> T:
        """Run ``fn`` (one or a few requests) within ``requests * timeout`` seconds.

        Raises a DeviceError subclass, never a library exception."""
        budget = self.device.timeout * requests
        self._watchdog.arm(budget)
        try:
            return fn()
        except (DeviceError, ReadOnlyViolationError):
            raise  # ours already; a guard refusal is a bug report, never a device state
        except Exception as exc:
            if self._expired.is_set():
                raise self.driver.fail(DeviceTimeoutError,
                                       f"{what}: no complete answer within {budget:g} s") from exc
            raise self.translate(what, exc) from exc
        finally:
            self._watchdog.disarm()

    def translate(self, what: str, exc: Exception) -> DeviceError:
        fail = self.driver.fail
        if isinstance(exc, S7CertificateError):
            return fail(DeviceAccessDeniedError, f"TLS certificate refused: {exc}")
        if isinstance(exc, S7TlsHandshakeError):
            return fail(DeviceRefusedError, f"TLS handshake failed: {exc}")
        if isinstance(exc, S7ConnectionError) and "Legitimation" in str(exc):
            return fail(DeviceAccessDeniedError, f"password refused: {exc}")
        if isinstance(exc, (S7TimeoutError, socket.timeout, TimeoutError)):
            return fail(DeviceTimeoutError, f"{what}: no answer within {self.device.timeout:g} s")
        if isinstance(exc, S7ReturnValueError):
            return fail(DeviceProtocolError, f"{what}: the CPU answered error {exc.error_code} ({exc})")
        if isinstance(exc, (S7IntegrityError, S7ProtocolError)):
            return fail(DeviceProtocolError, f"{what}: {exc}")
        if isinstance(exc, S7ConnectionError):
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, OSError) and not isinstance(cause, ssl.SSLError):
                return self.driver.translate_os_error(cause)
            if "Connection refused" in str(exc):
                return fail(DeviceRefusedError, "connection refused")
            return fail(DeviceRefusedError, f"{what}: {exc}")
        if isinstance(exc, ssl.SSLError):
            return fail(DeviceRefusedError, f"{what}: TLS error: {exc}")
        if isinstance(exc, OSError):
            return self.driver.translate_os_error(exc)
        if isinstance(exc, (S7Error, ValueError, IndexError, KeyError, RuntimeError)):
            # The library's parsers raise these on replies they cannot read.
            return fail(DeviceProtocolError, f"{what}: malformed reply ({type(exc).__name__}: {exc})")
        return fail(DeviceProtocolError, f"{what}: {type(exc).__name__}: {exc}")

    @staticmethod
    def refused(exc: DeviceError) -> bool:
        """Whether the CPU answered, with an error value, rather than failing to answer
        or answering nonsense: the difference between "not readable" and "could not check"."""
        cause = exc.__cause__
        return isinstance(cause, S7ReturnValueError) or (
            type(cause) is RuntimeError and "returned error for item" in str(cause))

    # -- session -----------------------------------------------------------------
    def connect(self) -> None:
        opts = self.options
        conn = self.connection

        def open_() -> None:
            conn.connect(timeout=self.device.timeout, use_tls=opts.tls,
                         tls_ca=opts.tls_ca, tls_cert=opts.tls_cert, tls_key=opts.tls_key,
                         tls_cert_fingerprint=opts.tls_fingerprint,
                         password=self.password or "",
                         legacy_session_key_refresh_interval=None)
            if self.password is not None and conn.tls_active and not conn.requires_substreamed:
                conn.authenticate(self.password)

        self.call("session set-up", open_, requests=CONNECT_REQUESTS)
        self.client._connection = conn  # the library's parsers, our guarded connection

    @property
    def protection_level(self) -> int | None:
        return self.connection.protection_level

    def session_version_string(self) -> str | None:
        raw = self.connection._server_session_version
        return extract_session_version_string(raw) if raw else None

    def explore(self, rid: int, attributes: list[int] | None = None) -> bytes:
        return self.call(f"EXPLORE of {rid:#x}", lambda: self.client.explore(rid, attributes or []))

    def cpu_state(self) -> str:
        return self.call("CPU state", self.client.get_cpu_state)

    def db_read(self, number: int, size: int) -> bytes:
        return self.call(f"read of DB {number}", lambda: self.client.db_read(number, 0, size))

    def upload(self, type_code: int, number: int) -> bytes:
        """The raw reply payload of s7commplus' experimental upload request (its
        ``upload_block`` drops the ReturnValue, so a refusal would read as data)."""
        payload = struct.pack(">I", self.connection.session_id) + encode_uint32_vlq(1) \
            + encode_uint32_vlq(1) + encode_uint32_vlq(type_code) + encode_uint32_vlq(number) \
            + struct.pack(">I", 0)
        return self.call(f"upload of block {type_code:#x}/{number}",
                         lambda: self.connection.send_request(GET_VAR_SUBSTREAMED, payload))

    def close(self) -> None:
        conn = self.connection
        if self._expired.is_set():
            # The socket is already shut: no goodbye request that could wait again.
            conn._session_ready = False
        try:
            self.call("close", conn.disconnect)
        except DeviceError:
            pass  # closing a session that is already gone is not a finding
        finally:
            self._watchdog.close()
