"""A fleet of simulated devices in its own process, for the sweep benchmark.

    .venv/bin/python benchmarks/fleet.py --drives 300 --s7 50 --logix 20 \\
        --latency 0.005 --shard 0/2 --out /tmp/fleet-0.toml

Serves copies of the crane's devices (vfd-hoist drives, plc-hoist S7 CPUs,
plc-gantry Logix controllers), each under its own name and port, every reply held
back by ``--latency`` seconds.  ``--shard k/n`` serves every n-th device starting
at k, so a fleet can be split over processes (one process holds one GIL: on a
2-core machine, two fleet processes keep the servers from becoming the limit).

Modbus drives (most of a fleet) are served on ONE event loop in one thread
(``ModbusSimulator.start_on``), not a thread per device: a 10,000-device fleet
of one thread per simulator saturated the machine by itself.  S7 and Logix
simulators keep their own servers (snap7's and the CIP server's threads), but
the S7 ones block in accept() instead of polling it ten times a second
(``quiet_accept``): 1,500 idle pollers were what kept the machine busy.

Protocol with the parent: once every simulator listens, the inventory TOML is
written to ``--out`` and the line ``ready <count>`` is printed; the fleet then
serves until its stdin closes (the parent exits or closes the pipe), so a crashed
benchmark never leaves servers behind.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import socket
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tomli_w  # noqa: E402
from simulators.base import IMAGES, Simulator, load_image, simulator_for  # noqa: E402

# Per-device connection settings written into the inventory: generous, since a
# timeout in a benchmark would be a bug to look at, not a figure.
TIMEOUT = 10.0
RETRIES = 0


def fleet_images(drives: int, s7: int, logix: int) -> list[dict[str, Any]]:
    """Device images in sweep order: the longest checks (S7, Logix) first, so the
    tail of a concurrent sweep is short drives, not one long CPU upload."""
    crane = IMAGES / "crane"
    templates = [("s7", load_image(crane / "plc-hoist.json"), s7),
                 ("logix", load_image(crane / "plc-gantry.json"), logix),
                 ("vfd", load_image(crane / "vfd-hoist.json"), drives)]
    images = []
    for prefix, template, count in templates:
        for i in range(count):
            image = copy.deepcopy(template)
            image["name"] = f"{prefix}-{i:04d}"
            images.append(image)
    return images


def shard(images: list[dict[str, Any]], spec: str) -> list[dict[str, Any]]:
    """``k/n``: every n-th image from index k."""
    k, _, n = spec.partition("/")
    index, count = int(k), int(n)
    if not 0 <= index < count:
        raise SystemExit(f"--shard {spec}: need 0 <= k < n")
    return images[index::count]


class _QuietListener(socket.socket):
    """A listening socket whose accept() blocks instead of timing out every 0.1 s
    (snap7's server sets that timeout before each accept to notice shutdown);
    closing it shuts it down first, which wakes a blocked accept() on Linux."""

    __slots__ = ()  # the layout of socket.socket, so a live listener can become one

    def settimeout(self, value: float | None) -> None:
        super().settimeout(None)

    def close(self) -> None:
        try:
            self.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        super().close()


def quiet_accept(sim: Simulator) -> None:
    """For a started S7 simulator: stop its accept loop from polling (benchmark only)."""
    server = getattr(sim, "_server", None)
    listener = getattr(server, "server_socket", None)
    if isinstance(listener, socket.socket) and type(listener) is socket.socket:
        listener.__class__ = _QuietListener  # the running loop picks it up on its next turn


def inventory_table(sim: Simulator) -> dict[str, Any]:
    return {**sim.inventory_entry(), "timeout": TIMEOUT, "retries": RETRIES}


def serve(images: list[dict[str, Any]], latency: float, out: Path) -> None:
    sims: list[Simulator] = []
    loop = asyncio.new_event_loop()  # every Modbus drive of this process serves here
    thread = threading.Thread(target=loop.run_forever, name="fleet-modbus", daemon=True)
    thread.start()
    try:
        for image in images:
            sim = simulator_for(image, latency=latency)
            if hasattr(sim, "start_on"):
                sim.start_on(loop)
            else:
                sim.start()
                quiet_accept(sim)
            sims.append(sim)
        out.write_text(tomli_w.dumps({"devices": [inventory_table(s) for s in sims]}),
                       encoding="utf-8")
        print(f"ready {len(sims)}", flush=True)
        sys.stdin.read()  # returns at EOF: the parent is done (or gone)
    finally:
        for sim in sims:
            sim.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drives", type=int, default=300)
    parser.add_argument("--s7", type=int, default=50)
    parser.add_argument("--logix", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per reply")
    parser.add_argument("--shard", default="0/1", help="k/n: serve every n-th device from k")
    parser.add_argument("--out", type=Path, required=True, help="inventory TOML to write")
    args = parser.parse_args()
    serve(shard(fleet_images(args.drives, args.s7, args.logix), args.shard), args.latency, args.out)


if __name__ == "__main__":
    main()
