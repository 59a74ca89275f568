"""plc-integrity maintenance start | end"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import click

from integrity.cli._common import (EXIT_CODES_HELP, chosen_devices, emit_json, json_option,
                                   mode_option, open_site, open_store, selection_args,
                                   signer_names, trust_store)
from integrity.cli.ops import report_sink_failures
from integrity.model import Mode, Status
from integrity.render import diff_report, when


@click.group("maintenance")
def maintenance_group() -> None:
    """Approved maintenance: hold back drift alerts, then verify at the end."""


def _parse_until(until: str | None, now: datetime) -> datetime:
    from integrity.alerts.tracker import MAX_MAINTENANCE
    from integrity.durations import parse_duration

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
@selection_args
@click.option("--reason", required=True, help="Work order or why (kept with the window).")
@click.option("--until", help="When the window ends on its own: a duration (4h) or an ISO "
                              "time. Default 8h.")
@json_option
@click.pass_context
def maintenance_start(ctx: click.Context, devices: tuple[str, ...], all_: bool,
                      tags: tuple[str, ...], reason: str, until: str | None,
                      as_json: bool) -> None:
    """Suppress drift alerts for devices while they are worked on; checks still run.

    \b
    Example:
      plc-integrity maintenance start vfd-hoist --reason "WO 4711" --until 4h
    """
    from integrity.alerts import AlertRecord, start_maintenance

    if not reason.strip():
        raise click.BadParameter("must say why the window exists", param_hint="--reason")
    site = open_site(ctx)
    chosen = chosen_devices(site, devices, all_, tags)
    now = datetime.now(timezone.utc)
    end = _parse_until(until, now)
    with open_store(site) as store:
        for d in chosen:
            raw = store.alert_record(d.name)
            record = start_maintenance(AlertRecord.from_dict(raw) if raw else None, d.name,
                                       until=end, reason=reason, now=now)
            store.save_alert_record(d.name, record.to_dict(), now=now)
            store.add_event(now, "maintenance-start", f"{d.name} until {end.isoformat()}: {reason}")
    if as_json:
        emit_json({"exit_code": 0, "until": end.isoformat(), "reason": reason,
                   "devices": [d.name for d in chosen]})
        return
    for d in chosen:
        click.echo(f"{d.name}: maintenance until {when(end)} UTC ({reason})")


@maintenance_group.command("end", epilog=EXIT_CODES_HELP)
@selection_args
@mode_option
@json_option
@click.pass_context
def maintenance_end(ctx: click.Context, devices: tuple[str, ...], all_: bool,
                    tags: tuple[str, ...], quick: bool, as_json: bool) -> None:
    """End maintenance and verify at once (a sweep: recorded, alerts sent), printing the diff.

    Then restore the device, or approve its new state with
    `plc-integrity baseline capture DEVICE --key KEY --reason ...`.

    \b
    Example:
      plc-integrity maintenance end vfd-hoist
    """
    from integrity.alerts import AlertRecord, end_maintenance
    from integrity.sweep import alerting, run_sweep  # the sinks' libraries load only when used

    site = open_site(ctx)
    chosen = chosen_devices(site, devices, all_, tags)
    tracker, dispatcher = alerting(site)
    now = datetime.now(timezone.utc)
    trust = trust_store(site)
    with open_store(site) as store:
        for d in chosen:
            raw = store.alert_record(d.name)
            if raw:
                store.save_alert_record(d.name, end_maintenance(AlertRecord.from_dict(raw)).to_dict(),
                                        now=now)
            store.add_event(now, "maintenance-end", d.name)
        # The same path as `sweep`: verify, record, advance alert state, deliver.
        report = run_sweep(chosen, store, trust, mode=Mode.QUICK if quick else Mode.DEEP,
                           concurrency=site.settings.concurrency, tracker=tracker,
                           dispatcher=dispatcher, now=now)
    if as_json:
        emit_json(report.to_dict())
        ctx.exit(report.exit_code)
    names = signer_names(trust)
    for r in report.results:
        click.echo(diff_report(r, names=names))
        if r.status is Status.DRIFT:
            click.echo(f"  next: restore {r.device}, or approve its new state with "
                       f"`plc-integrity baseline capture {r.device} --key KEY --reason ...`")
    if report.alerts:
        click.echo(f"{len(report.alerts)} alert(s) raised")
    report_sink_failures(report.delivery)
    ctx.exit(report.exit_code)


def register(cli: click.Group) -> None:
    cli.add_command(maintenance_group)
