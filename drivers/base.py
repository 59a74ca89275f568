"""The driver interface and the read-only guard.

A driver is a small class with one job: ``collect`` a device's artifacts,
read-only, over one connection, then ``close``.  Adding a protocol means adding
one module and one line in ``drivers.registry``.

Read-only is enforced here, not hoped for: every request a driver sends passes
``guard(operation)`` first, and an operation outside the driver's
``READ_OPERATIONS`` raises ``ReadOnlyViolationError`` before anything is sent.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, ClassVar, Mapping

from integrity.errors import (
    ConfigError,
    DeviceError,
    DeviceProtocolError,
    DeviceRefusedError,
    DeviceTimeoutError,
    DeviceUnreachableError,
    ReadOnlyViolationError,
)
from integrity.model import Capture, Device, Mode


class Driver(ABC):
    """Read one device.  Use as a context manager so the connection is always closed.

    Subclasses set:
      protocol         the inventory's ``protocol`` value
      default_port     used when the inventory gives none
      READ_OPERATIONS  the only operations ``guard`` lets through
    """

    protocol: ClassVar[str]
    default_port: ClassVar[int]
    READ_OPERATIONS: ClassVar[frozenset[Any]]

    def __init__(self, device: Device) -> None:
        self.device = device
        # A quick capture may let a summary the device keeps (the S7 CPU's
        # program checksums) stand for per-item reads.  The check sets this to
        # False when the baseline predates the summary, so the quick check
        # reads the items the baseline holds instead of comparing less.
        self.quick_summaries = True
        self._pace_lock = threading.Lock()
        self._next_send = 0.0
        self._aborted = False

    @classmethod
    @abstractmethod
    def parse_options(cls, table: Mapping[str, Any], *, file: str | None, device: str) -> Any:
        """Validate the protocol's own inventory keys and return a frozen options object.

        ``table`` holds everything but the common keys (name, protocol, host,
        port, timeout, retries, tags, profile); a ``profile`` has already been
        merged in by the inventory.  Unknown keys are an error.

        Raises ConfigError naming file, device and field.
        """

    @abstractmethod
    def collect(self, mode: Mode = Mode.DEEP, *, now: datetime | None = None) -> Capture:
        """Read the device and return its artifacts.

        Raises a DeviceError subclass when the device cannot be read fully.  A
        partial read is never returned as a capture.
        """

    def close(self) -> None:  # noqa: B027 - drivers without a connection need nothing
        """Close the connection.  Safe to call twice and after a failed open."""

    def abort(self) -> None:
        """Wake a read blocked on the device, from another thread.

        The sweep calls this when a check passed its overall deadline
        (``Device.check_deadline``).  The connection is shut down, not closed:
        the reading thread's receive returns at once, it fails, and it closes
        the connection itself, so no socket is closed under a thread using it.
        """
        self._aborted = True
        for sock in self.live_sockets():
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed or never connected: nothing to wake

    @property
    def aborted(self) -> bool:
        """True once ``abort`` was called: retry logic must give up."""
        return self._aborted

    def live_sockets(self) -> list[socket.socket]:
        """The driver's open sockets (for ``abort``); none by default."""
        return []

    def __enter__(self) -> "Driver":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def guard(self, operation: Any) -> None:
        """Refuse, before sending, any operation that is not a read."""
        if operation not in self.READ_OPERATIONS:
            raise ReadOnlyViolationError(
                f"{self.protocol} driver refused to send {operation!r} to {self.device.name}: "
                "only read requests are allowed")

    def reserve_send_slot(self) -> float:
        """Book the next send under the device's ceiling (``device.max_rps``
        requests per second; None: no ceiling) and return how long to wait for
        it, in seconds (<= 0: send now).  Sync callers use ``pace``; coroutines
        await ``asyncio.sleep`` on the result, keeping their loop free.

        Raises DeviceTimeoutError once the check was aborted: every driver books
        each request here, so an abandoned read sends nothing more (not even
        over a connection its retry logic reopened)."""
        if self._aborted:
            raise self.fail(DeviceTimeoutError, "the check passed its overall deadline "
                            "(check_timeout) and was abandoned")
        rate = self.device.max_rps
        if not rate:
            return 0.0
        with self._pace_lock:
            now = time.monotonic()
            wait = self._next_send - now
            self._next_send = max(now, self._next_send) + 1.0 / rate
        return wait

    def pace(self) -> None:
        """Hold back the next request so this device never sees more than
        ``device.max_rps`` requests per second from us.

        Each driver calls this once per request at its single send point; with
        one connection per device, that makes it a per-device ceiling.  The
        wait is spent here, never as a burst afterwards.
        """
        wait = self.reserve_send_slot()
        if wait > 0:
            time.sleep(wait)

    def fail(self, error_type: type[DeviceError], message: str) -> DeviceError:
        """Build a DeviceError that names this device and its endpoint."""
        return error_type(f"{self.device.name} ({self.device.endpoint}): {message}",
                          device=self.device.name)

    def translate(self, exc: BaseException, doing: str) -> DeviceError:
        """The DeviceError for a failure of the protocol library or the socket while
        ``doing`` something, most specific first.  Callers ``raise ... from exc``,
        so no vendor exception ever reaches the CLI.  Every driver translates
        through this one method: each extends it for its library's exceptions,
        this base handles sockets and names anything else a protocol error."""
        if isinstance(exc, OSError):
            return self.translate_os_error(exc)
        return self.fail(DeviceProtocolError, f"{doing}: {type(exc).__name__}: {exc}")

    def translate_os_error(self, exc: BaseException) -> DeviceError:
        """Map a socket-level failure to the error tree, most specific first."""
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return self.fail(DeviceTimeoutError,
                             f"no answer within {self.device.timeout:g} s")
        if isinstance(exc, (ConnectionRefusedError,)):
            return self.fail(DeviceRefusedError, "connection refused")
        if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            return self.fail(DeviceRefusedError, f"connection closed by the device ({exc})")
        if isinstance(exc, socket.gaierror):
            return self.fail(DeviceUnreachableError, f"cannot resolve host: {exc}")
        if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return self.fail(DeviceUnreachableError, f"no route to host ({exc.strerror})")
        return self.fail(DeviceUnreachableError, f"{type(exc).__name__}: {exc}")


class AsyncDriver(Driver):
    """A driver that can also read on an asyncio event loop, so hundreds of its
    devices cost no thread each (``integrity.check.read_many`` uses this path for
    every driver class that derives from it).  The same reads, checks, capture
    and errors as ``collect``; use as an async context manager."""

    @abstractmethod
    async def collect_async(self, mode: Mode = Mode.DEEP, *,
                            now: datetime | None = None) -> Capture:
        """``collect`` without blocking the loop.  Raises what ``collect`` raises."""

    async def aclose(self) -> None:
        """Close, and let the event loop finish closing the connection."""
        self.close()

    async def __aenter__(self) -> "AsyncDriver":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def reject_unknown_keys(table: Mapping[str, Any], allowed: set[str], *, file: str | None,
                        device: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
                          file=file, device=device, field=unknown[0])
