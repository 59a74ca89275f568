"""plc-integrity store check | prune"""

from __future__ import annotations

import click

from integrity.cli._common import emit_json, json_option, open_site, open_store
from integrity.clock import utcnow
from integrity.cron import parse_duration


@click.group("store")
def store_group() -> None:
    """The baseline store itself: check the stored evidence, thin old check history."""


@store_group.command("check")
@json_option
@click.pass_context
def check_cmd(ctx: click.Context, as_json: bool) -> None:
    """Re-hash every stored artifact content and cross-check it with every baseline.

    Reports contents that were edited (they no longer hash to their digest),
    contents a baseline lists but the store no longer has, and contents no
    baseline lists (reported only).  Exit 0 when intact, 5 when damaged.
    No device is contacted.

    \b
    Example:
      plc-integrity store check --json
    """
    site = open_site(ctx)
    with open_store(site) as store:
        report = store.check_contents()
        store.record_store_check(report)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(report.render())
    ctx.exit(report.exit_code)


def _keep(_ctx: click.Context, _param: click.Parameter, value: str | None) -> object:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(f"{exc} (e.g. 90d)") from None


@store_group.command("prune")
@click.option("--keep", callback=_keep, metavar="DURATION",
              help="Keep every check younger than this (e.g. 90d); default: [store] keep.")
@click.option("--dry-run", is_flag=True, help="Count what would go; remove nothing.")
@json_option
@click.pass_context
def prune_cmd(ctx: click.Context, keep: object, dry_run: bool, as_json: bool) -> None:
    """Thin the check history older than --keep.

    Kept whatever their age: every state change, the first and last check of
    each unchanged run, and every check of a device whose alert is still open
    (not OK now, or an alert not yet delivered).  Delivered alerts older than
    --keep leave the outbox.  Baselines and their contents are never removed.
    Exit 0; 2 when no --keep is given and site.toml has no [store] keep.

    \b
    Example:
      plc-integrity store prune --keep 90d --json
    """
    from integrity.errors import ConfigError

    site = open_site(ctx)
    keep = keep if keep is not None else site.settings.store_keep
    if keep is None:
        raise ConfigError("give --keep (e.g. --keep 90d) or set keep in [store] of site.toml",
                          field="keep")
    with open_store(site) as store:
        report = store.prune_checks(utcnow() - keep, dry_run=dry_run)  # type: ignore[operator]
        if not dry_run:
            store.add_event(utcnow(), "prune", report.render())
    if as_json:
        emit_json({"exit_code": 0, "keep_seconds": int(keep.total_seconds()),  # type: ignore[attr-defined]
                   **report.to_dict()})
    else:
        click.echo(report.render())
    ctx.exit(0)


def register(cli: click.Group) -> None:
    cli.add_command(store_group)
