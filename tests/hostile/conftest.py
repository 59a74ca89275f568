"""One crane controller per protocol, each behind a hostile proxy
(tests/support/hostile.py), in one site with genuine signed baselines.

The baselines are captured once, through the proxies in pass-through mode;
each test then sets a proxy's policy and checks the device through the CLI.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from simulators.base import IMAGES, load_image, simulator_for
from support.hostile import FRAMINGS, IMAGE, PROTOCOLS, HostileProxy, Policy
from support.site import Cli, Inventory, make_site


class Bench:
    """The site, the proxies, and a way to check one device under a policy."""

    def __init__(self, site: SimpleNamespace, sims: dict[str, Any],
                 proxies: dict[str, HostileProxy]) -> None:
        self.site = site
        self.sims = sims
        self.proxies = proxies
        self.cli = Cli(site)
        self.inventory = Inventory(site.root)

    def write_inventory(self, timeout: float, retries: int) -> None:
        self.inventory.write(*[
            {**self.sims[p].inventory_entry(), "name": p, "port": self.proxies[p].port,
             "timeout": timeout, "retries": retries} for p in PROTOCOLS])

    def verify(self, protocol: str, policy: Any = Policy, *, timeout: float = 0.5,
               retries: int = 0, extra: tuple[str, ...] = ()) -> tuple[int, dict, float]:
        """``verify <protocol> --json`` with the proxy under ``policy`` (a factory of
        per-connection policies): (exit code, the JSON document, seconds taken)."""
        self.write_inventory(timeout, retries)
        self.proxies[protocol].policy = policy
        try:
            return self.cli.timed_json("verify", protocol, *extra)
        finally:
            self.proxies[protocol].policy = Policy


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    site = make_site(tmp_path_factory.mktemp("hostile"))
    sims = {p: simulator_for(load_image(IMAGES / "crane" / f"{IMAGE[p]}.json")) for p in PROTOCOLS}
    for sim in sims.values():
        sim.start()
    proxies = {p: HostileProxy((sims[p].host, sims[p].port), FRAMINGS[p]) for p in PROTOCOLS}
    try:
        b = Bench(site, sims, proxies)
        b.write_inventory(timeout=2.0, retries=0)
        r = b.cli.capture()
        assert r.exit_code == 0, r.output
        yield b
    finally:
        for proxy in proxies.values():
            proxy.close()
        for sim in sims.values():
            sim.stop()

