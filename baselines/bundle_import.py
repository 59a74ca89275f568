"""Importing a bundle into a site's store: the histories come in unchanged.

One pass over the file inside one write transaction: blobs are stored as they
stream by (re-hashed), the bundle is verified against the RECEIVING site's
trust/ (an untrusted signer is refused, never added), and only if everything
verifies are the baseline rows inserted, with their original ids, bytes and
signatures; otherwise the transaction is rolled back and nothing is kept.

Per device: no local history → the bundle's is taken; local history that is
a prefix of the bundle's → the newer baselines are appended; local history
equal to or ahead of the bundle's → left alone (never rolled back); a history
that diverged → refused, and reported.

Like ``bundle.verified_history`` this works inside the store's transaction
(``Store._tx``, ``Store._verified``, ``Store._record_heads``), so an import is
checked by exactly the code that checks every read, and anchored (head file and
signed checkpoint) exactly as every append is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from integrity.errors import BaselineInvalidError

from baselines import tables
from baselines.bundle_verify import Problem, Scan, open_bundle, report_for, scan
from baselines.heads import Head
from baselines.manifest import Manifest, format_time
from baselines.signing import TrustStore


@dataclass(frozen=True)
class DeviceImport:
    device: str
    outcome: str          # imported | up-to-date | kept-newer | refused
    added: int = 0
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "outcome": self.outcome, "added": self.added,
                "detail": self.detail}


@dataclass(frozen=True)
class ImportResult:
    file: str
    devices: tuple[DeviceImport, ...]
    problems: tuple[Problem, ...]   # the bundle did not verify: nothing was imported
    checkpoint: dict[str, Any] | None = None   # the bundle's (``BundleReport.checkpoint``)
    checkpoint_note: str | None = None         # it is older than this site already saw

    @property
    def exit_code(self) -> int:
        if self.problems or any(d.outcome == "refused" for d in self.devices):
            return BaselineInvalidError.exit_code
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "exit_code": self.exit_code,
                "imported": not self.problems,
                "devices": [d.to_dict() for d in self.devices],
                "problems": [p.to_dict() for p in self.problems],
                "checkpoint": self.checkpoint, "checkpoint_note": self.checkpoint_note}


class _NotVerified(Exception):
    def __init__(self, problems: tuple[Problem, ...]) -> None:
        super().__init__("the bundle does not verify")
        self.problems = problems


def import_bundle(path: str | Path, store: Any, trust: TrustStore) -> ImportResult:
    """Import ``path`` into ``store``.  Raises ConfigError when the file cannot
    be read, StoreError when the store cannot be written."""
    snapshot = trust.snapshot()
    outcomes: list[DeviceImport] = []
    heads: dict[str, Head] = {}
    s = Scan()
    encodings: dict[str, str] = {}
    inserted: set[str] = set()
    blobs = tables.blobs
    try:
        with open_bundle(path) as fh, \
                store._tx(f"importing {path}", write=True) as conn:  # noqa: SLF001

            def on_blob(digest: str, content: bytes) -> None:
                if not encodings:  # the index came first: it is in ``s`` by now
                    encodings.update((d, e) for d, _size, e in (s.index or {}).get("blobs", []))
                if digest not in encodings:
                    return  # not in the index: the report names it, nothing is kept
                if conn.execute(select(blobs.c.digest).where(blobs.c.digest == digest)).first():
                    return  # write-once: the same content is already there
                conn.execute(insert(blobs).values(digest=digest, encoding=encodings[digest],
                                                  size=len(content), content=content))
                inserted.add(digest)

            scan(fh, on_blob=on_blob, into=s)
            report = report_for(s, path, trust.folder, pin_checkpoint=False)
            if not report.ok:
                raise _NotVerified(report.problems)
            needed: set[str] = set()
            for dev in report.devices:
                outcome, new = _plan(store, conn, dev, snapshot)
                outcomes.append(outcome)
                for entry in new:
                    data = s.manifests[entry["id"]]
                    m = Manifest.from_bytes(data)
                    needed.update(a.digest for a in m.artifacts)
                    conn.execute(insert(tables.baselines).values(
                        id=entry["id"], device=dev.device, sequence=m.sequence, keyid=m.signer,
                        manifest=data, signature=s.signatures[entry["id"]],
                        created_at=format_time(m.signed_at)))
                if new:
                    heads[dev.device] = Head(new[-1]["sequence"], new[-1]["id"])
            # Contents streamed in for devices that were left alone or refused would
            # be orphans (referenced by no baseline here): they go.
            unused = sorted(inserted - needed)
            for i in range(0, len(unused), 500):
                conn.execute(delete(blobs).where(blobs.c.digest.in_(unused[i:i + 500])))
    except _NotVerified as exc:
        # Raised inside the transaction: the blobs stored during the scan are rolled back too.
        return ImportResult(str(path), (), exc.problems)
    # Exactly what an append does after its commit: the head file and the signed
    # checkpoint (this site's own checkpoint key) move to the imported heads.  The
    # bundle carries no approvals, so no policy version vouches for them (0).
    note = _older_checkpoint(store, report.checkpoint)
    store._record_heads(heads)  # noqa: SLF001
    return ImportResult(str(path), tuple(outcomes), (), report.checkpoint, note)


def _older_checkpoint(store: Any, bundled: dict[str, Any] | None) -> str | None:
    """Said when the bundle's checkpoint is older than the version this site
    already saw from the same checkpoint key: an older backup of this site.  It
    cannot roll anything back (import never does), but a person restoring from
    it should know there is newer state somewhere."""
    checkpoint = store._checkpoint  # noqa: SLF001
    if bundled is None or bundled.get("keyid") is None or checkpoint is None:
        return None
    try:
        memory = checkpoint.local.read()
    except BaselineInvalidError:
        return None  # a damaged memory: recording the heads next says so
    seen = memory.get("checkpoint_version", 0)
    if memory.get("checkpoint_keyid") != bundled["keyid"] or bundled["version"] >= seen:
        return None
    return (f"the bundle's checkpoint is version {bundled['version']}, older than version {seen} "
            f"this site already saw from the same checkpoint key {bundled['keyid'][:16]}: an "
            "older backup; nothing here was rolled back")


def _plan(store: Any, conn: Any, dev: Any, snapshot: Any) -> tuple[DeviceImport, list[dict]]:
    """What to do for one device, and which bundle entries to insert."""
    bundle = list(dev.baselines)
    try:
        local = store._verified(conn, dev.device, snapshot)  # noqa: SLF001
    except BaselineInvalidError as exc:
        return DeviceImport(dev.device, "refused", 0, f"this site's history does not verify: "
                            f"{exc}"), []
    ids = [b.id for b in local]
    theirs = [e["id"] for e in bundle]
    if ids == theirs:
        return DeviceImport(dev.device, "up-to-date", 0, f"#{len(ids)} already here"), []
    if ids[:len(theirs)] == theirs:
        return DeviceImport(dev.device, "kept-newer", 0, f"this site is at #{len(ids)}, the "
                            f"bundle at #{len(theirs)}: not rolled back"), []
    if theirs[:len(ids)] == ids:
        new = bundle[len(ids):]
        return DeviceImport(dev.device, "imported", len(new),
                            f"#{new[0]['sequence']}..#{new[-1]['sequence']}"), new
    return DeviceImport(dev.device, "refused", 0, "this site's history and the bundle's diverge "
                        f"(site at #{len(ids)}, bundle at #{len(theirs)}); nothing changed"), []
