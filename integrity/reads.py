"""Reading devices: one (``read_device``) or many at once (``read_many``), each
within its overall deadline (``Device.check_deadline``) whatever its driver,
library or peer does.  A device problem or a driver bug is the outcome's error,
never an exception; past the deadline the read is abandoned (its connection shut
down) and the outcome is a DeviceTimeoutError.

``read_many`` keeps ``concurrency`` readers ("slots"), each pulling the next
device from the list when it is done with one, so what a sweep holds does not
grow with the fleet: no task, thread or future per device waits its turn.  A
slot reads where its device's driver reads best: an ``AsyncDriver`` (Modbus) on
one event loop, so hundreds of drives cost no thread each; a blocking one (snap7,
pycomm3, a custom factory's fake) in a reader thread that keeps going from device
to device like a plain thread pool, with no hop through the loop per device.  A
slot moves between the loop and a thread only where the kind of device changes.

Deadlines: on the loop, a timeout scope per read; in threads, one watchdog
thread for all of them (it sleeps until the earliest deadline, so a read that
finishes in time costs it nothing).  A blocking read past its deadline is
abandoned and its slot handed to a fresh thread: a read that ignores the abort
holds its own thread, never a slot.

Finished reads wait in one hand-over for the caller; readers start no new
device while ``concurrency`` of them are there untaken, so at most
2 x ``concurrency`` captures wait however far the caller falls behind.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, Iterator, Optional, Tuple, Union

from drivers.base import AsyncDriver, Driver
from drivers.registry import driver_class
from integrity.errors import DeviceError, DeviceTimeoutError, DriverFailureError, ReadOnlyViolationError
from integrity.model import Capture, Device, Mode

log = logging.getLogger(__name__)
DriverFactory = Callable[[Device], Driver]
# Called as observer(device, mode, seconds, ok) after every read in read_many (from
# the thread that read it): integrity.metrics registers one for /metrics.
READ_OBSERVERS: list[Callable[[Device, Mode, float, bool], None]] = []


def default_driver_factory(device: Device) -> Driver:
    return driver_class(device.protocol)(device)


@dataclass(frozen=True)
class ReadOutcome:
    device: Device
    capture: Capture | None
    error: DeviceError | ReadOnlyViolationError | None


Job = Tuple[int, Device]  # (position in the list, device)
Finished = Tuple[int, Union[ReadOutcome, BaseException]]


def read_device(device: Device, mode: Mode = Mode.DEEP, *, now: datetime | None = None,
                driver_factory: DriverFactory = default_driver_factory) -> ReadOutcome:
    """Read one device within its overall deadline (``Device.check_deadline``).

    Never raises for a device problem or a driver bug: both are the outcome's
    error.  Past the deadline the read is abandoned (its connection shut down)
    and the outcome is a DeviceTimeoutError.
    """
    reading = _BlockingRead(device, mode, now, driver_factory)
    got: list[ReadOutcome | None] = []
    done = threading.Event()

    def run() -> None:
        got.append(reading.run())
        done.set()

    threading.Thread(target=run, name=f"plc-read-{device.name}", daemon=True).start()
    if done.wait(device.check_deadline) and got[0] is not None:
        return got[0]
    reading.abandon()
    return _past_deadline(device)


def read_many(devices: Iterable[Device], mode: Mode, *, concurrency: int = 16,
              now: datetime | None = None,
              driver_factory: DriverFactory = default_driver_factory,
              ordered: bool = True) -> Iterator[ReadOutcome]:
    """Read devices concurrently, at most ``concurrency`` at a time; devices
    are started in the order given, and outcomes come in that order too, or,
    with ``ordered=False``, as each read finishes (so the caller's work on
    fast devices need not wait behind a slow one).

    Every device gets one outcome within its ``check_deadline`` of starting,
    whatever its driver, library or peer does, so one device can never stall
    the others.  The reads start at once, so the caller can do its own work
    (verifying baselines) while the devices answer; they pause while
    ``concurrency`` finished reads wait untaken.  A bug of ours (not a device
    problem) is raised to the caller where its device's outcome would be.
    Dropping or closing the iterator early stops starting new devices.
    """
    devices = list(devices)
    if len(devices) <= 1 or concurrency <= 1:
        # (arguments run left to right: the clock is read before the device)
        return (_timed(time.monotonic(), mode, read_device(d, mode, now=now,
                                                           driver_factory=driver_factory))
                for d in devices)
    reads = _Reads(devices, mode, now, driver_factory, concurrency)
    reads.start()
    return Outcomes(reads, ordered)


class Outcomes(Iterator[ReadOutcome]):
    """What ``read_many`` returns: the outcomes, as the caller takes them.

    Holds no reference the readers need, so a caller that drops it early lets
    it be collected, and that (or ``close``) stops the readers starting more."""

    def __init__(self, reads: "_Reads", ordered: bool) -> None:
        self._reads: _Reads | None = reads
        self._ordered = ordered
        self._early: dict[int, ReadOutcome | BaseException] = {}
        self._given = 0
        self._total = len(reads.devices)

    @property
    def waiting(self) -> int:
        """Readers holding back because the caller has not taken enough finished reads."""
        reads = self._reads
        return reads.waiting if reads is not None else 0

    def __iter__(self) -> "Outcomes":
        return self

    def __next__(self) -> ReadOutcome:
        reads = self._reads
        if reads is None or self._given >= self._total:
            self.close()
            raise StopIteration
        if self._ordered:
            while self._given not in self._early:
                position, item = reads.finished.get()
                self._early[position] = item
            item = self._early.pop(self._given)
        else:
            _, item = reads.finished.get()
        self._given += 1
        reads.taken()
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self) -> None:
        reads, self._reads = self._reads, None
        if reads is not None:
            reads.stop()

    def __del__(self) -> None:
        self.close()


class _BlockingRead:
    """One blocking read (snap7, pycomm3, or a custom factory's driver), run by the
    thread that calls ``run``, which another thread can give up on at its deadline:
    ``abandon`` wakes the read (``Driver.abort`` shuts its connection down) and the
    reading thread drops whatever it ends with.  ``settle`` decides, once, who
    gives the outcome: the reading thread or the one that gave up."""

    def __init__(self, device: Device, mode: Mode, now: datetime | None,
                 driver_factory: DriverFactory, position: int = -1) -> None:
        self.device, self.mode, self.now = device, mode, now
        self.driver_factory = driver_factory
        self.position = position
        self.started = time.monotonic()
        self.deadline = self.started + device.check_deadline
        self._lock = threading.Lock()
        self._driver: Driver | None = None
        self._abandoned = False
        self._settled = False

    def run(self) -> ReadOutcome | None:
        """The outcome, or None once abandoned."""
        device = self.device
        try:
            with self.driver_factory(device) as driver:
                with self._lock:
                    self._driver = driver
                    abandoned = self._abandoned
                if abandoned:
                    return None
                capture = driver.collect(self.mode, now=self.now)
            _check_capture(device, capture)
            return ReadOutcome(device, capture, None)
        except (DeviceError, ReadOnlyViolationError) as exc:
            return ReadOutcome(device, None, exc)
        except Exception as exc:  # noqa: BLE001 - one driver's bug must not cost the sweep
            if self._abandoned:
                return None  # an aborted read fails in whatever way its library fails: not a bug
            return ReadOutcome(device, None, _driver_failure(device, exc))

    def settle(self) -> bool:
        """True for the first caller only."""
        with self._lock:
            first, self._settled = not self._settled, True
        return first

    def abandon(self) -> None:
        """Give up: wake the read (``Driver.abort``) and let its thread end alone."""
        with self._lock:
            self._abandoned = True
            driver = self._driver
        if driver is not None:
            driver.abort()


class _Watchdog:
    """Gives up on blocking reads past their deadlines, for all reader threads of
    one ``read_many``.  It wakes at the earliest deadline of the reads in flight
    (at most one per slot), so reads that finish in time cost it no wake-up."""

    def __init__(self, expire: Callable[[_BlockingRead], None]) -> None:
        self._expire = expire
        self._cond = threading.Condition()
        self._active: set[_BlockingRead] = set()
        self._wake_at = math.inf
        self._closed = False
        threading.Thread(target=self._run, name="plc-read-watchdog", daemon=True).start()

    def watch(self, reading: _BlockingRead) -> None:
        with self._cond:
            self._active.add(reading)
            if reading.deadline < self._wake_at:
                self._wake_at = reading.deadline
                self._cond.notify()

    def unwatch(self, reading: _BlockingRead) -> None:
        with self._cond:
            self._active.discard(reading)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                expired = [r for r in self._active if r.deadline <= now]
                self._active.difference_update(expired)
                if not expired:
                    self._wake_at = min((r.deadline for r in self._active), default=math.inf)
                    self._cond.wait(None if self._wake_at == math.inf else self._wake_at - now)
                    continue
            for reading in expired:
                self._expire(reading)


class _Reads:
    """The state one ``read_many`` shares between its slots (on the loop and in
    reader threads), its watchdog and the caller's ``Outcomes``."""

    def __init__(self, devices: list[Device], mode: Mode, now: datetime | None,
                 driver_factory: DriverFactory, concurrency: int) -> None:
        self.devices, self.mode, self.now = devices, mode, now
        self.driver_factory = driver_factory
        self.concurrency = concurrency
        self.limit = concurrency  # untaken finished reads before readers hold back
        self.finished: queue.SimpleQueue[Finished] = queue.SimpleQueue()
        # Re-entrant: ``Outcomes.__del__`` stops the readers, and the garbage collector
        # may run it in a reader thread that holds this lock at that moment.
        self._lock = threading.RLock()
        self._room = threading.Condition(self._lock)
        self._next = 0             # position of the next device to start
        self._untaken = 0          # finished reads the caller has not taken
        self._stopped = False      # the caller is gone: start nothing more
        self._slots = 0            # slots still reading or about to
        self._held_threads = 0     # reader threads waiting for room, not yet woken
        self._held_tasks: deque[asyncio.Future[None]] = deque()
        self._parked = 0           # reader threads whose slot went to the loop
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._async: dict[str, bool] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_ended: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchdog: _Watchdog | None = None

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._held_threads + len(self._held_tasks)

    # -- the caller's side -----------------------------------------------------
    def start(self) -> None:
        with self._lock:
            jobs = [self._take() for _ in range(min(self.concurrency, len(self.devices)))]
            self._slots = len(jobs)
        for job in jobs:
            assert job is not None
            if self._reads_async(job[1]):
                self._to_loop(job)
            else:
                self._to_thread(job)

    def taken(self) -> None:
        """The caller took one finished read: room for one more reader."""
        with self._lock:
            self._untaken -= 1
            if self._untaken >= self.limit:
                return
            if self._held_threads:
                self._held_threads -= 1
                self._room.notify()
                return
            if not self._held_tasks:
                return
            held = self._held_tasks.popleft()
        self._call_on_loop(_wake, held)

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._held_threads = 0
            self._room.notify_all()
            held, self._held_tasks = list(self._held_tasks), deque()
        for future in held:
            self._call_on_loop(_wake, future)

    # -- slots -------------------------------------------------------------------
    def _take(self) -> Job | None:
        """The next device to start (under the lock); None when none is left."""
        if self._stopped or self._next >= len(self.devices):
            return None
        position = self._next
        self._next += 1
        return position, self.devices[position]

    def _has_room(self) -> bool:
        return self._stopped or self._untaken < self.limit or self._next >= len(self.devices)

    def _put(self, position: int, item: ReadOutcome | BaseException) -> None:
        with self._lock:
            self._untaken += 1
        self.finished.put((position, item))

    def _slot_ended(self) -> None:
        with self._lock:
            self._slots -= 1
            if self._slots:
                return
            parked, self._parked = self._parked, 0
            watchdog, self._watchdog = self._watchdog, None
        for _ in range(parked):
            self._jobs.put(None)
        if watchdog is not None:
            watchdog.close()
        if self._loop_ended is not None:
            ended = self._loop_ended
            self._call_on_loop(lambda: ended.done() or ended.set_result(None))

    def _reads_async(self, device: Device) -> bool:
        known = self._async.get(device.protocol)
        if known is None:
            known = self._async[device.protocol] = _reads_async(device, self.driver_factory)
        return known

    # -- slots in reader threads -------------------------------------------------
    def _to_thread(self, job: Job | None) -> None:
        """Hand a slot to a reader thread: a parked one if any, else a new one."""
        with self._lock:
            if self._parked and job is not None:
                self._parked -= 1
                self._jobs.put(job)
                return
        threading.Thread(target=self._thread_slot, args=(job,), name="plc-reader",
                         daemon=True).start()

    def _thread_slot(self, job: Job | None) -> None:
        while True:
            if job is None:
                job = self._next_here()
                if job is None:
                    self._slot_ended()
                    return
            if self._reads_async(job[1]):
                with self._lock:
                    # Counted before the slot leaves: were it the last, ending it
                    # must find this thread and send it home.
                    self._parked += 1
                self._to_loop(job)
                job = self._jobs.get()  # another blocking device, or None: all done
                if job is None:
                    return
                continue
            if not self._read_here(*job):
                return  # past its deadline: a fresh thread has this slot now
            job = None

    def _next_here(self) -> Job | None:
        with self._lock:
            while not self._has_room():
                self._held_threads += 1
                self._room.wait()
            return self._take()

    def _read_here(self, position: int, device: Device) -> bool:
        """Read one device in this thread under the watchdog; False when the watchdog
        gave up on it (it has then given the outcome and the slot away)."""
        reading = _BlockingRead(device, self.mode, self.now, self.driver_factory, position)
        watchdog = self._watching()
        watchdog.watch(reading)
        try:
            outcome = reading.run()
            item: ReadOutcome | BaseException = _timed(reading.started, self.mode, outcome) \
                if outcome is not None else _past_deadline(device)
        except BaseException as exc:  # a bug, not a device problem: to the caller
            item = exc
        if not reading.settle():
            return False
        watchdog.unwatch(reading)
        self._put(position, item)
        return True

    def _watching(self) -> _Watchdog:
        with self._lock:
            if self._watchdog is None:
                self._watchdog = _Watchdog(self._expired)
            return self._watchdog

    def _expired(self, reading: _BlockingRead) -> None:
        """(The watchdog's thread.)  Give up on a read past its deadline."""
        if not reading.settle():
            return  # it finished just now
        reading.abandon()
        try:
            item: ReadOutcome | BaseException = _timed(reading.started, self.mode,
                                                       _past_deadline(reading.device))
        except BaseException as exc:  # an observer's bug: to the caller
            item = exc
        self._put(reading.position, item)
        self._to_thread(None)  # the slot goes on; the stuck thread ends with its read

    # -- slots on the event loop -------------------------------------------------
    def _to_loop(self, job: Job) -> None:
        self._call_on_loop(self._start_task, job, start=True)

    def _call_on_loop(self, callback: Callable[..., object], *args: object,
                      start: bool = False) -> None:
        with self._lock:
            loop = self._loop
            if loop is None and start:
                loop = self._start_loop()
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the loop has ended: nobody waits on it any more

    def _start_loop(self) -> asyncio.AbstractEventLoop:
        """(Under the lock.)  The event loop, in a daemon thread: an abandoned read
        must never keep the process alive."""
        ready = threading.Event()

        async def until_ended() -> None:
            self._loop = asyncio.get_running_loop()
            self._loop_ended = self._loop.create_future()
            ready.set()
            await self._loop_ended

        threading.Thread(target=asyncio.run, args=(until_ended(),), name="plc-read-loop",
                         daemon=True).start()
        ready.wait()
        assert self._loop is not None
        return self._loop

    def _start_task(self, job: Job) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._loop_slot(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _loop_slot(self, job: Optional[Job]) -> None:
        while job is not None:
            position, device = job
            if not self._reads_async(device):
                self._to_thread(job)
                return
            started = time.monotonic()
            try:
                item: ReadOutcome | BaseException = _timed(started, self.mode,
                                                           await self._read_on_loop(device))
            except BaseException as exc:  # a bug, not a device problem: to the caller
                item = exc
            self._put(position, item)
            job = await self._next_on_loop()
        self._slot_ended()

    async def _next_on_loop(self) -> Job | None:
        while True:
            with self._lock:
                if self._has_room():
                    return self._take()
                assert self._loop is not None
                held: asyncio.Future[None] = self._loop.create_future()
                self._held_tasks.append(held)
            await held

    async def _read_on_loop(self, device: Device) -> ReadOutcome:
        try:
            # Cancelling the collect closes its connection (``async with``).  A timeout
            # scope rather than wait_for: no extra task per device.
            async with asyncio.timeout(device.check_deadline):
                try:
                    async with driver_class(device.protocol)(device) as driver:
                        capture = await driver.collect_async(self.mode, now=self.now)
                    _check_capture(device, capture)
                    return ReadOutcome(device, capture, None)
                except (DeviceError, ReadOnlyViolationError) as exc:
                    return ReadOutcome(device, None, exc)
                except Exception as exc:  # noqa: BLE001 - one driver's bug must not cost the sweep
                    return ReadOutcome(device, None, _driver_failure(device, exc))
        except TimeoutError:
            return _past_deadline(device)


def _wake(held: asyncio.Future[None]) -> None:
    if not held.done():
        held.set_result(None)


def _check_capture(device: Device, capture: Capture) -> None:
    if capture.device != device.name or capture.protocol != device.protocol:
        raise DeviceError(f"{device.name}: driver returned a capture for "
                          f"{capture.device}/{capture.protocol}", device=device.name)


def _past_deadline(device: Device) -> ReadOutcome:
    return ReadOutcome(device, None, DeviceTimeoutError(
        f"{device.name} ({device.endpoint}): the check did not finish within "
        f"{device.check_deadline:g} s (check_timeout); it was abandoned and its connection "
        "closed", device=device.name))


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
