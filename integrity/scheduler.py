"""The daemon behind ``plc-integrity run``: schedules, due times, heartbeat, shutdown.

Schedules come from ``[[schedules]]`` tables in site.toml::

    [[schedules]]
    devices = ["vfd-*"]        # names or shell-style patterns; or: tag = "crane-3"
    quick = "15m"              # an interval (30s, 15m, 1h30m, 1d) or a cron line
    deep = "0 2 * * *"         # five-field cron, UTC
    jitter = "2m"              # each run starts up to this much later, to spread load
    drill = "0 3 * * 0"        # restore drills and rotated backup bundles:
    backup = "30 1 * * *"      # see integrity.maintenance_jobs (with backup_dir, retention)

Due times are kept in the store, so a restart neither skips work (an overdue
job runs once at start) nor repeats it (a job done before the restart waits
for its next due time).  Clock and sleep are injected: tests run the daemon
without real waiting.

A daemon given a ``collector`` (integrity.zones) is one of possibly several
collectors of its zone(s): it claims each due job in the store before checking
it (baselines/claims.py), renews its claims with every heartbeat, and beats a
heartbeat of its own beside the scheduler's.
"""

from __future__ import annotations

import fnmatch
import os
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Protocol

from integrity.clock import utcnow
from integrity.config_tables import checked_table
from integrity.cron import Cron, parse_duration
from integrity.errors import ConfigError
from integrity.model import Device, Mode
from integrity.sweep import SweepReport, run_sweep

SCHEDULE_KEYS = frozenset({"devices", "tag", "quick", "deep", "jitter"})
HEARTBEAT_NAME = "scheduler"
# How long past the slowest device's check deadline a sweep may go without a
# check completing before status calls the scheduler STALLED: room for
# verifying baselines and recording results on a busy store.
STALL_MARGIN = timedelta(seconds=60)
# How often an idle daemon delivers what the outbox holds (Daemon.deliver).
DRAIN_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Every:
    interval: timedelta
    text: str

    def next_after(self, t: datetime) -> datetime:
        return t + self.interval


def parse_spec(text: str) -> Every | Cron:
    """An interval ('15m') or a five-field cron line.  Raises ValueError."""
    if len(text.split()) == 5:
        return Cron.parse(text)
    return Every(parse_duration(text), text)


@dataclass(frozen=True)
class Job:
    device: str
    mode: Mode
    spec: Every | Cron
    jitter: timedelta

    @property
    def key(self) -> str:
        return f"{self.device}/{self.mode.value}"


def parse_schedules(tables: Iterable[Mapping[str, Any]], devices: Iterable[Device], *,
                    file: str | None = None) -> list[Any]:
    """Jobs for the site's devices: check Jobs, and the drill and backup jobs of
    integrity.maintenance_jobs.  Raises ConfigError naming the schedule and field."""
    from integrity import maintenance_jobs

    devices = list(devices)
    jobs: dict[str, Any] = {}
    for i, table in enumerate(tables):
        where = f"[[schedules]] entry {i + 1}"
        table = checked_table(table, where, SCHEDULE_KEYS | maintenance_jobs.KEYS, file=file,
                              field="schedules")
        if ("devices" in table) == ("tag" in table):
            raise ConfigError(f"{where}: give exactly one of devices or tag", file=file,
                              field="devices")
        if "tag" in table:
            tag = table["tag"]
            if not isinstance(tag, str) or not tag:
                raise ConfigError(f"{where}: tag must be one tag name (a string)", file=file,
                                  field="tag")
            chosen = [d for d in devices if tag in d.tags]
            field = "tag"
        else:
            patterns = table["devices"]
            if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                raise ConfigError(f"{where}: devices must be a list of names or patterns",
                                  file=file, field="devices")
            chosen = [d for d in devices if any(fnmatch.fnmatchcase(d.name, p) for p in patterns)]
            field = "devices"
        if not chosen:
            # A typo here would otherwise leave devices silently unchecked.
            raise ConfigError(f"{where}: {field} {table[field]!r} matches no device in the "
                              "inventory", file=file, field=field)
        try:
            jitter = parse_duration(table["jitter"]) if "jitter" in table else timedelta(0)
        except (ValueError, AttributeError) as exc:
            raise ConfigError(f"{where}: {exc}", file=file, field="jitter") from None
        modes = [m for m in (Mode.QUICK, Mode.DEEP) if m.value in table]
        if not modes and not {"drill", "backup"} & set(table):
            raise ConfigError(f"{where}: give quick or deep (or both), drill or backup",
                              file=file, field="quick")
        for mode in modes:
            try:
                spec = parse_spec(str(table[mode.value]))
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}", file=file, field=mode.value) from None
            for d in chosen:
                job = Job(d.name, mode, spec, jitter)
                if job.key in jobs:
                    raise ConfigError(f"{where}: device {d.name!r} already has a {mode.value} "
                                      "schedule", file=file, device=d.name, field=mode.value)
                jobs[job.key] = job
        maintenance_jobs.add_jobs(table, chosen, jobs, where=where, file=file,
                                  parse_spec=parse_spec, jitter=jitter)
    return sorted(jobs.values(), key=lambda j: j.key)


# Due times are stored to the microsecond; allow for the clock's own rounding.
_DUE_SLACK = timedelta(seconds=1)


def latest_due(job: Job, now: datetime) -> datetime:
    """The latest due time the schedule can give ``job`` at ``now``: one
    period (the next cron match, or now + the interval) plus its jitter."""
    return job.spec.next_after(now) + job.jitter + _DUE_SLACK


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float, stop: threading.Event) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        stop.wait(max(0.0, seconds))


class Daemon:
    """Runs due jobs, persists due times, beats a heartbeat, stops gracefully."""

    def __init__(self, devices: Iterable[Device], jobs: Iterable[Job], store: Any, trust: Any, *,
                 clock: Clock | None = None, concurrency: int = 16, tracker: Any = None,
                 dispatcher: Any = None, rng: random.Random | None = None,
                 heartbeat_every: timedelta = timedelta(seconds=30),
                 grace: float = 30.0,
                 driver_factory: Callable[[Device], Any] | None = None,
                 on_report: Callable[[SweepReport], None] | None = None,
                 watch: Any = None, collector: Any = None) -> None:
        self.devices = {d.name: d for d in devices}
        self.jobs = list(jobs)
        self.store = store
        self.trust = trust
        self.clock = clock or SystemClock()
        self.concurrency = concurrency
        self.tracker = tracker
        self.dispatcher = dispatcher
        self.rng = rng or random.Random()
        self.heartbeat_every = heartbeat_every
        self.grace = grace
        self.driver_factory = driver_factory
        self.on_report = on_report
        # integrity.evidence.EvidenceWatch: the store check and site warnings.
        self.watch = watch
        # integrity.zones.Collector: claim due jobs in the store before running them.
        self.collector = collector
        self._claims = 0
        self.stop_event = threading.Event()
        # Set when shutdown left a sweep running: its reads may still hold
        # sockets, so the process should exit without waiting for them.
        self.abandoned = False
        self._last_beat: datetime | None = None
        # While a sweep has checks outstanding: when one last completed (or the
        # sweep began), and how long without one means the checks have stalled.
        self._last_progress: datetime | None = None
        self._stall_after: timedelta | None = None
        self._stall_reported = False
        self._next_drain: datetime | None = None

    # -- due times ---------------------------------------------------------
    def _jitter(self, job: Job) -> timedelta:
        if not job.jitter:
            return timedelta(0)
        return timedelta(seconds=self.rng.uniform(0, job.jitter.total_seconds()))

    def _first_due(self, job: Job, now: datetime) -> datetime:
        if isinstance(job.spec, Every):
            return now + self._jitter(job)  # an interval job starts at once (spread by jitter)
        return job.spec.next_after(now) + self._jitter(job)

    def due_times(self, now: datetime) -> dict[str, datetime]:
        """Each job's next due time, initialising (and persisting) new jobs.

        A stored due time later than the schedule allows (``latest_due``) is
        damaged operational state, not a plan: left alone it would idle the job
        for good.  It is recomputed and the reset recorded as an event.
        """
        out = {}
        for job in self.jobs:
            due = self.store.due(job.key)
            if due is not None and due > latest_due(job, now):
                self.store.add_event(now, "due-reset", f"{job.key}: stored due time "
                                     f"{due.isoformat()} is beyond its schedule "
                                     f"({job.spec.text}); recomputed")
                due = None
            if due is None:
                due = self._first_due(job, now)
                self.store.set_due(job.key, due, None)
            out[job.key] = due
        return out

    # -- one step ----------------------------------------------------------
    def step(self) -> list[SweepReport]:
        """Run every job that is due now, deep before quick, one sweep per mode."""
        now = self.clock.now()
        due = self.due_times(now)
        ready = [j for j in self.jobs if due[j.key] <= now]
        if self.collector is not None and ready:
            from integrity.maintenance_jobs import offered

            c = self.collector
            keys = [j.key for j in ready if offered(j, due[j.key], now, c.lease)]
            mine = set(self.store.claim_jobs(c.id, c.zones, keys, now, c.lease))
            ready = [j for j in ready if j.key in mine]  # the others: another collector's
            self._claims = len(mine)
        chores = [j for j in ready if not isinstance(j, Job)]  # drills and backups
        ready = [j for j in ready if isinstance(j, Job)]
        reports = []
        deep_devices = {j.device for j in ready if j.mode is Mode.DEEP}
        for mode in (Mode.DEEP, Mode.QUICK):
            batch = [j for j in ready if j.mode is mode]
            # A deep check that runs now also answers a quick one that is due.
            names = sorted({j.device for j in batch if mode is Mode.DEEP or j.device not in deep_devices})
            if not batch:
                continue
            if self.stop_event.is_set():  # asked to stop: start nothing new, the jobs stay due
                break
            report = self._run_batch([self.devices[n] for n in names if n in self.devices], mode)
            if report is None:  # abandoned at shutdown: due times stay, the work is not lost
                break
            reports.append(report)
            finished = self.clock.now()
            dues = {job.key: job.spec.next_after(now) + self._jitter(job) for job in batch}
            if self.collector is not None:
                self.store.finish_jobs(self.collector.id, dues, finished)  # and drop the claims
                self._claims = max(0, self._claims - len(dues))
            else:
                for key, next_due in dues.items():
                    self.store.set_due(key, next_due, finished)
        if chores and not self.stop_event.is_set():
            from integrity.maintenance_jobs import run_due
            run_due(self, chores, now)
        if self.watch is not None and not self.stop_event.is_set():
            self.watch.step(self.clock.now())
        if not reports:  # a sweep delivers the outbox already
            self.deliver()
        self.beat()
        return reports

    def deliver(self) -> None:
        """Deliver what the outbox holds, whoever raised it: a collector killed
        mid-delivery, a watcher, a drill.  At most every DRAIN_EVERY: cheap when
        nothing waits (one query), and a dead sink is not retried at every beat.
        Another process holding the outbox lease delivers instead."""
        from integrity.alerts.outbox import deliver_pending, record_failures

        now = self.clock.now()
        if self._next_drain is not None and now < self._next_drain:
            return
        self._next_drain = now + DRAIN_EVERY
        record_failures(self.store, deliver_pending(self.store, self.dispatcher,
                                                    clock=self.clock.now), now, first_only=True)

    def _run_batch(self, devices: list[Device], mode: Mode) -> SweepReport | None:
        if not devices:
            return SweepReport(self.clock.now(), self.clock.now(), mode, (), (), None)
        box: dict[str, Any] = {}

        def progress(done: int, total: int, _result: Any) -> None:
            # Runs on the sweep's thread; the main thread reads it when it beats.
            self._last_progress = self.clock.now() if done < total else None

        def work() -> None:
            try:
                kwargs = {"driver_factory": self.driver_factory} if self.driver_factory else {}
                box["report"] = run_sweep(devices, self.store, self.trust, mode=mode,
                                          concurrency=self.concurrency, tracker=self.tracker,
                                          dispatcher=self.dispatcher, clock=self.clock.now,
                                          progress=progress, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - reported below, never lost
                box["error"] = exc
            finally:
                self._last_progress = None

        # Every check ends within its device's deadline (integrity.check), so a
        # sweep in which none completes for longer than that has stalled, even
        # while this thread keeps beating.
        self._stall_after = timedelta(seconds=max(d.check_deadline for d in devices)) + STALL_MARGIN
        self._last_progress = self.clock.now()

        worker = threading.Thread(target=work, name=f"sweep-{mode.value}", daemon=True)
        worker.start()
        while worker.is_alive() and not self.stop_event.is_set():
            worker.join(0.1)
            # A long sweep must not look like a stalled scheduler.
            if self._last_beat is None or self.clock.now() - self._last_beat >= self.heartbeat_every:
                self.beat()
        if worker.is_alive():
            worker.join(self.grace)
            names = ", ".join(d.name for d in devices)
            if worker.is_alive():
                self.abandoned = True
                self.store.add_event(self.clock.now(), "shutdown-abandoned",
                                     f"{mode.value} checks of {names} abandoned after "
                                     f"{self.grace:g} s grace; they stay due")
                return None
            self.store.add_event(self.clock.now(), "shutdown-completed",
                                 f"in-flight {mode.value} checks of {names} finished before exit")
        if "error" in box:
            raise box["error"]
        report = box["report"]
        if self.on_report:
            self.on_report(report)
        return report

    def beat(self, *, stopped: bool = False) -> None:
        """Record that the scheduler is alive (or, at exit, that it stopped on purpose).

        The loop wakes at least every ``heartbeat_every`` and beats during long
        sweeps too, so a beat older than a few intervals means a stall.  A
        process that beats but whose checks stopped completing is caught by
        ``last_progress``: no check completed for ``stall_after_s`` is a stall too.
        """
        now = self.clock.now()
        due = [self.store.due(j.key) for j in self.jobs]
        next_due = min((d for d in due if d is not None), default=None)
        # While checks are outstanding: when one last completed, and how long
        # without one means a stall (status shows STALLED past it).
        progress: dict[str, Any] = {"last_progress": None, "stall_after_s": None, "stalled": False}
        last_progress, stall_after = self._last_progress, self._stall_after
        if last_progress is not None and stall_after is not None and not stopped:
            stalled = now - last_progress > stall_after
            progress = {"last_progress": last_progress.isoformat(),
                        "stall_after_s": stall_after.total_seconds(), "stalled": stalled}
        news = bool(progress["stalled"]) and not self._stall_reported
        if news:
            assert last_progress is not None and stall_after is not None
            self._report_stall(now, last_progress, stall_after)
        self._stall_reported = bool(progress["stalled"])
        info = {"pid": os.getpid(), "jobs": len(self.jobs),
                "next_due": next_due.isoformat() if next_due else None,
                "interval_s": self.heartbeat_every.total_seconds(), "stopped": stopped,
                **progress}
        self.store.beat(HEARTBEAT_NAME, now, info)
        if self.collector is not None:
            c = self.collector
            if not stopped:  # a long sweep keeps its claims; a dead collector's expire
                self._claims = self.store.renew_claims(c.id, now, c.lease)
            if stopped and c.ephemeral:
                self.store.forget_collector(c.id)
            else:
                self.store.collector_beat(c.id, c.zones, now, {
                    **info, "claims": self._claims, "lease_s": c.lease.total_seconds()})
        self._last_beat = now
        if news:  # delivered after the beat: a slow sink must not delay it
            self._next_drain = None
            self.deliver()

    def _report_stall(self, now: datetime, last: datetime, after: timedelta) -> None:
        """The checks-stalled event and its alert (pending), in one transaction.
        The beat then delivers it from this (the main) thread: the sweep's is stuck."""
        from integrity.alerts.model import Alert, AlertKind
        from integrity.alerts.outbox import raise_alerts
        from integrity.model import Status

        who = self.collector.id if self.collector is not None else HEARTBEAT_NAME
        detail = (f"no check completed since {last:%Y-%m-%d %H:%M:%S} UTC, longer than "
                  f"{after.total_seconds():g} s")
        alert = Alert(kind=AlertKind.SITE_WARNING, device="scheduler", state=Status.UNREACHABLE,
                      at=now, since=last, summary=f"checks stalled in {who}: {detail}",
                      reason="checks-stalled", message=detail)
        raise_alerts(self.store, self.dispatcher, [alert], now=now,
                     events=[(now, "checks-stalled", detail)], deliver=False)

    # -- the loop ----------------------------------------------------------
    def run(self, *, max_steps: int | None = None) -> None:
        """Loop until ``stop_event`` is set (SIGTERM) or ``max_steps`` steps ran."""
        self.store.add_event(self.clock.now(), "start", f"{len(self.jobs)} jobs, pid {os.getpid()}")
        if self.collector is not None:
            self.beat()  # a collector shows in status from its start, not its first sweep
        steps = 0
        failure: BaseException | None = None
        try:
            while not self.stop_event.is_set():
                self.step()
                steps += 1
                if max_steps is not None and steps >= max_steps:
                    break
                if self.stop_event.is_set():
                    break
                now = self.clock.now()
                upcoming = [d for d in self.due_times(now).values()]
                if self.collector is not None:
                    # Still due after this step: claimed by another live collector.
                    # Look again at the next beat (its lease may lapse), not at once.
                    upcoming = [d for d in upcoming if d > now]
                wake = min(upcoming + [now + self.heartbeat_every])
                self.clock.sleep(max(0.0, (wake - now).total_seconds()), self.stop_event)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if failure is not None and not isinstance(failure, KeyboardInterrupt):
                why = f"stopped by an error: {type(failure).__name__}: {failure}"
            else:
                why = "stopped by signal" if self.stop_event.is_set() else "stopped"
            self.store.add_event(self.clock.now(), "stop", why)
            if self.collector is not None:
                # Jobs left due (abandoned at shutdown) go to the zone's other collectors now.
                self.store.release_claims(self.collector.id)
                self._claims = 0
            self.beat(stopped=True)
