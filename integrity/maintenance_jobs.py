"""Scheduled restore drills and rotated backup bundles, run by the daemon.

A ``[[schedules]]`` table may carry, beside (or instead of) quick and deep::

    [[schedules]]
    devices = ["*"]
    drill = "0 3 * * 0"          # weekly: rebuild each device from its backup, deep-check it
    backup = "30 1 * * *"        # nightly: a bundle of the devices' signed histories
    backup_dir = "/srv/backups"  # relative paths are relative to site.toml's folder
    retention = 14               # keep the newest 14 bundles there

Each device gets a drill job (due time ``:drill/<device>``); each table's
backup is one job (``:backup/<backup_dir as written>``).  Both keys start
with ':', which no device name can, so they never clash with check jobs.
A collector claims them like check jobs (baselines/claims.py): a device's
drill in that device's zone, a backup once per site by whichever collector
claims it first (``offered``), so two collectors never run the same one.

The drill is ``integrity.drill`` (read-only: simulators on loopback), never
restore/, the writers: the daemon must not load them (tests/restore proves
it).  Verdicts are recorded as ``restore-drill`` events and alert through
``integrity.alerts.drill``; a backup that is not written records
``backup-failed`` and raises a BACKUP_FAILED alert (both through the alert
outbox, integrity.alerts.outbox, stored with what raised them).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Mapping

from integrity.alerts.model import Alert, AlertKind, bound
from integrity.errors import (BaselineInvalidError, ConfigError, NoBaselineError,
                              PlcIntegrityError)
from integrity.model import Status

KEYS = frozenset({"drill", "backup", "backup_dir", "retention"})
DRILL_PREFIX = ":drill/"
BACKUP_PREFIX = ":backup/"


@dataclass(frozen=True)
class DrillJob:
    device: str
    spec: Any           # integrity.scheduler.Every or integrity.cron.Cron
    jitter: timedelta

    @property
    def key(self) -> str:
        return DRILL_PREFIX + self.device


@dataclass(frozen=True)
class BackupJob:
    devices: tuple[str, ...]
    spec: Any
    jitter: timedelta
    where: str          # backup_dir as written in site.toml
    folder: Path        # ... resolved against the site folder
    retention: int

    @property
    def key(self) -> str:
        return BACKUP_PREFIX + self.where


def add_jobs(table: Mapping[str, Any], chosen: list[Any], jobs: dict[str, Any], *,
             where: str, file: str | None, parse_spec: Callable[[str], Any],
             jitter: timedelta) -> None:
    """Add the drill and backup jobs of one ``[[schedules]]`` table to ``jobs``.

    Raises ConfigError naming the table and field: a bad cron line or interval,
    a backup without backup_dir or retention, a retention below 1, backup_dir
    or retention without backup, a device drilled twice, a folder two tables
    would both rotate (each would delete the other's bundles).
    """
    def spec(key: str) -> Any:
        try:
            return parse_spec(str(table[key]))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}", file=file, field=key) from None

    if "drill" in table:
        drill_spec = spec("drill")
        for d in chosen:
            job = DrillJob(d.name, drill_spec, jitter)
            if job.key in jobs:
                raise ConfigError(f"{where}: device {d.name!r} already has a drill schedule",
                                  file=file, device=d.name, field="drill")
            jobs[job.key] = job
    if "backup" not in table:
        for key in ("backup_dir", "retention"):
            if key in table:
                raise ConfigError(f"{where}: {key} belongs with backup = \"<cron or interval>\"",
                                  file=file, field=key)
        return
    backup_spec = spec("backup")
    folder = table.get("backup_dir")
    if not isinstance(folder, str) or not folder.strip():
        raise ConfigError(f"{where}: backup needs backup_dir, the folder the bundles go to",
                          file=file, field="backup_dir")
    keep = table.get("retention")
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ConfigError(f"{where}: retention must be how many bundles to keep, a whole "
                          f"number of at least 1 (got {keep!r})", file=file, field="retention")
    path = Path(folder).expanduser()
    if not path.is_absolute() and file is not None:
        path = Path(file).parent / path
    job = BackupJob(tuple(d.name for d in chosen), backup_spec, jitter, folder, path, keep)
    if job.key in jobs:
        raise ConfigError(f"{where}: backup_dir {folder!r} is already rotated by another "
                          "schedule (each would remove the other's bundles)", file=file,
                          field="backup_dir")
    jobs[job.key] = job


# -- running them --------------------------------------------------------------------------------

def run_due(daemon: Any, jobs: list[Any], now: datetime) -> None:
    """Run the due drill and backup jobs of one scheduler step.

    Backups first (a drill then sees the same store either way), drills one
    device at a time with a heartbeat between them.  A job not run because the
    daemon was asked to stop stays due.
    """
    for job in [j for j in jobs if isinstance(j, BackupJob)]:
        if daemon.stop_event.is_set():
            return
        if run_backup(daemon, job):
            _done(daemon, job, now)
    drills = [j for j in jobs if isinstance(j, DrillJob)]
    if drills:
        run_drills(daemon, drills, now)


def offered(job: Any, due: datetime, now: datetime, lease: timedelta) -> bool:
    """Whether a collector offers to claim ``job`` due at ``due``.  Any collector
    may take a site's backup (one claim per site), but one that cannot see the
    backup folder (an unmounted medium, another host) leaves it for one lease
    to a collector that can; after that it claims it and the failure alerts."""
    return not isinstance(job, BackupJob) or job.folder.is_dir() or now >= due + lease


def _done(daemon: Any, job: Any, now: datetime) -> None:
    """The job's next due time; a collector drops its claim in the same transaction."""
    next_due = job.spec.next_after(now) + daemon._jitter(job)
    if daemon.collector is not None:
        daemon.store.finish_jobs(daemon.collector.id, {job.key: next_due}, daemon.clock.now())
    else:
        daemon.store.set_due(job.key, next_due, daemon.clock.now())


def run_drills(daemon: Any, jobs: list[DrillJob], now: datetime) -> Any:
    """Drill each job's device from the daemon's store; alert on the verdicts."""
    from integrity.drill import DrillReport, drill

    report = DrillReport()
    for job in jobs:
        if daemon.stop_event.is_set():
            break
        report.results += drill([job.device], daemon.store, daemon.trust,
                                now=daemon.clock.now()).results
        _done(daemon, job, now)
        daemon.beat()
    tracker = daemon.tracker
    remind = tracker.remind_after if tracker is not None else timedelta(hours=24)
    report.send_alerts(daemon.store, now=daemon.clock.now(), remind_after=remind,
                       dispatcher=daemon.dispatcher)
    return report


def run_backup(daemon: Any, job: BackupJob) -> bool:
    """Write one rotated bundle into the job's folder and prune it to ``retention``.

    Returns False when the daemon stopped before the bundle was written (the
    job stays due).  A failure is recorded and alerted, and the job waits for
    its next due time: retrying at once would fail the same way.
    """
    from baselines.bundle import prune, rotated_name, write_bundle_file

    started = daemon.clock.now()
    target = job.folder / rotated_name(started)

    def work() -> tuple[Any, list[Path]]:
        if not job.folder.is_dir():
            # Never created here: an unmounted backup medium must not turn into
            # a folder on the system disk.
            raise FileNotFoundError(f"backup_dir {job.folder} does not exist")
        summary = write_bundle_file(daemon.store, daemon.trust, job.devices, target,
                                    skip_missing=True)
        return summary, prune(job.folder, job.retention)

    try:
        outcome = _beating(daemon, work, f"backup {job.where}")
    except (PlcIntegrityError, OSError) as exc:
        _backup_failed(daemon, job, f"{target}: {exc}", exc)
        return True
    if outcome is None:
        return False
    summary, removed = outcome
    daemon.store.add_event(daemon.clock.now(), "backup",
                           f"{target}: {len(summary.devices)} devices, {summary.baselines} "
                           f"baselines, {summary.blobs} blobs"
                           + (f"; {len(summary.skipped)} without a baseline skipped"
                              if summary.skipped else "")
                           + (f"; removed {', '.join(p.name for p in removed)}"
                              if removed else "")
                           + (f"; checkpoint left out: {summary.checkpoint_left_out}"
                              if summary.checkpoint_left_out else ""))
    return True


def _backup_failed(daemon: Any, job: BackupJob, detail: str, exc: BaseException) -> None:
    """Record the failure and its BACKUP_FAILED alert (pending in the outbox) in
    one transaction, then deliver the outbox."""
    from integrity.alerts.outbox import raise_alerts, record_failures

    now = daemon.clock.now()
    state = (Status.BASELINE_INVALID if isinstance(exc, BaselineInvalidError)
             else Status.NO_BASELINE if isinstance(exc, NoBaselineError) else Status.UNREACHABLE)
    alert = Alert(kind=AlertKind.BACKUP_FAILED, device="backup", state=state, at=now, since=now,
                  summary=bound(f"no bundle written to {job.folder}: {exc}"), message=detail,
                  reason="backup")
    delivery = raise_alerts(daemon.store, daemon.dispatcher, [alert], now=now,
                            events=[(now, "backup-failed", detail)])
    record_failures(daemon.store, delivery, now)


def _beating(daemon: Any, fn: Callable[[], Any], name: str) -> Any:
    """``fn()`` on a worker thread while this one keeps the heartbeat going, so a
    long export never looks like a stalled scheduler.  Returns None when the
    daemon is stopping and ``fn`` did not finish within its grace period."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the daemon's thread
            box["error"] = exc

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    last = time.monotonic()
    while worker.is_alive() and not daemon.stop_event.is_set():
        worker.join(0.1)
        if time.monotonic() - last >= daemon.heartbeat_every.total_seconds():
            daemon.beat()
            last = time.monotonic()
    worker.join(daemon.grace if worker.is_alive() else None)
    if worker.is_alive():
        daemon.abandoned = True
        daemon.store.add_event(daemon.clock.now(), "shutdown-abandoned",
                               f"{name} abandoned after {daemon.grace:g} s grace; it stays due")
        return None
    if "error" in box:
        raise box["error"]
    return box["value"]
