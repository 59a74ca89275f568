"""plc-integrity restore drill | plan | apply

The writers live in the top-level ``restore`` package and are imported only
inside these commands: verify, sweep, run and watch never load them.
"""

from __future__ import annotations

from pathlib import Path

import click

from integrity.cli._common import (emit_json, json_option, open_site, open_store, selection_args,
                                   trust_store)

DRILL_EXIT_HELP = """\b
Exit codes:
  0  every device was rebuilt from its backup and checks clean (RESTORABLE)
  1  a device is NOT RESTORABLE: the backup lacks something (listed)
  2  usage or configuration error
  5  the bundle or a baseline fails verification
"""


@click.group("restore")
def restore_group() -> None:
    """Prove backups restore (drill), and restore a device (plan, apply)."""


@restore_group.command("drill", epilog=DRILL_EXIT_HELP)
@selection_args
@click.option("--tag", help="Every device carrying this tag.")
@click.option("--from", "bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Drill from a backup bundle (verified against this site's trust/) instead "
                   "of the store.")
@json_option
@click.pass_context
def drill_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool, tag: str | None,
              bundle: Path | None, as_json: bool) -> None:
    """Rebuild each device as a simulator from its backup alone, and deep-check it.

    Writes nothing to any device: the rebuilt devices run on 127.0.0.1 only.
    Each verdict is recorded in the store's events.

    \b
    Examples:
      plc-integrity restore drill --all
      plc-integrity restore drill --from /media/usb/crane.plcbak
    """
    from restore.drill import drill, drill_bundle

    site = open_site(ctx)
    with open_store(site) as store:
        if bundle is not None:
            names = ([d.name for d in site.select(devices, all_, tag)]
                     if (devices or tag) else None)
            report = drill_bundle(bundle, names, trust_store(site), record_in=store)
        else:
            names = [d.name for d in site.select(devices, all_, tag)]
            report = drill(names, store, trust_store(site))
    if as_json:
        emit_json(report.to_dict())
        ctx.exit(report.exit_code)
    for r in report.results:
        head = f"{r.device}: {r.verdict}"
        if r.sequence is not None:
            head += f" (baseline #{r.sequence} {r.baseline_id[:12]})"
        click.echo(head)
        for item in r.missing:
            click.echo(f"  missing: {item}")
        for item in r.differences:
            click.echo(f"  rebuilt device differs: {item}")
        if r.error:
            click.echo(f"  {r.error}")
        for note in r.notes:
            click.echo(f"  note: {note}")
    ctx.exit(report.exit_code)


def register(cli: click.Group) -> None:
    cli.add_command(restore_group)
