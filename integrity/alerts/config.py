"""Parse the ``[[alerts]]`` tables of site.toml into sinks, with clear errors.

    [[alerts]]
    type = "log"

    [[alerts]]
    type = "jsonl"
    path = "alerts.jsonl"            # relative to the site file's folder

    [[alerts]]
    type = "syslog"
    address = "siem.example:6514"    # host:port, [v6]:port
    protocol = "tcp"                 # udp (default) | tcp
    format = "cef"                   # rfc5424 (default) | cef
    facility = "local4"              # name or 0-23; default local0
    hostname = "checker-01"          # HOSTNAME field; default: this machine's name

    [[alerts]]
    type = "webhook"
    url = "https://soc.example/hooks/plc"
    secret_env = "PLC_INTEGRITY_WEBHOOK_SECRET"
    timeout = 5.0                    # seconds per attempt
    retries = 3                      # after the first attempt
    backoff = 0.5                    # first wait; doubles each retry

    [[alerts]]
    type = "email"
    host = "smtp.example"
    port = 587
    from = "plc-integrity@example"
    to = ["ot-security@example"]
    starttls = true
    username_env = "SMTP_USER"
    password_env = "SMTP_PASSWORD"

Every table may also carry ``name`` (how failure reports call the sink) and
``timeout`` (seconds, default 5; not for log/jsonl); webhook and email accept
``ca_file`` (a PEM bundle to trust instead of the system store).  Secrets are
read from the environment when the site is loaded, so a missing variable is a
config error at start-up, not a failed alert at 3 a.m.
"""

from __future__ import annotations

import math
import os
import re
import ssl
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Mapping

from integrity.alerts.sinks import (DEFAULT_TIMEOUT, EmailSink, JsonlSink, LogSink, Sink,
                                    SyslogSink, WebhookSink)
from integrity.alerts.sinks.syslog import FACILITIES, parse_address
from integrity.errors import ConfigError

TYPES = ("log", "jsonl", "syslog", "webhook", "email")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EMAIL = re.compile(r"[^@\s<>,]+@[^@\s<>,]+")


class _Table:
    """One [[alerts]] table being read: typed getters that raise ConfigError
    naming the file, the table and the field."""

    def __init__(self, table: Mapping[str, Any], index: int, file: str | None,
                 environ: Mapping[str, str], base_dir: Path) -> None:
        self.table, self.file, self.environ, self.base_dir = table, file, environ, base_dir
        self.where = f"[[alerts]] #{index + 1}"
        self.used = {"type", "name"}

    def error(self, message: str, field: str | None = None) -> ConfigError:
        return ConfigError(f"{self.where}: {message}", file=self.file, field=field)

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.table:
            if required:
                raise self.error(f"missing required field {key!r}", key)
            return None
        return self.table[key]

    def string(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{key} must be a non-empty string, got {value!r}", key)
        return value.strip()

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.string(key, default=default)
        if value not in choices:
            raise self.error(f"{key} must be one of {', '.join(choices)}, got {value!r}", key)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(f"{key} must be true or false, got {value!r}", key)
        return value

    def number(self, key: str, default: float, *, minimum: float, maximum: float) -> float:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not minimum <= value <= maximum:
            raise self.error(f"{key} must be a number from {minimum:g} to {maximum:g}, got {value!r}",
                             key)
        return float(value)

    def integer(self, key: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.error(f"{key} must be a whole number from {minimum} to {maximum}, got {value!r}",
                             key)
        return value

    def env(self, key: str, *, required: bool = False) -> str | None:
        """The value of the environment variable named by field ``key``."""
        var = self.string(key, required=required)
        if var is None:
            return None
        if not _ENV_NAME.fullmatch(var):
            raise self.error(f"{key} must name an environment variable, got {var!r}", key)
        value = self.environ.get(var)
        if not value:
            raise self.error(f"environment variable {var} (named by {key}) is not set or empty", key)
        return value

    def path(self, key: str, *, required: bool = False) -> Path | None:
        value = self.string(key, required=required)
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise self.error(f"unknown field(s) {', '.join(unknown)}", unknown[0])


def _log(t: _Table, name: str | None) -> Sink:
    return LogSink(name=name)


def _jsonl(t: _Table, name: str | None) -> Sink:
    path = t.path("path", required=True)
    assert path is not None
    if not path.parent.is_dir():
        raise t.error(f"folder {path.parent} of path does not exist", "path")
    if path.is_dir():
        raise t.error(f"path {path} is a folder", "path")
    return JsonlSink(path, name=name)


def _syslog(t: _Table, name: str | None) -> Sink:
    address = t.string("address", required=True)
    try:
        host, port = parse_address(address or "")
    except ValueError as exc:
        raise t.error(f"bad address: {exc}", "address") from exc
    facility_value = t._get("facility", False)
    if facility_value is None:
        facility = FACILITIES["local0"]
    elif isinstance(facility_value, str) and facility_value in FACILITIES:
        facility = FACILITIES[facility_value]
    elif isinstance(facility_value, int) and not isinstance(facility_value, bool) \
            and 0 <= facility_value <= 23:
        facility = facility_value
    else:
        raise t.error(f"facility must be a syslog facility name (e.g. local0, auth) or 0-23, "
                      f"got {facility_value!r}", "facility")
    return SyslogSink(host, port, protocol=t.choice("protocol", ("udp", "tcp"), "udp"),
                      format=t.choice("format", ("rfc5424", "cef"), "rfc5424"),
                      facility=facility, timeout=_timeout(t), hostname=t.string("hostname"),
                      name=name)


def _webhook(t: _Table, name: str | None) -> Sink:
    url = t.string("url", required=True) or ""
    if not re.match(r"^https?://[^/\s?#]+", url):
        raise t.error(f"url must start with http:// or https:// and name a host, got {url!r}", "url")
    secret = t.env("secret_env", required=True) or ""
    ca_file = _ca_file(t)
    try:
        port = urllib.parse.urlsplit(url).port
    except ValueError as exc:
        raise t.error(f"url has a bad port: {exc}", "url") from None
    if port == 0:
        raise t.error("url port must be 1-65535", "url")
    try:
        return WebhookSink(url, secret.encode("utf-8"), timeout=_timeout(t),
                           retries=t.integer("retries", 3, minimum=0, maximum=10),
                           backoff=t.number("backoff", 0.5, minimum=0, maximum=60),
                           ca_file=str(ca_file) if ca_file else None, name=name)
    except ValueError as exc:
        raise t.error(str(exc), "url") from exc


def _email(t: _Table, name: str | None) -> Sink:
    host = t.string("host", required=True) or ""
    starttls = t.boolean("starttls", False)
    port = t.integer("port", 587 if starttls else 25, minimum=1, maximum=65535)
    sender = t.string("from", required=True) or ""
    if not _EMAIL.fullmatch(sender):
        raise t.error(f"from must be an e-mail address, got {sender!r}", "from")
    to = t._get("to", True)
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and _EMAIL.fullmatch(a) for a in to):
        raise t.error(f"to must be a non-empty list of e-mail addresses, got {to!r}", "to")
    username = t.env("username_env")
    password = t.env("password_env")
    if (username is None) != (password is None):
        raise t.error("username_env and password_env go together",
                      "password_env" if username else "username_env")
    if username is not None and not starttls:
        raise t.error("credentials need starttls = true (they would cross the network in clear "
                      "text)", "starttls")
    ca_file = _ca_file(t)
    return EmailSink(host, port, sender=sender, to=tuple(to), starttls=starttls, username=username,
                     password=password, timeout=_timeout(t),
                     ca_file=str(ca_file) if ca_file else None, name=name)


def _ca_file(t: _Table) -> Path | None:
    """A CA bundle that exists and that TLS can actually load, checked now rather
    than at the first alert."""
    ca_file = t.path("ca_file")
    if ca_file is None:
        return None
    if not ca_file.is_file():
        raise t.error(f"ca_file {ca_file} does not exist", "ca_file")
    try:
        ssl.create_default_context(cafile=str(ca_file))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise t.error(f"ca_file {ca_file} is not a usable CA bundle: {exc}", "ca_file") from None
    return ca_file


def _timeout(t: _Table) -> float:
    return t.number("timeout", DEFAULT_TIMEOUT, minimum=0.01, maximum=120)


_BUILDERS: dict[str, Callable[[_Table, str | None], Sink]] = {
    "log": _log, "jsonl": _jsonl, "syslog": _syslog, "webhook": _webhook, "email": _email}


def parse_alert_tables(tables: Any, *, file: str | None = None, base_dir: str | Path | None = None,
                       environ: Mapping[str, str] | None = None) -> list[Sink]:
    """Build the sinks of the site's ``[[alerts]]`` tables (a list of dicts).

    Relative paths are taken from ``base_dir``, by default the folder of
    ``file``.  ``environ`` defaults to os.environ.  Raises ConfigError (with
    file and field) for anything wrong: unknown type or field, missing field,
    bad value or address, environment variable not set, duplicate sink names.
    """
    if tables is None:
        return []
    if not isinstance(tables, list):
        raise ConfigError("alerts must be an array of tables ([[alerts]])", file=file, field="alerts")
    env = os.environ if environ is None else environ
    folder = Path(base_dir) if base_dir is not None else (Path(file).parent if file else Path.cwd())
    sinks: list[Sink] = []
    for index, table in enumerate(tables):
        if not isinstance(table, Mapping):
            raise ConfigError(f"[[alerts]] #{index + 1} must be a table", file=file, field="alerts")
        t = _Table(table, index, file, env, folder)
        kind = t.string("type", required=True)
        if kind not in _BUILDERS:
            raise t.error(f"unknown type {kind!r} (expected one of {', '.join(TYPES)})", "type")
        t.where = f"[[alerts]] #{index + 1} ({kind})"
        name = t.string("name")
        sink = _BUILDERS[kind](t, name)
        t.finish()
        if any(s.name == sink.name for s in sinks):
            raise t.error(f"a sink named {sink.name!r} is already configured; give one a "
                          f"different name", "name")
        sinks.append(sink)
    return sinks
