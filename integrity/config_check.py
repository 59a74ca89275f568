"""``plc-integrity config check``: every problem in a site, without touching a device.

Loading a site (integrity.inventory.load_site) stops at the first problem, as
a command must.  Checking goes on: each file, device, schedule and alert sink
is validated on its own, so one run lists everything to fix (like
``aide --config-check``).  Secrets are required here (a sink whose variable is
unset would fail at 3 a.m.); the store is opened, never a device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from integrity.errors import ConfigError, PlcIntegrityError

SITE_FILE = "site.toml"


@dataclass(frozen=True)
class Problem:
    message: str
    file: str | None = None
    device: str | None = None
    field: str | None = None

    @classmethod
    def of(cls, exc: PlcIntegrityError) -> "Problem":
        if isinstance(exc, ConfigError):
            return cls(exc.message, exc.file, exc.device, exc.field)
        return cls(str(exc))

    def __str__(self) -> str:
        return str(ConfigError(self.message, file=self.file, device=self.device, field=self.field))

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "file": self.file, "device": self.device,
                "field": self.field}


@dataclass(frozen=True)
class ConfigReport:
    root: Path
    devices: int
    schedules: int
    sinks: int
    trusted_keys: int
    problems: tuple[Problem, ...]

    @property
    def exit_code(self) -> int:
        return ConfigError.exit_code if self.problems else 0

    def to_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "site": str(self.root), "devices": self.devices,
                "schedules": self.schedules, "sinks": self.sinks,
                "trusted_keys": self.trusted_keys, "problems": [p.to_dict() for p in self.problems]}


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def run(self, fn: Callable[[], Any], default: Any = None) -> Any:
        try:
            return fn()
        except PlcIntegrityError as exc:
            self.problems.append(Problem.of(exc))
            return default

    def add(self, message: str, **where: Any) -> None:
        self.problems.append(Problem(message, **where))


def check_site(root: str | Path, environ: Mapping[str, str] | None = None) -> ConfigReport:
    """Validate site.toml, devices/*.toml, schedules, alert sinks, trust/ and the store."""
    # The loader's own steps, called one unit at a time so every problem is found.
    from integrity import inventory as inv

    root = Path(root)
    out = _Collector()
    site_file = root / SITE_FILE
    if not site_file.is_file():
        out.add(f"no {SITE_FILE} in {root} (create one with: plc-integrity init {root})",
                file=str(site_file))
        return ConfigReport(root, 0, 0, 0, 0, tuple(out.problems))
    doc = out.run(lambda: inv._read_toml(site_file), {})
    file = str(site_file)
    for key in sorted(set(doc) - inv.SITE_TOP_KEYS):
        out.add(f"unknown table or key {key}", file=file, field=key)
    settings = out.run(lambda: inv._settings(doc, file), inv.Settings())
    profiles = _profiles(doc, file, out)

    sources = [(file, out.run(lambda: inv._device_list(doc, file), []))]
    devices_dir = root / "devices"
    for path in sorted(devices_dir.glob("*.toml")) if devices_dir.is_dir() else ():
        extra = out.run(lambda p=path: inv._read_toml(p))
        if extra is None:
            continue
        for key in sorted(set(extra) - {"devices"}):
            out.add(f"a devices file holds only [[devices]] tables, found {key}", file=str(path),
                    field=key)
        sources.append((str(path), out.run(lambda e=extra, p=path: inv._device_list(e, str(p)),
                                           [])))
    devices, seen = [], {}
    for src, entries in sources:
        for i, raw in enumerate(entries):
            dev = out.run(lambda r=raw, i=i, s=src: inv._device(r, i, file=s, settings=settings,
                                                               profiles=profiles))
            if dev is None:
                continue
            if dev.name in seen:
                out.add(f"device name already used in {seen[dev.name]}", file=src,
                        device=dev.name, field="name")
                continue
            seen[dev.name] = src
            devices.append(dev)

    schedules = _tables(doc, "schedules", file, out)
    _schedules(schedules, devices, file, out)

    sinks = _sinks(_tables(doc, "alerts", file, out), file, root,
                   os.environ if environ is None else environ, out)
    trusted = _trust(root / "trust", out)
    if settings is not None:
        _store(root, settings, out)
    return ConfigReport(root, len(devices), len(schedules), sinks, trusted, tuple(out.problems))


def _schedules(tables: list[dict], devices: list[Any], file: str, out: _Collector) -> None:
    from integrity.maintenance_jobs import BackupJob
    from integrity.scheduler import parse_schedules, parse_spec

    good = 0
    for i, table in enumerate(tables):
        where = f"[[schedules]] entry {i + 1}"
        # The timing first: a bad cron line is found even when no device loaded.
        bad_spec = False
        for mode in ("quick", "deep", "drill", "backup"):
            if mode in table:
                try:
                    parse_spec(str(table[mode]))
                except ValueError as exc:
                    out.add(f"{where}: {exc}", file=file, field=mode)
                    bad_spec = True
        if bad_spec:
            continue
        try:
            jobs = parse_schedules([table], devices, file=file)
            good += 1
        except ConfigError as exc:  # checked alone, the loader calls it entry 1
            out.add(exc.message.replace("[[schedules]] entry 1", where, 1), file=file,
                    device=exc.device, field=exc.field)
            continue
        # Loading never requires the folder (the medium may be mounted only at
        # backup time), but a backup that would fail tonight is said here.
        for folder in sorted({j.folder for j in jobs if isinstance(j, BackupJob)}):
            if not folder.is_dir():
                out.add(f"{where}: backup_dir {folder} does not exist (backups would fail)",
                        file=file, field="backup_dir")
    if good == len(tables):  # each fine alone; together they may overlap
        out.run(lambda: parse_schedules(tables, devices, file=file))


def _profiles(doc: Mapping[str, Any], file: str, out: _Collector) -> dict[str, Any]:
    profiles = doc.get("profiles", {})
    if not isinstance(profiles, dict):
        out.add("[profiles.NAME] entries must be tables", file=file, field="profiles")
        return {}
    good = {}
    for name, table in profiles.items():
        if not isinstance(table, dict):
            out.add(f"profile {name!r} must be a table", file=file, field="profiles")
            continue
        bad = sorted(set(table) & {"name", "host", "port", "profile"})
        if bad:
            out.add(f"profile {name!r} may not set {', '.join(bad)}", file=file, field=bad[0])
        good[name] = table
    return good


def _tables(doc: Mapping[str, Any], key: str, file: str, out: _Collector) -> list[dict]:
    tables = doc.get(key, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        out.add(f"{key} must be written as [[{key}]] tables", file=file, field=key)
        return []
    return tables


def _sinks(tables: list[dict], file: str, root: Path, environ: Mapping[str, str],
           out: _Collector) -> int:
    from integrity.alerts import parse_alert_tables

    good = []
    for i, table in enumerate(tables):
        if out.run(lambda t=table: parse_alert_tables([t], file=file, base_dir=root,
                                                      environ=environ)) is not None:
            good.append(table)
    # Tables that are fine alone may still clash (e.g. two sinks with one name).
    if len(good) == len(tables):
        out.run(lambda: parse_alert_tables(tables, file=file, base_dir=root, environ=environ))
    return len(good)


def _trust(folder: Path, out: _Collector) -> int:
    from baselines.signing import TrustStore

    trust = TrustStore(folder)
    for path, why in trust.problems():
        out.add(why, file=str(path))
    return len(trust.keys())


def _store(root: Path, settings: Any, out: _Collector) -> None:
    from baselines.store import Store
    from integrity.inventory import Site

    site = Site(root=root, settings=settings, devices=())
    url = site.store_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        out.add(f"the store {url[len('sqlite:///'):]} does not exist (plc-integrity init "
                "creates it)", field="store")
        return
    store = out.run(lambda: Store.open(url, heads_path=site.heads_path))
    if store is not None:
        store.close()


class _AnySecret(dict):
    """An environment in which every secret variable is set: for checking the
    shape of [[alerts]] tables where the secrets are not needed (``status``)."""

    def get(self, key: str, default: Any = None) -> Any:
        return os.environ.get(key) or "(set when sending)"


def check_alert_tables(site: Any) -> None:
    """Raise ConfigError for a broken [[alerts]] table; secrets need not be set."""
    from integrity.alerts import parse_alert_tables

    parse_alert_tables(list(site.alerts), file=str(site.root / SITE_FILE), base_dir=site.root,
                       environ=_AnySecret())
