"""The signed checkpoint: the store's state, signed, against rollback and freeze.

TUF's snapshot and timestamp roles in one small file, ``state/checkpoint.json``:
after every change to any device's history, the newest baseline of each device
(sequence, id, and the policy version it was approved under) is signed by the
site's checkpoint key, with a version that only goes up and a short expiry.

On read, the checkpoint must verify under the key this host pinned (or the one
the site policy names), must not be older than the version this host last saw
(``localstate``: kept outside the site folder), and the database must not be
behind it.  So an attacker who can write the database and the site folder but
holds no key can neither roll a device back (an older copy of both has an older
checkpoint version), nor edit the checkpoint (signature), nor swap in their own
key (pinned).  An expired checkpoint is not an integrity failure but is
reported: nothing has re-signed the store's state for that long (a frozen or
abandoned store); ``plc-integrity checkpoint refresh`` re-signs it.

File: one canonical JSON envelope, the signed document kept as the exact
string that was signed (never re-serialised before verifying)::

    {"format_version": 1, "keyid": ..., "public_key": <PEM>, "signature": <hex>,
     "signed": "{\"expires\":...,\"heads\":{device:{\"id\",\"policy\",\"sequence\"}},
                 \"issued\":...,\"type\":\"plc-integrity/checkpoint\",\"version\":N}"}

The checkpoint key is a file key with no passphrase (it signs unattended),
created on first use in this host's state folder (``localstate``), or taken
from ``$PLC_INTEGRITY_CHECKPOINT_KEY``.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from integrity import canonical
from integrity.errors import (CheckpointError, KeyFileError, SignatureInvalidError, StoreError)

from baselines.heads import Head, locked, write_atomic
from baselines.localstate import LocalState
from baselines.manifest import format_time, parse_time
from baselines.signing import PublicKey, SigningKey, generate_keypair, short_keyid

FORMAT_VERSION = 1
DOC_TYPE = "plc-integrity/checkpoint"
KEY_ENV = "PLC_INTEGRITY_CHECKPOINT_KEY"
DEFAULT_EXPIRY = timedelta(days=7)


def utc(now: datetime | None) -> datetime:
    """``now`` (timezone-aware) in UTC, or the current time.  Raises ValueError
    for a naive time: an ambiguous clock must not date a signature."""
    now = now if now is not None else datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(timezone.utc)


@dataclass(frozen=True, slots=True)  # one per device, held for a whole command
class Entry:
    """One device in a checkpoint: its newest baseline and the policy version
    it was approved under (0: no policy)."""

    sequence: int
    id: str
    policy: int = 0


@dataclass(frozen=True)
class SignedCheckpoint:
    version: int
    issued: datetime
    expires: datetime
    heads: Mapping[str, Entry]
    keyid: str

    def expired(self, now: datetime) -> bool:
        return now >= self.expires

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "issued": format_time(self.issued),
                "expires": format_time(self.expires), "keyid": self.keyid,
                "heads": {d: {"sequence": e.sequence, "id": e.id, "policy": e.policy}
                          for d, e in sorted(self.heads.items())}}


def parse_checkpoint(data: bytes, where: str) -> SignedCheckpoint:
    """Verify an envelope's signature and parse what it signs.

    Checks only the file itself (signature by the key it names); pinning and
    version memory are the caller's (``Checkpoint.load``).  Raises CheckpointError.
    """
    try:
        env = json.loads(data.decode("utf-8"))
        if not isinstance(env, dict) or env.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version must be {FORMAT_VERSION}")
        signed = env["signed"].encode("utf-8")
        public = serialization.load_pem_public_key(env["public_key"].encode("ascii"))
        if not isinstance(public, Ed25519PublicKey):
            raise ValueError("the key is not Ed25519")
        key = PublicKey(public)
        if key.keyid != env["keyid"]:
            raise ValueError("keyid does not match the public key")
        signature = bytes.fromhex(env["signature"])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeError,
            UnsupportedAlgorithm) as exc:
        raise CheckpointError(f"checkpoint {where} is damaged: {exc}") from exc
    try:
        key.verify(signature, signed)
    except SignatureInvalidError as exc:
        raise CheckpointError(f"checkpoint {where}: the signature does not match the signed "
                              "state (checkpoint edited)") from exc
    try:
        fields = _signed_fields_as_written(signed) or _signed_fields(signed)
        version, issued, expires, heads = fields
        return SignedCheckpoint(version, parse_time(issued, "issued"),
                                parse_time(expires, "expires"), heads, key.keyid)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise CheckpointError(f"checkpoint {where} is signed but malformed: {exc}") from exc


# (version, issued, expires, heads) of a signed document, times not yet parsed.
Fields = tuple[int, Any, Any, dict[str, Entry]]


def _signed_fields(signed: bytes) -> Fields:
    """Any signed document: parsed, and proven canonical by encoding it again.
    Raises ValueError (and KeyError, TypeError...) for anything else."""
    doc = json.loads(signed)
    if canonical.encode(doc) != signed or doc.get("type") != DOC_TYPE:
        raise ValueError("not a canonical checkpoint document")
    heads = {}
    for device, e in doc["heads"].items():
        if not (type(e["sequence"]) is int and e["sequence"] >= 1 and type(e["policy"]) is int
                and isinstance(e["id"], str) and len(e["id"]) == 64):
            raise ValueError(f"bad entry for {device!r}")
        heads[device] = Entry(e["sequence"], e["id"], e["policy"])
    version = doc["version"]
    if type(version) is not int or version < 1:
        raise ValueError("bad version")
    return version, doc["issued"], doc["expires"], heads


# The document as ``Checkpoint.update`` writes it, byte for byte: canonical JSON
# (keys sorted, no white space), device names as the inventory allows them, ids
# in lowercase hex, integers without leading zeros, times in the manifest format.
# Nothing in these patterns needs escaping in JSON, so each matched text is also
# the decoded value.
_NAME = rb"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_TIME = rb"[0-9][0-9T:.Z-]{0,39}"
_DOC = re.compile(rb'\{"expires":"(%b)","heads":\{(.*)\},"issued":"(%b)",'
                  rb'"type":"%b","version":([1-9][0-9]{0,17})\}'
                  % (_TIME, _TIME, DOC_TYPE.encode("ascii")), re.DOTALL)
_HEAD = re.compile(rb'"(%b)":\{"id":"([0-9a-f]{64})","policy":(0|[1-9][0-9]{0,17}),'
                   rb'"sequence":([1-9][0-9]{0,17})\}(,|\Z)' % _NAME)


def _signed_fields_as_written(signed: bytes) -> Fields | None:
    """The fields of a document in exactly the form this module writes, read
    without building it as JSON objects first; None for anything else, which
    ``_signed_fields`` then takes (and refuses, or accepts the same way).

    ``_signed_fields`` holds every head as a dict, then the whole document
    encoded again to prove it canonical: ~1.3 KiB per device at its peak, 12 MiB
    for a 10,000-device site on every command that reads the checkpoint.  Here
    the proof is the pattern: bytes it matches, with the names strictly
    increasing, are the canonical encoding of what is read from them, so the
    same document parses to the same fields either way
    (tests/trust/test_checkpoint_fast.py compares the two)."""
    doc = _DOC.fullmatch(signed)
    if doc is None:
        return None
    heads: dict[str, Entry] = {}
    (at, end), last = doc.span(2), ""  # the heads, matched in place (no copy)
    while at < end:
        head = _HEAD.match(signed, at, end)
        if head is None:
            return None
        name, id_, policy, sequence, comma = head.groups()
        device = name.decode("ascii")
        if device <= last or (comma == b"," and head.end() == end):
            return None  # out of order, a duplicate, or a trailing comma
        heads[device] = Entry(int(sequence), id_.decode("ascii"), int(policy))
        at, last = head.end(), device
    expires, issued = doc.group(1).decode("ascii"), doc.group(3).decode("ascii")
    return int(doc.group(4)), issued, expires, heads


def read_checkpoint(path: Path) -> SignedCheckpoint | None:
    """The checkpoint file at ``path``, signature verified (None if absent).
    For backup bundles: pin its ``keyid`` and compare its ``version``.
    Raises CheckpointError."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable: {exc.strerror or exc}") from exc
    return parse_checkpoint(data, str(path))


def _moves(current: Head | Entry | None, entry: Entry, replace: bool) -> bool:
    """Whether ``entry`` replaces ``current``: forward only, never back
    (``replace``: also the same head, re-approved under another policy version)."""
    return current is None or current.sequence < entry.sequence or (
        replace and current.sequence == entry.sequence and current.id == entry.id)


def _advance(heads: dict[str, Entry], entries: Mapping[str, Entry], replace: bool) -> None:
    for device, entry in entries.items():
        if _moves(heads.get(device), entry, replace):
            heads[device] = entry


class Checkpoint:
    """A site's checkpoint file, this host's memory of it, and its signing key.

    ``pinned_keyid``: the checkpoint key the signed site policy names, if any
    (else the key is pinned in this host's memory at first sight).
    """

    def __init__(self, path: Path, local: LocalState, *, key_path: Path | None = None,
                 expiry: timedelta = DEFAULT_EXPIRY, pinned_keyid: str | None = None) -> None:
        self.path = Path(path)
        self.local = local
        env_key = os.environ.get(KEY_ENV)
        self.key_path = Path(key_path or env_key or local.checkpoint_key_path)
        self.expiry = expiry
        self.pinned_keyid = pinned_keyid
        self._cache: tuple[tuple[int, int, int], SignedCheckpoint] | None = None
        # Inside ``deferred``: the advances to sign as one version at its end.
        self._pending: list[tuple[dict[str, Entry], Any, bool]] | None = None

    @classmethod
    def for_site(cls, site_root: Path, *, state_folder: Path | None = None) -> "Checkpoint":
        return cls(Path(site_root) / "state" / "checkpoint.json",
                   LocalState(site_root, state_folder))

    # -- reading -----------------------------------------------------------------------

    def load(self) -> SignedCheckpoint | None:
        """The verified checkpoint, or None if there is none and this host never
        saw one.  Raises CheckpointError: missing although seen, damaged,
        edited, another key than the pinned one, older than the last seen."""
        memory = self.local.read()
        seen = memory.get("checkpoint_version", 0)
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if seen:
                raise CheckpointError(
                    f"checkpoint {self.path} is missing, but this host saw version {seen} "
                    f"(memory in {self.local.path}): deleted, or the site was rolled back") from None
            return None
        except OSError as exc:
            raise CheckpointError(f"checkpoint {self.path} is unreadable: "
                                  f"{exc.strerror or exc}") from exc
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._cache is not None and self._cache[0] == stamp:
            cp = self._cache[1]
        else:
            cp = read_checkpoint(self.path)
            if cp is None:
                return self.load()  # removed between stat and read
        pinned = self.pinned_keyid or memory.get("checkpoint_keyid")
        if pinned and cp.keyid != pinned:
            raise CheckpointError(
                f"checkpoint {self.path} is signed by key {short_keyid(cp.keyid)}, but "
                f"{'the site policy names' if self.pinned_keyid else 'this host pinned'} "
                f"{short_keyid(pinned)} (checkpoint replaced)")
        if cp.version < seen:
            raise CheckpointError(
                f"checkpoint {self.path} is version {cp.version}, but this host already saw "
                f"version {seen}: the site and store were rolled back to an earlier copy")
        self._cache = (stamp, cp)
        if cp.version > seen or not memory.get("checkpoint_keyid"):
            try:
                self.local.remember(checkpoint_version=cp.version, checkpoint_keyid=cp.keyid)
            except StoreError:
                pass  # an unwritable memory must not fail a check; the next write tells
        return cp

    def read(self) -> dict[str, Head] | None:
        """Heads as the rollback anchor (same shape as ``HeadFile.read``)."""
        cp = self.load()
        if cp is None and not self._pending:
            return None
        pending = {d for entries, _, _ in self._pending or () for d in entries}
        return self.heads_of(set(cp.heads if cp else ()) | pending)  # type: ignore[return-value]

    def heads_of(self, devices: Iterable[str]) -> dict[str, Head | None] | None:
        """The heads of ``devices`` only (None for one the checkpoint does not
        name), or None when there is no checkpoint.  Looked up, not copied: a
        capture asks once per device and a sweep once per chunk of devices,
        and a copy of every head each time was O(N²)."""
        cp = self.load()
        if cp is None and not self._pending:
            return None
        heads: dict[str, Head | None] = {}
        for device in devices:
            entry = cp.heads.get(device) if cp is not None else None
            head = Head(entry.sequence, entry.id) if entry is not None else None
            heads[device] = self._pending_head(device, head) if self._pending else head
        return heads

    def _pending_head(self, device: str, head: Head | None) -> Head | None:
        for entries, _seed, replace in self._pending or ():
            entry = entries.get(device)
            if entry is not None and _moves(head, entry, replace):
                head = Head(entry.sequence, entry.id)
        return head

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Sign the advances made inside the block as one version at its end
        (``baseline capture --all``: one signature and one rewrite of a file
        naming every device, not one per device, which made capturing N devices
        O(N²)).  Reads inside the block see the pending heads.  A crash inside
        leaves the database ahead of the checkpoint, which is accepted on read
        and said (as for a change made without the checkpoint key) until the
        next signed checkpoint; it never falls behind."""
        if self._pending is not None:
            yield
            return
        self._pending = []
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            if pending:
                seeds = [seed for _, seed, _ in pending if seed is not None]

                def change(old: dict[str, Entry] | None) -> dict[str, Entry]:
                    heads = dict(old if old is not None else (seeds[0]() if seeds else {}))
                    for entries, _seed, replace in pending:
                        _advance(heads, entries, replace)
                    return heads
                self.update(change, create_key=True)

    def warning(self, now: datetime) -> str | None:
        """An expired checkpoint, said plainly (a frozen store)."""
        try:
            cp = self.load()
        except CheckpointError:
            return None  # reported as exit 5 by every read
        if cp is not None and cp.expired(now):
            return (f"checkpoint {self.path} (version {cp.version}) expired at "
                    f"{cp.expires:%Y-%m-%d %H:%M} UTC: nothing has re-signed the store's state "
                    "since (frozen?); run `plc-integrity checkpoint refresh`")
        return None

    def envelope(self) -> tuple[SignedCheckpoint, bytes] | None:
        """The checkpoint, verified as ``load`` does, with its exact file bytes
        (for a backup bundle), read under the writers' lock so both are the
        same version.  None if there is none.  Raises CheckpointError."""
        if not self.path.parent.is_dir():
            self.load()  # raises if this host saw one
            return None
        try:
            with locked(self.path):
                cp = self.load()
                data = self.path.read_bytes() if cp is not None else b""
        except OSError as exc:
            raise CheckpointError(f"checkpoint {self.path} is unreadable: "
                                  f"{exc.strerror or exc}") from exc
        if cp is None:
            return None
        found = parse_checkpoint(data, str(self.path))
        if (found.version, found.keyid) != (cp.version, cp.keyid):
            raise CheckpointError(f"checkpoint {self.path} changed while it was read")
        return cp, data

    # -- writing -----------------------------------------------------------------------

    def _signer(self, create: bool) -> SigningKey:
        if not self.key_path.exists() and create:
            folder, name = self.key_path.parent, self.key_path.stem
            generate_keypair(name, folder, None)
        try:
            return SigningKey.load(self.key_path, None)
        except KeyFileError as exc:
            raise StoreError(f"cannot sign the checkpoint: {exc} (set {KEY_ENV} to the site's "
                             "checkpoint key)") from exc

    def write(self, heads: Mapping[str, Entry], now: datetime | None = None,
              *, create_key: bool = False) -> SignedCheckpoint:
        """Sign ``heads`` as the next version (under the file lock) and remember
        it.  ``create_key``: make the key if there is none (first checkpoint)."""
        return self.update(lambda _old: dict(heads), now, create_key=create_key)

    def advance(self, device: str, entry: Entry, now: datetime | None = None,
                *, seed: Callable[[], Mapping[str, Entry]] | None = None,
                replace: bool = False) -> SignedCheckpoint | None:
        """Record ``entry`` for ``device`` unless a newer one is recorded
        (``replace``: also the same head, re-approved under another policy
        version).  With no checkpoint yet, start from ``seed`` and create the
        key if needed."""
        return self.advance_many({device: entry}, now, seed=seed, replace=replace)

    def advance_many(self, entries: Mapping[str, Entry], now: datetime | None = None,
                     *, seed: Callable[[], Mapping[str, Entry]] | None = None,
                     replace: bool = False) -> SignedCheckpoint | None:
        """``advance`` for several devices at once, as one new version (an
        import of many histories signs once, not once per device)."""
        if self._pending is not None:
            self._pending.append((dict(entries), seed, replace))
            return None  # signed when ``deferred`` ends

        def change(old: dict[str, Entry] | None) -> dict[str, Entry]:
            heads = dict(old if old is not None else (seed() if seed else {}))
            _advance(heads, entries, replace)
            return heads
        return self.update(change, now, create_key=True)

    def refresh(self, now: datetime | None = None) -> SignedCheckpoint:
        """Re-sign the same heads as a new version with a fresh expiry."""
        def same(old: dict[str, Entry] | None) -> dict[str, Entry]:
            if old is None:
                raise StoreError(f"no checkpoint at {self.path} to refresh")
            return old
        return self.update(same, now)

    def update(self, change: Any, now: datetime | None = None, *,
               create_key: bool = False, reanchor: bool = False) -> SignedCheckpoint:
        """Sign ``change(old heads or None)`` as the next version.  ``reanchor``:
        do not build on the present file (a restore brought back an older
        one); the version continues from this host's memory."""
        now = utc(now)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with locked(self.path):
                self._cache = None
                try:
                    old = self.load()  # refuses to build on a rolled-back or forged checkpoint
                except CheckpointError:
                    if not reanchor:
                        raise
                    old = None
                key = self._signer(create_key and old is None)
                pinned = (self.pinned_keyid or (old.keyid if old is not None else None)
                          or self.local.read().get("checkpoint_keyid"))
                if pinned and key.keyid != pinned:
                    raise StoreError(f"the checkpoint key {self.key_path} ({short_keyid(key.keyid)})"
                                     f" is not the site's ({short_keyid(pinned)}); set {KEY_ENV}")
                heads = change(dict(old.heads) if old is not None else None)
                version = max(old.version if old is not None else 0,
                              self.local.read().get("checkpoint_version", 0)) + 1
                signed = canonical.encode({
                    "type": DOC_TYPE, "version": version, "issued": format_time(now),
                    "expires": format_time(now + self.expiry),
                    "heads": {d: {"sequence": e.sequence, "id": e.id, "policy": e.policy}
                              for d, e in heads.items()}})
                envelope = canonical.encode({
                    "format_version": FORMAT_VERSION, "keyid": key.keyid,
                    "public_key": key.public_key.pem().decode("ascii"),
                    "signature": key.sign(signed).hex(), "signed": signed.decode("utf-8")})
                write_atomic(self.path, envelope)
        except OSError as exc:
            raise StoreError(f"cannot write checkpoint {self.path}: {exc.strerror or exc}") from exc
        self.local.remember(checkpoint_version=version, checkpoint_keyid=key.keyid)
        cp = self.load()
        assert cp is not None
        return cp
