"""A bench of hostile proxies (tests/support/hostile.py) in front of one real
simulator per protocol, in a site with genuine signed baselines, and the
seeded fuzzing run used by tests/hostile and benchmarks/fuzz_bench.py."""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from support.hostile import FRAMINGS, IMAGE, PROTOCOLS, Fuzz, HostileProxy, Policy


# --- a bench: one simulator per protocol behind a proxy, in a site with baselines ----------

class Bench:
    """The site, the simulators and their proxies; devices are named after their protocol."""

    def __init__(self, site: Any, sims: dict[str, Any], proxies: dict[str, HostileProxy]) -> None:
        from support.site import Cli, Inventory

        self.site = site
        self.sims = sims
        self.proxies = proxies
        self.cli = Cli(site)
        self.inventory = Inventory(site.root)
        self.genuine_replies: dict[str, int] = {}  # reply frames of one genuine deep check

    def tables(self, timeout: float, retries: int) -> list[dict[str, Any]]:
        return [{**self.sims[p].inventory_entry(), "name": p, "port": self.proxies[p].port,
                 "timeout": timeout, "retries": retries} for p in PROTOCOLS]

    def write_inventory(self, timeout: float, retries: int) -> None:
        self.inventory.write(*self.tables(timeout, retries))

    def verify(self, protocol: str, policy: Callable[[], Policy] = Policy, *,
               timeout: float = 0.5, retries: int = 0) -> tuple[int, dict, float]:
        """``verify <protocol> --json`` with the proxy under ``policy`` (a factory of
        per-connection policies): (exit code, the JSON document, seconds taken)."""
        self.write_inventory(timeout, retries)
        self.proxies[protocol].policy = policy
        try:
            return self.cli.timed_json("verify", protocol)
        finally:
            self.proxies[protocol].policy = Policy


@contextlib.contextmanager
def bench_at(root: Path) -> Iterator[Bench]:
    """Start the simulators and proxies, make a site under ``root`` and capture a
    genuine baseline of each device through its proxy."""
    from simulators.base import IMAGES, load_image, simulator_for
    from support.site import make_site

    site = make_site(root)
    sims = {p: simulator_for(load_image(IMAGES / "crane" / f"{IMAGE[p]}.json")) for p in PROTOCOLS}
    proxies: dict[str, HostileProxy] = {}
    try:
        for sim in sims.values():
            sim.start()
        proxies.update({p: HostileProxy((sims[p].host, sims[p].port), FRAMINGS[p])
                        for p in PROTOCOLS})
        bench = Bench(site, sims, proxies)
        bench.write_inventory(timeout=2.0, retries=0)
        r = bench.cli.capture()
        assert r.exit_code == 0, r.output
        bench.genuine_replies = {p: proxy.replies for p, proxy in proxies.items()}
        yield bench
    finally:
        for proxy in proxies.values():
            proxy.close()
        for sim in sims.values():
            sim.stop()


# --- fuzzing through the library ---------------------------------------------------------------

@dataclass
class FuzzReport:
    protocol: str
    runs: int = 0
    exchanges: int = 0
    mutations: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # status/reason -> runs
    slowest: float = 0.0
    problems: list[str] = field(default_factory=list)  # each a broken promise


def fuzz(bench: Bench, protocol: str, seeds: range, *, timeout: float = 0.3,
         per_run: float = 1.5) -> FuzzReport:
    """Check ``protocol``'s device once per seed, its genuine replies mutated at
    about ``per_run`` mutations per check, and hold every outcome to the promises:
    exit 0, 1 or 3 (never a traceback, never "driver-error"), and within
    timeout + a genuine check's time + 1 s."""
    from baselines.signing import TrustStore
    from baselines.store import Store
    from integrity.check import verify
    from integrity.inventory import load_site
    from integrity.model import Mode, Status

    bench.write_inventory(timeout, 0)
    site = load_site(bench.site.root)
    device = site.device(protocol)
    proxy = bench.proxies[protocol]
    rate = min(1.0, per_run / max(1, bench.genuine_replies.get(protocol, 20)))
    report = FuzzReport(protocol)
    started_replies = proxy.replies
    with Store.open(site.store_url, heads_path=site.heads_path) as store:
        trust = TrustStore(site.trust_dir)
        genuine = time.monotonic()
        [ok] = verify([device], store, trust, mode=Mode.DEEP, record=False)
        genuine = time.monotonic() - genuine
        if ok.status is not Status.OK:
            report.problems.append(f"genuine check not OK: {ok.status.value} {ok.message}")
        limit = timeout + 2 * genuine + 1.0
        for seed in seeds:
            log: list[str] = []
            policy = Fuzz(random.Random(seed), rate, log)
            proxy.policy = lambda: policy
            began = time.monotonic()
            try:
                [result] = verify([device], store, trust, mode=Mode.DEEP, record=False)
            except Exception as exc:  # noqa: BLE001 - the CLI would exit 70: a broken promise
                report.problems.append(f"seed {seed}: {type(exc).__name__}: {exc} after {log}")
                continue
            finally:
                proxy.policy = Policy
            took = time.monotonic() - began
            report.runs += 1
            report.mutations += len(log)
            report.slowest = max(report.slowest, took)
            key = result.status.value + (f"/{result.reason}" if result.reason else "")
            report.outcomes[key] = report.outcomes.get(key, 0) + 1
            if result.status not in (Status.OK, Status.DRIFT, Status.UNREACHABLE) \
                    or result.reason == "driver-error":
                report.problems.append(f"seed {seed}: {key}: {result.message} after {log}")
            if result.status is Status.DRIFT and not log:
                report.problems.append(f"seed {seed}: drift without a mutation")
            if took > limit:
                report.problems.append(f"seed {seed}: took {took:.2f} s > {limit:.2f} s "
                                       f"after {log}")
    report.exchanges = proxy.replies - started_replies
    return report
