"""plc-integrity demo"""

from __future__ import annotations

import click


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the temporary site folder and print its path.")
def demo_cmd(keep: bool) -> None:
    """Show the whole job on the bundled crane plant, in one command.

    Starts the simulated plant, makes a temporary site and signing key,
    captures and signs baselines, verifies (all OK), changes a drive
    parameter over the wire as an attacker would, verifies again and shows
    the drift; then writes an offline backup, verifies it from the file
    alone, and runs a restore drill that rebuilds each device from that
    backup and says which can be restored, and what each other one lacks
    (plc-trolley's know-how-protected FC 20 never leaves the CPU).  Exits 0
    when every step behaved as it should.

    \b
    Example:
      plc-integrity demo --keep      # and look at the site and crane.plcbak afterwards
    """
    from integrity.demo import run_demo

    ok = run_demo(click.echo, keep=keep)
    raise SystemExit(0 if ok else 1)


def register(cli: click.Group) -> None:
    cli.add_command(demo_cmd)
