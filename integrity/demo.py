"""The demo: the main job end to end on the bundled plant, with nothing to set up.

Everything runs in this process on 127.0.0.1 with ports from the OS, in a
temporary site that is removed afterwards (unless kept).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from integrity import check
from integrity.model import Status, overall_exit_code
from integrity.render import diff_report, results_table, short, signer
from integrity.site import init_site

Echo = Callable[[str], None]

ATTACKED_DEVICE = "vfd-hoist"
ATTACKED_REGISTER = 22  # the hoist's maximum speed: raising it is a classic safety attack


def _step(echo: Echo, text: str) -> None:
    echo("")
    echo(f"== {text}")


def run_demo(echo: Echo, *, keep: bool = False, plant_name: str = "crane") -> bool:
    """Run the demo, printing through ``echo``.  Returns True when every step
    behaved as it should: OK before the attack, drift on the attacked drive after,
    a backup that verifies offline, and a drill in which every device is
    RESTORABLE unless its backup lacks something it names (plc-trolley's
    know-how-protected block, DBs kept as `structure`)."""
    from baselines.checkpoint import Checkpoint
    from baselines.signing import SigningKey, TrustStore, generate_keypair
    from baselines.store import Store
    from integrity.inventory import load_site
    from simulators import modbus as modbus_sim
    from simulators.plant import Plant

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="plc-integrity-demo-"))
    try:
        _step(echo, f"Starting the simulated '{plant_name}' plant on 127.0.0.1")
        with Plant(plant_name) as plant:
            for sim in plant:
                echo(f"   {sim.name:<14} {sim.protocol:<7} {sim.host}:{sim.port}")

            _step(echo, f"Creating a site in {tmp / 'site'} and a signing key")
            site_root = tmp / "site"
            host_state = tmp / "host-state"  # the demo leaves nothing in your home
            init_site(site_root, state_folder=host_state)
            plant.write_inventory(site_root / "devices" / "sim.toml")
            key_path, pub_path, keyid = generate_keypair("demo-engineer", tmp / "keys", None)
            trust = TrustStore(site_root / "trust")
            trust.add(pub_path)
            key = SigningKey.load(key_path, None)
            echo(f"   key {signer(keyid, trust.snapshot().name_of)} trusted in "
                 f"{site_root / 'trust'}")
            site = load_site(site_root)

            store = Store.open(site.store_url, heads_path=site.heads_path,
                               checkpoint=Checkpoint.for_site(site_root, state_folder=host_state))
            try:
                _step(echo, "Capturing and signing baselines")
                outcomes = check.capture_baselines(site.devices, store, trust, key,
                                                   "demo: commissioning state")
                for o in outcomes:
                    if o.error:
                        echo(f"   {o.device.name}: NOT captured: {o.error}")
                    else:
                        echo(f"   {o.device.name:<14} baseline #{o.baseline.manifest.sequence} "
                             f"{short(o.baseline.id)}  {len(o.capture.artifacts)} artifacts")
                captured_ok = all(o.error is None for o in outcomes)

                _step(echo, "Verifying every device against its signed baseline")
                before = check.verify(site.devices, store, trust)
                echo(results_table(before))
                echo(f"   exit code would be {overall_exit_code([r.status for r in before])}")
                all_ok = all(r.status is Status.OK for r in before)

                sim = plant[ATTACKED_DEVICE]
                image = sim.snapshot_image()
                address = ATTACKED_REGISTER
                old = image["holding"]["values"][address - image["holding"]["start"]]
                new = old + old // 2
                label = image.get("labels", {}).get(f"holding/{address}", "a drive parameter")
                _step(echo, f"Attacker writes holding register {address} ({label}) of "
                            f"{ATTACKED_DEVICE} over Modbus TCP: {old} -> {new}")
                modbus_sim.attacker_write_register(sim.host, sim.port, image.get("unit", 1),
                                                   address, new)

                _step(echo, "Verifying again")
                after = check.verify(site.devices, store, trust)
                echo(results_table(after))
                echo(f"   exit code would be {overall_exit_code([r.status for r in after])}")
                hit = {r.device: r for r in after}
                drift_found = (hit[ATTACKED_DEVICE].status is Status.DRIFT and all(
                    r.status is Status.OK for r in after if r.device != ATTACKED_DEVICE))

                _step(echo, f"plc-integrity diff {ATTACKED_DEVICE}")
                echo(diff_report(hit[ATTACKED_DEVICE], names=trust.snapshot().name_of))

                backed_up = _offline_backup(echo, store, trust, key, site, tmp / "crane.plcbak")
                drilled = _restore_drill(echo, store, trust, site)
            finally:
                store.close()

        ok = captured_ok and all_ok and drift_found and backed_up and drilled
        _step(echo, f"Demo {'complete' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s")
        if ok:
            echo("   The drift was found, named down to the register, and tied to a signed baseline;")
            echo("   the backup verified offline, and the drill said what it can and cannot restore.")
            echo("   Next: plc-integrity init, declare your devices, keys create, baseline capture.")
        return ok
    finally:
        if keep:
            echo(f"   site kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _offline_backup(echo: Echo, store, trust, key, site, bundle: Path) -> bool:
    """``backup export`` and ``backup verify --trust``: the bundle is checked
    again from the file alone, against nothing but a copy of the trust/ folder."""
    from baselines.bundle import write_bundle_file
    from baselines.bundle_verify import verify_bundle

    _step(echo, f"Offline backup: every device's signed history into {bundle.name}, "
                "then verified from the file alone")
    summary = write_bundle_file(store, trust, [d.name for d in site.devices], bundle, key=key)
    echo(f"   {bundle}: {len(summary.devices)} devices, {summary.baselines} baselines, "
         f"{summary.blobs} contents, index signed")
    report = verify_bundle(bundle, site.trust_dir)
    echo(f"   verified against {site.trust_dir}: "
         + ("complete and intact" if report.ok else f"FAILED: {len(report.problems)} problem(s)"))
    for problem in report.problems[:5]:
        echo(f"     {problem}")
    return report.ok


def _restore_drill(echo: Echo, store, trust, site) -> bool:
    """``restore drill --all``: each device rebuilt from its backup on 127.0.0.1
    and deep-checked.  A device NOT RESTORABLE because its backup lacks something
    it names is the drill doing its job; a rebuilt device that differs, or an
    error, is a failure of the demo."""
    from integrity.drill import drill

    _step(echo, "Restore drill: each device rebuilt from its backup alone on 127.0.0.1, "
                "and deep-checked")
    report = drill([d.name for d in site.devices], store, trust)
    for r in report.results:
        reasons = _reasons(r.missing) + list(r.differences) + ([r.error] if r.error else [])
        echo(f"   {r.device:<14} {r.verdict}" + (f": {'; '.join(reasons)}" if reasons else ""))
    echo(f"   exit code would be {report.exit_code} (`plc-integrity restore drill --all` "
         "prints each reason in full)")
    return drill_as_expected(report.results)


def drill_as_expected(results) -> bool:
    """Every device RESTORABLE, or NOT RESTORABLE only for what its backup lacks
    (named); never a rebuilt device that differs from its baseline, nor an error."""
    return bool(results) and all(
        r.restorable or (bool(r.missing) and not r.differences and not r.error)
        for r in results)


def _reasons(missing: tuple[str, ...]) -> list[str]:
    """One short line per kind of gap: "kept as `structure`: DB 1, DB 2" rather
    than the drill's full sentence for each block."""
    groups: dict[str, list[str]] = {}
    for item in missing:
        what, _, why = item.partition(": ")
        short_why = why.split(";")[0].split(", so ")[0] if why else item
        groups.setdefault(short_why, []).append(what if why else "")
    return [f"{why}: {', '.join(w for w in whats if w)}" if any(whats) else why
            for why, whats in groups.items()]
