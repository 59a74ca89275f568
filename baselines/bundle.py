"""Offline backup bundles: export (this module), verify and list (``bundle_verify``),
import (``bundle_import``).  The format is documented in docs/backup-format.md.

A bundle is one ustar archive (``bundle_tar``), members in this order::

    index.json                 canonical JSON: devices, their baselines in order, heads,
                               signer names, every blob's digest, size and encoding
    index.sig                  optional: canonical JSON {keyid, signature} over index.json
    checkpoint.json            the site's signed checkpoint, its exact bytes (when it has one)
    keys/<keyid>.pub           the public keys that signed (PEM), sorted
    baselines/<id>.json        each manifest, its exact signed bytes (id = their SHA-256)
    baselines/<id>.sig         its Ed25519 signature, raw
    blobs/<sha256>             every artifact's content, content-addressed, sorted
    SHA256SUMS                 sha256sum(1) lines for every member above

Nothing in it depends on the clock or the machine, so the same store gives the
same bytes.  Blobs are read from the store and written one at a time.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterable

from integrity import canonical
from integrity.errors import BaselineInvalidError, NoBaselineError, StoreError

from baselines.bundle_tar import TarWriter
from baselines.manifest import Baseline, format_time
from baselines.signing import SigningKey, TrustStore

DOC_TYPE = "plc-integrity/backup"
SIG_TYPE = "plc-integrity/backup-signature"
FORMAT_VERSION = 1
INDEX = "index.json"
INDEX_SIG = "index.sig"
CHECKPOINT = "checkpoint.json"
SUMS = "SHA256SUMS"
_BATCH_BYTES = 2 << 20


def verified_history(store: Any, device: str, trust: TrustStore) -> list[Baseline]:
    """The device's whole history, verified (signatures, chain, head), oldest first.

    Uses the store's own verification inside one transaction (``Store._verified``),
    so an export checks exactly what every read checks.  Raises what
    ``Store.latest`` raises.
    """
    with store._tx(f"reading baselines of {device}") as conn:  # noqa: SLF001 - see docstring
        return store._verified(conn, device, trust)  # noqa: SLF001


def _contents(store: Any, blobs: dict[str, tuple[int, str]]) -> Iterable[tuple[str, bytes]]:
    """Blob contents in digest order, fetched (and re-hashed by the store) a batch
    at a time: one transaction per batch, never more than ~2 MiB held at once."""
    from integrity.errors import StoreTamperedError

    batch: list[str] = []
    held = 0
    order = sorted(blobs)
    for i, digest in enumerate(order):
        batch.append(digest)
        held += blobs[digest][0]
        if held < _BATCH_BYTES and len(batch) < 500 and i + 1 < len(order):
            continue
        with store._tx("reading artifact contents") as conn:  # noqa: SLF001
            found = store._fetch_blobs(conn, batch)  # noqa: SLF001
        for d in batch:
            if d not in found:
                raise StoreTamperedError(f"not exported: artifact content {d[:16]} is missing "
                                         "from the store")
            yield d, found[d]
        batch, held = [], 0


def site_checkpoint(store: Any, heads: dict[str, Any]) -> tuple[Any, bytes | None, str | None]:
    """The site's signed checkpoint for the bundle: (checkpoint or None, its
    exact bytes or None, why it is left out or None).

    It goes in only when it records exactly the exported histories' heads, so
    a verifier can hold the bundle to the state the site signed.  A checkpoint
    that lags (a baseline stored by someone without the checkpoint key, which
    every read accepts until the next signed checkpoint) is left out and said:
    a backup without it is still a backup.  Raises CheckpointError when the
    checkpoint cannot be trusted at all (every read refuses then too)."""
    checkpoint = store._checkpoint  # noqa: SLF001 - the store's own anchor
    found = checkpoint.envelope() if checkpoint is not None else None
    if found is None:
        return None, None, None
    cp, data = found
    for device, head in sorted(heads.items()):
        entry = cp.heads.get(device)
        if entry is None or (entry.sequence, entry.id) != (head["sequence"], head["id"]):
            at = f"#{entry.sequence}" if entry is not None else "nothing"
            return cp, None, (f"checkpoint {checkpoint.path} (version {cp.version}) records {at} "
                              f"for {device}, whose history ends at #{head['sequence']}: the "
                              "bundle carries no checkpoint; re-sign it (`plc-integrity "
                              "checkpoint sign`) and export again")
    return cp, data, None


@dataclass(frozen=True)
class ExportSummary:
    devices: tuple[str, ...]
    skipped: tuple[str, ...]       # asked for, but without any baseline
    baselines: int
    blobs: int
    blob_bytes: int
    signed_by: str | None
    checkpoint_version: int | None = None   # the site's checkpoint carried in the bundle
    checkpoint_left_out: str | None = None  # why the site's checkpoint is not in it

    def to_dict(self) -> dict[str, Any]:
        return {"devices": list(self.devices), "skipped": list(self.skipped),
                "baselines": self.baselines, "blobs": self.blobs, "blob_bytes": self.blob_bytes,
                "signed_by": self.signed_by, "checkpoint_version": self.checkpoint_version,
                "checkpoint_left_out": self.checkpoint_left_out}


def export_bundle(store: Any, trust: TrustStore, devices: Iterable[str], out: BinaryIO, *,
                  key: SigningKey | None = None, skip_missing: bool = False) -> ExportSummary:
    """Write the bundle of ``devices``' verified histories to ``out``.

    Raises BaselineInvalidError when a history fails verification (a backup of
    tampered data would pass it on), NoBaselineError for a device without any
    baseline unless ``skip_missing``, StoreError when the store cannot be read.
    """
    snapshot = trust.snapshot()
    histories: dict[str, list[Baseline]] = {}
    skipped = []
    names = sorted(set(devices))
    # One transaction verifies every device's whole history; only devices with
    # more than one baseline need their older ones fetched as well.
    newest = store.latest_many(names, trust)
    for device in names:
        found = newest[device]
        if isinstance(found, NoBaselineError):
            if not skip_missing:
                raise NoBaselineError(f"no baseline for {device}: nothing to back up")
            skipped.append(device)
            continue
        if isinstance(found, BaselineInvalidError):
            raise type(found)(f"not exported: {found}") from found
        if isinstance(found, Exception):
            raise found
        histories[device] = ([found] if found.sequence == 1
                             else verified_history(store, device, snapshot))
    if not histories:
        raise NoBaselineError("none of the chosen devices has a baseline: nothing to back up")

    blobs: dict[str, tuple[int, str]] = {}
    keys: dict[str, bytes] = {}
    names: dict[str, str] = {}
    doc_devices: dict[str, Any] = {}
    for device, history in histories.items():
        for b in history:
            for e in b.artifacts():
                blobs.setdefault(e.digest, (e.size, e.encoding.value))
            if b.keyid not in keys:
                # Keys no longer trusted but vouched for by the chain have no
                # .pub to export; the bundle's verify vouches for them the same way.
                try:
                    keys[b.keyid] = snapshot.get(b.keyid).pem()
                    names[b.keyid] = snapshot.name_of(b.keyid) or ""
                except BaselineInvalidError:
                    pass
        newest = history[-1]
        doc_devices[device] = {
            "protocol": newest.manifest.protocol,
            "head": {"sequence": newest.sequence, "id": newest.id},
            "baselines": [{"id": b.id, "sequence": b.sequence, "keyid": b.keyid,
                           "signed_at": format_time(b.manifest.signed_at)} for b in history]}
    if key is not None and key.keyid not in keys:
        keys[key.keyid] = key.public_key.pem()
        names[key.keyid] = snapshot.name_of(key.keyid) or (key.path.stem if key.path else "")
    cp, checkpoint, left_out = site_checkpoint(store, {d: v["head"] for d, v in
                                                       doc_devices.items()})
    index_doc = {
        "type": DOC_TYPE, "format_version": FORMAT_VERSION, "devices": doc_devices,
        "keys": {k: {"name": names[k]} for k in sorted(keys)},
        "blobs": [[d, size, enc] for d, (size, enc) in sorted(blobs.items())]}
    cp_version = None
    if checkpoint is not None:
        # The index names it, so a signed index vouches for this very checkpoint.
        cp_version = cp.version
        index_doc["checkpoint"] = {"version": cp.version, "keyid": cp.keyid,
                                   "sha256": hashlib.sha256(checkpoint).hexdigest()}
    index = canonical.encode(index_doc)

    sums: list[tuple[str, str]] = []
    tar = TarWriter(out)

    def add(name: str, data: bytes, digest: str | None = None) -> None:
        tar.add(name, data)
        sums.append((digest or hashlib.sha256(data).hexdigest(), name))

    add(INDEX, index)
    if key is not None:
        add(INDEX_SIG, canonical.encode({"type": SIG_TYPE, "keyid": key.keyid,
                                         "signature": key.sign(index).hex()}))
    if checkpoint is not None:
        add(CHECKPOINT, checkpoint)
    for keyid in sorted(keys):
        add(f"keys/{keyid}.pub", keys[keyid])
    every = sorted((b for h in histories.values() for b in h), key=lambda b: b.id)
    for b in every:
        add(f"baselines/{b.id}.json", b.manifest_bytes, b.id)
        add(f"baselines/{b.id}.sig", b.signature)
    total = 0
    for digest, content in _contents(store, blobs):
        total += len(content)
        add(f"blobs/{digest}", content, digest)
    tar.add(SUMS, "".join(f"{d}  {n}\n" for d, n in sums).encode("ascii"))
    tar.close()
    return ExportSummary(tuple(histories), tuple(skipped), len(every), len(blobs), total,
                         key.keyid if key is not None else None, cp_version, left_out)


ROTATED_PREFIX = "plc-integrity-"
ROTATED_SUFFIX = ".plcbak"


def write_bundle_file(store: Any, trust: Any, devices: Iterable[str], out: Path, *,
                      key: SigningKey | None = None, skip_missing: bool = False
                      ) -> ExportSummary:
    """``export_bundle`` into ``out``, atomically: a temporary file beside it,
    fsynced, then renamed, so a crash never leaves a half bundle under the name.
    Raises what export_bundle raises, StoreError when the file cannot be written."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            summary = export_bundle(store, trust, devices, fh, key=key, skip_missing=skip_missing)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise StoreError(f"cannot write {out}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return summary


def rotated_name(now: datetime) -> str:
    """``plc-integrity-20261201T013000Z.plcbak``: sorts by time."""
    return f"{ROTATED_PREFIX}{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}{ROTATED_SUFFIX}"


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove the oldest rotated bundles in ``folder`` beyond the newest ``keep``;
    other files are never touched.  Returns what was removed."""
    ours = sorted(p for p in folder.glob(f"{ROTATED_PREFIX}*{ROTATED_SUFFIX}") if p.is_file())
    doomed = ours[:-keep] if keep > 0 else ours
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed
