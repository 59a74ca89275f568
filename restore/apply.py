"""Applying a restore plan: gated, exact, logged, then verified.

Gates, all checked before the first write, each refusal writing nothing:
the confirmation names the device; the device is inside an open maintenance
window (the same window ``maintenance start`` opens); its baseline verifies
(re-read now, and it must be the one the plan was made from); S7 block
downloads are refused while the CPU is in RUN unless ``allow_run``, and system
data blocks (SDB) are downloaded only in STOP, as a real CPU requires.

Every write is recorded in the store's events (device, address, old and new
value, the confirmation and the OS user) as it is made, so an interrupted
restore still says what it changed.  Afterwards a deep verify says whether the
device is back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from integrity.errors import PlcIntegrityError
from integrity.model import CheckResult, Device, Mode

from restore.plan import UNSUPPORTED, Plan, Write
from restore.writers import LogixWriter, ModbusWriter, S7Writer

EVENT_WRITE = "restore-write"
EVENT_APPLY = "restore-apply"


class RestoreRefusedError(PlcIntegrityError):
    """A gate said no; nothing was written."""

    exit_code = 2


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    written: tuple[Write, ...]
    verify: CheckResult | None
    error: str | None = None

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return 3
        return self.verify.exit_code if self.verify is not None else 0

    def to_dict(self) -> dict[str, Any]:
        return {"schema": 1, "exit_code": self.exit_code, "plan": self.plan.to_dict(),
                "written": [w.to_dict() for w in self.written], "error": self.error,
                "verify": self.verify.to_dict() if self.verify is not None else None}


def check_supported(device: Device) -> None:
    """Refuse, before anything is read or written, a protocol restore does not write."""
    if device.protocol in UNSUPPORTED:
        raise RestoreRefusedError(f"{device.name}: {UNSUPPORTED[device.protocol]} "
                                  "(nothing was written)")


def check_gates(plan: Plan, device: Device, store: Any, trust: Any, *, confirm: str | None,
                allow_run: bool, now: datetime) -> None:
    """Raise RestoreRefusedError (or the baseline's own error) unless every gate is open."""
    from integrity.alerts import AlertRecord

    check_supported(device)
    if confirm != device.name:
        raise RestoreRefusedError(f"{device.name}: restore apply writes to the device; repeat its "
                                  f"name with --confirm {device.name} (nothing was written)")
    raw = store.alert_record(device.name)
    record = AlertRecord.from_dict(raw) if raw else None
    if record is None or not record.in_maintenance(now):
        raise RestoreRefusedError(
            f"{device.name} is not in a maintenance window; open one first with `plc-integrity "
            f"maintenance start {device.name} --reason ...` (nothing was written)")
    latest = store.latest(device.name, trust)  # raises if the history fails verification
    if latest.id != plan.baseline_id:
        raise RestoreRefusedError(f"{device.name}: the plan targets baseline "
                                  f"{plan.baseline_id[:12]} but the latest valid one is "
                                  f"{latest.id[:12]}; restoring an older baseline needs a new "
                                  "capture of it (nothing was written)")
    blocks = [w for w in plan.writes if w.kind == "s7-block"]
    if blocks and plan.mode != "STOP":
        if not allow_run:
            raise RestoreRefusedError(
                f"{device.name}: the CPU is in {plan.mode}; downloading blocks into a running "
                "CPU is a person's decision: give --allow-run, or put the CPU in STOP "
                "(nothing was written)")
        sdbs = [w.address for w in blocks if w.address.startswith("SDB ")]
        if sdbs:
            raise RestoreRefusedError(f"{device.name}: system data blocks ({', '.join(sdbs)}) are "
                                      "accepted only in STOP; put the CPU in STOP "
                                      "(nothing was written)")


def apply_plan(plan: Plan, device: Device, store: Any, trust: Any, *, confirm: str | None,
               user: str, allow_run: bool = False, now: datetime | None = None) -> ApplyResult:
    """Check the gates, make exactly the plan's writes, then verify deep.

    Raises RestoreRefusedError / BaselineError when a gate refuses (nothing
    written).  A write that fails stops the restore: the result says what was
    written before it (also in the events) and carries the error.
    """
    from integrity.check import verify

    now = now or datetime.now(timezone.utc)
    check_gates(plan, device, store, trust, confirm=confirm, allow_run=allow_run, now=now)
    who = f"confirmed --confirm {confirm} by OS user {user}"
    store.add_event(now, EVENT_APPLY, f"{device.name}: restore to baseline #{plan.sequence} "
                    f"{plan.baseline_id[:16]} begins, {len(plan.writes)} write(s); {who}")
    written: list[Write] = []
    error = None
    try:
        _write_all(plan, device, store, who, written)
    except PlcIntegrityError as exc:
        error = str(exc)
        store.add_event(datetime.now(timezone.utc), EVENT_APPLY,
                        f"{device.name}: restore stopped after {len(written)} write(s): {exc}")
    [result] = verify([device], store, trust, mode=Mode.DEEP)
    store.add_event(datetime.now(timezone.utc), EVENT_APPLY,
                    f"{device.name}: restore ended; verify says {result.status.value}")
    return ApplyResult(plan, tuple(written), result, error)


def _write_all(plan: Plan, device: Device, store: Any, who: str, written: list[Write]) -> None:
    if not plan.writes:
        return
    writer: Any = {"modbus": ModbusWriter, "s7": S7Writer, "logix": LogixWriter}[device.protocol](
        device)
    try:
        for batch in _batches(plan.writes):
            w = batch[0]
            if w.kind in ("modbus-holding", "modbus-coil"):
                # Contiguous registers (coils) go in one FC 16 (15) request, one alone in FC 6 (5).
                writer.write("holding" if w.kind == "modbus-holding" else "coils", w.payload[0],
                             [x.payload[1] for x in batch])
            elif w.kind == "s7-block":
                writer.download(*w.payload)
            else:
                writer.write(*w.payload)
            for x in batch:
                written.append(x)
                store.add_event(datetime.now(timezone.utc), EVENT_WRITE,
                                f"{device.name} {x.address}: {x.current!r} -> {x.target!r}; {who}")
    finally:
        writer.close()


def _batches(writes: tuple[Write, ...]) -> list[list[Write]]:
    """Runs of Modbus writes to consecutive addresses of one table; anything else alone."""
    out: list[list[Write]] = []
    for w in writes:
        last = out[-1][-1] if out else None
        if (last is not None and w.kind in ("modbus-holding", "modbus-coil") and w.kind == last.kind
                and w.payload[0] == last.payload[0] + 1 and len(out[-1]) < 100):
            out[-1].append(w)
        else:
            out.append([w])
    return out


__all__ = ["apply_plan", "check_gates", "check_supported", "ApplyResult", "RestoreRefusedError"]
