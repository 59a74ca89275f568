"""Checking many baseline rows on more than one core.

``status`` (``Store.latest_many`` of every device) verifies every device's
baselines: at 10,000 devices the per-row check (Ed25519 over the exact stored
bytes, the manifest parsed and proven canonical, the row columns against it:
``verify.check_row``) is most of the command, and it is CPU-bound in C and Python alike, so threads do not help
(the GIL; measured).  Over many rows, ``check_rows`` forks ONE worker that runs
the very same ``check_row`` over part of the rows while this process runs it
over the rest; nothing is cached or skipped, each row is checked in full by
one of the two processes.

What comes back from the worker, pickled: per row, the manifest's fields as plain
values (``Manifest.pack``: a pickled Manifest costs as much to load as checking
the row again), the problem (an exception value) and the untrusted flag.  A
worker that dies, exits non-zero or hands back less than one verdict per row it
took is an error (StoreError), never a row passed.  Small batches (a sweep's
256 devices at a time), one core, or a process running threads: in-process.
"""

from __future__ import annotations

import gc
import mmap
import os
import pickle
import signal
import threading
from typing import Any, Callable, Sequence

from integrity.errors import BaselineInvalidError, StoreError

from baselines.manifest import Manifest

Checked = tuple[Manifest | None, BaselineInvalidError | None, bool]
# Below this many rows a fork costs more than it saves.
PARALLEL_MIN = 1000
# Rows per claim: small enough that the two finish close together, large
# enough that claiming costs nothing next to ~100 us of checking per row.
CHUNK = 64


def parallel_ok(count: int) -> bool:
    """Fork only for many rows, with a second core, and never from a process
    running threads (a fork copies their locks in whatever state they are)."""
    return (count >= PARALLEL_MIN and (os.cpu_count() or 1) > 1 and hasattr(os, "fork")
            and threading.active_count() == 1)


def check_rows(rows: Sequence[Any], trust: Any, check: Callable[[Any, Any], Checked],
               *, parallel: bool | None = None,
               meanwhile: Callable[[], Any] | None = None, chunk: int = CHUNK
               ) -> list[Checked]:
    """``[check(row, trust) for row in rows]``, shared with a forked worker
    when ``parallel`` (default: ``parallel_ok(len(rows))``).  ``meanwhile``:
    other work of the caller, run once here while the worker checks (or
    first, without one).  Same values either way; raises StoreError if the
    worker fails.

    The rows go in chunks the two processes claim in a shared byte array, the
    worker from the first chunk up, this process from the last one down, each
    stopping at the first chunk the other has claimed: however the load
    falls on the two cores, they finish together, and every chunk is checked
    by at least one of them (by both, harmlessly, if they claim one at the
    same instant)."""
    if parallel is None:
        parallel = parallel_ok(len(rows))
    if not parallel or len(rows) < 2:
        if meanwhile is not None:
            meanwhile()
        return [check(row, trust) for row in rows]
    chunks = [(i, min(i + chunk, len(rows))) for i in range(0, len(rows), chunk)]
    claimed = mmap.mmap(-1, len(chunks))  # anonymous and shared: the worker sees our claims
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return check_rows(rows, trust, check, parallel=False, meanwhile=meanwhile)
    if pid == 0:  # the worker: never returns, never runs the parent's exit handlers
        code = 70
        try:
            # A collection would walk (and so copy, page by page) the whole
            # inherited heap; this short-lived worker frees what it makes by
            # reference counting and exits.
            gc.disable()
            os.close(read_end)
            done: dict[int, list[Any]] = {}
            for k, (a, b) in enumerate(chunks):
                if claimed[k]:
                    break
                claimed[k] = 1
                done[k] = [(m.pack() if m is not None else None, p, u)
                           for m, p, u in (check(row, trust) for row in rows[a:b])]
            _write_all(write_end, pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    mine: dict[int, list[Checked]] = {}
    try:
        if meanwhile is not None:
            meanwhile()
        for k in range(len(chunks) - 1, -1, -1):
            if claimed[k]:
                break
            claimed[k] = 2
            a, b = chunks[k]
            mine[k] = [check(row, trust) for row in rows[a:b]]
    except BaseException:
        os.kill(pid, signal.SIGKILL)  # (Ctrl-C, an error of ``meanwhile``) its answers are moot
        raise
    finally:
        # Read even when our own part raised, so the worker never blocks on a full pipe.
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _pid, status = os.waitpid(pid, 0)
    return _merged(chunks, mine, data, status)


def _merged(chunks: list[tuple[int, int]], mine: dict[int, list[Checked]], data: bytes,
            status: int) -> list[Checked]:
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise StoreError(f"verifying baselines: the verification worker "
                         f"{'was killed by signal ' + str(-code) if code < 0 else 'exited ' + str(code)}"
                         "; nothing it checked is used")
    try:
        theirs = pickle.loads(data)
        ok = isinstance(theirs, dict) and all(
            k in mine or len(theirs.get(k, ())) == b - a for k, (a, b) in enumerate(chunks))
    except Exception:  # noqa: BLE001 - a truncated or garbled hand-back is the same failure
        ok = False
    if not ok:
        raise StoreError("verifying baselines: the verification worker handed back no complete "
                         "answer for the rows it took; nothing it checked is used")
    unpack = Manifest.unpack
    out: list[Checked] = []
    for k in range(len(chunks)):
        out += mine[k] if k in mine else [
            (unpack(packed) if packed is not None else None, problem, untrusted)
            for packed, problem, untrusted in theirs[k]]
    return out


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.close(fd)
