"""Building many objects at once without the cyclic collector.

Loading a 10,000-device inventory or a status of every device allocates a
million small containers that all stay alive; the collector, triggered every
few hundred allocations, walks the ever larger heap again and again for
cycles that are not there: a fifth of ``status --all`` at 10,000 devices.
Inside ``paused_collector()`` it does not run; reference counting still frees
everything, and whatever cycles were made are collected once it runs again.
A command that checks many devices makes garbage as it goes, so it keeps the
collector on but collects in larger steps (``few_collections()``).
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


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
def few_collections() -> Iterator[None]:
    """Garbage collection tuned for one command over many devices (``sweep``,
    ``verify``, ``diff``), then put back as it was.

    What exists on entry (the imports, the inventory: most of the process's
    objects) is frozen out of the collector's walks, and the youngest
    generation is collected every 50,000 new objects instead of 700: a
    3,000-device sweep spent ~5% of its CPU in some 400 collections that
    found almost nothing.  Cyclic garbage is still collected, only in larger
    steps, so memory stays bounded (not for the daemon, whose state lives on)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
