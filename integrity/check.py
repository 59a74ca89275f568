"""One device, end to end: read it, verify its baseline, compare, record.

Every expected failure becomes a value (a CheckResult with its status, reason
and message), so a sweep of many devices always reports every device, and a
device that could not be checked is never counted as OK.

Devices are read by integrity.reads (one driver, one connection per device,
off the calling thread); baselines are verified and results recorded on the
calling thread, so the store is never shared across threads.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from drivers.base import Driver
from integrity.bulk import device_done
from integrity.clock import utcnow
from integrity.compare import compare
from integrity.errors import (
    BaselineInvalidError,
    DeviceError,
    NoBaselineError,
    PlcIntegrityError,
    ResultsNotRecordedError,
    StoreError,
)
from integrity.model import Capture, CheckResult, Device, Difference, Mode, Status
# Reading lives in integrity.reads; these names stay importable from here.
from integrity.reads import (  # noqa: F401
    READ_OBSERVERS,
    DriverFactory,
    ReadOutcome,
    default_driver_factory,
    read_device,
    read_many,
)

# Results are recorded in batches that close at RECORD_BATCH results, or with
# the first result that comes once the batch's first is RECORD_WAIT seconds
# old: one commit per batch, and a killed process loses at most one batch of
# history.  (32 a batch cost a sweep's main thread twice as much recording
# as 128 does: ~85 against ~45 us a device.)
RECORD_BATCH = 128
RECORD_WAIT = 1.0
LATEST_CHUNK = 256  # devices whose baselines are verified and held at once


def _without_quick_summaries(factory: DriverFactory) -> DriverFactory:
    def make(device: Device) -> Driver:
        driver = factory(device)
        driver.quick_summaries = False
        return driver
    return make


def evaluate(device: Device, outcome: ReadOutcome | None, store,
             latest: Any, mode: Mode, now: datetime, *,
             reread: Callable[[], ReadOutcome] | None = None) -> CheckResult:
    """Hold a read (or its failure) against the device's latest valid baseline.

    ``latest`` is what ``store.latest`` gave for the device: a verified
    Baseline, or the NoBaselineError / BaselineInvalidError it raised.  A
    baseline that fails its integrity check is the most serious finding and is
    reported whatever the device says.  ``reread`` reads the device again
    without quick summaries: used when the baseline predates the summary the
    quick capture relied on, so what it holds is compared rather than skipped.
    """
    base = CheckResult(device=device.name, protocol=device.protocol, status=Status.OK,
                       checked_at=now, mode=mode)
    if isinstance(latest, NoBaselineError):
        if outcome is not None and outcome.error is not None:
            return unreachable_without_baseline(base, outcome.error)
        return base.replace(status=Status.NO_BASELINE, reason=latest.reason, message=str(latest))
    if isinstance(latest, BaselineInvalidError):
        return base.replace(status=Status.BASELINE_INVALID, reason=latest.reason,
                            message=str(latest))
    baseline = latest
    # The signer is one of a few keys: interned, a sweep's results share one string each.
    held = {"baseline_id": baseline.id, "baseline_sequence": baseline.manifest.sequence,
            "signer": sys.intern(baseline.keyid)}
    if outcome is None or outcome.error is not None:
        err = outcome.error if outcome else DeviceError("not read")
        return base.replace(status=Status.UNREACHABLE, reason=getattr(err, "reason", "error"),
                            message=str(err), **held)
    capture = outcome.capture
    try:
        # Contents are fetched (and re-hashed) only for artifacts that differ:
        # the signed digests alone decide the verdict.
        comparison = compare(baseline.artifacts(), capture,
                             baseline_mode=Mode(baseline.manifest.mode),
                             load=lambda entry: store.load_artifact(baseline, entry))
    except BaselineInvalidError as exc:
        return base.replace(status=Status.BASELINE_INVALID, reason=exc.reason, message=str(exc),
                            **held)
    if comparison.uncompared and reread is not None:
        # Transitional: one more read per device until its baseline is captured anew.
        return evaluate(device, reread(), store, latest, mode, now)
    # Built once, not copied from ``base`` (a dataclasses.replace per device adds up).
    return CheckResult(device=device.name, protocol=device.protocol, status=comparison.status,
                       checked_at=now, mode=comparison.mode, fingerprint=capture.fingerprint,
                       differences=label_differences(comparison.differences, device.labels),
                       note=_with_unproven(comparison, capture), **held)


def _with_unproven(comparison: Any, capture: Capture) -> str | None:
    """The comparison's note, plus what the device refused to let us read.

    A driver records a refused item as a ``{"readable": false}`` artifact and
    lists it in its capture policy's ``not_readable``; a match then proves only
    that the refusal is unchanged, and the result says so instead of reading OK
    by omission."""
    unproven = dict(capture.policy.get("not_readable") or {}) if comparison.mode is Mode.DEEP else {}
    if not unproven:
        return comparison.note
    text = "not proven, the device refused to read: " + "; ".join(
        f"{key} ({why})" for key, why in sorted(unproven.items()))
    return f"{comparison.note}; {text}" if comparison.note else text


def unreachable_without_baseline(base: CheckResult, error: Exception) -> CheckResult:
    """Could not check, and nothing to check against: the more serious of the
    two (exit 3) is the status, so an unreachable device is never filed as
    merely "not baselined"; the missing baseline is noted."""
    return base.replace(status=Status.UNREACHABLE, reason=getattr(error, "reason", "error"),
                        message=str(error), note="no baseline yet")


def label_differences(differences: tuple[Difference, ...],
                      labels: Mapping[str, str]) -> tuple[Difference, ...]:
    """Attach the site's names to changed values (display only)."""
    if not labels:
        return differences
    return tuple(dataclasses.replace(d, values=tuple(
        dataclasses.replace(v, label=labels.get(v.path)) if v.path in labels else v
        for v in d.values)) for d in differences)


def verify(devices: Iterable[Device], store, trust, *, mode: Mode = Mode.DEEP,
           concurrency: int = 16, now: datetime | None = None, record: bool = True,
           driver_factory: DriverFactory = default_driver_factory,
           progress: Callable[[int, int, CheckResult], None] | None = None) -> list[CheckResult]:
    """Check devices against their latest valid baselines; one result per device,
    in the order given.  ``progress(done, total, result)`` is called after each."""
    now = utcnow(now)
    devices = list(devices)
    results: list[CheckResult] = []
    unrecorded: list[CheckResult] = []
    first_unrecorded = 0.0
    not_written: StoreError | None = None
    outcomes = read_many(devices, mode, concurrency=concurrency, now=now,
                         driver_factory=driver_factory, ordered=False)
    unsummarised = _without_quick_summaries(driver_factory)
    latest = _LatestInChunks(devices, store, trust)
    for outcome in outcomes:
        device = outcome.device
        result = evaluate(device, outcome, store, latest.pop(device.name), mode, now,
                          reread=lambda: read_device(device, mode, now=now, driver_factory=unsummarised))
        results.append(result)
        if not unrecorded:
            first_unrecorded = time.monotonic()
        unrecorded.append(result)
        # Recorded in batches: one commit (and one look-up of each device's last
        # row) per batch instead of per device; a fast fleet fills a batch, a
        # slow one's is closed by its age (RECORD_WAIT).
        if record and not_written is None and (
                len(unrecorded) >= RECORD_BATCH
                or time.monotonic() - first_unrecorded >= RECORD_WAIT):
            not_written = _record(store, unrecorded)
            unrecorded = []
        if progress:
            progress(len(results), len(devices), result)
        device_done()
    if record and not_written is None and unrecorded:
        not_written = _record(store, unrecorded)
    position = {d.name: i for i, d in enumerate(devices)}
    results.sort(key=lambda r: position[r.device])
    if not_written is not None:
        # Every device is still checked; the results are handed to the caller
        # to print, and the exit code says they are not in the store.
        raise ResultsNotRecordedError(f"the results could not be written to the store: "
                                      f"{not_written}", results) from not_written
    return results


class _LatestInChunks:
    """Each device's verified latest baseline, loaded a chunk of devices at a time
    (one transaction each, every signature, chain and head verified as ever) as
    their reads come back, and dropped once evaluated: the sweep holds the
    baselines of a few chunks, not of the whole fleet (memory flat in N)."""

    def __init__(self, devices: list[Device], store: Any, trust: Any) -> None:
        self.store, self.trust = store, trust
        names = list(dict.fromkeys(d.name for d in devices))
        self.chunks = [names[i:i + LATEST_CHUNK] for i in range(0, len(names), LATEST_CHUNK)]
        self.chunk_of = {name: k for k, chunk in enumerate(self.chunks) for name in chunk}
        self.loaded: dict[int, dict[str, Any]] = {}
        self.done: set[int] = set()

    def pop(self, name: str) -> Any:
        k = self.chunk_of[name]
        if k not in self.loaded and k not in self.done:
            self.loaded[k] = self.store.latest_many(self.chunks[k], self.trust)
        chunk = self.loaded.get(k, {})
        if name not in chunk:  # a device listed twice: verified again, as latest() would
            return self.store.latest_many([name], self.trust)[name]
        value = chunk.pop(name)
        if not chunk:
            del self.loaded[k]
            self.done.add(k)
        return value


def _record(store: Any, results: list[CheckResult]) -> StoreError | None:
    try:
        store.record_checks(results)
    except StoreError as exc:  # already retried by the store, within its bound
        return exc
    return None


@dataclass(frozen=True)
class CaptureOutcome:
    device: Device
    baseline: object | None      # baselines.manifest.Baseline when stored
    capture: Capture | None
    error: Exception | None


def capture_baselines(devices: Iterable[Device], store, trust, key, reason: str, *,
                      mode: Mode = Mode.DEEP, concurrency: int = 16,
                      now: datetime | None = None,
                      driver_factory: DriverFactory = default_driver_factory
                      ) -> list[CaptureOutcome]:
    """Read each device and append a signed baseline for it.

    A device that cannot be read, or whose existing history fails
    verification, gets no new baseline: extending a broken chain would bless it.
    """
    now = utcnow(now)
    outcomes: list[CaptureOutcome] = []
    try:
        with store.deferred_heads():  # one rewrite of state/heads.json, not one per device
            outcomes = _capture_each(devices, store, trust, key, reason, mode, concurrency, now,
                                     driver_factory)
    except StoreError as exc:
        if not outcomes:
            raise
        # The baselines were stored; the anchor that guards them was not written.
        return [o if o.baseline is None else dataclasses.replace(o, baseline=None, error=StoreError(
                    f"baseline {o.device.name} was stored, but the rollback anchor was not "
                    f"updated: {exc}")) for o in outcomes]
    return outcomes


def _capture_each(devices: Iterable[Device], store, trust, key, reason: str, mode: Mode,
                  concurrency: int, now: datetime, driver_factory: DriverFactory
                  ) -> list[CaptureOutcome]:
    outcomes: list[CaptureOutcome] = []
    for read in read_many(devices, mode, concurrency=concurrency, now=now,
                          driver_factory=driver_factory):
        if read.error is not None:
            outcomes.append(CaptureOutcome(read.device, None, None, read.error))
            continue
        try:
            baseline = store.append_baseline(read.capture, key, reason, trust=trust, now=now)
        except PlcIntegrityError as exc:
            # A broken history, an untrusted key, an unwritable store or head
            # file: this device's outcome, reported; the others still go ahead.
            outcomes.append(CaptureOutcome(read.device, None, read.capture, exc))
            continue
        outcomes.append(CaptureOutcome(read.device, baseline, read.capture, None))
    return outcomes
