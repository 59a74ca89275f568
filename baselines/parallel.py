"""Checking many baseline rows on more than one core.

``status`` and a sweep read every device's baselines: at 10,000 devices the
per-row check (Ed25519 over the exact stored bytes, the manifest parsed and
proven canonical, the row columns against it: ``verify.check_row``) is most of
the command, and it is CPU-bound in C and Python alike, so threads do not help
(the GIL; measured).  Over many rows, ``check_rows`` forks ONE worker that runs
the very same ``check_row`` over part of the rows while this process runs it
over the rest; nothing is cached or skipped, each row is checked once, in full,
by one of the two processes.

What comes back from the worker, pickled: per row, the manifest's fields as plain
values (``Manifest.pack``: a pickled Manifest costs as much to load as checking
the row again), the problem (an exception value) and the untrusted flag.  A worker that dies,
exits non-zero or hands back anything but one verdict per row is an error
(StoreError), never a row passed.
"""

from __future__ import annotations

import gc
import os
import pickle
import threading
from typing import Any, Callable, Sequence

from integrity.errors import BaselineInvalidError, StoreError

from baselines.manifest import Manifest

Checked = tuple[Manifest | None, BaselineInvalidError | None, bool]
# Below this many rows a fork costs more than it saves.
PARALLEL_MIN = 1000
# The worker's share: this process also rebuilds the worker's manifests.
WORKER_SHARE = 0.55


def parallel_ok(count: int) -> bool:
    """Fork only for many rows, with a second core, and never from a process
    running threads (a fork copies their locks in whatever state they are)."""
    return (count >= PARALLEL_MIN and (os.cpu_count() or 1) > 1 and hasattr(os, "fork")
            and threading.active_count() == 1)


def check_rows(rows: Sequence[Any], trust: Any, check: Callable[[Any, Any], Checked],
               *, parallel: bool | None = None) -> list[Checked]:
    """``[check(row, trust) for row in rows]``, part of it in a forked worker
    when ``parallel`` (default: ``parallel_ok(len(rows))``).  Same values
    either way; raises StoreError if the worker fails."""
    if parallel is None:
        parallel = parallel_ok(len(rows))
    if not parallel or len(rows) < 2:
        return [check(row, trust) for row in rows]
    split = max(1, int(len(rows) * WORKER_SHARE))
    theirs, mine = rows[:split], rows[split:]
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return [check(row, trust) for row in rows]
    if pid == 0:  # the worker: never returns, never runs the parent's exit handlers
        code = 70
        try:
            # A collection would walk (and so copy, page by page) the whole
            # inherited heap; this short-lived worker frees what it makes by
            # reference counting and exits.
            gc.disable()
            os.close(read_end)
            verdicts = [(m.pack() if m is not None else None, p, u)
                        for m, p, u in (check(r, trust) for r in theirs)]
            _write_all(write_end, pickle.dumps(verdicts, protocol=pickle.HIGHEST_PROTOCOL))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        done = [check(row, trust) for row in mine]
    finally:
        # Read even when our own half raised, so the worker never blocks on a full pipe.
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _pid, status = os.waitpid(pid, 0)
    return _rebuilt(theirs, data, status) + done


def _rebuilt(rows: Sequence[Any], data: bytes, status: int) -> list[Checked]:
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise StoreError(f"verifying baselines: the verification worker "
                         f"{'was killed by signal ' + str(-code) if code < 0 else 'exited ' + str(code)}"
                         f" before checking its {len(rows)} row(s); nothing it checked is used")
    try:
        verdicts = pickle.loads(data)
        ok = isinstance(verdicts, list) and len(verdicts) == len(rows)
    except Exception:  # noqa: BLE001 - a truncated or garbled hand-back is the same failure
        ok = False
    if not ok:
        raise StoreError(f"verifying baselines: the verification worker handed back no complete "
                         f"answer for its {len(rows)} row(s); nothing it checked is used")
    unpack = Manifest.unpack
    return [(unpack(packed) if packed is not None else None, problem, untrusted)
            for packed, problem, untrusted in verdicts]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.close(fd)
