"""plc-integrity policy init | sign | show, and checkpoint sign | show"""

from __future__ import annotations

import click

from integrity.cli._common import emit_json, json_option, open_site, open_store


@click.group("checkpoint")
def checkpoint_group() -> None:
    """The signed checkpoint of the store's state (rollback and freeze)."""


@checkpoint_group.command("sign")
@json_option
@click.pass_context
def checkpoint_sign_cmd(ctx: click.Context, as_json: bool) -> None:
    """Re-sign the store's state as a new checkpoint version with a fresh expiry.

    Run it regularly (cron, a systemd timer) on a site whose baselines rarely
    change: an expired checkpoint is reported as a frozen store.  On a site
    from before checkpoints it signs the first one (and makes this host's
    checkpoint key).

    \b
    Example:
      plc-integrity checkpoint sign
    """
    site = open_site(ctx)
    with open_store(site) as store:
        cp = store.sign_checkpoint()
    if as_json:
        emit_json({"schema": 1, "checkpoint": cp.to_dict()})
        return
    click.echo(f"checkpoint version {cp.version} signed by {cp.keyid[:16]}, "
               f"{len(cp.heads)} device(s), expires {cp.expires:%Y-%m-%d %H:%M} UTC")


@checkpoint_group.command("show")
@json_option
@click.pass_context
def checkpoint_show_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show the checkpoint in force, verified (exit 5 if it cannot be trusted).

    \b
    Example:
      plc-integrity checkpoint show --json
    """
    from baselines.checkpoint import Checkpoint

    site = open_site(ctx)
    checkpoint = Checkpoint.for_site(site.root)
    cp = checkpoint.load()
    if as_json:
        emit_json({"schema": 1, "path": str(checkpoint.path),
                   "memory": str(checkpoint.local.path),
                   "checkpoint": cp.to_dict() if cp else None})
        return
    if cp is None:
        click.echo(f"no checkpoint at {checkpoint.path} (`plc-integrity checkpoint sign`)")
        return
    click.echo(f"checkpoint {checkpoint.path}: version {cp.version}, signed by "
               f"{cp.keyid[:16]} at {cp.issued:%Y-%m-%d %H:%M} UTC, expires "
               f"{cp.expires:%Y-%m-%d %H:%M} UTC")
    click.echo(f"this host's memory: {checkpoint.local.path}")
    for device, e in sorted(cp.heads.items()):
        click.echo(f"  {device:<24} #{e.sequence:<4} {e.id[:16]}  policy v{e.policy}")


def register(cli: click.Group) -> None:
    cli.add_command(checkpoint_group)
