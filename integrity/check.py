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
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Mapping

from drivers.base import AsyncDriver, Driver
from drivers.registry import driver_class
from integrity.clock import utcnow
from integrity.compare import compare
from integrity.errors import (
    BaselineInvalidError,
    DeviceError,
    DeviceTimeoutError,
    DriverFailureError,
    NoBaselineError,
    PlcIntegrityError,
    ReadOnlyViolationError,
    ResultsNotRecordedError,
    StoreError,
)
from integrity.model import Capture, CheckResult, Device, Difference, Mode, Status

log = logging.getLogger(__name__)
DriverFactory = Callable[[Device], Driver]
# Results are recorded in batches that close at RECORD_BATCH results, or with
# the first result that comes once the batch's first is RECORD_WAIT seconds
# old: one commit per batch, and a killed process loses at most one batch of
# history.  (32 a batch cost a sweep's main thread twice as much recording
# as 128 does: ~85 against ~45 us a device.)
RECORD_BATCH = 128
RECORD_WAIT = 1.0
# Called as observer(device, mode, seconds, ok) after every read in read_many:
# integrity.metrics registers one for the check-duration histograms of /metrics.
READ_OBSERVERS: list[Callable[[Device, Mode, float, bool], None]] = []
LATEST_CHUNK = 256  # devices whose baselines are verified and held at once


def default_driver_factory(device: Device) -> Driver:
    return driver_class(device.protocol)(device)


def _without_quick_summaries(factory: DriverFactory) -> DriverFactory:
    def make(device: Device) -> Driver:
        driver = factory(device)
        driver.quick_summaries = False
        return driver
    return make


def read_device(device: Device, mode: Mode = Mode.DEEP, *, now: datetime | None = None,
                driver_factory: DriverFactory = default_driver_factory) -> ReadOutcome:
    """Read one device within its overall deadline (``Device.check_deadline``).

    Never raises for a device problem or a driver bug: both are the outcome's
    error.  Past the deadline the read is abandoned (its connection shut down)
    and the outcome is a DeviceTimeoutError.
    """
    reading = _BlockingRead(device, mode, now, driver_factory)
    reading.start()
    if reading.done.wait(device.check_deadline):
        assert reading.outcome is not None
        return reading.outcome
    reading.abandon()
    return _past_deadline(device)


def _check_capture(device: Device, capture: Capture) -> None:
    if capture.device != device.name or capture.protocol != device.protocol:
        raise DeviceError(f"{device.name}: driver returned a capture for "
                          f"{capture.device}/{capture.protocol}", device=device.name)


@dataclass(frozen=True)
class ReadOutcome:
    device: Device
    capture: Capture | None
    error: DeviceError | ReadOnlyViolationError | None


def _past_deadline(device: Device) -> ReadOutcome:
    return ReadOutcome(device, None, DeviceTimeoutError(
        f"{device.name} ({device.endpoint}): the check did not finish within "
        f"{device.check_deadline:g} s (check_timeout); it was abandoned and its connection "
        "closed", device=device.name))


class _BlockingRead:
    """One blocking read (snap7, pycomm3, or a custom factory's driver) in a daemon
    thread of its own, so its caller can give up on it at the device's deadline.

    No driver, library or peer can hold the caller past that deadline: the
    caller stops waiting, ``abandon`` shuts the connection down so a blocked
    receive returns, and the thread ends on its own (its outcome is dropped).
    """

    def __init__(self, device: Device, mode: Mode, now: datetime | None,
                 driver_factory: DriverFactory,
                 on_done: Callable[[ReadOutcome], None] | None = None) -> None:
        self.device, self.mode, self.now = device, mode, now
        self.driver_factory = driver_factory
        self.on_done = on_done
        self.outcome: ReadOutcome | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._driver: Driver | None = None
        self._abandoned = False

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"plc-read-{self.device.name}",
                         daemon=True).start()

    def _run(self) -> None:
        device = self.device
        try:
            with self.driver_factory(device) as driver:
                with self._lock:
                    self._driver = driver
                    abandoned = self._abandoned
                if abandoned:
                    return
                capture = driver.collect(self.mode, now=self.now)
            _check_capture(device, capture)
            outcome = ReadOutcome(device, capture, None)
        except (DeviceError, ReadOnlyViolationError) as exc:
            outcome = ReadOutcome(device, None, exc)
        except Exception as exc:  # noqa: BLE001 - one driver's bug must not cost the sweep
            if self._abandoned:
                return  # an aborted read fails in whatever way its library fails: not a bug
            outcome = ReadOutcome(device, None, _driver_failure(device, exc))
        self.outcome = outcome
        self.done.set()
        if self.on_done is not None:
            self.on_done(outcome)

    def abandon(self) -> None:
        """Give up: wake the read (``Driver.abort``) and let its thread end alone."""
        with self._lock:
            self._abandoned = True
            driver = self._driver
        if driver is not None:
            driver.abort()


def read_many(devices: Iterable[Device], mode: Mode, *, concurrency: int = 16,
              now: datetime | None = None,
              driver_factory: DriverFactory = default_driver_factory,
              ordered: bool = True) -> Iterator[ReadOutcome]:
    """Read devices concurrently, at most ``concurrency`` at a time; devices
    are started in the order given, and outcomes come in that order too, or,
    with ``ordered=False``, as each read finishes (so the caller's work on
    fast devices need not wait behind a slow one).

    Every device gets one outcome within its ``check_deadline`` of starting,
    whatever its driver, library or peer does: past it the read is abandoned
    and its outcome is a DeviceTimeoutError, so one device can never stall the
    others.

    All reads are driven from one event loop in one thread: drivers that can
    read on it (``AsyncDriver``: Modbus) do, so hundreds of drives cost no
    thread each; the others (snap7 and pycomm3 block) each run in a thread of
    their own under the same limit.  The reads start at once, so the caller
    can do its own work (verifying baselines) while the devices answer.
    """
    devices = list(devices)

    if len(devices) <= 1 or concurrency <= 1:
        # (arguments run left to right: the clock is read before the device)
        return (_timed(time.monotonic(), mode, read_device(d, mode, now=now,
                                                           driver_factory=driver_factory))
                for d in devices)

    # Finished reads arrive here as (position, outcome or exception).  Nothing
    # else keeps a capture: once handed over it is the caller's alone, so a
    # sweep holds only what it has not evaluated yet, never the whole fleet's.
    finished: queue.SimpleQueue[tuple[int, ReadOutcome | BaseException]] = queue.SimpleQueue()

    async def on_loop(device: Device) -> ReadOutcome:
        try:
            async with driver_class(device.protocol)(device) as driver:
                capture = await driver.collect_async(mode, now=now)
            _check_capture(device, capture)
            return ReadOutcome(device, capture, None)
        except (DeviceError, ReadOnlyViolationError) as exc:
            return ReadOutcome(device, None, exc)
        except Exception as exc:  # noqa: BLE001 - one driver's bug must not cost the sweep
            return ReadOutcome(device, None, _driver_failure(device, exc))

    async def in_thread(device: Device) -> ReadOutcome:
        loop = asyncio.get_running_loop()
        handed: asyncio.Future[ReadOutcome] = loop.create_future()

        def hand_back(outcome: ReadOutcome) -> None:
            try:
                loop.call_soon_threadsafe(
                    lambda: None if handed.done() else handed.set_result(outcome))
            except RuntimeError:
                pass  # the loop has ended: nobody waits for this read any more

        reading = _BlockingRead(device, mode, now, driver_factory, on_done=hand_back)
        reading.start()
        try:
            async with asyncio.timeout(device.check_deadline):
                return await handed
        except TimeoutError:
            reading.abandon()
            return _past_deadline(device)

    async def bounded_on_loop(device: Device) -> ReadOutcome:
        try:
            # Cancelling the collect closes its connection (``async with``).  A timeout
            # scope rather than wait_for: no extra task per device.
            async with asyncio.timeout(device.check_deadline):
                return await on_loop(device)
        except TimeoutError:
            return _past_deadline(device)

    async def read_all() -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(position: int, device: Device) -> None:
            async with gate:
                started = time.monotonic()
                try:
                    if _reads_async(device, driver_factory):
                        outcome = await bounded_on_loop(device)
                    else:
                        outcome = await in_thread(device)
                    finished.put((position, _timed(started, mode, outcome)))
                except BaseException as exc:  # a bug, not a device problem: to the caller
                    finished.put((position, exc))

        await asyncio.gather(*(one(i, d) for i, d in enumerate(devices)))

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
            and issubclass(driver_class(device.protocol), AsyncDriver))


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
    held = {"baseline_id": baseline.id, "baseline_sequence": baseline.manifest.sequence,
            "signer": baseline.keyid}
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
