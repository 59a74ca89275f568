"""plc-integrity sim start"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click


@click.group("sim")
def sim_group() -> None:
    """Run the bundled PLC and drive simulators."""


@sim_group.command("start")
@click.option("--plant", default="crane", show_default=True, help="Which simulated plant.")
@click.option("--inventory-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a [[devices]] inventory for the running simulators here "
                   "(usable as the site's devices/sim.toml).")
def start_cmd(plant: str, inventory_out: Path | None) -> None:
    """Run a simulated plant on 127.0.0.1 in the foreground until Ctrl-C or SIGTERM.

    Ports come from the OS; the inventory says which.  A line `ready` is printed
    once every simulator listens.

    \b
    Example:
      plc-integrity sim start --inventory-out site/devices/sim.toml
    """
    from simulators.plant import Plant, plants

    if plant not in plants():
        raise click.BadParameter(f"unknown plant {plant!r}; known: {', '.join(plants())}",
                                 param_hint="--plant")
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Plant(plant) as running:
            if inventory_out:
                running.write_inventory(inventory_out)
            for sim in running:
                click.echo(f"{sim.name:<14} {sim.protocol:<7} {sim.host}:{sim.port}")
            if inventory_out:
                click.echo(f"inventory written to {inventory_out}")
            click.echo("ready", nl=True)
            # A script waiting for "ready" reads a pipe, which Python buffers.
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
            click.echo("stopping")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def register(cli: click.Group) -> None:
    cli.add_command(sim_group)
