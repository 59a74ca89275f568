"""The bundle's container: a plain POSIX ustar archive, written and read strictly.

Written with fixed metadata (mode 0644, uid/gid 0, no owner names, mtime 0),
so the same members give the same bytes.  Read by our own strict reader, not
``tarfile``: every header must be exactly the header we would have written for
that name and size, every padding byte and the end-of-archive blocks must be
zero, and nothing may follow.  So a byte changed anywhere in the file, even in
a header or in padding, is found and named by its offset.  Members are handed
out one at a time in chunks: memory stays flat whatever the bundle's size.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Iterator

BLOCK = 512
RECORD = 20 * BLOCK  # tarfile's record size: the archive is padded to a multiple of it
CHUNK = 1 << 20


class BundleFormatError(Exception):
    """The container itself is damaged; the message names the byte offset."""


def header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid = size, 0, 0o644, 0, 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(format=tarfile.USTAR_FORMAT, encoding="ascii", errors="strict")


class TarWriter:
    """Appends members to a binary stream; ``close`` writes the end blocks."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._written = 0

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._written += len(data)

    def add(self, name: str, data: bytes) -> None:
        self._write(header(name, len(data)))
        self._write(data)
        self._write(bytes(-len(data) % BLOCK))

    def close(self) -> None:
        self._write(bytes(2 * BLOCK))
        self._write(bytes(-self._written % RECORD))


@dataclass
class Member:
    name: str
    size: int
    offset: int           # where its header starts in the file
    chunks: Iterator[bytes]


def _parse_name_size(block: bytes, offset: int) -> tuple[str, int]:
    try:
        name = block[:100].rstrip(b"\0").decode("ascii")
        prefix = block[345:500].rstrip(b"\0").decode("ascii")
        size = int(block[124:136].rstrip(b"\0 ").decode("ascii") or "0", 8)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleFormatError(f"tar header at byte {offset} is damaged ({exc})") from exc
    return (f"{prefix}/{name}" if prefix else name), size


def read_members(stream: BinaryIO) -> Iterator[Member]:
    """Members in file order.  Each member's ``chunks`` must be consumed (or is
    skipped) before the next member is produced.  Raises BundleFormatError."""
    offset = 0
    while True:
        block = stream.read(BLOCK)
        if len(block) < BLOCK:
            raise BundleFormatError(f"file ends at byte {offset + len(block)} without the "
                                    "end-of-archive blocks (truncated)")
        if block == bytes(BLOCK):
            _check_end(stream, offset)
            return
        name, size = _parse_name_size(block, offset)
        try:
            expected = header(name, size)
        except (ValueError, UnicodeError) as exc:
            raise BundleFormatError(f"tar header at byte {offset} is damaged ({exc})") from exc
        if block != expected:
            at = next(i for i in range(BLOCK) if block[i] != expected[i])
            raise BundleFormatError(f"tar header of {name!r} at byte {offset} was altered "
                                    f"(byte {offset + at})")
        start = offset + BLOCK
        consumed = [0]

        def chunks(start: int = start, size: int = size, name: str = name) -> Iterator[bytes]:
            left = size
            while left:
                data = stream.read(min(CHUNK, left))
                if not data:
                    raise BundleFormatError(f"{name}: file ends inside the member (truncated at "
                                            f"byte {start + size - left})")
                left -= len(data)
                consumed[0] += len(data)
                yield data

        member = Member(name, size, offset, chunks())
        yield member
        for _ in member.chunks:  # skip whatever the caller did not read
            pass
        pad = -size % BLOCK
        padding = stream.read(pad)
        if padding != bytes(pad):
            where = start + size + next((i for i, b in enumerate(padding) if b), len(padding))
            raise BundleFormatError(f"padding after {name!r} at byte {where} is not zero "
                                    "(altered or truncated)")
        offset = start + size + pad


def _check_end(stream: BinaryIO, offset: int) -> None:
    second = stream.read(BLOCK)
    if second != bytes(BLOCK):
        raise BundleFormatError(f"end-of-archive block at byte {offset + BLOCK} is not zero")
    pos = offset + 2 * BLOCK
    while True:
        data = stream.read(CHUNK)
        if not data:
            break
        if data.strip(b"\0"):
            at = pos + next(i for i, b in enumerate(data) if b)
            raise BundleFormatError(f"data after the end of the archive at byte {at} "
                                    "(appended or altered)")
        pos += len(data)
    if pos % RECORD:
        raise BundleFormatError(f"archive ends at byte {pos}, not on a {RECORD}-byte record "
                                "(truncated or extended)")
