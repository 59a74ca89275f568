"""plc-integrity init"""

from __future__ import annotations

from pathlib import Path

import click

from integrity.cli._common import site_root
from integrity.site import init_site


@click.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def init_cmd(ctx: click.Context, directory: Path | None) -> None:
    """Create a site folder: site.toml, trust/, devices/, state/ and the store.

    \b
    Example:
      plc-integrity init /srv/plc-integrity
    """
    root = directory or site_root(ctx)
    site = init_site(root)
    click.echo(f"created site in {site.root}")
    click.echo(f"  settings  {site.root / 'site.toml'}")
    click.echo(f"  devices   {site.root / 'devices'}/*.toml")
    click.echo(f"  trust     {site.trust_dir}  (public keys allowed to sign baselines)")
    click.echo(f"  store     {site.store_url}")


def register(cli: click.Group) -> None:
    cli.add_command(init_cmd)
