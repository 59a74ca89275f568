"""Named plants: sets of simulated devices started together.

A plant is the folder ``images/<name>/``: every ``*.json`` device image in it is
one device.  The S7 and Logix simulators add their images to the same folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterator

import tomli_w

from simulators.base import IMAGES, SIMULATORS, Simulator, load_image, simulator_for

# Tags the written inventory gives each device: the plant's own name as a site
# would call it, and the device's role, so `sweep --tag crane-3` or `--tag drive`
# work on the simulators exactly as on a real site.
PLANT_TAGS = {"crane": "crane-3"}
ROLES = {"modbus": "drive", "s7": "plc", "s7plus": "plc", "logix": "plc"}


def plants(folder: Path = IMAGES) -> list[str]:
    """Plant names: folders holding device images.  Not every folder is one:
    the image generators beside them leave a ``__pycache__``."""
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(("_", ".")) and any(p.glob("*.json")))


def _available(protocol: str) -> bool:
    module = SIMULATORS.get(protocol, "").partition(":")[0]
    return bool(module) and importlib.util.find_spec(module) is not None


class Plant:
    """Start with ``with Plant("crane") as plant:``; ``plant["vfd-hoist"]`` is a simulator."""

    def __init__(self, name: str = "crane", *, host: str = "127.0.0.1") -> None:
        folder = IMAGES / name
        if not folder.is_dir():
            raise ValueError(f"unknown plant {name!r}; known: {', '.join(plants())}")
        self.name = name
        images = [load_image(p) for p in sorted(folder.glob("*.json"))]
        self.simulators: list[Simulator] = [
            simulator_for(img, host=host) for img in images if _available(img["protocol"])]

    def start(self) -> None:
        started = []
        try:
            for sim in self.simulators:
                sim.start()
                started.append(sim)
        except BaseException:
            for sim in reversed(started):
                sim.stop()
            raise

    def stop(self) -> None:
        for sim in reversed(self.simulators):
            sim.stop()

    def __enter__(self) -> "Plant":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __getitem__(self, name: str) -> Simulator:
        for sim in self.simulators:
            if sim.name == name:
                return sim
        raise KeyError(name)

    def __iter__(self) -> Iterator[Simulator]:
        return iter(self.simulators)

    def inventory_toml(self) -> str:
        header = (f"# Inventory of the simulated '{self.name}' plant, written by plc-integrity.\n"
                  "# Valid only while these simulators run: the ports come from the OS.\n")
        tables = [self.entry(s) for s in self.simulators]
        return header + "\n" + tomli_w.dumps({"devices": tables})

    def entry(self, sim: Simulator) -> dict:
        """The inventory table of one of this plant's simulators, with the plant's tags."""
        tags = [PLANT_TAGS.get(self.name, self.name), ROLES.get(sim.protocol, sim.protocol)]
        return {**sim.inventory_entry(), "tags": tags}

    def write_inventory(self, path: str | Path) -> None:
        Path(path).write_text(self.inventory_toml(), encoding="utf-8")
