"""Where the dashboard (and the daemon's /metrics) listens, who may ask, and uvicorn.

The rule: off the loopback address nothing starts without authentication,
either a bearer token (``PLC_INTEGRITY_TOKEN`` or a token file) or a reverse
proxy's auth header.  Without auth (loopback only), the Host header must name
the loopback address, so a web page that rebinds its own DNS name to
127.0.0.1 still cannot read the dashboard.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integrity.errors import ConfigError
from integrity.web.app import Auth

TOKEN_ENV = "PLC_INTEGRITY_TOKEN"
MIN_TOKEN = 16
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


@dataclass(frozen=True)
class Bind:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a name: it may resolve anywhere, so it counts as off loopback


def parse_bind(text: str, *, option: str = "--bind") -> Bind:
    """``HOST:PORT`` or ``[V6]:PORT``.  ConfigError (exit 2) names the option."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{option} must be HOST:PORT (e.g. 127.0.0.1:8800), got {text!r}",
                          field=option)
    return Bind(host, int(port))


def load_auth(token_file: Path | None, proxy_header: str | None, *,
              env: dict[str, str] | None = None) -> Auth:
    """The token from ``token_file`` (first line) or $PLC_INTEGRITY_TOKEN.
    ConfigError for an unreadable file or a token too short to resist guessing."""
    env = os.environ if env is None else env
    token = None
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, UnicodeDecodeError, IndexError) as exc:
            raise ConfigError(f"cannot read a token from it: {exc}", file=str(token_file),
                              field="--token-file") from None
    elif env.get(TOKEN_ENV):
        token = env[TOKEN_ENV].strip()
    if token is not None and len(token) < MIN_TOKEN:
        raise ConfigError(f"the token must have at least {MIN_TOKEN} characters "
                          "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
                          field="--token-file" if token_file else TOKEN_ENV)
    header = proxy_header.strip() if proxy_header else None
    return Auth(token=token or None, proxy_header=header or None)


def check_exposure(bind: Bind, auth: Auth, *, option: str = "--bind") -> list[str] | None:
    """Refuse (ConfigError) an off-loopback bind without auth.  Returns the
    Host header values to accept (None: any): without auth, only loopback
    names, against DNS rebinding.  With auth a rebound page has no
    credentials, and a reverse proxy on the same host may pass its own name."""
    open_ = auth.token is None and auth.proxy_header is None
    if not bind.loopback and open_:
        raise ConfigError(f"refusing to listen on {bind.host}:{bind.port} without "
                          f"authentication: set {TOKEN_ENV} or --token-file, or "
                          "--proxy-auth-header behind an authenticating reverse proxy "
                          "(or bind to 127.0.0.1)", field=option)
    return LOOPBACK_HOSTS if open_ else None


class Server:
    """uvicorn serving ``app`` on ``bind``, in a background thread.  The socket
    is bound here first, so a port in use is a clear ConfigError rather than a
    dying thread, and ``port`` is known at once (0 picks one)."""

    def __init__(self, app: Any, bind: Bind, *, on_stop: Any = None) -> None:
        import uvicorn

        config = uvicorn.Config(app, host=bind.host, port=bind.port, log_level="warning",
                                access_log=False, server_header=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._bind = bind
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._on_stop = on_stop

    @property
    def port(self) -> int:
        assert self._sock is not None, "not started"
        return self._sock.getsockname()[1]

    def start(self, timeout: float = 30.0) -> "Server":
        """Bind and serve.  ConfigError if the address cannot be bound."""
        family = socket.AF_INET6 if ":" in self._bind.host else socket.AF_INET
        try:
            self._sock = socket.create_server((self._bind.host, self._bind.port), family=family,
                                              backlog=128)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {self._bind.host}:{self._bind.port}: "
                              f"{exc.strerror or exc}; the web server did not start",
                              field="--bind") from None
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="plc-web", daemon=True)
        self._thread.start()
        waited = threading.Event()
        deadline = timeout
        while not self._server.started and self._thread.is_alive() and deadline > 0:
            waited.wait(0.02)
            deadline -= 0.02
        if not self._server.started:
            self.stop()
            raise ConfigError("the web server did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        if self._on_stop is not None:
            self._on_stop()
