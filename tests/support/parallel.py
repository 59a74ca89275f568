"""Rows checked by the verification worker (baselines.parallel) for certain,
for tests that compare its answers with the in-process ones."""

from __future__ import annotations

import os
import select
from typing import Any, Sequence

from baselines.parallel import check_rows
from baselines.verify import check_row_caught


def worker_checks_all(rows: Sequence[Any], trust: Any, check: Any = check_row_caught) -> list[Any]:
    """``check_rows`` with every row checked in the forked worker: this
    process waits (in ``meanwhile``) until the worker has checked them all,
    so it claims none itself.  Chunks of one row."""
    parent = os.getpid()
    read_end, write_end = os.pipe()
    open_ends = [read_end, write_end]

    def signalling(row: Any, trust: Any) -> Any:
        got = check(row, trust)
        if os.getpid() != parent:
            os.write(write_end, b".")
        return got

    def wait_for_worker() -> None:
        # Runs after the fork: with our copy of the write end closed, the
        # pipe ends when the worker does (also when it dies).
        os.close(write_end)
        open_ends.remove(write_end)
        seen = 0
        while seen < len(rows):
            ready, _, _ = select.select([read_end], [], [], 60)
            if not ready:
                raise AssertionError("the worker checked no row within 60 s")
            chunk = os.read(read_end, 4096)
            if not chunk:
                return
            seen += len(chunk)

    try:
        return check_rows(rows, trust, signalling, parallel=True, meanwhile=wait_for_worker,
                          chunk=1)
    finally:
        for fd in open_ends:
            os.close(fd)
