"""The site folder and its inventory.

A site is a folder::

    site.toml        settings, profiles, devices (and later alerts, schedules)
    devices/*.toml   more [[devices]] tables, e.g. one file per line or area
    trust/           public keys allowed to sign baselines (outside the database)
    state/           small files kept outside the database (the baseline heads)
    plc-integrity.db the store (SQLite by default; PostgreSQL through [store] url or
                     $PLC_INTEGRITY_STORE_URL, shared by the collectors of every zone)

Loading is all-or-nothing: every file is parsed and every device validated
before anything is returned, and any problem raises ConfigError naming the
file, the device and the field.
"""

from __future__ import annotations

import os
import re
from itertools import islice
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

# tomllib's own parser, compiled (mypyc): a 10,000-device inventory parses in
# a third of the time.
import tomli

from drivers.registry import driver_class
from integrity.bulk import paused_collector
from integrity.config_tables import checked_table
from integrity.durations import config_seconds, parse_duration
from integrity.errors import ConfigError
from integrity.model import DEFAULT_CHECK_TIMEOUT, NO_LABELS, Device

SITE_FILE = "site.toml"
STORE_FILE = "plc-integrity.db"
# Full-match only (never ``$``, which also accepts a trailing newline), ASCII only.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
COMMON_KEYS = {"name", "protocol", "host", "port", "timeout", "retries", "tags", "profile",
               "max_rps", "labels", "check_timeout", "zone"}
SETTINGS_KEYS = {"store", "timeout", "retries", "concurrency", "remind_after", "max_rps",
                 "check_timeout", "zone"}
STORE_KEYS = {"check", "url", "keep"}
# Overrides [store] url and [settings] store: the password stays out of site.toml.
STORE_URL_ENV = "PLC_INTEGRITY_STORE_URL"
DEFAULT_ZONE = "default"
SITE_TOP_KEYS = {"settings", "profiles", "devices", "alerts", "schedules", "store", "watch",
                 "suppliers"}
STORE_CHECK_WORDS = {"daily": timedelta(days=1), "weekly": timedelta(days=7), "off": None}

DEFAULT_TIMEOUT = 3.0
DEFAULT_RETRIES = 1
DEFAULT_CONCURRENCY = 16
# A politeness ceiling per device.  200 requests/s is far below what a PLC's
# communication processor handles, and above what one connection does at the
# ~5 ms a real device takes to answer, so it only bites on very fast peers.
DEFAULT_MAX_RPS = 200.0


@dataclass(frozen=True)
class Settings:
    store: str = STORE_FILE
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    concurrency: int = DEFAULT_CONCURRENCY
    remind_after: timedelta | None = timedelta(hours=24)  # None: no reminders
    max_rps: float = DEFAULT_MAX_RPS
    # How often the daemon re-hashes every stored content ([store] check); None: never.
    store_check: timedelta | None = timedelta(days=7)
    # How long check history is kept before prune thins it ([store] keep); None: forever.
    store_keep: timedelta | None = None
    check_timeout: float = DEFAULT_CHECK_TIMEOUT
    # The zone of devices that name none ([settings] zone).
    zone: str = DEFAULT_ZONE


@dataclass(frozen=True)
class Site:
    root: Path
    settings: Settings
    devices: tuple[Device, ...]
    alerts: tuple[Mapping[str, Any], ...] = ()
    schedules: tuple[Mapping[str, Any], ...] = ()
    watch: Any = None  # the [watch] table, validated by integrity.watch.config.parse_watch
    suppliers: Any = None  # integrity.assets.SupplierPolicy ([suppliers])

    @property
    def trust_dir(self) -> Path:
        return self.root / "trust"

    @property
    def heads_path(self) -> Path:
        return self.root / "state" / "heads.json"

    @property
    def store_url(self) -> str:
        """A SQLAlchemy URL: $PLC_INTEGRITY_STORE_URL, else ``[store] url``, else
        ``[settings] store``, where a bare path is a SQLite file relative to the site."""
        store = os.environ.get(STORE_URL_ENV) or self.settings.store
        if "://" in store:
            return store
        path = Path(store)
        if not path.is_absolute():
            path = self.root / path
        return f"sqlite:///{path}"

    def device(self, name: str) -> Device:
        for d in self.devices:
            if d.name == name:
                return d
        raise ConfigError(f"no device named {name!r} in the inventory"
                          + (f" (known: {', '.join(d.name for d in self.devices)})" if self.devices else ""))

    def select(self, names: tuple[str, ...] | list[str] = (), all_: bool = False,
               tag: str | None = None, *, tags: tuple[str, ...] | list[str] = (),
               default_all: bool = False, zones: tuple[str, ...] | list[str] = ()) -> list[Device]:
        """The devices a command names (names, patterns, tags, zones or all: see
        integrity.selection).  Raises ConfigError for a choice that matches nothing."""
        from integrity.selection import select_devices

        return select_devices(self.devices, names, all_, [*tags, *([tag] if tag else [])],
                              default_all=default_all, zones=zones)


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file.  Every way its bytes can be wrong is a ConfigError
    naming the file: TOML must be UTF-8, and a hand-edited or hostile file can
    nest deeper than the parser's recursion allows."""
    return _parse_toml(_read_text(path), path)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError("is UTF-16 text; TOML files must be UTF-8 (save it as UTF-8)",
                          file=str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} "
                          "(TOML files must be UTF-8)", file=str(path)) from None


def _parse_toml(text: str, path: Path) -> dict[str, Any]:
    try:
        return tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from exc
    except RecursionError:
        raise ConfigError("not valid TOML here: arrays or tables nested too deeply",
                          file=str(path)) from None


# A line that opens one more [[devices]] table, as TOML spells it (indentation,
# spaces inside the brackets and a trailing comment allowed).
# Matched after a newline (searched in "\n" + text), which is ~6x faster than
# a ``^`` tried at every line.
_DEVICES_HEADER = re.compile(r"\n[ \t]*\[\[[ \t]*devices[ \t]*\]\][ \t]*(?:#[^\r\n]*)?\r?(?=\n|\Z)")


PIECE = 100


class _NotSliceable(Exception):
    """A devices file the piecewise parse does not take: parse it whole."""


def _devices_file_tables(path: Path) -> Iterator[Any]:
    """The [[devices]] tables of one devices/*.toml file, in order, one at a time.

    Parsing a whole 5,000-device file first held ~1.1 KiB of parsed tables per
    device until the last was built, and left the memory they had taken
    fragmented around the devices built meanwhile.  So a file is cut before
    a header line and each piece parsed alone: a hundred devices' tables at a time.

    The pieces give the tables the whole file gives, or are not used: a piece
    that does not parse (a cut inside a multi-line string or array leaves the
    piece before it unterminated), or that holds anything but [[devices]]
    tables, or text before the first header that is more than comments, sends
    the rest of the file through the whole-file parse, which gives the errors
    and line numbers a user expects.  A piece that does parse alone ends
    where the whole parse would be between two statements, so the tables
    taken from the pieces before it are the whole parse's tables too."""
    text = _read_text(path)
    # Cut before every PIECE-th header: one parse per table cost a third more
    # time than one for the whole file, and 100 tables are ~110 KiB.
    starts = [m.start() for m in islice(_DEVICES_HEADER.finditer("\n" + text), 0, None, PIECE)]
    done = 0
    if len(starts) > 1:
        try:
            if tomli.loads(text[:starts[0]]):
                raise _NotSliceable
            for start, end in zip(starts, [*starts[1:], len(text)]):
                piece = tomli.loads(text[start:end])
                tables = piece.get("devices")
                if len(piece) != 1 or not isinstance(tables, list):
                    raise _NotSliceable
                for table in tables:
                    yield table
                    done += 1
            return
        except (tomli.TOMLDecodeError, RecursionError, _NotSliceable):
            pass
    doc = _parse_toml(text, path)
    del text
    unknown = sorted(set(doc) - {"devices"})
    if unknown:
        raise ConfigError(f"a devices file holds only [[devices]] tables, found "
                          f"{', '.join(unknown)}", file=str(path), field=unknown[0])
    entries = _device_list(doc, str(path))
    del doc
    yield from _taken(entries, done)


def _taken(entries: list[Any], start: int = 0) -> Iterator[Any]:
    """``entries`` from ``start`` on, each dropped from the list as it is given."""
    for i in range(start, len(entries)):
        table, entries[i] = entries[i], None
        yield table


def _number(table: Mapping[str, Any], key: str, default: Any, kind: type, lo: float, hi: float,
            *, file: str, device: str | None) -> Any:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise ConfigError(f"must be {'a number' if kind is float else 'an integer'}, got {value!r}",
                          file=file, device=device, field=key)
    if not lo <= value <= hi:
        raise ConfigError(f"must be between {lo:g} and {hi:g}, got {value!r}",
                          file=file, device=device, field=key)
    return kind(value)


def _settings(doc: Mapping[str, Any], file: str) -> Settings:
    table = checked_table(doc.get("settings", {}), "[settings]", SETTINGS_KEYS, file=file,
                          field="settings")
    store = table.get("store", STORE_FILE)
    if not isinstance(store, str) or not store:
        raise ConfigError("must be a file name or a SQLAlchemy URL", file=file, field="store")
    url = _store_table(doc, file).get("url")
    if url is not None:  # wins over [settings] store (the template sets that one)
        if not isinstance(url, str) or "://" not in url:
            raise ConfigError(f"must be a SQLAlchemy URL such as \"postgresql+psycopg://user@host/"
                              f"db\", got {url!r}", file=file, field="store.url")
        store = url
    zone = _zone(table.get("zone", DEFAULT_ZONE), file=file, device=None)
    remind_after: timedelta | None = timedelta(hours=24)
    if "remind_after" in table:
        text = table["remind_after"]
        if text == "off":
            remind_after = None
        else:
            try:
                remind_after = parse_duration(text)
            except ValueError as exc:
                raise ConfigError(f"{exc} (or \"off\")", file=file, field="remind_after") from None
    return Settings(
        store=store,
        remind_after=remind_after,
        store_check=_store_check(doc, file),
        store_keep=_store_keep(doc, file),
        timeout=config_seconds(table, "timeout", DEFAULT_TIMEOUT, 0.05, 300, file=file),
        retries=_number(table, "retries", DEFAULT_RETRIES, int, 0, 10, file=file, device=None),
        concurrency=_number(table, "concurrency", DEFAULT_CONCURRENCY, int, 1, 1024, file=file,
                            device=None),
        max_rps=_number(table, "max_rps", DEFAULT_MAX_RPS, float, 1, 100000, file=file, device=None),
        check_timeout=_number(table, "check_timeout", DEFAULT_CHECK_TIMEOUT, float, 1, 86400,
                              file=file, device=None),
        zone=zone,
    )


def _zone(value: Any, *, file: str, device: str | None) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise ConfigError(f"a zone name is 1-64 letters, digits, '_', '.', '-', got {value!r}",
                          file=file, device=device, field="zone")
    return value


def _store_table(doc: Mapping[str, Any], file: str) -> Mapping[str, Any]:
    return checked_table(doc.get("store", {}), "[store]", STORE_KEYS, file=file, field="store")


def _store_keep(doc: Mapping[str, Any], file: str) -> timedelta | None:
    """``[store] keep = "90d"``: how long check history is kept in full (the
    daemon prunes daily); absent: forever."""
    table = _store_table(doc, file)
    if "keep" not in table:
        return None
    from integrity.cron import parse_duration
    try:
        if not isinstance(table["keep"], str):
            raise ValueError(table["keep"])
        return parse_duration(table["keep"])
    except ValueError:
        raise ConfigError("[store] keep must be a duration like \"90d\"", file=file,
                          field="keep") from None


def _store_check(doc: Mapping[str, Any], file: str) -> timedelta | None:
    """``[store] check = "weekly"``: "daily", "weekly", "off" or a duration."""
    text = _store_table(doc, file).get("check", "weekly")
    if isinstance(text, str) and text in STORE_CHECK_WORDS:
        return STORE_CHECK_WORDS[text]
    from integrity.cron import parse_duration
    try:
        if not isinstance(text, str):
            raise ValueError(text)
        return parse_duration(text)
    except ValueError:
        raise ConfigError(f"must be \"daily\", \"weekly\", \"off\" or a duration like \"3d\", "
                          f"got {text!r}", file=file, field="store.check") from None


def _device(raw: Any, index: int, *, file: str, settings: Settings,
            profiles: Mapping[str, Any], drivers: dict[str, Any] | None = None,
            shared: dict[Any, Any] | None = None) -> Device:
    """One [[devices]] entry, validated.  ``drivers``: protocol -> driver class,
    filled as met (a site of 10,000 devices looks up a handful of protocols).
    ``shared``: the options and tags met so far in this load (see _one_of)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"[[devices]] entry {index + 1} is not a table", file=file)
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ConfigError(f"[[devices]] entry {index + 1}: name must be 1-64 letters, digits, "
                          f"'_', '.', '-', got {name!r}", file=file, field="name")
    table = dict(raw)
    profile = table.get("profile")
    if profile is not None:
        if not isinstance(profile, str) or profile not in profiles:
            raise ConfigError(f"unknown profile {profile!r}"
                              + (f"; defined: {', '.join(sorted(profiles))}" if profiles else ""),
                              file=file, device=name, field="profile")
        # The device's own keys win over its profile's.
        table = {**profiles[profile], **table}
    protocol = table.get("protocol")
    if not isinstance(protocol, str):
        raise ConfigError("missing or not a string", file=file, device=name, field="protocol")
    known = {} if drivers is None else drivers
    try:
        driver = known.get(protocol) or known.setdefault(protocol, driver_class(protocol))
    except ConfigError as exc:
        raise ConfigError(exc.message, file=file, device=name, field="protocol") from None
    host = table.get("host")
    if not isinstance(host, str) or not host.strip():
        raise ConfigError("missing or empty", file=file, device=name, field="host")
    port = _number(table, "port", driver.default_port, int, 1, 65535, file=file, device=name)
    tags = table.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and NAME_RE.fullmatch(t)
                                             for t in tags):
        raise ConfigError(f"must be a list of tag names (1-64 letters, digits, '_', '.', '-'), "
                          f"got {tags!r}", file=file, device=name, field="tags")
    labels = table.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ConfigError('must be a table of value paths to names, e.g. '
                          '{ "holding[22]" = "maximum speed, rpm" }', file=file, device=name,
                          field="labels")
    options = _one_of(shared, driver.parse_options(
        {k: v for k, v in table.items() if k not in COMMON_KEYS}, file=file, device=name))
    return Device(
        name=name, protocol=protocol, host=host.strip(), port=port, options=options,
        timeout=config_seconds(table, "timeout", settings.timeout, 0.05, 300, file=file, device=name),
        retries=_number(table, "retries", settings.retries, int, 0, 10, file=file, device=name),
        tags=_one_of(shared, tuple(tags)), source=file,
        max_rps=_number(table, "max_rps", settings.max_rps, float, 1, 100000, file=file, device=name),
        labels=dict(labels) if labels else NO_LABELS,
        check_timeout=_number(table, "check_timeout", settings.check_timeout, float, 1, 86400,
                              file=file, device=name),
        zone=_zone(table.get("zone", settings.zone), file=file, device=name),
    )


def load_site(root: str | Path, *, only: Iterable[str] | None = None) -> Site:
    """Read and validate a whole site.  Raises ConfigError; returns nothing half-read.

    ``only``: build just these devices (a command about one device need not
    validate ten thousand); the others are skipped unread beyond their name,
    so the site is then not checked for errors in them (``config check`` is)."""
    with paused_collector():  # (integrity.bulk: a 10,000-device inventory)
        return _load_site(root, only)


def _one_of(shared: dict[Any, Any] | None, value: Any) -> Any:
    """``value``, or the equal one met earlier in the same load: devices declared
    alike (one profile, a row of identical drives) then hold one options object
    and one tags tuple between them, not one each.  Both are frozen."""
    if shared is None:
        return value
    try:
        return shared.setdefault((type(value), value), value)
    except TypeError:  # options that cannot be hashed are kept as they are
        return value


def _load_site(root: str | Path, only: Iterable[str] | None) -> Site:
    wanted = set(only) if only is not None else None
    root = Path(root)
    site_file = root / SITE_FILE
    if not site_file.is_file():
        raise ConfigError(f"no {SITE_FILE} in {root} (create one with: plc-integrity init {root})",
                          file=str(site_file))
    doc = _read_toml(site_file)
    unknown = sorted(set(doc) - SITE_TOP_KEYS)
    if unknown:
        raise ConfigError(f"unknown table or key {', '.join(unknown)}", file=str(site_file),
                          field=unknown[0])
    settings = _settings(doc, str(site_file))
    profiles = doc.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        raise ConfigError("[profiles.NAME] entries must be tables", file=str(site_file),
                          field="profiles")
    for pname, ptable in profiles.items():
        bad = sorted(set(ptable) & {"name", "host", "port", "profile"})
        if bad:
            raise ConfigError(f"profile {pname!r} may not set {', '.join(bad)}",
                              file=str(site_file), field=bad[0])

    devices: list[Device] = []
    seen: dict[str, str] = {}
    drivers: dict[str, Any] = {}
    shared: dict[Any, Any] = {}

    def add(file: str, tables: Iterable[Any]) -> None:
        # Each parsed table dropped once its device is built, one file after
        # another: what loading holds beyond the devices themselves is a hundred
        # tables (a devices file read in pieces) or one file's (site.toml, or a
        # devices file the pieces could not take).
        for i, raw in enumerate(tables):
            if wanted is not None and not (isinstance(raw, dict) and raw.get("name") in wanted):
                continue
            dev = _device(raw, i, file=file, settings=settings, profiles=profiles,
                          drivers=drivers, shared=shared)
            if dev.name in seen:
                raise ConfigError(f"device name already used in {seen[dev.name]}", file=file,
                                  device=dev.name, field="name")
            seen[dev.name] = file
            devices.append(dev)

    add(str(site_file), _taken(_device_list(doc, str(site_file))))
    devices_dir = root / "devices"
    if devices_dir.is_dir():
        for path in sorted(devices_dir.glob("*.toml")):
            add(str(path), _devices_file_tables(path))

    alerts = doc.get("alerts", [])
    if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
        raise ConfigError("[[alerts]] entries must be tables", file=str(site_file), field="alerts")
    schedules = doc.get("schedules", [])
    if not isinstance(schedules, list) or not all(isinstance(s, dict) for s in schedules):
        raise ConfigError("schedules must be written as [[schedules]] tables", file=str(site_file),
                          field="schedules")
    from integrity.assets import parse_policy
    site = Site(root=root, settings=settings, devices=tuple(devices), alerts=tuple(alerts),
                schedules=tuple(schedules), watch=doc.get("watch"),
                suppliers=parse_policy(doc.get("suppliers"), file=str(site_file)))
    from integrity.watch.config import parse_watch
    parse_watch(site.watch, file=str(site_file))  # a bad [watch] fails every command alike
    # Schedules are validated now, so a bad one fails every command the same
    # way instead of surfacing only when the daemon starts.  Alert sinks are
    # built by the commands that send (they need secrets from the environment,
    # which a plain verify must not require).
    from integrity.scheduler import parse_schedules
    parse_schedules(site.schedules, site.devices, file=str(site_file))
    return site


def _device_list(doc: Mapping[str, Any], file: str) -> list[Any]:
    entries = doc.get("devices", [])
    if not isinstance(entries, list):
        raise ConfigError("devices must be written as [[devices]] tables", file=file, field="devices")
    return entries


def default_site_root() -> Path:
    return Path(os.environ.get("PLC_INTEGRITY_SITE") or ".")
