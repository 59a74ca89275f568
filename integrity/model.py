"""The model: devices, artifacts, captures, comparisons, check results.

All frozen.  Data is validated where it enters (``__post_init__``), and copies
are made with ``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Iterator, Mapping

from integrity import canonical
from integrity.clock import as_utc

KEY_RE = re.compile(r"[A-Za-z0-9_.:\-/\[\]]{1,200}")
# The bound on one whole device check, in seconds (inventory ``check_timeout``).  Per-request
# deadlines cannot bound a check by themselves: the number of requests depends on the device
# (an S7-400 with a thousand blocks needs thousands), and a peer answering each one just in
# time would stretch it without limit.  Five minutes covers a deep read of a large CPU over
# a slow link many times over.
DEFAULT_CHECK_TIMEOUT = 300.0


class Mode(str, enum.Enum):
    """How deep a check reads.  QUICK reads only what is cheap (identity and
    metadata such as block checksums); DEEP reads everything, e.g. uploads every
    block.  Protocols without a cheap subset read the same in both."""

    QUICK = "quick"
    DEEP = "deep"


class Kind(str, enum.Enum):
    CODE = "code"            # program logic (blocks, routines)
    CONFIG = "config"        # settings: drive parameters, parameter DBs, config tags
    IDENTITY = "identity"    # vendor, model, firmware, serial
    STRUCTURE = "structure"  # layout without values: block lists, tag database, UDTs, DB interfaces
    STATE = "state"          # operating mode, keyswitch, protection level, change-detection counters


class Encoding(str, enum.Enum):
    JSON = "json"  # canonical JSON (integrity.canonical)
    RAW = "raw"    # device bytes exactly as read (e.g. an uploaded block image)


@dataclass(frozen=True)
class Artifact:
    """One hashed item of a device: a block, a register range, the identity...

    ``content`` is canonical bytes; ``digest`` their SHA-256.  ``quick`` says the
    artifact is also read by a QUICK check, so a quick comparison knows which
    baseline artifacts to expect.  Build with ``from_value`` or ``from_bytes``.
    """

    key: str
    kind: Kind
    content: bytes
    encoding: Encoding = Encoding.JSON
    quick: bool = True

    def __post_init__(self) -> None:
        if not KEY_RE.fullmatch(self.key):
            raise ValueError(f"artifact key {self.key!r} is not a valid key")
        object.__setattr__(self, "kind", Kind(self.kind))
        object.__setattr__(self, "encoding", Encoding(self.encoding))
        if not isinstance(self.content, bytes):
            raise TypeError(f"artifact {self.key}: content must be bytes")

    @classmethod
    def from_value(cls, key: str, kind: Kind | str, value: Any, *, quick: bool = True) -> "Artifact":
        return cls(key, Kind(kind), canonical.encode(value), Encoding.JSON, quick)

    @classmethod
    def from_bytes(cls, key: str, kind: Kind | str, data: bytes, *, quick: bool = False) -> "Artifact":
        return cls(key, Kind(kind), bytes(data), Encoding.RAW, quick)

    @functools.cached_property
    def digest(self) -> str:
        # Cached: a check asks for it when comparing, fingerprinting and signing.
        # (cached_property writes the instance dict directly, so it works on a
        # frozen dataclass, and content can never change after construction.)
        return canonical.sha256(self.content)

    @property
    def size(self) -> int:
        return len(self.content)

    def value(self) -> Any:
        """The decoded value (JSON artifacts) or the raw bytes."""
        if self.encoding is Encoding.RAW:
            return self.content
        return canonical.decode(self.content)


def fingerprint(pairs: "list[tuple[str, str]] | tuple[tuple[str, str], ...]") -> str:
    """Device fingerprint: SHA-256 of the canonical list of sorted (key, digest)."""
    return canonical.sha256(canonical.encode(sorted([list(p) for p in pairs])))


def fingerprint_of_checked(pairs: "list[tuple[str, str]]") -> str:
    """``fingerprint(pairs)`` for pairs already sorted by key, without duplicate
    keys, each key a plain ``str`` matching KEY_RE and each digest a plain ``str``
    of lowercase hex (a stored manifest's entries, checked).  No character of
    either needs escaping in JSON, so the canonical list is written directly:
    the same bytes without the encoder's walk (a sweep proves every stored manifest's fingerprint;
    tests/core/test_fingerprint.py holds the two equal)."""
    return canonical.sha256(("[" + ",".join(['["%s","%s"]' % p for p in pairs]) + "]")
                            .encode("ascii"))


def freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Capture:
    """What one read of a device produced.

    ``policy`` records what was deliberately left out or how things were hashed
    (e.g. declared register ranges, DB policies), so the signed baseline says
    what it covers.  It must be canonical-JSON-able.
    """

    device: str
    protocol: str
    mode: Mode
    captured_at: datetime
    artifacts: tuple[Artifact, ...]
    policy: Mapping[str, Any] = field(default_factory=lambda: freeze({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode(self.mode))
        object.__setattr__(self, "captured_at", as_utc(self.captured_at))
        arts = tuple(sorted(self.artifacts, key=lambda a: a.key))
        keys = [a.key for a in arts]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"capture of {self.device}: duplicate artifact keys {dupes}")
        object.__setattr__(self, "artifacts", arts)
        canonical.encode(dict(self.policy))  # refuse a policy we could not sign
        object.__setattr__(self, "policy", freeze(self.policy))

    @property
    def fingerprint(self) -> str:
        return fingerprint([(a.key, a.digest) for a in self.artifacts])

    def by_key(self) -> dict[str, Artifact]:
        return {a.key: a for a in self.artifacts}


class Status(str, enum.Enum):
    """Outcome of one device check.  Ordered by seriousness for exit codes."""

    OK = "OK"
    DRIFT = "DRIFT"
    UNREACHABLE = "UNREACHABLE"      # could not check: refused, timeout, protocol, access denied
    NO_BASELINE = "NO_BASELINE"
    BASELINE_INVALID = "BASELINE_INVALID"

    @property
    def exit_code(self) -> int:
        return _EXIT[self]

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_EXIT = {Status.OK: 0, Status.DRIFT: 1, Status.UNREACHABLE: 3, Status.NO_BASELINE: 4,
         Status.BASELINE_INVALID: 5}
# 5 > 1 > 3 > 4 > 0: a broken baseline is worst, drift is a finding, and
# "could not check" outranks "never baselined" because it hides a state.
_SEVERITY = {Status.OK: 0, Status.NO_BASELINE: 1, Status.UNREACHABLE: 2, Status.DRIFT: 3,
             Status.BASELINE_INVALID: 4}


def overall_exit_code(statuses: "list[Status]") -> int:
    if not statuses:
        return 0
    return max(statuses, key=lambda s: s.severity).exit_code


class Change(str, enum.Enum):
    MODIFIED = "modified"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class ValueChange:
    """One value that differs inside a modified artifact.  ``path`` names it in
    the artifact's terms, e.g. ``holding[17]`` or ``members.Speed.offset``."""

    path: str
    baseline: Any
    current: Any
    label: str | None = None  # what the site calls this value (inventory ``labels``); display only


@dataclass(frozen=True)
class Difference:
    key: str
    change: Change
    kind: Kind
    baseline_digest: str | None
    current_digest: str | None
    values: tuple[ValueChange, ...] = ()
    values_truncated: bool = False

    def summary(self) -> str:
        return f"{self.change.value} {self.key}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "change": self.change.value, "kind": self.kind.value,
                "baseline_digest": self.baseline_digest, "current_digest": self.current_digest,
                "values": [{"path": v.path, "baseline": v.baseline, "current": v.current,
                            **({"label": v.label} if v.label else {})} for v in self.values],
                "values_truncated": self.values_truncated}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Difference":
        return cls(d["key"], Change(d["change"]), Kind(d["kind"]), d.get("baseline_digest"),
                   d.get("current_digest"),
                   tuple(ValueChange(v["path"], v["baseline"], v["current"], v.get("label"))
                         for v in d.get("values", ())),
                   bool(d.get("values_truncated", False)))


@dataclass(frozen=True)
class Comparison:
    mode: Mode
    differences: tuple[Difference, ...]
    note: str | None = None  # e.g. why the effective mode was reduced
    # Key prefixes a quick capture left to a summary the baseline does not
    # hold (it predates it): compared by nothing, so the check reads them.
    uncompared: tuple[str, ...] = ()

    @property
    def status(self) -> Status:
        return Status.DRIFT if self.differences else Status.OK


# Slots on the per-device model objects: a sweep holds one Device and one
# CheckResult per device, and an instance dict roughly doubles each.
@dataclass(frozen=True, slots=True)
class CheckResult:
    """One device, one check.  Every outcome is a value: a device that could
    not be read yields UNREACHABLE with ``reason`` and ``message``, never OK."""

    device: str
    protocol: str
    status: Status
    checked_at: datetime
    mode: Mode | None = None
    fingerprint: str | None = None
    baseline_id: str | None = None
    baseline_sequence: int | None = None
    signer: str | None = None
    differences: tuple[Difference, ...] = ()
    reason: str | None = None    # machine word for non-OK outcomes (timeout, bad-signature, ...)
    message: str | None = None   # for people
    note: str | None = None

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    def replace(self, **changes: Any) -> "CheckResult":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, used by ``--json`` output and the check history."""
        return {"device": self.device, "protocol": self.protocol, "status": self.status.value,
                "exit_code": self.exit_code, "checked_at": self.checked_at.isoformat(),
                "mode": self.mode.value if self.mode else None, "fingerprint": self.fingerprint,
                "baseline_id": self.baseline_id, "baseline_sequence": self.baseline_sequence,
                "signer": self.signer, "reason": self.reason, "message": self.message,
                "note": self.note, "differences": [d.to_dict() for d in self.differences]}


class _NoLabels(Mapping[str, str]):
    """The one empty, read-only labels mapping that every device without
    labels shares (a dict each would cost 64 bytes a device); it pickles as itself."""

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"

    def __reduce__(self) -> str:
        return "NO_LABELS"


NO_LABELS: Mapping[str, str] = _NoLabels()


@dataclass(frozen=True, slots=True)
class Device:
    """One inventory entry.  ``options`` is the protocol's own frozen options
    object, parsed and validated by its driver (see drivers.base.Driver.parse_options)."""

    name: str
    protocol: str
    host: str
    port: int
    options: Any = None
    timeout: float = 3.0
    retries: int = 1
    tags: tuple[str, ...] = ()
    source: str | None = None  # the file it was declared in, for messages
    max_rps: float | None = 200.0  # politeness ceiling: requests per second to this device
    check_timeout: float = DEFAULT_CHECK_TIMEOUT  # seconds for the whole check (check_deadline)
    # Names for values in diffs and alerts, e.g. {"holding[22]": "maximum speed, rpm"}.
    # Display only: never hashed, never signed.
    labels: Mapping[str, str] = field(default_factory=lambda: NO_LABELS)
    # The network zone whose collector checks it (``run --zone``); see integrity/zones.py.
    zone: str = "default"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def check_deadline(self) -> float:
        """Seconds one whole check of this device may take before the sweep gives it up
        (UNREACHABLE, reason ``timeout``): ``check_timeout``, but never less than one
        request's own worst case, timeout x (retries + 1), plus a second."""
        return max(self.check_timeout, self.timeout * (self.retries + 1) + 1.0)
