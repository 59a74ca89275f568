"""The artifact contents (blobs), write-once under their SHA-256: stored and
read by ``ContentsMixin`` (part of ``Store``), and checked: is every piece of
stored evidence still there and still what its digest says?

Two checks of different cost:

- ``missing_contents``: a row lookup per artifact of the baselines about to be
  used (one batched query, no content read).  ``Store.latest``/``latest_many``
  run it on every read, so a deleted blob is seen on the next verify even
  while the device matches and no content would otherwise be fetched.
- ``check_contents``: reads and re-hashes every stored blob, and cross-checks
  blobs against every manifest in the store (missing, edited, orphaned).  The
  daemon runs it on the ``[store] check`` schedule; ``plc-integrity store
  check`` runs it on demand.

A blob is referenced by the manifests that list its digest; the manifests are
only parsed here, not verified (signatures and chains are verify's job), so
the report says where each digest is used even when a row is damaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Connection, func, insert, select

from integrity import canonical
from integrity.clock import as_utc, utcnow
from integrity.errors import StoreTamperedError
from integrity.model import Artifact, Capture

from baselines import tables
from baselines.manifest import ArtifactEntry, Baseline, Manifest

CHUNK = 500  # stay far below SQLite's bound-parameter limit
SCHEMA = 1


def present(conn: Connection, digests: Iterable[str]) -> set[str]:
    """Which of ``digests`` have a row in the blob table (no content is read)."""
    wanted = sorted(set(digests))
    found: set[str] = set()
    t = tables.blobs
    for i in range(0, len(wanted), CHUNK):
        found.update(conn.execute(select(t.c.digest).where(t.c.digest.in_(wanted[i:i + CHUNK])))
                     .scalars())
    return found


def missing_contents(conn: Connection, baselines: Iterable[Baseline]
                     ) -> dict[str, StoreTamperedError]:
    """For each baseline with an artifact whose content row is gone: the
    error naming device, sequence, artifact and digest (keyed by device)."""
    baselines = list(baselines)
    have = present(conn, (e.digest for b in baselines for e in b.artifacts()))
    out: dict[str, StoreTamperedError] = {}
    for b in baselines:
        problem = missing_error(b.device, b.sequence, b.artifacts(), have)
        if problem is not None:
            out[b.device] = problem
    return out


def missing_error(device: str, sequence: int, entries: Iterable[ArtifactEntry],
                  have: set[str]) -> StoreTamperedError | None:
    """The error for a baseline whose listed contents are not all in ``have``."""
    gone = [e for e in entries if e.digest not in have]
    if not gone:
        return None
    more = f" (and {len(gone) - 1} more)" if len(gone) > 1 else ""
    return StoreTamperedError(f"baseline {device} #{sequence}: content of artifact {gone[0].key} "
                              f"({gone[0].digest[:16]}) is missing from the store{more}")


@dataclass(frozen=True)
class BlobProblem:
    """One stored content that is not as the manifests need it.  ``used_by``
    lists where it is referenced: ``vfd-hoist #3 holding/0-3``."""

    digest: str
    kind: str  # "edited", "missing" or "orphan"
    detail: str
    used_by: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "kind": self.kind, "detail": self.detail,
                "used_by": list(self.used_by)}

    def line(self) -> str:
        where = f"; used by {', '.join(self.used_by[:5])}" if self.used_by else ""
        if len(self.used_by) > 5:
            where += f" and {len(self.used_by) - 5} more"
        return f"{self.kind.upper()} {self.digest[:16]}: {self.detail}{where}"


@dataclass(frozen=True)
class ContentsReport:
    """What ``check_contents`` found.  Edited and missing contents are damage
    (exit 5); an orphan (a content no manifest lists) harms no evidence and is
    only reported."""

    checked_at: datetime
    blobs: int
    bytes: int
    manifests: int
    problems: tuple[BlobProblem, ...] = ()
    unreadable: tuple[str, ...] = field(default=())  # rows whose manifest cannot be parsed

    @property
    def damaged(self) -> tuple[BlobProblem, ...]:
        return tuple(p for p in self.problems if p.kind != "orphan")

    @property
    def orphans(self) -> tuple[BlobProblem, ...]:
        return tuple(p for p in self.problems if p.kind == "orphan")

    @property
    def ok(self) -> bool:
        return not self.damaged

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else StoreTamperedError.exit_code

    def summary(self) -> str:
        text = (f"{self.blobs} contents ({self.bytes} bytes) re-hashed against "
                f"{self.manifests} manifests: ")
        if self.ok:
            text += "all intact"
        else:
            kinds = [f"{sum(p.kind == k for p in self.damaged)} {k}" for k in ("edited", "missing")
                     if any(p.kind == k for p in self.damaged)]
            text += "DAMAGED: " + ", ".join(kinds)
        if self.orphans:
            text += f"; {len(self.orphans)} unreferenced"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "checked_at": self.checked_at.isoformat(), "ok": self.ok,
                "exit_code": self.exit_code, "blobs": self.blobs, "bytes": self.bytes,
                "manifests": self.manifests, "summary": self.summary(),
                "problems": [p.to_dict() for p in self.problems],
                "unreadable_manifests": list(self.unreadable)}

    def render(self) -> str:
        lines = [self.summary()] + [f"  {p.line()}" for p in self.problems]
        lines += [f"  manifest of {u} cannot be read (see `baseline history`)"
                  for u in self.unreadable]
        return "\n".join(lines)


def _references(conn: Connection) -> tuple[dict[str, list[str]], int, list[str]]:
    """digest -> where it is used, over every manifest in the store."""
    refs: dict[str, list[str]] = {}
    unreadable: list[str] = []
    count = 0
    t = tables.baselines
    for device, sequence, data in conn.execute(
            select(t.c.device, t.c.sequence, t.c.manifest).order_by(t.c.device, t.c.sequence)):
        count += 1
        try:
            manifest = Manifest.from_bytes(bytes(data))
        except Exception:  # noqa: BLE001 - a damaged row: listed, verify says why
            unreadable.append(f"{device} #{sequence}")
            continue
        for e in manifest.artifacts:
            refs.setdefault(e.digest, []).append(f"{device} #{sequence} {e.key}")
    return refs, count, unreadable


def check_contents(conn: Connection, now: datetime) -> ContentsReport:
    """Re-hash every blob; find edited, missing and orphaned contents."""
    refs, manifests, unreadable = _references(conn)
    problems: list[BlobProblem] = []
    seen: set[str] = set()
    blobs = total = 0
    t = tables.blobs
    # Streamed in small batches: a store of many large blocks is never held whole.
    result = conn.execution_options(yield_per=64).execute(select(t.c.digest, t.c.content))
    for digest, content in result:
        content = bytes(content)
        blobs += 1
        total += len(content)
        seen.add(digest)
        used = refs.get(digest)
        actual = canonical.sha256(content)
        if actual != digest:
            problems.append(BlobProblem(digest, "edited",
                                        f"content hashes to {actual[:16]} ({len(content)} bytes)",
                                        tuple(used or ())))
        elif used is None:
            problems.append(BlobProblem(digest, "orphan",
                                        f"{len(content)} bytes, listed by no manifest"))
    for digest in sorted(set(refs) - seen):
        problems.append(BlobProblem(digest, "missing", "no content stored",
                                    tuple(refs[digest])))
    order = {"edited": 0, "missing": 1, "orphan": 2}
    problems.sort(key=lambda p: (order[p.kind], p.digest))
    return ContentsReport(now, blobs, total, manifests, tuple(problems), tuple(unreadable))


class ContentsMixin:
    """Artifact contents in the store (write-once, by SHA-256).  Needs
    ``self._tx`` from Store."""

    def _put_blobs(self, conn: Connection, capture: Capture) -> None:
        wanted = {a.digest: a for a in capture.artifacts}
        existing = self._fetch_blobs(conn, list(wanted))
        for digest, artifact in wanted.items():
            if digest in existing:
                continue  # write-once: identical content is stored once
            conn.execute(insert(tables.blobs).values(digest=digest, encoding=artifact.encoding.value,
                                                     size=artifact.size, content=artifact.content))

    def _fetch_blobs(self, conn: Connection, digests: list[str]) -> dict[str, bytes]:
        """Contents by digest, each re-hashed: StoreTamperedError on a mismatch."""
        found: dict[str, bytes] = {}
        t = tables.blobs
        for i in range(0, len(digests), CHUNK):
            chunk = digests[i:i + CHUNK]
            for digest, content in conn.execute(select(t.c.digest, t.c.content)
                                                .where(t.c.digest.in_(chunk))):
                content = bytes(content)
                if canonical.sha256(content) != digest:
                    raise StoreTamperedError(f"artifact content {digest[:16]} in the store does not "
                                             "hash to its digest (blob edited)")
                found[digest] = content
        return found

    def artifact_content(self, digest: str) -> bytes:
        """Content by digest, re-hashed.  StoreTamperedError if missing or edited."""
        with self._tx("reading an artifact") as conn:
            found = self._fetch_blobs(conn, [digest])
        if digest not in found:
            raise StoreTamperedError(f"artifact content {digest[:16]} is missing from the store")
        return found[digest]

    def load_artifact(self, baseline: Baseline, entry: Any) -> Artifact:
        """One artifact of a verified baseline with its content (same checks as
        load_artifacts)."""
        return self.load_artifacts(baseline, [entry])[0]

    def load_artifacts(self, baseline: Baseline, entries: Any = None) -> tuple[Artifact, ...]:
        """The baseline's artifacts (or the given entries of it) with their
        contents, each verified against the signed digest and size.
        StoreTamperedError names the artifact."""
        entries = baseline.artifacts() if entries is None else tuple(entries)
        with self._tx(f"reading artifacts of {baseline.device}") as conn:
            found = self._fetch_blobs(conn, sorted({e.digest for e in entries}))
        where = f"baseline {baseline.device} #{baseline.sequence}"
        out = []
        for e in entries:
            content = found.get(e.digest)
            if content is None:
                raise StoreTamperedError(f"{where}: content of artifact {e.key} ({e.digest[:16]}) is "
                                         "missing from the store")
            if len(content) != e.size:
                raise StoreTamperedError(f"{where}: artifact {e.key} has {len(content)} bytes, the "
                                         f"manifest says {e.size}")
            out.append(Artifact(e.key, e.kind, content, e.encoding, e.quick))
        return tuple(out)

    def check_contents(self, now: datetime | None = None) -> ContentsReport:
        """Re-hash every stored content and cross-check it with every manifest:
        edited, missing and unreferenced contents, each with where it is used.
        Never raises for damage (it is the report); StoreError if the database
        cannot be read."""
        with self._tx("checking stored contents") as conn:
            return check_contents(conn, as_utc(utcnow(now)))

    def count_blobs(self) -> int:
        """Number of distinct stored contents (for status output and tests)."""
        with self._tx("counting contents") as conn:
            return int(conn.execute(select(func.count()).select_from(tables.blobs)).scalar_one())
