"""A week of the crane plant in a real store, made the way `demo` does it.

Real simulators on 127.0.0.1, a real site and key, real sweeps stamped over
six days: commissioning, all OK, an attack on the hoist drive (drift), its
restore (OK again), a change on the trolley drive approved as a new baseline
(WO 4711), and a second attack on the hoist left open.  A spare drive on a
refusing port is unreachable throughout.  The [suppliers] policy flags the
gantry drive's vendor and the trolley drive's firmware.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import tomli_w

from support.peers import closed_port
from support.site import MAX_RPS, TIMEOUT, add_to_site_toml, make_site

SUPPLIERS = """
[suppliers]
disallowed_vendors = ["Kessler*"]
segment_vendors = ["Siemens"]
segmented_tags = ["segmented"]
minimum_firmware = { "Nordwind*" = "4.10" }
"""


def _register(sim, address: int) -> int:
    image = sim.snapshot_image()
    return image["holding"]["values"][address - image["holding"]["start"]]


@pytest.fixture(scope="session")
def crane_week(tmp_path_factory) -> SimpleNamespace:
    from baselines.signing import SigningKey
    from integrity import check
    from integrity.cli._common import open_store, trust_store
    from integrity.alerts import AlertTracker
    from integrity.inventory import load_site
    from integrity.sweep import run_sweep
    from simulators.modbus import attacker_write_register
    from simulators.plant import Plant

    tmp = tmp_path_factory.mktemp("crane-week")
    made = make_site(tmp)
    add_to_site_toml(made.root, SUPPLIERS)
    start = (datetime.now(timezone.utc) - timedelta(days=6)).replace(microsecond=0)
    day = lambda n, h=0: start + timedelta(days=n, hours=h)  # noqa: E731
    with Plant("crane") as plant, closed_port() as refused:
        inv = made.root / "devices" / "sim.toml"
        plant.write_inventory(inv)
        doc = tomllib.loads(inv.read_text())
        for d in doc["devices"]:
            d.update(timeout=TIMEOUT, retries=0, max_rps=MAX_RPS,
                     tags=["crane-1", "drives" if d["name"].startswith("vfd") else "plcs"])
        # A second gantry drive entry that later moves to a refusing port:
        # baselined, then unreachable from day 3 on.
        spare = {**next(d for d in doc["devices"] if d["name"] == "vfd-gantry"),
                 "name": "vfd-spare", "tags": ["crane-2", "drives"]}
        doc["devices"].append(spare)
        inv.write_text(tomli_w.dumps(doc))
        site = load_site(made.root)
        trust = trust_store(site)
        key = SigningKey.load(made.key, None)
        tracker = AlertTracker()
        with open_store(site) as store:
            def sweep(at: datetime):
                return {r.device: r.status.value for r in run_sweep(
                    site.devices, store, trust, tracker=tracker, now=at).results}

            check.capture_baselines(site.devices, store, trust, key, "commissioning", now=day(0))
            assert sweep(day(0, 1))["vfd-hoist"] == "OK"
            hoist, trolley = plant["vfd-hoist"], plant["vfd-trolley"]
            old = _register(hoist, 22)
            attacker_write_register(hoist.host, hoist.port, 1, 22, old + old // 2)
            assert sweep(day(1))["vfd-hoist"] == "DRIFT"
            attacker_write_register(hoist.host, hoist.port, 1, 22, old)      # restored
            assert sweep(day(2))["vfd-hoist"] == "OK"
            spare["port"] = refused
            inv.write_text(tomli_w.dumps(doc))
            site = load_site(made.root)
            t_old = _register(trolley, 22)
            attacker_write_register(trolley.host, trolley.port, 1, 22, t_old + 10)
            assert sweep(day(3))["vfd-trolley"] == "DRIFT"
            check.capture_baselines([site.device("vfd-trolley")], store, trust, key,
                                    "WO 4711: new ramp", now=day(4))      # approved
            states = sweep(day(4, 1))
            assert states["vfd-trolley"] == "OK" and states["vfd-spare"] == "UNREACHABLE"
            attacker_write_register(hoist.host, hoist.port, 1, 22, 2250)      # open drift
            assert sweep(day(5))["vfd-hoist"] == "DRIFT"
            store.add_event(day(5, 2), "restore-drill", "vfd-hoist: drill passed (test record)")
    return SimpleNamespace(root=made.root, key=made.key, keyid=made.keyid, start=start,
                           site=site)
