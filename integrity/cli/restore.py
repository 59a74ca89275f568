"""plc-integrity restore drill | plan | apply

The writers live in the top-level ``restore`` package and are imported only
inside these commands: verify, sweep, run and watch never load them.
"""

from __future__ import annotations

import click


@click.group("restore")
def restore_group() -> None:
    """Prove backups restore (drill), and restore a device (plan, apply)."""


def register(cli: click.Group) -> None:
    cli.add_command(restore_group)
