"""Building many objects at once without the cyclic collector.

Loading a 10,000-device inventory or a status of every device allocates a
million small containers that all stay alive; the collector, triggered every
few hundred allocations, walks the ever larger heap again and again for
cycles that are not there: a fifth of ``status --all`` at 10,000 devices.
Inside ``paused_collector()`` it does not run; reference counting still frees
everything, and whatever cycles were made are collected once it runs again.
A command that checks many devices makes garbage as it goes, so it keeps the
collector on but collects in larger steps (``few_collections()``), and at
least once every COLLECT_EVERY devices (``device_done()``).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
from typing import Callable, Iterator

# Devices checked between two collections inside ``few_collections()``.  A check
# leaves garbage only the collector frees: on Python 3.11 every asyncio socket
# transport holds itself in a reference cycle (a bound method of its own), so
# each drive read leaves its socket, transport and buffers, ~1 KiB.  Counted in
# new objects alone, a sweep of drives makes too few to reach the threshold, and
# that garbage grew with the fleet: 3,200 drives left 3,200 transports.  Every
# 256 devices the two young generations are collected (a few milliseconds) and
# the freed native heap goes back to the system (release_free_memory); every
# 8th time all generations, for what was still in flight at a young collection
# and so moved to the oldest (a full walk cost ~45 ms at 10,000 devices: every
# 256 devices it added 0.18 ms a device).  The garbage a sweep holds then stays
# bounded, whatever the number of devices.
COLLECT_EVERY = 256
FULL_EVERY = 8  # young collections between two full ones
_every = 0  # COLLECT_EVERY inside few_collections(), 0 (off) outside
_done = 0


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """The cyclic collector off for the block (restored as found: nested or
    concurrent blocks leave it on once the outermost that turned it off ends)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


@contextlib.contextmanager
def few_collections(collect_every: int = COLLECT_EVERY) -> Iterator[None]:
    """Garbage collection tuned for one command over many devices (``sweep``,
    ``verify``, ``diff``), then put back as it was.

    What exists on entry (the imports, the inventory: most of the process's
    objects) is frozen out of the collector's walks, and the youngest
    generation is collected every 50,000 new objects instead of 700: a
    3,000-device sweep spent ~5% of its CPU in some 400 collections that
    found almost nothing.  Cyclic garbage is still collected: in larger steps,
    the young generations every ``collect_every`` devices checked and all of
    them every FULL_EVERY times that (``device_done``), so memory stays bounded
    (not for the daemon, whose state lives on)."""
    global _every, _done
    threshold = gc.get_threshold()
    outer = _every, _done
    gc.freeze()
    gc.set_threshold(50_000, *threshold[1:])
    _every, _done = collect_every, 0
    try:
        yield
    finally:
        _every, _done = outer
        gc.set_threshold(*threshold)
        gc.unfreeze()


def device_done() -> None:
    """Count one checked device; inside ``few_collections()``, collect the
    garbage and give back freed memory every COLLECT_EVERY devices."""
    global _done
    if not _every:
        return
    _done += 1
    if _done % _every == 0:
        gc.collect(2 if _done % (_every * FULL_EVERY) == 0 else 1)
        release_free_memory()


def _malloc_trim() -> "Callable[[int], int] | None":
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (OSError, AttributeError):  # another C library: nothing to call
        return None


_trim = _malloc_trim()


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim).

    Reads on many threads free their buffers into many malloc arenas, and freed
    memory inside an arena stays resident: over a sweep of thousands of devices
    it added ~1.5 KiB a device to the process's RSS though nothing held it.
    Elsewhere than glibc this does nothing."""
    if _trim is not None:
        _trim(0)
