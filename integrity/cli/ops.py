"""plc-integrity sweep | run | maintenance | status — unattended operation."""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime, timedelta, timezone

import click

from integrity import check
from integrity.cli._common import (EXIT_CODES_HELP, emit_json, json_option, mode_option,
                                   open_site, open_store, selection_args, trust_store)
from integrity.errors import ConfigError
from integrity.model import Mode, Status, overall_exit_code
from integrity.render import diff_report, results_table


def _report_sink_failures(delivery) -> None:
    # On stderr, so a sweep's table (or its one JSON document) stays clean.
    if delivery is not None and not delivery.ok:
        for f in delivery.failures:
            click.echo(f"alert sink {f.sink} failed: {f.error}", err=True)


@click.command("sweep", epilog=EXIT_CODES_HELP)
@selection_args
@click.option("--tag", help="Every device carrying this tag.")
@mode_option
@json_option
@click.pass_context
def sweep_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool, tag: str | None,
              quick: bool, as_json: bool) -> None:
    """Check devices concurrently, record every result, and send alerts.

    \b
    Examples:
      plc-integrity sweep --all --quick
      plc-integrity sweep --tag crane-3 --deep --json
    """
    from integrity.sweep import run_sweep

    site = open_site(ctx)
    chosen = site.select(devices, all_, tag)
    from integrity.sweep import alerting  # the sinks' libraries load only when used

    tracker, dispatcher = alerting(site)
    show_progress = sys.stdout.isatty() and not as_json

    def progress(done: int, total: int, result) -> None:
        click.echo(f"\r[{done}/{total}] {result.device:<24}", nl=False, err=True)

    with open_store(site) as store:
        report = run_sweep(chosen, store, trust_store(site), mode=Mode.QUICK if quick else Mode.DEEP,
                           concurrency=site.settings.concurrency, tracker=tracker,
                           dispatcher=dispatcher, progress=progress if show_progress else None)
    if show_progress:
        click.echo("\r" + " " * 40 + "\r", nl=False, err=True)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(results_table(report.results))
        if report.alerts:
            click.echo(f"{len(report.alerts)} alert(s) raised")
        _report_sink_failures(report.delivery)
    ctx.exit(report.exit_code)


@click.command("run")
@click.option("--once", is_flag=True, help="Run what is due now, then exit (for tests and cron).")
@click.option("--grace", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds in-flight checks get to finish after SIGTERM before they are "
                   "abandoned (they stay due).")
@click.option("--metrics-bind", metavar="HOST:PORT", help="Serve Prometheus /metrics here "
              "(off loopback only with $PLC_INTEGRITY_TOKEN set).")
@click.pass_context
def run_cmd(ctx: click.Context, once: bool, grace: float, metrics_bind: str | None) -> None:
    """Run the scheduler in the foreground: sweeps per [[schedules]], alerts per [[alerts]].

    Stops gracefully on SIGTERM or Ctrl-C: in-flight checks get a grace period
    to finish, and whether they finished or were abandoned is recorded.

    \b
    Example (see the README for systemd units):
      plc-integrity --site /srv/plc-integrity run
    """
    from integrity.scheduler import Daemon, parse_schedules

    site = open_site(ctx)
    jobs = parse_schedules(site.schedules, site.devices, file=str(site.root / "site.toml"))
    if not jobs:
        raise ConfigError("no [[schedules]] in site.toml: nothing to run", field="schedules")
    from integrity.sweep import alerting  # the sinks' libraries load only when used

    from integrity.evidence import EvidenceWatch

    tracker, dispatcher = alerting(site)
    exporter = metrics = None
    if metrics_bind:  # issue 15: /metrics of the daemon, in its own thread and store handle
        from integrity.metrics import start_metrics_server
        exporter, metrics = start_metrics_server(site, metrics_bind, open_store=open_store,
                                                 trust=trust_store(site, live=True))
    with open_store(site) as store:
        store.forget_jobs({j.key for j in jobs})
        trust = trust_store(site, live=True)
        daemon = Daemon(site.devices, jobs, store, trust, tracker=tracker,
                        dispatcher=dispatcher, concurrency=site.settings.concurrency,
                        grace=grace,
                        watch=EvidenceWatch(store, trust, site.settings.store_check,
                                            dispatcher=dispatcher),
                        on_report=lambda r: (metrics and metrics.observe_report(r), click.echo(
                            f"{r.started_at:%Y-%m-%dT%H:%M:%SZ} {r.mode.value} sweep of "
                            f"{len(r.results)}: exit {r.exit_code}, {len(r.alerts)} alert(s)")))
        handlers = {s: signal.signal(s, lambda *_: daemon.stop_event.set())
                    for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            click.echo(f"scheduler started: {len(jobs)} jobs; ready")
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


@click.group("maintenance")
def maintenance_group() -> None:
    """Approved maintenance: hold back drift alerts, then verify at the end."""


def _parse_until(until: str | None, now: datetime) -> datetime:
    from integrity.alerts.tracker import MAX_MAINTENANCE
    from integrity.cron import parse_duration

    if until is None:
        return now + timedelta(hours=8)
    try:
        end = now + parse_duration(until)
    except ValueError:
        try:
            ts = datetime.fromisoformat(until)
        except ValueError:
            raise click.BadParameter("give a duration (4h, 90m) or an ISO time "
                                     "(2026-11-25T18:00+00:00)", param_hint="--until") from None
        if ts.tzinfo is None:
            ts = ts.astimezone()  # a local wall-clock time, as an engineer would type it
        end = ts.astimezone(timezone.utc)
    if end <= now:
        raise click.BadParameter("is in the past", param_hint="--until")
    if end > now + MAX_MAINTENANCE:
        raise click.BadParameter(f"a window may last at most {MAX_MAINTENANCE.days} days; "
                                 "start a new one when it ends", param_hint="--until")
    return end


@maintenance_group.command("start")
@click.argument("devices", nargs=-1, required=True)
@click.option("--reason", required=True, help="Work order or why (kept with the window).")
@click.option("--until", help="When the window ends on its own: a duration (4h) or an ISO "
                              "time. Default 8h.")
@click.pass_context
def maintenance_start(ctx: click.Context, devices: tuple[str, ...], reason: str,
                      until: str | None) -> None:
    """Suppress drift alerts for devices while they are worked on; checks still run."""
    from integrity.alerts import AlertRecord, start_maintenance

    if not reason.strip():
        raise click.BadParameter("must say why the window exists", param_hint="--reason")
    site = open_site(ctx)
    chosen = site.select(devices)
    now = datetime.now(timezone.utc)
    end = _parse_until(until, now)
    with open_store(site) as store:
        for d in chosen:
            raw = store.alert_record(d.name)
            record = start_maintenance(AlertRecord.from_dict(raw) if raw else None, d.name,
                                       until=end, reason=reason, now=now)
            store.save_alert_record(d.name, record.to_dict(), now=now)
            store.add_event(now, "maintenance-start", f"{d.name} until {end.isoformat()}: {reason}")
            click.echo(f"{d.name}: maintenance until {end:%Y-%m-%d %H:%M} UTC ({reason})")


@maintenance_group.command("end", epilog=EXIT_CODES_HELP)
@click.argument("devices", nargs=-1, required=True)
@mode_option
@click.pass_context
def maintenance_end(ctx: click.Context, devices: tuple[str, ...], quick: bool) -> None:
    """End maintenance and verify at once, printing the diff.

    Then restore the device, or approve its new state with
    `plc-integrity baseline capture DEVICE --reason ...`.
    """
    from integrity.alerts import AlertRecord, end_maintenance
    from integrity.sweep import observe_results

    site = open_site(ctx)
    chosen = site.select(devices)
    from integrity.sweep import alerting  # the sinks' libraries load only when used

    tracker, dispatcher = alerting(site)
    now = datetime.now(timezone.utc)
    with open_store(site) as store:
        for d in chosen:
            raw = store.alert_record(d.name)
            if raw:
                store.save_alert_record(d.name, end_maintenance(AlertRecord.from_dict(raw)).to_dict(),
                                        now=now)
            store.add_event(now, "maintenance-end", d.name)
        results = check.verify(chosen, store, trust_store(site),
                               mode=Mode.QUICK if quick else Mode.DEEP, now=now,
                               concurrency=site.settings.concurrency)
        alerts = observe_results(results, store, tracker, now)
    delivery = dispatcher.dispatch(alerts) if (dispatcher and alerts) else None
    for r in results:
        click.echo(diff_report(r))
        if r.status is Status.DRIFT:
            click.echo(f"  next: restore {r.device}, or approve its new state with "
                       f"`plc-integrity baseline capture {r.device} --reason ...`")
    if alerts:
        click.echo(f"{len(alerts)} alert(s) raised")
    _report_sink_failures(delivery)
    ctx.exit(overall_exit_code([r.status for r in results]))


@click.command("status")
@json_option
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """One row per device: state, since when, last check, next due, baseline and signer."""
    from integrity.status import collect_status

    site = open_site(ctx)
    with open_store(site) as store:
        status = collect_status(site, store, trust_store(site), now=datetime.now(timezone.utc))
    if as_json:
        emit_json(status.to_dict())
        return
    click.echo(status.render())


def register(cli: click.Group) -> None:
    for cmd in (sweep_cmd, run_cmd, maintenance_group, status_cmd):
        cli.add_command(cmd)

