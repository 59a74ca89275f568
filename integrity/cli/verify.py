"""plc-integrity verify | diff"""

from __future__ import annotations

import click

from integrity import check
from integrity.cli._common import (EXIT_CODES_HELP, emit_json, json_option, mode_option,
                                   open_site, open_store, selection_args, trust_store)
from integrity.model import Mode, overall_exit_code
from integrity.render import diff_report, results_table


@click.command("verify", epilog=EXIT_CODES_HELP)
@selection_args
@mode_option
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool, quick: bool,
               as_json: bool) -> None:
    """Read devices now and compare them with their latest valid baselines.

    \b
    Example:
      plc-integrity verify --all
    """
    from integrity.evidence import site_warnings

    site = open_site(ctx)
    chosen = site.select(devices, all_)
    trust = trust_store(site)
    with open_store(site) as store:
        results = check.verify(chosen, store, trust, mode=Mode.QUICK if quick else Mode.DEEP,
                               concurrency=site.settings.concurrency)
        warnings = site_warnings(store, trust, results[0].checked_at)
    code = overall_exit_code([r.status for r in results])
    for w in warnings:  # on stderr: the table (or the one JSON document) stays as it was
        click.echo(f"warning: {w.message}", err=True)
    if as_json:
        emit_json({"exit_code": code, "results": [r.to_dict() for r in results],
                   "warnings": [w.to_dict() for w in warnings]})
    else:
        click.echo(results_table(results))
    ctx.exit(code)


@click.command("diff", epilog=EXIT_CODES_HELP)
@click.argument("device")
@mode_option
@json_option
@click.pass_context
def diff_cmd(ctx: click.Context, device: str, quick: bool, as_json: bool) -> None:
    """Show what differs between a device and its baseline, value by value.

    \b
    Example:
      plc-integrity diff vfd-hoist
    """
    site = open_site(ctx)
    dev = site.device(device)
    with open_store(site) as store:
        [result] = check.verify([dev], store, trust_store(site),
                                mode=Mode.QUICK if quick else Mode.DEEP)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(diff_report(result))
    ctx.exit(result.exit_code)


def register(cli: click.Group) -> None:
    cli.add_command(verify_cmd)
    cli.add_command(diff_cmd)
