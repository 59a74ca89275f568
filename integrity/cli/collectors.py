"""plc-integrity collectors list | forget"""

from __future__ import annotations

import click

from integrity.cli._common import emit_json, json_option, open_site, open_store
from integrity.clock import utcnow


@click.group("collectors")
def collectors_group() -> None:
    """The collectors (`plc-integrity run`) that share this site's store."""


@collectors_group.command("list")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """Every collector that ever beat a heartbeat: its zones, state and last beat.

    A state is running, STALLED (no beat for three intervals, or checks that
    stopped completing), stopped (a named collector that stopped cleanly) or
    gone (STALLED for over 24 h while other collectors serve its zones).
    Exit 0.

    \b
    Example:
      plc-integrity collectors list --json
    """
    from integrity.zones import collector_states

    site = open_site(ctx)
    now = utcnow()
    with open_store(site) as store:
        beats = store.collector_beats()
    states = collector_states(beats, now)
    rows = [{"id": b["id"], "state": states[b["id"]], "zones": b["zones"],
             "at": b["at"].isoformat() if b["at"] else None,
             "claims": b["info"].get("claims")} for b in beats]
    if as_json:
        emit_json({"schema": 1, "collectors": rows})
        return
    if not rows:
        click.echo("no collector has run against this store")
    for r in rows:
        at = (r["at"] or "never")[:19].replace("T", " ")
        click.echo(f"{r['id']}  {r['state']}  zones {', '.join(r['zones']) or '-'}  "
                   f"last beat {at}")


@collectors_group.command("forget")
@click.argument("ident", metavar="ID")
@json_option
@click.pass_context
def forget_cmd(ctx: click.Context, ident: str, as_json: bool) -> None:
    """Remove a collector that is not running (killed, its host retired) from status.

    Its heartbeat row goes, and with it any claims and zone leases it still
    held, so its jobs are free at once instead of after its lease.  A zone
    left without a live collector still warns and alerts.  Exit 0; exit 2 for
    an unknown id or a collector that is still running.

    \b
    Example:
      plc-integrity collectors forget gw-b3-a
    """
    from integrity.zones import forget_collector

    site = open_site(ctx)
    with open_store(site) as store:
        gone = forget_collector(store, ident, utcnow())
        store.add_event(utcnow(), "collector-forgotten",
                        f"{ident} ({gone['state']}, zones {', '.join(gone['zones'])})")
    if as_json:
        emit_json({"schema": 1, "forgotten": gone})
        return
    click.echo(f"forgot collector {ident} ({gone['state']}; zones {', '.join(gone['zones'])})")


def register(cli: click.Group) -> None:
    cli.add_command(collectors_group)
