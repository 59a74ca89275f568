"""The restore drill: rebuild each device from its backup alone and check it.

For each device the newest verified baseline's artifacts are turned into a
simulator image (``simulators.from_baseline``); the simulator is started on
127.0.0.1, read with the normal driver, deep, and compared with the same
baseline.  RESTORABLE means the backup alone rebuilt a device that matches
its baseline in every artifact; otherwise the result says what the backup
lacks (from the rebuild) and what differed (from the check).

The drill only reads: the rebuilt devices run on loopback and are checked
through the normal read-only drivers.  So it lives here and not in restore/
(the writers), and the scheduler runs it without loading any writer.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from drivers.registry import driver_class
from integrity.check import evaluate, read_many
from integrity.errors import BaselineError, PlcIntegrityError
from integrity.model import Device, Mode, Status

DRILL_TIMEOUT = 3.0
EVENT = "restore-drill"


@dataclass(frozen=True)
class DrillResult:
    device: str
    protocol: str | None
    restorable: bool
    baseline_id: str | None = None
    sequence: int | None = None
    missing: tuple[str, ...] = ()        # what the backup lacks to rebuild the device
    differences: tuple[str, ...] = ()    # what the rebuilt device's deep check found
    notes: tuple[str, ...] = ()
    error: str | None = None

    @property
    def verdict(self) -> str:
        return "RESTORABLE" if self.restorable else "NOT RESTORABLE"

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "protocol": self.protocol, "verdict": self.verdict,
                "restorable": self.restorable, "baseline_id": self.baseline_id,
                "baseline_sequence": self.sequence, "missing": list(self.missing),
                "differences": list(self.differences), "notes": list(self.notes),
                "error": self.error}


@dataclass
class DrillReport:
    results: list[DrillResult] = field(default_factory=list)
    source: str = "store"
    alerts: list[Any] = field(default_factory=list)      # integrity.alerts.Alert
    delivery: Any = None                                 # integrity.alerts.DeliveryReport

    @property
    def exit_code(self) -> int:
        return 0 if self.results and all(r.restorable for r in self.results) else 1

    def to_dict(self) -> dict[str, Any]:
        return {"schema": 1, "exit_code": self.exit_code, "source": self.source,
                "results": [r.to_dict() for r in self.results],
                "alerts": [a.to_dict() for a in self.alerts],
                "delivery": self.delivery.to_dict() if self.delivery else None}

    def send_alerts(self, store: Any, *, now: datetime, remind_after: Any,
                    dispatcher: Any = None) -> None:
        """Fold the verdicts into each device's drill alert state (integrity.alerts.drill),
        store the alerts that calls for pending in the same transaction, and
        deliver the outbox; failed deliveries are recorded as events."""
        from integrity.alerts.drill import drill_alerts
        from integrity.alerts.outbox import deliver_pending, record_failures

        sinks = [s.name for s in dispatcher.sinks] if dispatcher is not None else None
        self.alerts = drill_alerts(self.results, store, now=now, remind_after=remind_after,
                                   sinks=sinks)
        self.delivery = deliver_pending(store, dispatcher)
        record_failures(store, self.delivery, now)


def drill(devices: Iterable[str], store: Any, trust: Any, *,
          now: datetime | None = None, record_in: Any = None) -> DrillReport:
    """Drill each device from ``store``; events go to ``record_in`` (default ``store``)."""
    report = DrillReport()
    for name in devices:
        report.results.append(_drill_one(name, store, trust, now))
    _record(record_in if record_in is not None else store, report, now)
    return report


def drill_bundle(path: str | Path, devices: Iterable[str] | None, trust: Any, *,
                 record_in: Any, now: datetime | None = None) -> DrillReport:
    """Drill from a bundle file: it is imported, under ``trust``, into a scratch
    store that is thrown away afterwards.  Raises BaselineInvalidError when the
    bundle does not verify against ``trust``."""
    from baselines.bundle_import import import_bundle
    from baselines.store import Store
    from integrity.errors import BaselineInvalidError

    with tempfile.TemporaryDirectory(prefix="plc-drill-") as tmp:
        with Store.open(Path(tmp) / "drill.db") as scratch:
            result = import_bundle(path, scratch, trust)
            if result.problems:
                raise BaselineInvalidError(f"{path} does not verify against {trust.folder}: "
                                           + "; ".join(str(p) for p in result.problems[:5]))
            names = list(devices) if devices else [d.device for d in result.devices]
            report = drill(names, scratch, trust, now=now, record_in=record_in)
    report.source = str(path)
    return report


def _drill_one(name: str, store: Any, trust: Any, now: datetime | None) -> DrillResult:
    from simulators.base import simulator_for
    from simulators.from_baseline import image_from_artifacts

    try:
        baseline = store.latest(name, trust)
        values = {a.key: a.value() for a in store.load_artifacts(baseline)}
    except BaselineError as exc:
        return DrillResult(name, None, False, error=f"no usable baseline: {exc}")
    m = baseline.manifest
    base = DrillResult(name, m.protocol, False, baseline.id, m.sequence)
    rebuilt = image_from_artifacts(name, m.protocol, values, m.policy)
    notes = tuple(rebuilt.notes)
    if m.mode != Mode.DEEP.value:
        rebuilt.missing.append("the baseline is quick: it holds identity and block info (or "
                               "the CPU's checksums), not the program itself")
    if rebuilt.missing or not rebuilt.image:
        return _replace(base, missing=tuple(rebuilt.missing), notes=notes)
    try:
        sim = simulator_for(rebuilt.image)
        sim.start()
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        return _replace(base, notes=notes, error=f"the backed-up image does not load into a "
                        f"simulator: {type(exc).__name__}: {exc}")
    try:
        options = driver_class(m.protocol).parse_options(
            rebuilt.inventory, file="(restore drill)", device=name)
        device = Device(name, m.protocol, sim.host, sim.port, options, timeout=DRILL_TIMEOUT,
                        retries=0)
        [outcome] = list(read_many([device], Mode.DEEP))
        result = evaluate(device, outcome, store, baseline, Mode.DEEP,
                          now or datetime.now(timezone.utc))
    except PlcIntegrityError as exc:
        return _replace(base, notes=notes, error=str(exc))
    finally:
        sim.stop()
    if result.status is Status.OK:
        return _replace(base, restorable=True, notes=notes)
    diffs = tuple(f"{d.change.value} {d.key}" for d in result.differences)
    return _replace(base, differences=diffs, notes=notes,
                    error=None if result.status is Status.DRIFT else
                    f"{result.status.value}: {result.message}")


def _replace(r: DrillResult, **changes: Any) -> DrillResult:
    import dataclasses

    return dataclasses.replace(r, **changes)


def _record(store: Any, report: DrillReport, now: datetime | None) -> None:
    """One event per device: the drill's verdict is kept and can be alerted on."""
    at = now or datetime.now(timezone.utc)
    for r in report.results:
        why = "; ".join(r.missing + r.differences + ((r.error,) if r.error else ()))
        store.add_event(at, EVENT, f"{r.device}: {r.verdict}" + (f": {why}" if why else ""))
