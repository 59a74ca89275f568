"""plc-integrity config check"""

from __future__ import annotations

import click

from integrity.cli._common import emit_json, json_option, site_root


@click.group("config")
def config_group() -> None:
    """Check the site's configuration."""


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


@config_group.command("check")
@json_option
@click.pass_context
def check_cmd(ctx: click.Context, as_json: bool) -> None:
    """Validate site.toml, every inventory file, schedules, alert sinks (and their
    secret variables), trust/ and the store, without contacting any device.

    Exit 0 when all is well, 2 with every problem listed.

    \b
    Example:
      plc-integrity --site /srv/plc-integrity config check
    """
    from integrity.config_check import check_site

    report = check_site(site_root(ctx))
    if as_json:
        emit_json(report.to_dict())
        ctx.exit(report.exit_code)
    click.echo(f"site {report.root}: {_count(report.devices, 'device')}, "
               f"{_count(report.schedules, 'schedule')}, {_count(report.sinks, 'alert sink')}, "
               f"{_count(report.trusted_keys, 'trusted key')}")
    if not report.problems:
        click.echo("configuration ok")
    else:
        click.echo(f"{_count(len(report.problems), 'problem')}:")
        for p in report.problems:
            click.echo(f"  {p}")
    ctx.exit(report.exit_code)


def register(cli: click.Group) -> None:
    cli.add_command(config_group)
