"""plc-integrity sweep | run | status | events — unattended operation."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from datetime import datetime, timezone
from typing import Any

import click

from integrity.bulk import few_collections
from integrity.cli._common import (EXIT_CODES_HELP, chosen_devices, emit_json,
                                   json_option, mode_option, open_site, open_store, selection_args,
                                   signer_names, trust_store, zone_option)
from integrity.errors import ConfigError
from integrity.model import Device, Mode
from integrity.render import in_flight_line, results_table, sweep_log_line, when


def report_sink_failures(delivery: Any) -> None:
    # On stderr, so a sweep's table (or its one JSON document) stays clean.
    if delivery is not None and not delivery.ok:
        for f in delivery.failures:
            click.echo(f"alert sink {f.sink} failed: {f.error}", err=True)


class InFlight:
    """Progress on a terminal: the devices still being read, not the last one done.

    Reads start in the order given, at most ``concurrency`` at a time, so after
    ``done`` results the first ``done + concurrency`` devices have started.
    """

    def __init__(self, devices: list[Device], concurrency: int) -> None:
        self.names = [d.name for d in devices]
        self.concurrency = concurrency
        self.finished: set[str] = set()
        self.shown = 0

    def show(self, text: str) -> None:
        click.echo("\r" + text.ljust(self.shown), nl=False, err=True)
        self.shown = len(text)

    def start(self) -> None:
        self.show(in_flight_line(0, len(self.names), self.names[:self.concurrency]))

    def __call__(self, done: int, total: int, result: Any) -> None:
        self.finished.add(result.device)
        started = self.names[:done + self.concurrency]
        self.show(in_flight_line(done, total, [n for n in started if n not in self.finished]))

    def clear(self) -> None:
        click.echo("\r" + " " * self.shown + "\r", nl=False, err=True)


@click.command("sweep", epilog=EXIT_CODES_HELP)
@selection_args
@zone_option
@mode_option
@json_option
@click.pass_context
def sweep_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool, tags: tuple[str, ...],
              zones: tuple[str, ...], quick: bool, as_json: bool) -> None:
    """Check devices concurrently, record every result, and send alerts.

    \b
    Examples:
      plc-integrity sweep --all --quick
      plc-integrity sweep --tag crane-3 --deep --json
      plc-integrity sweep --zone berth-3 --quick
    """
    from integrity.sweep import alerting, run_sweep  # the sinks' libraries load only when used

    site = open_site(ctx)
    chosen = chosen_devices(site, devices, all_, tags, zones=zones)
    tracker, dispatcher = alerting(site)
    progress = InFlight(chosen, site.settings.concurrency) \
        if sys.stdout.isatty() and not as_json else None
    if progress:
        progress.start()
    with open_store(site) as store, few_collections():
        report = run_sweep(chosen, store, trust_store(site), mode=Mode.QUICK if quick else Mode.DEEP,
                           concurrency=site.settings.concurrency, tracker=tracker,
                           dispatcher=dispatcher, progress=progress)
    if progress:
        progress.clear()
    if as_json:
        emit_json(report.to_dict(lazy=True))  # written a result at a time
    else:
        click.echo(results_table(report.results))
        if report.alerts:
            click.echo(f"{len(report.alerts)} alert(s) raised")
        report_sink_failures(report.delivery)
    ctx.exit(report.exit_code)


NO_SCHEDULES = ("no [[schedules]]: nothing to run.  Add one to site.toml, e.g.\n"
                "  [[schedules]]\n  devices = [\"*\"]\n  quick = \"15m\"\n  deep = \"0 2 * * *\"\n"
                "(a site made by `plc-integrity init` carries this example, commented out)")


@click.command("run")
@click.option("--once", is_flag=True, help="Run what is due now, then exit (for tests and cron).")
@click.option("--grace", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds in-flight checks get to finish after SIGTERM before they are "
                   "abandoned (they stay due).")
@click.option("--zone", metavar="ZONE", default=None,
              help="Be a collector of this network zone: run only its devices' due jobs "
                   "(default: every zone).")
@click.option("--collector-id", metavar="ID", default=None,
              help="This collector's name in the store and in status (default: host:pid).")
@click.option("--lease", metavar="DURATION", default="5m", show_default=True,
              help="How long a claimed job stays this collector's without a heartbeat; "
                   "after that another collector of the zone takes it over.")
@click.option("--metrics-bind", metavar="HOST:PORT", help="Serve Prometheus /metrics here "
              "(off loopback only with $PLC_INTEGRITY_TOKEN set).")
@click.pass_context
def run_cmd(ctx: click.Context, once: bool, grace: float, zone: str | None,
            collector_id: str | None, lease: str, metrics_bind: str | None) -> None:
    """Run the scheduler in the foreground: sweeps per [[schedules]], alerts per [[alerts]].

    Each run is a collector: it claims every due job in the store before
    checking it, so several collectors of one zone (sharing a PostgreSQL
    store) never check a device twice at once, and a dead one's jobs are taken
    over once its lease expires.

    Stops gracefully on SIGTERM or Ctrl-C: in-flight checks get a grace period
    to finish, and whether they finished or were abandoned is recorded
    (`plc-integrity events` lists it).

    \b
    Examples (see the README for systemd units):
      plc-integrity --site /srv/plc-integrity run
      plc-integrity --site /srv/plc-integrity run --zone berth-3
    """
    from integrity.daemon_log import record_sink_failures
    from integrity.scheduler import Daemon, parse_schedules
    from integrity.sweep import alerting  # the sinks' libraries load only when used
    from integrity.zones import collector_for

    site = open_site(ctx)
    all_jobs = parse_schedules(site.schedules, site.devices, file=str(site.root / "site.toml"))
    if not all_jobs:
        raise ConfigError(NO_SCHEDULES, file=str(site.root / "site.toml"), field="schedules")
    collector, jobs = collector_for(site, all_jobs, zone, collector_id, lease)
    from integrity.evidence import EvidenceWatch
    from integrity.zones import site_zone_warnings

    tracker, dispatcher = alerting(site)
    exporter = metrics = None
    if metrics_bind:  # issue 15: /metrics of the daemon, in its own thread and store handle
        from integrity.metrics import start_metrics_server
        exporter, metrics = start_metrics_server(site, metrics_bind, open_store=open_store,
                                                 trust=trust_store(site, live=True))
    with open_store(site) as store:
        # Every zone's jobs are kept: the other zones' collectors share this store.
        store.forget_jobs({j.key for j in all_jobs})
        trust = trust_store(site, live=True)

        def on_report(report: Any) -> None:
            click.echo(sweep_log_line(report))
            report_sink_failures(report.delivery)
            record_sink_failures(store, report)
            if metrics is not None:
                metrics.observe_report(report)

        daemon = Daemon(site.devices, jobs, store, trust, tracker=tracker,
                        dispatcher=dispatcher, concurrency=site.settings.concurrency,
                        grace=grace, collector=collector,
                        heartbeat_every=collector.heartbeat_every,
                        watch=EvidenceWatch(store, trust, site.settings.store_check,
                                            dispatcher=dispatcher, keep=site.settings.store_keep,
                                            more_warnings=lambda now: site_zone_warnings(
                                                store, site, now)),
                        on_report=on_report)
        handlers = {s: signal.signal(s, lambda *_: daemon.stop_event.set())
                    for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            click.echo(f"scheduler started: {len(jobs)} jobs; collector {collector.id} of "
                       f"zone(s) {', '.join(collector.zones)}; ready")
            daemon.run(max_steps=1 if once else None)
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            if exporter is not None:
                exporter.stop()
        click.echo("scheduler stopped" + (" (in-flight checks abandoned)" if daemon.abandoned
                                          else ""))
    if daemon.abandoned:
        # The abandoned reads may sit in pool threads that the interpreter would
        # join at exit, for up to a device timeout.  The abandonment is recorded
        # and the store closed, so leave now, as SIGTERM asked.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@click.command("status")
@selection_args(default_all=True)
@json_option
@click.pass_context
def status_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool, tags: tuple[str, ...],
               as_json: bool) -> None:
    """One row per device: state, since when, last check, next due, baseline and signer.

    \b
    Examples:
      plc-integrity status
      plc-integrity status --tag crane-3 --json
    """
    from integrity.config_check import check_alert_tables
    from integrity.status import collect_status

    site = open_site(ctx)
    # A broken [[alerts]] table would silently send nothing: say so here too.
    check_alert_tables(site)
    chosen = chosen_devices(site, devices, all_, tags, default_all=True)
    trust = trust_store(site)
    with open_store(site) as store:
        status = collect_status(dataclasses.replace(site, devices=tuple(chosen)), store, trust,
                                now=datetime.now(timezone.utc))
    if as_json:
        emit_json(status.to_dict())
        return
    click.echo(status.render(signer_names(trust)))


@click.command("events")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="How many of the newest events.")
@json_option
@click.pass_context
def events_cmd(ctx: click.Context, limit: int, as_json: bool) -> None:
    """What the daemon and maintenance recorded: starts, stops, abandoned work, sink failures.

    Oldest first, like a log.

    \b
    Example:
      plc-integrity events --limit 20
    """
    site = open_site(ctx)
    with open_store(site) as store:
        events = list(reversed(store.events(limit)))
    if as_json:
        emit_json({"events": events})
        return
    if not events:
        click.echo("no events recorded")
    width = max([len(e["kind"]) for e in events] + [4])
    for e in events:
        click.echo(f"{when(e['at'])}  {e['kind']:<{width}}  {e['detail']}".rstrip())


def register(cli: click.Group) -> None:
    for cmd in (sweep_cmd, run_cmd, status_cmd, events_cmd):
        cli.add_command(cmd)
