"""plc-integrity store check"""

from __future__ import annotations

import click

from integrity.cli._common import emit_json, json_option, open_site, open_store


@click.group("store")
def store_group() -> None:
    """The baseline store itself: check the stored evidence."""


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


def register(cli: click.Group) -> None:
    cli.add_command(store_group)
