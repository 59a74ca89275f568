"""plc-integrity verify | diff"""

from __future__ import annotations

import click

from integrity import check
from integrity.bulk import few_collections
from integrity.cli._common import (EXIT_CODES_HELP, chosen_devices, emit_json,
                                   json_option, mode_option, open_site, open_store,
                                   selection_args, signer_names, trust_store)
from integrity.model import Mode, overall_exit_code
from integrity.render import diff_report, results_table


@click.command("verify", epilog=EXIT_CODES_HELP)
@selection_args
@mode_option
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool, tags: tuple[str, ...],
               quick: bool, as_json: bool) -> None:
    """Read devices now and compare them with their latest valid baselines.

    \b
    Examples:
      plc-integrity verify --all
      plc-integrity verify 'vfd-*' --tag crane-3 --quick
    """
    from integrity.evidence import site_warnings

    site = open_site(ctx)
    chosen = chosen_devices(site, devices, all_, tags)
    trust = trust_store(site)
    with open_store(site) as store:
        with few_collections():
            results = check.verify(chosen, store, trust,
                                   mode=Mode.QUICK if quick else Mode.DEEP,
                                   concurrency=site.settings.concurrency)
        warnings = site_warnings(store, trust, results[0].checked_at)
    code = overall_exit_code([r.status for r in results])
    for w in warnings:  # on stderr: the table (or the one JSON document) stays as it was
        click.echo(f"warning: {w.message}", err=True)
    if as_json:
        emit_json({"exit_code": code, "results": (r.to_dict() for r in results),
                   "warnings": [w.to_dict() for w in warnings]})
    else:
        click.echo(results_table(results))
    ctx.exit(code)


@click.command("diff", epilog=EXIT_CODES_HELP)
@selection_args
@mode_option
@json_option
@click.pass_context
def diff_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool, tags: tuple[str, ...],
             quick: bool, as_json: bool) -> None:
    """Show what differs between devices and their baselines, value by value.

    \b
    Example:
      plc-integrity diff vfd-hoist
    """
    site = open_site(ctx)
    chosen = chosen_devices(site, devices, all_, tags)
    trust = trust_store(site)
    with open_store(site) as store:
        with few_collections():
            results = check.verify(chosen, store, trust,
                                   mode=Mode.QUICK if quick else Mode.DEEP,
                                   concurrency=site.settings.concurrency)
    code = overall_exit_code([r.status for r in results])
    if as_json:
        emit_json({"exit_code": code, "results": (r.to_dict() for r in results)})
    else:
        names = signer_names(trust)
        click.echo("\n".join(diff_report(r, names=names) for r in results))
    ctx.exit(code)


def register(cli: click.Group) -> None:
    cli.add_command(verify_cmd)
    cli.add_command(diff_cmd)
