"""A real site with a real signing key, inventories, and the CLI run against it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import tomli_w
from click.testing import CliRunner, Result

from integrity.cli import cli
from simulators.base import is_attacker

TIMEOUT = 0.5  # seconds per request for simulated devices in test inventories
# The politeness ceiling, as good as off: the inventory has no "off", and 100,000
# requests/s (10 µs apart) is far below a loopback round trip.  At the default 200/s
# the S7 and Logix tests ran about 40% slower; tests/core/test_pacing.py covers it.
MAX_RPS = 100000


def make_site(tmp_path: Path) -> SimpleNamespace:
    """init_site plus a trusted, unencrypted key: (root, key, keyid, keys_dir)."""
    from baselines.signing import TrustStore, generate_keypair
    from integrity.site import init_site

    root = tmp_path / "site"
    init_site(root)
    keys_dir = tmp_path / "keys"
    key, pub, keyid = generate_keypair("tester", keys_dir, None)
    TrustStore(root / "trust").add(pub)
    return SimpleNamespace(root=root, key=key, keyid=keyid, keys_dir=keys_dir)


def add_to_site_toml(root: Path, text: str) -> None:
    """Append tables ([[alerts]], [[schedules]], ...) to site.toml."""
    path = root / "site.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


class Inventory:
    """Writes devices/*.toml files into a test site."""

    def __init__(self, site_root: Path) -> None:
        self.site_root = site_root

    def write(self, *tables: dict[str, Any], file: str = "sim.toml") -> None:
        (self.site_root / "devices" / file).write_text(tomli_w.dumps({"devices": list(tables)}))

    @staticmethod
    def table(sim: Any, **overrides: Any) -> dict[str, Any]:
        """The simulator's own inventory entry, with a short timeout, no retries and no
        politeness ceiling."""
        return {**sim.inventory_entry(), "timeout": TIMEOUT, "retries": 0, "max_rps": MAX_RPS,
                **overrides}


class Cli:
    """Runs plc-integrity against the test site, in process, through click."""

    def __init__(self, site: SimpleNamespace) -> None:
        self.site = site
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(cli, ["--site", str(self.site.root), *args], input=input,
                                  catch_exceptions=False)

    def capture(self, *args: str, reason: str = "test baseline") -> Result:
        return self("baseline", "capture", *(args or ("--all",)), "--key", str(self.site.key),
                    "--reason", reason)

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        """Run a --json command: exactly one JSON document on stdout."""
        r = self(*args, "--json")
        return r.exit_code, json.loads(r.stdout)

    def timed_json(self, *args: str) -> tuple[int, dict[str, Any], float]:
        started = time.monotonic()
        code, doc = self.json(*args)
        return code, doc, time.monotonic() - started


def checker_only_read(sim: Any) -> None:
    """The simulator saw requests from the checker, and every one was a read."""
    mine = [r for r in sim.requests if not is_attacker(r.peer)]
    assert mine and all(r.read for r in mine), [r for r in mine if not r.read][:5]
