"""Verifying a device's stored history: every row, the chain, the head.

Each row is checked on its own (signature over the exact stored bytes with a
trusted key, manifest valid, row columns equal to what the manifest says), then
as a chain (sequences 1..n contiguous, each ``previous`` equal to the id of the
row before), then against the head file (rollback).  Problems are collected as
exception values, not raised, so ``history`` can show every bad row while
``latest`` raises the first.

Key rotation: the newest baseline must be signed by a key in trust/.  An older
baseline whose signer has since been removed from trust/ is still accepted when
an intact chain from a trusted newer baseline vouches for it: that newer
manifest names the older one's id, i.e. the SHA-256 of its exact bytes.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Sequence

from integrity import canonical
from integrity.errors import (BaselineInvalidError, ChainBrokenError, SignatureInvalidError,
                              StoreTamperedError, UntrustedKeyError)

from baselines.heads import Head
from baselines.manifest import Manifest
from baselines.signing import TrustSnapshot, short_keyid


@dataclass(frozen=True)
class Row:
    """A ``baselines`` table row as read, nothing trusted yet."""

    id: str
    device: str
    sequence: int
    keyid: str
    manifest: bytes
    signature: bytes
    created_at: str

    @classmethod
    def from_db(cls, r: Any) -> "Row":
        """Build from a result row, refusing column values of the wrong type (a
        database edited by hand can hold text where bytes belong, and so on)."""
        blobs = (bytes, bytearray, memoryview)
        if not (isinstance(r.id, str) and isinstance(r.device, str) and isinstance(r.keyid, str)
                and type(r.sequence) is int and isinstance(r.manifest, blobs)
                and isinstance(r.signature, blobs)):
            raise StoreTamperedError(
                f"baseline {r.device!r} row {str(r.id)[:16]!r}: a column holds a value of the wrong "
                "type (row edited)")
        return cls(r.id, r.device, r.sequence, r.keyid, bytes(r.manifest), bytes(r.signature),
                   str(r.created_at))


@dataclass(frozen=True)
class RowReport:
    row: Row
    manifest: Manifest | None
    signer_name: str | None
    problem: BaselineInvalidError | None
    note: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One line of ``baseline history``.  ``ok`` False means ``problem`` says why
    (``problem_kind`` is the machine word, e.g. ``bad-signature``)."""

    sequence: int
    id: str | None
    keyid: str | None
    signer_name: str | None
    reason: str | None
    captured_at: datetime | None
    signed_at: datetime | None
    ok: bool
    problem: str | None = None
    problem_kind: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "id": self.id, "keyid": self.keyid,
                "signer_name": self.signer_name, "reason": self.reason,
                "captured_at": self.captured_at.isoformat() if self.captured_at else None,
                "signed_at": self.signed_at.isoformat() if self.signed_at else None,
                "ok": self.ok, "problem": self.problem, "problem_kind": self.problem_kind,
                "note": self.note}


def _where(device: str, sequence: int) -> str:
    return f"baseline {device} #{sequence}"


def _peek_signer(data: bytes, keyid: str) -> Any:
    """The signer a manifest claims, read BEFORE verification and used only to
    tell an edited keyid column apart from a bad signature in the message."""
    if b'"signer":"%s"' % keyid.encode("utf-8", "replace") in data:
        # The column's key id, as canonical JSON writes the field: the usual
        # case, told without parsing every manifest twice.  Where the same text
        # is not the top-level field (a nested "signer" key, crafted bytes), the
        # row is still refused below, by its signature or by the column checks
        # after parsing; only the message differs.
        return keyid
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
    except Exception:  # noqa: BLE001 - unverified bytes: any failure just means "no claim"
        return None
    return doc.get("signer") if isinstance(doc, dict) else None


class _ParseCache:
    """Parsed manifests by their exact bytes, least recently used out first, kept
    to a total size of those bytes (``budget``).

    Parsing is a pure function of the bytes and dominates the cost of verifying
    a long history on every read (the daemon re-verifies each device's whole
    chain every round); signatures are still checked every time.  It was an
    ``lru_cache`` of 1,024 manifests: bounded in count, not in memory, it held
    ~30 MiB once a sweep had passed a thousand S7 CPUs (9 KiB of manifest,
    parsed to 21 KiB more, each).  A parse that raises is not kept."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._kept: OrderedDict[bytes, Manifest] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # the daemon's and web's threads share it

    def __call__(self, data: bytes) -> Manifest:
        with self._lock:
            manifest = self._kept.get(data)
            if manifest is not None:
                self._kept.move_to_end(data)
                return manifest
        manifest = Manifest.from_bytes(data)
        if len(data) <= self.budget // 8:  # none so large it pushes most others out
            with self._lock:
                if data not in self._kept:
                    self._kept[data] = manifest
                    self._size += len(data)
                    while self._size > self.budget:
                        self._size -= len(self._kept.popitem(last=False)[0])
        return manifest

    @property
    def size(self) -> int:
        """The bytes of the manifests kept now."""
        return self._size


# 2 MiB of manifests: ~8 MiB with their parsed form; a few hundred devices' whole
# histories, so a small site's daemon parses each manifest once.
_parse = _ParseCache(2 * 1024 * 1024)


def check_row(row: Row, trust: TrustSnapshot) -> tuple[Manifest | None, BaselineInvalidError | None, bool]:
    """(manifest, problem, untrusted) for one row on its own."""
    where = _where(row.device, row.sequence)
    claimed = _peek_signer(row.manifest, row.keyid)
    if isinstance(claimed, str) and claimed != row.keyid:
        return None, StoreTamperedError(
            f"{where}: keyid column {short_keyid(row.keyid)} disagrees with the signer "
            f"{short_keyid(claimed)} named in the signed manifest (row edited)"), False
    untrusted = False
    try:
        key = trust.get(row.keyid)
    except UntrustedKeyError as exc:
        key, untrusted = None, True
        untrusted_problem = UntrustedKeyError(f"{where}: {exc}")
    if key is not None:
        try:
            key.verify(row.signature, row.manifest)
        except SignatureInvalidError:
            return None, SignatureInvalidError(
                f"{where}: signature by {short_keyid(row.keyid)} does not match the stored "
                "manifest bytes (manifest or signature edited)"), False
    try:
        manifest = _parse(row.manifest)
    except StoreTamperedError as exc:
        return None, StoreTamperedError(f"{where}: {exc}"), untrusted
    actual_id = canonical.sha256(row.manifest)
    for column, stored, signed in (("device", row.device, manifest.device),
                                   ("sequence", row.sequence, manifest.sequence),
                                   ("keyid", row.keyid, manifest.signer),
                                   ("id", row.id, actual_id)):
        if stored != signed:
            return manifest, StoreTamperedError(
                f"{where}: {column} column is {stored!r} but the signed manifest says {signed!r} "
                "(row edited or rows reordered)"), untrusted
    if untrusted:
        return manifest, untrusted_problem, True
    return manifest, None, False


def check_row_caught(row: Row, trust: TrustSnapshot, check: Callable[..., Any] = check_row
                     ) -> tuple[Manifest | None, Exception | None, bool]:
    """``check_row``, with an exception nobody expected returned in place of a
    problem (``verify_rows`` raises it again for the row's device): rows
    checked ahead of ``verify_rows`` (``baselines.parallel``) fail exactly as
    the rows it checks itself."""
    try:
        return check(row, trust)  # type: ignore[no-any-return]
    except Exception as exc:  # noqa: BLE001 - re-raised by verify_rows, for this device only
        return None, exc, False


def _worse(existing: BaselineInvalidError | None,
           found: BaselineInvalidError) -> BaselineInvalidError:
    """A row's problem after a chain check: a break in the history outranks an
    untrusted signer, which a newer baseline could otherwise vouch away."""
    if existing is None or isinstance(existing, UntrustedKeyError):
        return found
    return existing


def verify_rows(device: str, rows: Sequence[Row], trust: TrustSnapshot,
                head: Head | None, anchor: str = "the head file",
                checked: Sequence[tuple[Manifest | None, Exception | None, bool]] | None = None
                ) -> tuple[list[RowReport], list[BaselineInvalidError]]:
    """Check ``rows`` (ordered by their sequence column).  Returns one report
    per row, plus problems that belong to no row (a rollback).  ``anchor``
    names where ``head`` came from, for messages.  ``checked``: what
    ``check_row_caught`` gave for each row, when the caller checked them
    already (``baselines.parallel``)."""
    if checked is None:
        checked = [check_row(row, trust) for row in rows]
    for _m, raised, _u in checked:
        if raised is not None and not isinstance(raised, BaselineInvalidError):
            raise raised
    problems: list[BaselineInvalidError | None] = [p for _m, p, _u in checked]
    untrusted = [u for _m, _p, u in checked]

    # The chain: contiguous sequences, each previous = id (hash) of the row before.
    ids = [canonical.sha256(row.manifest) for row in rows]  # each hashed once, used thrice
    expected, prev_id = 1, None
    for i, (row, (manifest, _p, _u)) in enumerate(zip(rows, checked)):
        where = _where(device, row.sequence)
        if row.sequence != expected:
            gap = (f"#{expected}" if row.sequence == expected + 1
                   else f"#{expected}..#{row.sequence - 1}")
            problems[i] = _worse(problems[i], ChainBrokenError(
                f"{where}: baseline {gap} is missing from the history (deleted)"))
        elif manifest is not None and manifest.previous != prev_id and not (
                i and problems[i - 1] is not None
                and not isinstance(problems[i - 1], UntrustedKeyError)):
            # (A row after an edited one is left unmarked: the edited row is the
            # finding, and the broken link is only its echo.)
            problems[i] = _worse(problems[i], ChainBrokenError(
                f"{where}: previous names {str(manifest.previous)[:16]} but #{expected - 1} in the "
                f"store has id {str(prev_id)[:16]} (history edited or replaced)"))
        expected, prev_id = row.sequence + 1, ids[i]

    # Head file: the newest must not be behind, and the recorded head must be this chain's.
    extra: list[BaselineInvalidError] = []
    if head is not None:
        newest = rows[-1].sequence if rows else 0
        if newest < head.sequence:
            extra.append(ChainBrokenError(
                f"baseline {device}: the store's history ends at #{newest} but {anchor} "
                f"records #{head.sequence} ({head.id[:16]}): newer baselines were deleted "
                "(rollback)"))
        for i, row in enumerate(rows):
            if row.sequence == head.sequence and ids[i] != head.id:
                problems[i] = _worse(problems[i], ChainBrokenError(
                    f"{_where(device, row.sequence)}: id differs from {anchor}'s "
                    f"{head.id[:16]} (history replaced)"))

    # Untrusted signers: acceptable only below an intact, trusted newer baseline.
    notes: list[str | None] = [None] * len(rows)
    for i in range(len(rows) - 1, -1, -1):
        if not untrusted[i] or not isinstance(problems[i], UntrustedKeyError):
            continue
        newer = i + 1
        if newer < len(rows) and problems[newer] is None and checked[newer][0] is not None \
                and checked[newer][0].previous == ids[i]:
            problems[i] = None
            notes[i] = (f"signer {short_keyid(rows[i].keyid)} is no longer in trust/; vouched for "
                        f"by the hash chain from #{rows[newer].sequence}")

    reports = [RowReport(row, manifest, trust.name_of(row.keyid), problems[i], notes[i])
               for i, (row, (manifest, _p, _u)) in enumerate(zip(rows, checked))]
    return reports, extra
