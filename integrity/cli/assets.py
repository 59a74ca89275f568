"""plc-integrity assets — identity as captured, firmware changes, supplier flags."""

from __future__ import annotations

import csv
import sys
from datetime import datetime, timezone

import click

from integrity.cli._common import (chosen_devices, emit_json, json_option, open_site,
                                   open_store, selection_args, trust_store)


@click.command("assets")
@selection_args(default_all=True)
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per device on stdout.")
@click.option("--alert", is_flag=True,
              help="Send each supplier flag as a SITE_WARNING alert to the [[alerts]] sinks.")
@click.pass_context
def assets_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool,
               tags: tuple[str, ...],
               as_json: bool, as_csv: bool, alert: bool) -> None:
    """Every device's identity as its signed baselines captured it (vendor,
    model and order number, firmware, serial, modules), firmware changes over
    time, and the devices the [suppliers] policy in site.toml flags.

    Reads only the store: no device is contacted.  Without names, --all or
    --tag, every device is listed.  Exit 0 (flags are findings, not errors;
    use --json and look at "flags", or --alert).

    \b
    Examples:
      plc-integrity assets
      plc-integrity assets --tag crane-3 --csv > assets.csv
      plc-integrity assets --all --json
    """
    from integrity.assets import CSV_FIELDS, collect_assets, csv_rows

    if as_json and as_csv:
        raise click.UsageError("--json and --csv exclude each other")
    site = open_site(ctx)
    chosen = chosen_devices(site, devices, all_, tags, default_all=True)
    with open_store(site) as store:
        assets = collect_assets(site, store, trust_store(site), chosen)
        flags = [f for a in assets for f in a.flags]
        if alert and flags:
            _send(site, store, flags)
    if as_json:
        emit_json({"schema": 1, "devices": [a.to_dict() for a in assets],
                   "flags": [f.to_dict() for f in flags]})
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_rows(assets))
    else:
        click.echo(render_assets(assets))


def render_assets(assets: list) -> str:
    lines = [f"{'DEVICE':<16} {'VENDOR':<26} {'MODEL':<22} {'FIRMWARE':<10} {'SERIAL':<20} FLAGS"]
    for a in assets:
        i = a.identity
        if i is None:
            lines.append(f"{a.device:<16} (no verified baseline: {a.problem})")
        else:
            lines.append(f"{a.device:<16} {i.vendor or '-':<26} {i.model or '-':<22} "
                         f"{i.firmware or '-':<10} {i.serial or '-':<20} "
                         f"{', '.join(f.rule for f in a.flags) or '-'}")
            for m in i.modules:
                lines.append(f"{'':<16}   module {m['slot']}: {m['model'] or '-'} "
                             f"{m['firmware'] or '-'} serial {m['serial'] or '-'}")
        for c in a.firmware_changes:
            lines.append(f"{'':<16}   firmware {c.before} -> {c.after} at baseline #{c.sequence} "
                         f"({c.signed_at:%Y-%m-%d}, {c.reason})")
        for f in a.flags:
            lines.append(f"{'':<16}   FLAG {f.rule}: {f.message}")
    return "\n".join(lines)


def _send(site, store, flags) -> None:
    from integrity.alerts.model import Alert, AlertKind
    from integrity.model import Status
    from integrity.sweep import alerting

    _tracker, dispatcher = alerting(site)
    if dispatcher is None:
        click.echo("no [[alerts]] sinks configured: nothing sent", err=True)
        return
    now = datetime.now(timezone.utc)
    alerts = [Alert(kind=AlertKind.SITE_WARNING, device=f.device, state=Status.OK, at=now,
                    since=now, summary=f"supplier policy: {f.message}", message=f.rule)
              for f in flags]
    from integrity.alerts.outbox import raise_alerts, record_failures

    # Through the outbox like every alert: one that cannot be delivered now
    # waits there for the next sweep or collector to deliver it.
    delivery = raise_alerts(store, dispatcher, alerts, now=now)
    record_failures(store, delivery, now)
    for failure in delivery.failures if delivery is not None else ():
        click.echo(f"alert sink {failure.sink} failed: {failure.error}", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(assets_cmd)
