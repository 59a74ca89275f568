"""The signed baseline manifest.

A baseline is one canonical JSON document (``integrity.canonical``) naming the
device, what was captured and how, who signed it and why, and where it sits in
the device's history::

    {"artifacts": [{"digest", "encoding", "key", "kind", "quick", "size"}, ...],
     "captured_at", "device", "fingerprint", "format_version": 1, "mode", "policy",
     "previous": <id of the device's previous baseline, null for sequence 1>,
     "protocol", "reason", "sequence": 1, 2, 3 ..., "signed_at", "signer": <key id>,
     "type": "plc-integrity/baseline"}

The manifest's bytes are what Ed25519 signs, and their SHA-256 is the baseline
id.  Those bytes are kept as signed and verified as stored; a ``Manifest`` is
only parsed from bytes whose signature has already been checked, and parsing
refuses anything that does not re-encode to exactly the same bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from integrity import canonical
from integrity.errors import ConfigError, StoreTamperedError
from integrity.model import (KEY_RE, Artifact, Capture, Encoding, Kind, Mode, fingerprint,
                             fingerprint_of_checked, freeze)

FORMAT_VERSION = 1
DOC_TYPE = "plc-integrity/baseline"
REASON_MAX = 2000
_HEX64 = re.compile(r"[0-9a-f]{64}")
# One fixed textual form for times, so a parsed manifest re-encodes byte for byte.
_TIME_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"
# That form exactly, ASCII digits only: read without strptime, which costs
# about as much as the rest of a manifest's parsing (status reads 10,000).
_TIME_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
                      r"\.([0-9]{6})Z")
_FIELDS = {"artifacts", "captured_at", "device", "fingerprint", "format_version", "mode",
           "policy", "previous", "protocol", "reason", "sequence", "signed_at", "signer", "type"}
_MODES, _KINDS, _ENCODINGS = ({m.value: m for m in e} for e in (Mode, Kind, Encoding))
_ENTRY_FIELDS = {"digest", "encoding", "key", "kind", "quick", "size"}


# canonical.encode's json settings exactly, for ``_encode_built``.
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                         allow_nan=False)


def _encode_built(doc: dict[str, Any]) -> bytes:
    """``canonical.encode(doc)`` for the ``to_dict()`` of a constructed
    Manifest, without canonical's walk over the value's types: __post_init__
    has checked each field's type already (the policy with canonical.encode
    itself), so the walk cannot refuse anything here and the bytes are the
    same (tests/baselines/test_manifest_encode.py holds the two equal).
    Proving a stored manifest canonical is the one re-encoding status does
    10,000 times; the walk was a third of it."""
    return _JSON.encode(doc).encode("utf-8")


def format_time(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(timezone.utc).strftime(_TIME_FMT)


def parse_time(text: Any, what: str) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string")
    exact = _TIME_RE.fullmatch(text)
    if exact is not None:
        try:
            return datetime(*map(int, exact.groups()), tzinfo=timezone.utc)
        except ValueError:
            pass  # e.g. month 13: strptime below names the problem
    try:
        return datetime.strptime(text, _TIME_FMT).replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise ValueError(f"{what} {text!r} is not a UTC time like 2024-01-31T12:00:00.000000Z") from exc


def check_reason(reason: Any, *, device: str | None = None) -> str:
    """The reason a baseline will be signed with, or ConfigError saying why not.

    Called before any device is read, so a reason that could never be signed
    (empty, longer than REASON_MAX, not encodable) costs no device traffic.
    """
    if not isinstance(reason, str) or not reason.strip() or len(reason) > REASON_MAX:
        raise ConfigError(f"a reason is required (at most {REASON_MAX} characters, got "
                          f"{len(reason) if isinstance(reason, str) else 0})", device=device,
                          field="reason")
    try:
        canonical.encode({"reason": reason})
    except Exception as exc:  # noqa: BLE001 - e.g. a lone surrogate from a mis-encoded argument
        raise ConfigError(f"the reason cannot be signed: {exc}", device=device,
                          field="reason") from None
    return reason


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ArtifactEntry:
    """One artifact as the manifest lists it: its content lives in the blob store."""

    key: str
    kind: Kind
    digest: str
    size: int
    encoding: Encoding
    quick: bool

    def __post_init__(self) -> None:
        # Artifact's own key rule (its KEY_RE), reused rather than copied.
        if not KEY_RE.fullmatch(self.key):
            raise ValueError(f"artifact key {self.key!r} is not a valid key")
        object.__setattr__(self, "kind", Kind(self.kind))
        object.__setattr__(self, "encoding", Encoding(self.encoding))
        if not isinstance(self.digest, str) or not _HEX64.fullmatch(self.digest):
            raise ValueError(f"artifact {self.key}: digest {self.digest!r} is not a SHA-256 hex")
        if not _is_int(self.size) or self.size < 0:
            raise ValueError(f"artifact {self.key}: size {self.size!r} is not a byte count")
        if not isinstance(self.quick, bool):
            raise ValueError(f"artifact {self.key}: quick must be true or false")

    @classmethod
    def of(cls, artifact: Artifact) -> "ArtifactEntry":
        return cls(artifact.key, artifact.kind, artifact.digest, artifact.size, artifact.encoding,
                   artifact.quick)

    def to_dict(self) -> dict[str, Any]:
        # ``_value_`` is ``value`` without the enum property's lookup (once per
        # entry of every manifest proven canonical).
        return {"key": self.key, "kind": self.kind._value_, "digest": self.digest,
                "size": self.size, "encoding": self.encoding._value_, "quick": self.quick}

    @classmethod
    def from_dict(cls, d: Any, index: int) -> "ArtifactEntry":
        if not isinstance(d, dict) or set(d) != _ENTRY_FIELDS:
            raise ValueError(f"artifacts[{index}] must have exactly the fields "
                             f"{', '.join(sorted(_ENTRY_FIELDS))}")
        return cls(d["key"], d["kind"], d["digest"], d["size"], d["encoding"], d["quick"])


@dataclass(frozen=True)
class Manifest:
    """The signed document.  Validated on construction; ``ValueError`` names the bad field."""

    device: str
    protocol: str
    mode: Mode
    captured_at: datetime
    signed_at: datetime
    artifacts: tuple[ArtifactEntry, ...]
    fingerprint: str
    sequence: int
    previous: str | None
    signer: str
    reason: str
    policy: Mapping[str, Any] = field(default_factory=lambda: freeze({}))
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        for name in ("device", "protocol"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or len(value) > 200:
                raise ValueError(f"{name} must be a non-empty string of at most 200 characters")
        object.__setattr__(self, "mode", Mode(self.mode))
        for name in ("captured_at", "signed_at"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValueError(f"{name} must be a timezone-aware datetime")
            object.__setattr__(self, name, value.astimezone(timezone.utc))
        arts = tuple(self.artifacts)
        keys = [a.key for a in arts]
        if keys != sorted(set(keys)):
            raise ValueError("artifacts must be sorted by key, without duplicates")
        object.__setattr__(self, "artifacts", arts)
        expected = fingerprint([(a.key, a.digest) for a in arts])
        if self.fingerprint != expected:
            raise ValueError(f"fingerprint {self.fingerprint!r} does not match the artifact "
                             f"digests ({expected})")
        if not _is_int(self.sequence) or self.sequence < 1:
            raise ValueError(f"sequence {self.sequence!r} must be an integer >= 1")
        if self.sequence == 1 and self.previous is not None:
            raise ValueError("sequence 1 must have previous = null")
        if self.sequence > 1 and (not isinstance(self.previous, str)
                                  or not _HEX64.fullmatch(self.previous)):
            raise ValueError(f"sequence {self.sequence} needs previous = the previous baseline's "
                             f"id, got {self.previous!r}")
        if not isinstance(self.signer, str) or not _HEX64.fullmatch(self.signer):
            raise ValueError(f"signer {self.signer!r} is not a key id")
        if not isinstance(self.reason, str) or not self.reason.strip() \
                or len(self.reason) > REASON_MAX:
            raise ValueError(f"reason must be non-empty text of at most {REASON_MAX} characters")
        canonical.encode(dict(self.policy))  # refuse a policy we could not sign
        object.__setattr__(self, "policy", freeze(self.policy))
        if self.format_version != FORMAT_VERSION:
            raise ValueError(f"format_version {self.format_version!r} is not supported")

    @classmethod
    def from_capture(cls, capture: Capture, *, sequence: int, previous: str | None, signer: str,
                     reason: str, signed_at: datetime) -> "Manifest":
        return cls(device=capture.device, protocol=capture.protocol, mode=capture.mode,
                   captured_at=capture.captured_at, signed_at=signed_at,
                   artifacts=tuple(ArtifactEntry.of(a) for a in capture.artifacts),
                   fingerprint=capture.fingerprint, sequence=sequence, previous=previous,
                   signer=signer, reason=reason, policy=capture.policy)

    def to_dict(self) -> dict[str, Any]:
        return {"type": DOC_TYPE, "format_version": self.format_version, "device": self.device,
                "protocol": self.protocol, "mode": self.mode.value,
                "captured_at": format_time(self.captured_at),
                "signed_at": format_time(self.signed_at),
                "artifacts": [a.to_dict() for a in self.artifacts],
                "fingerprint": self.fingerprint, "policy": dict(self.policy),
                "sequence": self.sequence, "previous": self.previous, "signer": self.signer,
                "reason": self.reason}

    def to_bytes(self) -> bytes:
        """The canonical bytes: what is signed and what the id hashes."""
        return canonical.encode(self.to_dict())

    @property
    def id(self) -> str:
        return canonical.sha256(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> "Manifest":
        """Parse and validate stored manifest bytes.

        ``format_version`` is checked before anything else is read.  Raises
        StoreTamperedError for bytes that are not canonical JSON, a foreign or
        unsupported document, a missing/unknown/invalid field, or bytes that
        would not re-encode identically.
        """
        # Parsed without decode's re-encoding: the one re-encoding at the end
        # (the model built from the document must give exactly ``data``)
        # proves canonical form and a faithful model at once.
        try:
            manifest = cls._from_doc(canonical.parse(bytes(data)))
        except (StoreTamperedError, canonical.CanonicalError) as exc:
            # Refused either way; name the first problem as a full decode would.
            try:
                canonical.decode(bytes(data))
            except canonical.CanonicalError as not_canonical:
                raise StoreTamperedError(f"manifest is not canonical JSON: {not_canonical}") \
                    from not_canonical
            raise exc if isinstance(exc, StoreTamperedError) else StoreTamperedError(str(exc))
        try:
            same = _encode_built(manifest.to_dict()) == data
        except ValueError:  # e.g. an escaped lone surrogate, which UTF-8 cannot hold
            same = False
        if not same:
            raise StoreTamperedError("manifest does not re-encode to its stored bytes")
        return manifest

    def pack(self) -> tuple[Any, ...]:
        """The fields as plain values, for a verification worker to hand back
        (baselines.parallel): a pickled Manifest (enums, a mapping proxy)
        costs about as much to load as checking the row again."""
        return (self.device, self.protocol, self.mode.value, self.captured_at, self.signed_at,
                tuple((a.key, a.kind.value, a.digest, a.size, a.encoding.value, a.quick)
                      for a in self.artifacts),
                self.fingerprint, self.sequence, self.previous, self.signer, self.reason,
                dict(self.policy), self.format_version)

    @classmethod
    def unpack(cls, fields: tuple[Any, ...]) -> "Manifest":
        """The Manifest ``pack`` was called on, built again WITHOUT its checks:
        only for what a verification worker packed from a Manifest that
        ``from_bytes`` built and checked there."""
        (device, protocol, mode, captured_at, signed_at, artifacts, fp, sequence, previous,
         signer, reason, policy, version) = fields
        new = object.__new__
        arts = []
        for key, kind, digest, size, encoding, quick in artifacts:
            entry = new(ArtifactEntry)
            entry.__dict__.update(key=key, kind=_KINDS[kind], digest=digest, size=size,
                                  encoding=_ENCODINGS[encoding], quick=quick)
            arts.append(entry)
        manifest = new(cls)
        manifest.__dict__.update(
            device=device, protocol=protocol, mode=_MODES[mode], captured_at=captured_at,
            signed_at=signed_at, artifacts=tuple(arts), fingerprint=fp, sequence=sequence,
            previous=previous, signer=signer, reason=reason, policy=freeze(policy),
            format_version=version)
        return manifest

    @classmethod
    def _from_doc(cls, doc: Any) -> "Manifest":
        if not isinstance(doc, dict):
            raise StoreTamperedError("manifest is not a JSON object")
        version = doc.get("format_version")
        if version != FORMAT_VERSION:
            raise StoreTamperedError(f"manifest format_version {version!r} is not supported by this "
                                     f"plc-integrity (it reads version {FORMAT_VERSION})")
        if doc.get("type") != DOC_TYPE:
            raise StoreTamperedError(f"document type {doc.get('type')!r} is not {DOC_TYPE!r}")
        missing, unknown = sorted(_FIELDS - set(doc)), sorted(set(doc) - _FIELDS)
        if missing or unknown:
            raise StoreTamperedError(f"manifest fields wrong: missing {missing}, unknown {unknown}")
        try:
            manifest = _plain(cls, doc)
        except (ValueError, TypeError, canonical.CanonicalError) as exc:
            raise StoreTamperedError(f"manifest is invalid: {exc}") from exc
        return manifest if manifest is not None else cls._constructed(doc)

    @classmethod
    def _constructed(cls, doc: dict[str, Any]) -> "Manifest":
        """The document through the dataclasses' own constructors and checks:
        the reference the plain-document path (``_plain``) must agree with,
        and what names the problem in a document that path does not accept."""
        try:
            if not isinstance(doc["artifacts"], list) or not isinstance(doc["policy"], dict):
                raise ValueError("artifacts must be a list and policy an object")
            manifest = cls(device=doc["device"], protocol=doc["protocol"], mode=doc["mode"],
                           captured_at=parse_time(doc["captured_at"], "captured_at"),
                           signed_at=parse_time(doc["signed_at"], "signed_at"),
                           artifacts=tuple(ArtifactEntry.from_dict(d, i)
                                           for i, d in enumerate(doc["artifacts"])),
                           fingerprint=doc["fingerprint"], sequence=doc["sequence"],
                           previous=doc["previous"], signer=doc["signer"], reason=doc["reason"],
                           policy=doc["policy"])
        except (ValueError, TypeError, canonical.CanonicalError) as exc:
            raise StoreTamperedError(f"manifest is invalid: {exc}") from exc
        return manifest


def _plain_entries(items: list[Any]) -> tuple[ArtifactEntry, ...] | None:
    """ArtifactEntry.from_dict for each item, or None where any item is not
    plainly valid.  The same checks as ArtifactEntry.__post_init__ on the
    exact JSON types (str, int, bool), in one loop, each entry then built
    without the dataclass's __init__: a stored S7 manifest lists dozens of
    entries and the constructor's per-entry overhead was most of its parsing."""
    new, put = object.__new__, object.__setattr__
    key_ok, hex_ok = KEY_RE.fullmatch, _HEX64.fullmatch
    kinds, encodings = _KINDS.get, _ENCODINGS.get
    out = []
    for d in items:
        if type(d) is not dict or d.keys() != _ENTRY_FIELDS:
            return None
        key, digest, size, quick = d["key"], d["digest"], d["size"], d["quick"]
        kind, encoding = d["kind"], d["encoding"]
        kind = kinds(kind) if type(kind) is str else None
        encoding = encodings(encoding) if type(encoding) is str else None
        if (kind is None or encoding is None or type(key) is not str or not key_ok(key)
                or type(digest) is not str or not hex_ok(digest)
                or type(size) is not int or size < 0 or type(quick) is not bool):
            return None
        entry = new(ArtifactEntry)
        # Attribute by attribute, as the dataclass's __init__ sets them: touching
        # ``__dict__`` would give each entry a dict object of its own, a second
        # object for the garbage collector to track (and twice the collections).
        put(entry, "key", key)
        put(entry, "kind", kind)
        put(entry, "digest", digest)
        put(entry, "size", size)
        put(entry, "encoding", encoding)
        put(entry, "quick", quick)
        out.append(entry)
    return tuple(out)


def _plain(cls: type[Manifest], doc: dict[str, Any]) -> Manifest | None:
    """The Manifest of a stored document whose every field is plainly valid,
    built without the dataclasses' constructors; None for anything else, which
    ``Manifest._constructed`` then refuses with its own message (or accepts,
    where only an unusual form differs).  Accepts nothing the constructors
    would refuse and builds the same value: tests/baselines/test_manifest_plain.py
    runs both over generated and mutated documents.  Raises ValueError for a
    time or policy that cannot be read, as the constructor path does."""
    device, protocol, mode = doc["device"], doc["protocol"], doc["mode"]
    arts, policy, sequence = doc["artifacts"], doc["policy"], doc["sequence"]
    previous, signer, reason, fp = doc["previous"], doc["signer"], doc["reason"], doc["fingerprint"]
    mode = _MODES.get(mode) if type(mode) is str else None
    if (mode is None or type(arts) is not list or type(policy) is not dict
            or type(device) is not str or not device or len(device) > 200
            or type(protocol) is not str or not protocol or len(protocol) > 200
            or type(sequence) is not int or sequence < 1
            or (previous is not None if sequence == 1
                else type(previous) is not str or not _HEX64.fullmatch(previous))
            or type(signer) is not str or not _HEX64.fullmatch(signer)
            or type(reason) is not str or not reason.strip() or len(reason) > REASON_MAX):
        return None
    entries = _plain_entries(arts)
    if entries is None:
        return None
    keys = [e.key for e in entries]
    if keys != sorted(set(keys)) or fp != fingerprint_of_checked([(e.key, e.digest)
                                                                   for e in entries]):
        return None
    captured_at = parse_time(doc["captured_at"], "captured_at")
    signed_at = parse_time(doc["signed_at"], "signed_at")
    canonical.encode(policy)  # refuse a policy we could not sign (CanonicalError)
    manifest = object.__new__(cls)
    for name, value in (("device", device), ("protocol", protocol), ("mode", mode),
                        ("captured_at", captured_at), ("signed_at", signed_at),
                        ("artifacts", entries), ("fingerprint", fp), ("sequence", sequence),
                        ("previous", previous), ("signer", signer), ("reason", reason),
                        ("policy", freeze(policy)), ("format_version", FORMAT_VERSION)):
        object.__setattr__(manifest, name, value)  # (not via __dict__: see _plain_entries)
    return manifest


@dataclass(frozen=True)
class Baseline:
    """A VERIFIED baseline.  Only the store builds these, after checking the
    signature over ``manifest_bytes`` with a trusted key, the row against the
    manifest and the device's hash chain.  ``signer_name`` is the trust file's
    name for ``keyid`` (display only)."""

    id: str
    manifest: Manifest
    manifest_bytes: bytes
    signature: bytes
    keyid: str
    signer_name: str | None = None

    @property
    def device(self) -> str:
        return self.manifest.device

    @property
    def sequence(self) -> int:
        return self.manifest.sequence

    def artifacts(self) -> tuple[ArtifactEntry, ...]:
        return self.manifest.artifacts
