"""One device, end to end: read it, verify its baseline, compare, record.

Every expected failure becomes a value (a CheckResult with its status, reason
and message), so a sweep of many devices always reports every device, and a
device that could not be checked is never counted as OK.

Reading devices happens in worker threads (one driver, one connection per
device); baselines are verified and results recorded on the calling thread,
so the store is never shared across threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Mapping

from drivers.base import Driver
from drivers.registry import driver_class
from integrity.clock import utcnow
from integrity.compare import compare
from integrity.errors import (
    BaselineInvalidError,
    DeviceError,
    DriverFailureError,
    NoBaselineError,
    PlcIntegrityError,
    ReadOnlyViolationError,
)
from integrity.model import Capture, CheckResult, Device, Difference, Mode, Status

log = logging.getLogger(__name__)
DriverFactory = Callable[[Device], Driver]
RECORD_BATCH = 32
# Called as observer(device, mode, seconds, ok) after every read in read_many:
# integrity.metrics registers one for the check-duration histograms of /metrics.
READ_OBSERVERS: list[Callable[[Device, Mode, float, bool], None]] = []


def default_driver_factory(device: Device) -> Driver:
    return driver_class(device.protocol)(device)


def read_device(device: Device, mode: Mode = Mode.DEEP, *, now: datetime | None = None,
                driver_factory: DriverFactory = default_driver_factory) -> Capture:
    """Collect a capture.  Raises DeviceError (or ReadOnlyViolationError)."""
    with driver_factory(device) as driver:
        capture = driver.collect(mode, now=now)
    _check_capture(device, capture)
    return capture


def _check_capture(device: Device, capture: Capture) -> None:
    if capture.device != device.name or capture.protocol != device.protocol:
        raise DeviceError(f"{device.name}: driver returned a capture for "
                          f"{capture.device}/{capture.protocol}", device=device.name)


@dataclass(frozen=True)
class ReadOutcome:
    device: Device
    capture: Capture | None
    error: DeviceError | ReadOnlyViolationError | None


def read_many(devices: Iterable[Device], mode: Mode, *, concurrency: int = 16,
              now: datetime | None = None,
              driver_factory: DriverFactory = default_driver_factory,
              ordered: bool = True) -> Iterator[ReadOutcome]:
    """Read devices concurrently, at most ``concurrency`` at a time; devices
    are started in the order given, and outcomes come in that order too, or,
    with ``ordered=False``, as each read finishes (so the caller's work on
    fast devices need not wait behind a slow one).

    All reads are driven from one event loop in one thread: drivers that can
    read on it (``collect_async``: Modbus) do, so hundreds of drives cost no
    thread each; the others (snap7 and pycomm3 block) run in a thread pool
    under the same limit.  The reads start at once, so the caller can do its
    own work (verifying baselines) while the devices answer.
    """
    devices = list(devices)

    def on_thread(device: Device) -> ReadOutcome:
        started = time.monotonic()
        try:
            return _timed(started, mode, ReadOutcome(device, read_device(
                device, mode, now=now, driver_factory=driver_factory), None))
        except (DeviceError, ReadOnlyViolationError) as exc:
            return _timed(started, mode, ReadOutcome(device, None, exc))
        except Exception as exc:  # noqa: BLE001 - one driver's bug must not cost the sweep
            return ReadOutcome(device, None, _driver_failure(device, exc))

    if len(devices) <= 1 or concurrency <= 1:
        return (on_thread(d) for d in devices)

    # Finished reads arrive here as (position, outcome or exception).  Nothing
    # else keeps a capture: once handed over it is the caller's alone, so a
    # sweep holds only what it has not evaluated yet, never the whole fleet's.
    finished: queue.SimpleQueue[tuple[int, ReadOutcome | BaseException]] = queue.SimpleQueue()

    async def on_loop(device: Device) -> ReadOutcome:
        started = time.monotonic()
        try:
            async with driver_class(device.protocol)(device) as driver:
                capture = await driver.collect_async(mode, now=now)
            _check_capture(device, capture)
            return _timed(started, mode, ReadOutcome(device, capture, None))
        except (DeviceError, ReadOnlyViolationError) as exc:
            return _timed(started, mode, ReadOutcome(device, None, exc))
        except Exception as exc:  # noqa: BLE001 - one driver's bug must not cost the sweep
            return ReadOutcome(device, None, _driver_failure(device, exc))

    async def read_all() -> None:
        gate = asyncio.Semaphore(concurrency)
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="plc-read")

        async def one(position: int, device: Device) -> None:
            async with gate:
                try:
                    if _reads_async(device, driver_factory):
                        finished.put((position, await on_loop(device)))
                    else:
                        finished.put((position, await loop.run_in_executor(pool, on_thread,
                                                                           device)))
                except BaseException as exc:  # a bug, not a device problem: to the caller
                    finished.put((position, exc))

        try:
            await asyncio.gather(*(one(i, d) for i, d in enumerate(devices)))
        finally:
            pool.shutdown(wait=False)

    # A daemon thread: an abandoned sweep must never keep the process alive.
    threading.Thread(target=asyncio.run, args=(read_all(),), name="plc-read-loop",
                     daemon=True).start()

    def hand_over() -> Iterator[ReadOutcome]:
        early: dict[int, ReadOutcome | BaseException] = {}
        for next_position in range(len(devices)):
            if ordered:
                while next_position not in early:
                    position, item = finished.get()
                    early[position] = item
                item = early.pop(next_position)
            else:
                _, item = finished.get()
            if isinstance(item, BaseException):
                raise item
            yield item

    return hand_over()


def _timed(started: float, mode: Mode, outcome: ReadOutcome) -> ReadOutcome:
    for observe in READ_OBSERVERS:
        observe(outcome.device, mode, time.monotonic() - started, outcome.error is None)
    return outcome


def _driver_failure(device: Device, exc: Exception) -> DriverFailureError:
    log.error("driver for %s failed unexpectedly", device.name, exc_info=exc)
    return DriverFailureError(f"{device.name} ({device.endpoint}): internal driver error, a bug in "
                              f"plc-integrity ({type(exc).__name__}: {exc}); the device was not "
                              "checked", device=device.name)


def _reads_async(device: Device, driver_factory: DriverFactory) -> bool:
    # A custom factory (tests, fakes) decides its own drivers: keep to threads.
    return (driver_factory is default_driver_factory
            and hasattr(driver_class(device.protocol), "collect_async"))


def evaluate(device: Device, outcome: ReadOutcome | None, store,
             latest: Any, mode: Mode, now: datetime) -> CheckResult:
    """Hold a read (or its failure) against the device's latest valid baseline.

    ``latest`` is what ``store.latest`` gave for the device: a verified
    Baseline, or the NoBaselineError / BaselineInvalidError it raised.  A
    baseline that fails its integrity check is the most serious finding and is
    reported whatever the device says.
    """
    base = CheckResult(device=device.name, protocol=device.protocol, status=Status.OK,
                       checked_at=now, mode=mode)
    if isinstance(latest, NoBaselineError):
        return base.replace(status=Status.NO_BASELINE, reason=latest.reason, message=str(latest))
    if isinstance(latest, BaselineInvalidError):
        return base.replace(status=Status.BASELINE_INVALID, reason=latest.reason,
                            message=str(latest))
    baseline = latest
    base = base.replace(baseline_id=baseline.id, baseline_sequence=baseline.manifest.sequence,
                        signer=baseline.keyid)
    if outcome is None or outcome.error is not None:
        err = outcome.error if outcome else DeviceError("not read")
        return base.replace(status=Status.UNREACHABLE, reason=getattr(err, "reason", "error"),
                            message=str(err))
    capture = outcome.capture
    try:
        # Contents are fetched (and re-hashed) only for artifacts that differ:
        # the signed digests alone decide the verdict.
        comparison = compare(baseline.artifacts(), capture,
                             baseline_mode=Mode(baseline.manifest.mode),
                             load=lambda entry: store.load_artifact(baseline, entry))
    except BaselineInvalidError as exc:
        return base.replace(status=Status.BASELINE_INVALID, reason=exc.reason, message=str(exc))
    return base.replace(status=comparison.status, mode=comparison.mode,
                        fingerprint=capture.fingerprint,
                        differences=label_differences(comparison.differences, device.labels),
                        note=comparison.note)


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
    outcomes = read_many(devices, mode, concurrency=concurrency, now=now,
                         driver_factory=driver_factory, ordered=False)
    # Verified while the devices are being read; every read still verifies
    # signatures, chain and head (one transaction for all devices).
    latest = store.latest_many([d.name for d in devices], trust)
    for outcome in outcomes:
        result = evaluate(outcome.device, outcome, store, latest[outcome.device.name], mode, now)
        results.append(result)
        unrecorded.append(result)
        # Recorded in small batches: one commit per batch instead of per device,
        # and a killed process loses at most one batch of history.
        if record and len(unrecorded) >= RECORD_BATCH:
            store.record_checks(unrecorded)
            unrecorded = []
        if progress:
            progress(len(results), len(devices), result)
    if record and unrecorded:
        store.record_checks(unrecorded)
    position = {d.name: i for i, d in enumerate(devices)}
    return sorted(results, key=lambda r: position[r.device])


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
    outcomes = []
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
