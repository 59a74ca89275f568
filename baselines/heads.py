"""The head file: a rollback anchor kept outside the database.

The hash chain inside the database proves that history was not edited,
reordered or cut in the middle, but deleting the newest baselines leaves a
shorter chain that is still perfectly consistent.  So after each append the
store records, in a small file in the site folder (``state/heads.json``), the
newest sequence and id of each device.  On read, a database whose newest
baseline is behind that record has been rolled back.

What it protects: someone with write access to the database only (a copied
or restored DB file, SQL access) cannot roll a device back to an older
baseline, nor delete all of its baselines, without verify saying so.
What it does not: someone who can also write the site folder can roll back
both together; a missing head file is accepted (a fresh or migrated site has
none), and a device absent from it is not anchored.  The signed checkpoint
(``checkpoint.py``) closes that and is the anchor wherever it exists; this file
is still written, and anchors only a site that has no checkpoint yet.
A database ahead of the file is accepted: the newer rows are signed and chain
to the recorded head (e.g. a crash between commit and file update, or another
site folder writing to a shared database).
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple

from integrity import canonical
from integrity.errors import ChainBrokenError, StoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX; appends are then not serialised
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside ``path`` (``path.lock``): two processes updating
    the file at once must not lose each other's update."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename, fsync the
    folder.  Call under ``locked(path)``: the temporary name is fixed, so a
    writer killed here leaves at most that file, which the next writer
    truncates and renames.  Raises OSError."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


class Head(NamedTuple):
    sequence: int
    id: str


class HeadFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # A sweep asks for one head per device: parse the file once per change,
        # not once per device.  Keyed by the file's identity and modification
        # (inode, size, mtime_ns), so any rewrite is read afresh.
        self._cache: tuple[tuple[int, int, int], dict[str, Head]] | None = None
        # Inside ``deferred()``: heads advanced but not written yet.
        self._pending: dict[str, Head] | None = None

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Collect the heads advanced inside the block and write the file once at
        its end (``baseline capture --all``: one rewrite, not one per device,
        which made capturing N devices O(N²)).  Reads inside the block see the
        pending heads.  A crash inside leaves the database ahead of the file,
        which is accepted (see the module docstring); it never falls behind."""
        if self._pending is not None:
            yield
            return
        self._pending = {}
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            if pending:
                self.advance_many(pending)

    def read(self) -> dict[str, Head] | None:
        """All heads, or None when the file does not exist (no anchor yet).

        Raises ChainBrokenError if the file exists but cannot be read or parsed:
        an anchor we cannot read cannot vouch against a rollback.
        """
        heads = self._read_file()
        if self._pending:
            heads = dict(heads or {})
            for device, head in self._pending.items():
                if device not in heads or heads[device].sequence < head.sequence:
                    heads[device] = head
        return heads

    def _read_file(self) -> dict[str, Head] | None:
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if self._cache is not None and self._cache[0] == stamp:
                return dict(self._cache[1])
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ChainBrokenError(f"rollback anchor {self.path} is unreadable: "
                                   f"{exc.strerror or exc}") from exc
        heads = self._parse(data)
        self._cache = (stamp, heads)
        return dict(heads)

    def _parse(self, data: bytes) -> dict[str, Head]:
        try:
            doc = json.loads(data.decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format_version must be {FORMAT_VERSION}")
            heads = {}
            for device, entry in doc["heads"].items():
                seq, ident = entry["sequence"], entry["id"]
                if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1 \
                        or not isinstance(ident, str) or not _HEX64.fullmatch(ident):
                    raise ValueError(f"bad entry for {device!r}")
                heads[device] = Head(seq, ident)
            return heads
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ChainBrokenError(f"rollback anchor {self.path} is damaged: {exc}") from exc

    def _locked(self):  # type: ignore[no-untyped-def]
        return locked(self.path)

    def remove_stale_temp_files(self) -> None:
        """Remove what a writer killed mid-update left behind (under the lock,
        so a live writer's file is never pulled from under it).  Also removes
        the per-process names older versions used.  Never raises."""
        if not self.path.parent.is_dir():
            return
        try:
            with self._locked():
                for stale in self.path.parent.glob(f".{self.path.name}*.tmp"):
                    stale.unlink(missing_ok=True)
        except OSError:
            pass  # an unwritable state/ folder: advance() will say so when it matters

    def advance(self, device: str, head: Head) -> None:
        """Record ``head`` for ``device`` unless the file already records a newer
        one; written to a temporary file, fsynced and renamed (atomic); inside
        ``deferred()``, at the end of the block.

        Raises StoreError if the file cannot be written.
        """
        if self._pending is not None:
            current = self._pending.get(device)
            if current is None or current.sequence < head.sequence:
                self._pending[device] = head
            return
        self.advance_many({device: head})

    def advance_many(self, new: dict[str, Head]) -> None:
        """``advance`` for many devices at once: one locked read and one write."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked():
                heads = self._read_file() or {}
                changed = False
                for device, head in new.items():
                    current = heads.get(device)
                    if current is None or current.sequence < head.sequence:
                        heads[device], changed = head, True
                if not changed:
                    return
                doc = {"format_version": FORMAT_VERSION,
                       "heads": {d: {"sequence": h.sequence, "id": h.id} for d, h in heads.items()}}
                write_atomic(self.path, canonical.encode(doc))
        except OSError as exc:
            raise StoreError(f"cannot update rollback anchor {self.path}: {exc.strerror or exc}") \
                from exc
