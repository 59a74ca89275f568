"""Reading a bundle offline: verify it, list it.  No site, store or network.

Verification reads the file once, member by member (memory stays flat): the
container strictly (``bundle_tar``), every member against SHA256SUMS, every
blob against its name and the index, every manifest against its id; then each
device's history with the same row, chain and head checks as the store
(``verify.verify_rows``), against either a trust folder or the keys carried in
the bundle (which proves only that the bundle is consistent with itself).
Problems are collected, each with where and what, rather than stopping at the
first: a damaged backup should say everything that is wrong with it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from integrity import canonical
from integrity.errors import BaselineInvalidError, CheckpointError, ConfigError

from baselines.bundle import CHECKPOINT, DOC_TYPE, FORMAT_VERSION, INDEX, INDEX_SIG, SIG_TYPE, SUMS
from baselines.bundle_tar import BundleFormatError, read_members
from baselines.checkpoint import parse_checkpoint
from baselines.heads import Head
from baselines.signing import PublicKey, TrustedKey, TrustSnapshot, TrustStore, short_keyid
from baselines.verify import Row, verify_rows

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MEMBER = re.compile(r"^(keys/(?P<key>[0-9a-f]{64})\.pub"
                     r"|baselines/(?P<bid>[0-9a-f]{64})\.(?P<ext>json|sig)"
                     r"|blobs/(?P<blob>[0-9a-f]{64}))$")
BUNDLE_KEYS_NOTE = ("checked against the keys inside the bundle: this proves only that the "
                    "bundle is internally consistent, not that a signer you trust made it; "
                    "give --trust DIR")


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "what": self.what}

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Scan:
    """What one pass over the file found (manifests and signatures are small)."""

    index: dict[str, Any] | None = None
    index_bytes: bytes = b""
    index_sig: dict[str, Any] | None = None
    checkpoint: bytes | None = None
    keys: dict[str, PublicKey] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)
    signatures: dict[str, bytes] = field(default_factory=dict)
    blobs: dict[str, int] = field(default_factory=dict)   # digest -> size, only those that hash
    sums: dict[str, str] = field(default_factory=dict)    # member -> sha256 as read
    problems: list[Problem] = field(default_factory=list)
    size: int = 0


def _load_index(data: bytes, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        doc = canonical.decode(data)
        if not isinstance(doc, dict) or doc.get("type") != DOC_TYPE:
            raise ValueError(f"not a {DOC_TYPE} index")
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {doc.get('format_version')!r} is not supported")
        if set(doc) - {"checkpoint"} != {"type", "format_version", "devices", "keys", "blobs"}:
            raise ValueError("unexpected or missing fields")
        cp = doc.get("checkpoint")  # absent: the site had no checkpoint (or an older bundle)
        if cp is not None and (not isinstance(cp, dict)
                               or set(cp) != {"version", "keyid", "sha256"}
                               or type(cp["version"]) is not int
                               or not _HEX64.match(str(cp["keyid"]))
                               or not _HEX64.match(str(cp["sha256"]))):
            raise ValueError("the checkpoint entry is malformed")
        for name, dev in doc["devices"].items():
            if not isinstance(dev["protocol"], str) or not isinstance(dev["baselines"], list):
                raise ValueError(f"device {name!r} is malformed")
            for b in dev["baselines"]:
                if not _HEX64.match(b["id"]) or not _HEX64.match(b["keyid"]) \
                        or type(b["sequence"]) is not int:
                    raise ValueError(f"device {name!r}: a baseline entry is malformed")
            Head(int(dev["head"]["sequence"]), str(dev["head"]["id"]))
        for d, size, enc in doc["blobs"]:
            if not _HEX64.match(d) or type(size) is not int or enc not in ("json", "raw"):
                raise ValueError(f"blob entry {str(d)[:16]} is malformed")
        return doc
    except (canonical.CanonicalError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problems.append(Problem(INDEX, f"damaged: {exc}"))
        return None


def scan(stream: BinaryIO, *, on_blob: Callable[[str, bytes], None] | None = None,
         into: Scan | None = None) -> Scan:
    """One pass over a bundle.  ``on_blob(digest, content)`` gets every blob that
    hashes to its name (import uses it; verify does not keep contents); the
    index, first in the file, is already in ``into`` by then."""
    s = into if into is not None else Scan()
    seen: set[str] = set()
    try:
        for n, m in enumerate(read_members(stream)):
            where = f"{m.name} (byte {m.offset})"
            s.size = m.offset + 512 + m.size
            if m.name in seen:
                s.problems.append(Problem(where, "appears twice"))
            seen.add(m.name)
            if n == 0 and m.name != INDEX:
                s.problems.append(Problem(where, f"the first member must be {INDEX}"))
            if m.name == SUMS:
                data = b"".join(m.chunks)
                _check_sums(data, s, where)
                continue
            h = hashlib.sha256()
            # Blob contents are kept (one at a time) only for on_blob; the rest is small.
            keep = on_blob is not None or not m.name.startswith("blobs/")
            parts = []
            for chunk in m.chunks:
                h.update(chunk)
                if keep:
                    parts.append(chunk)
            digest = h.hexdigest()
            s.sums[m.name] = digest
            data = b"".join(parts)
            _member(s, m.name, where, digest, data, m.size, on_blob)
    except BundleFormatError as exc:
        s.problems.append(Problem("container", str(exc)))
    if SUMS not in seen:
        s.problems.append(Problem(SUMS, "missing (the bundle is truncated or was cut)"))
    return s


def _member(s: Scan, name: str, where: str, digest: str, data: bytes, size: int,
            on_blob: Callable[[str, bytes], None] | None) -> None:
    if name == INDEX:
        s.index_bytes, s.index = data, _load_index(data, s.problems)
        return
    if name == CHECKPOINT:
        s.checkpoint = data  # checked with the index and the histories (_check_checkpoint)
        return
    if name == INDEX_SIG:
        try:
            doc = canonical.decode(data)
            if not isinstance(doc, dict) or doc.get("type") != SIG_TYPE \
                    or not _HEX64.match(doc.get("keyid", "")):
                raise ValueError("not a bundle signature")
            bytes.fromhex(doc["signature"])
            s.index_sig = doc
        except (canonical.CanonicalError, ValueError, KeyError, TypeError) as exc:
            s.problems.append(Problem(where, f"damaged: {exc}"))
        return
    match = _MEMBER.match(name)
    if match is None:
        s.problems.append(Problem(where, "unexpected member (not part of the format)"))
    elif match["key"]:
        try:
            key = serialization.load_pem_public_key(data)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not Ed25519")
            pub = PublicKey(key)
        except (ValueError, TypeError) as exc:
            s.problems.append(Problem(where, f"not a usable public key ({exc})"))
            return
        if pub.keyid != match["key"]:
            s.problems.append(Problem(where, f"holds key {short_keyid(pub.keyid)}, not the one "
                                      "its name says (altered)"))
            return
        s.keys[pub.keyid] = pub
    elif match["bid"]:
        if match["ext"] == "sig":
            s.signatures[match["bid"]] = data
        elif digest != match["bid"]:
            s.problems.append(Problem(where, "manifest bytes do not hash to the baseline id in "
                                      "its name (altered)"))
        else:
            s.manifests[match["bid"]] = data
    elif digest != match["blob"]:
        s.problems.append(Problem(where, "content does not hash to its name (altered)"))
    else:
        s.blobs[digest] = size
        if on_blob is not None:
            on_blob(digest, data)


def _check_sums(data: bytes, s: Scan, where: str) -> None:
    listed: dict[str, str] = {}
    try:
        text = data.decode("ascii")
        if not text.endswith("\n"):
            raise ValueError("no final newline")
        for line in text[:-1].split("\n"):
            digest, name = line.split("  ", 1)
            listed[name] = digest
    except (UnicodeDecodeError, ValueError):
        s.problems.append(Problem(where, "damaged (not sha256sum lines)"))
        return
    before = len(s.problems)
    for name, digest in s.sums.items():
        if name not in listed:
            s.problems.append(Problem(SUMS, f"does not list {name} (added or renamed)"))
        elif listed[name] != digest:
            s.problems.append(Problem(name, f"its SHA-256 differs from {SUMS} (altered)"))
    for name in sorted(set(listed) - set(s.sums)):
        s.problems.append(Problem(name, f"listed in {SUMS} but missing from the bundle (removed)"))
    expected = "".join(f"{d}  {n}\n" for n, d in s.sums.items()).encode("ascii")
    if len(s.problems) == before and data != expected:
        s.problems.append(Problem(where, "altered (not the lines export writes)"))


def bundle_trust(s: Scan, label: str) -> TrustSnapshot:
    """A trust snapshot of the keys the bundle carries (internal consistency only)."""
    names = (s.index or {}).get("keys", {})
    found = {k: (TrustedKey(k, str((names.get(k) or {}).get("name") or short_keyid(k)),
                            Path(f"{label}:keys/{k}.pub")), pub) for k, pub in s.keys.items()}
    return TrustSnapshot(Path(f"{label} (keys inside the bundle)"), found, [])


@dataclass(frozen=True)
class DeviceReport:
    device: str
    protocol: str
    baselines: tuple[dict[str, Any], ...]   # id, sequence, keyid, signer, signed_at, ok
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "protocol": self.protocol, "ok": self.ok,
                "baselines": [dict(b) for b in self.baselines]}


@dataclass(frozen=True)
class BundleReport:
    file: str
    trust: str                  # what the signatures were checked against
    internal_only: bool         # True: the bundle's own keys (no --trust)
    index_signer: str | None    # key id that signed the index, when it is signed and valid
    devices: tuple[DeviceReport, ...]
    blobs: int
    size: int
    problems: tuple[Problem, ...]
    checkpoint: dict[str, Any] | None = None   # the exporting site's, when the bundle has one

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else BaselineInvalidError.exit_code

    def to_dict(self) -> dict[str, Any]:
        return {"schema": 1, "file": self.file, "ok": self.ok, "exit_code": self.exit_code,
                "trust": self.trust, "internal_consistency_only": self.internal_only,
                "index_signed_by": self.index_signer, "checkpoint": self.checkpoint,
                "blobs": self.blobs, "bytes": self.size,
                "devices": [d.to_dict() for d in self.devices],
                "problems": [p.to_dict() for p in self.problems]}


def open_bundle(path: str | Path) -> BinaryIO:
    """Raises ConfigError (exit 2) when the file cannot be opened."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ConfigError(f"cannot read bundle: {exc.strerror or exc}", file=str(path)) from exc


def verify_bundle(path: str | Path, trust_dir: Path | None = None) -> BundleReport:
    """Verify a bundle file offline.  Never raises for what is in the file: every
    finding is a Problem in the report.  ConfigError if it cannot be opened."""
    with open_bundle(path) as fh:
        s = scan(fh)
    return report_for(s, path, trust_dir)


def report_for(s: Scan, path: str | Path, trust_dir: Path | None, *,
               pin_checkpoint: bool = True) -> BundleReport:
    """The verification report of a finished scan.  ``pin_checkpoint``: hold the
    checkpoint to the key the trust folder's policy names (import does not: the
    receiving site's policy pins its own checkpoint key, not the exporter's)."""
    if trust_dir is not None:
        snapshot, label = TrustStore(trust_dir).snapshot(), f"trust folder {trust_dir}"
    else:
        snapshot, label = bundle_trust(s, str(path)), BUNDLE_KEYS_NOTE
    problems = list(s.problems)
    signer = _check_index_signature(s, snapshot, problems)
    devices = _check_devices(s, snapshot, problems) if s.index is not None else []
    checkpoint = _check_checkpoint(s, snapshot, signer, problems, pin_checkpoint)
    return BundleReport(str(path), label, trust_dir is None, signer, tuple(devices),
                        len(s.blobs), s.size, tuple(problems), checkpoint)


def _check_checkpoint(s: Scan, snapshot: TrustSnapshot, index_signer: str | None,
                      problems: list[Problem], pin: bool) -> dict[str, Any] | None:
    """The exporting site's signed checkpoint: named by the index (whose
    signature then vouches for it), signed, pinned by the trust folder's policy
    when it names a checkpoint key, and recording exactly the bundle's heads."""
    from baselines.policy import Policy

    named = (s.index or {}).get("checkpoint")
    if s.checkpoint is None:
        if named is not None:
            problems.append(Problem(CHECKPOINT, f"missing from the bundle (removed); the index "
                                    f"names version {named['version']}"))
        return None
    before = len(problems)
    if s.index is not None and named is None:
        problems.append(Problem(CHECKPOINT, "not named in the index (added)"))
    elif named is not None and hashlib.sha256(s.checkpoint).hexdigest() != named["sha256"]:
        problems.append(Problem(CHECKPOINT, f"is not the checkpoint the index names (version "
                                f"{named['version']}): altered or swapped"))
    try:
        cp = parse_checkpoint(s.checkpoint, CHECKPOINT)
    except CheckpointError as exc:
        problems.append(Problem(CHECKPOINT, str(exc)))
        return {"version": named["version"] if named else None, "keyid": None, "issued": None,
                "expires": None, "vouched_by": None, "ok": False}
    policy = snapshot.policy
    vouched = None
    if pin and isinstance(policy, Policy) and policy.checkpoint_keyid:
        if policy.checkpoint_keyid != cp.keyid:
            problems.append(Problem(CHECKPOINT, f"signed by key {short_keyid(cp.keyid)}, not the "
                                    f"checkpoint key the site policy in {snapshot.folder} names "
                                    f"({short_keyid(policy.checkpoint_keyid)}): another site's "
                                    "checkpoint, or replaced"))
        vouched = "the site policy"
    elif cp.keyid in {k.keyid for k in snapshot.keys()}:
        vouched = "the trust keys"
    elif index_signer is not None and named is not None:
        vouched = "the index signature"
    for device, dev in sorted(((s.index or {}).get("devices") or {}).items()):
        entry, head = cp.heads.get(device), dev["head"]
        if entry is None or (entry.sequence, entry.id) != (head["sequence"], head["id"]):
            at = f"#{entry.sequence} ({entry.id[:16]})" if entry is not None else "nothing"
            problems.append(Problem(CHECKPOINT, f"{device}: the checkpoint (version {cp.version})"
                                    f" records {at}, but the bundle's history ends at "
                                    f"#{head['sequence']} ({str(head['id'])[:16]})"))
    return {"version": cp.version, "keyid": cp.keyid, "issued": cp.issued.isoformat(),
            "expires": cp.expires.isoformat(), "vouched_by": vouched,
            "ok": len(problems) == before}


def _check_index_signature(s: Scan, snapshot: TrustSnapshot, problems: list[Problem]) -> str | None:
    if s.index_sig is None:
        return None
    keyid = s.index_sig["keyid"]
    try:
        snapshot.get(keyid).verify(bytes.fromhex(s.index_sig["signature"]), s.index_bytes)
    except BaselineInvalidError as exc:
        problems.append(Problem(INDEX_SIG, f"the index signature does not verify: {exc}"))
        return None
    return keyid


def _check_devices(s: Scan, snapshot: TrustSnapshot, problems: list[Problem]) -> list[DeviceReport]:
    index = s.index or {}
    listed = {d: (size, enc) for d, size, enc in index["blobs"]}
    for digest, (size, _enc) in sorted(listed.items()):
        reported = any(p.where.startswith(f"blobs/{digest}") for p in problems)
        if digest not in s.blobs and not reported:
            problems.append(Problem(f"blobs/{digest}", "missing from the bundle (removed)"))
        elif digest in s.blobs and s.blobs[digest] != size:
            problems.append(Problem(f"blobs/{digest}", f"{s.blobs[digest]} bytes, the index "
                                    f"says {size}"))
    for digest in sorted(set(s.blobs) - set(listed)):
        problems.append(Problem(f"blobs/{digest}", "not listed in the index (added)"))
    named = {e["id"] for dev in index["devices"].values() for e in dev["baselines"]}
    for bid in sorted(set(s.manifests) | set(s.signatures)):
        if bid not in named:
            problems.append(Problem(f"baselines/{bid}", "not listed in the index (added)"))
    reports = []
    for device, dev in sorted(index["devices"].items()):
        rows, entries = [], []
        for e in dev["baselines"]:
            bid = e["id"]
            where = f"baselines/{bid}"
            if bid not in s.manifests or bid not in s.signatures:
                if not any(p.where.startswith(where) for p in problems):
                    part = ".json" if bid not in s.manifests else ".sig"
                    problems.append(Problem(where + part, f"{device} #{e['sequence']}: missing "
                                            "from the bundle (removed)"))
                continue
            rows.append(Row(bid, device, e["sequence"], e["keyid"], s.manifests[bid],
                            s.signatures[bid], ""))
        head = Head(dev["head"]["sequence"], dev["head"]["id"])
        row_reports, extra = verify_rows(device, rows, snapshot, head)
        ok = True
        for r in row_reports:
            if r.problem is not None:
                ok = False
                problems.append(Problem(f"baselines/{r.row.id}.json", str(r.problem)))
            for a in (r.manifest.artifacts if r.manifest is not None else ()):
                if a.digest not in listed and a.digest not in s.blobs:
                    ok = False
                    problems.append(Problem(f"blobs/{a.digest}", f"{device} #{r.row.sequence} "
                                            f"artifact {a.key}: content missing from the bundle"))
            entries.append({"id": r.row.id, "sequence": r.row.sequence, "keyid": r.row.keyid,
                            "signer": r.signer_name,
                            "signed_at": r.manifest.signed_at.isoformat() if r.manifest else None,
                            "reason": r.manifest.reason if r.manifest else None,
                            "ok": r.problem is None, "note": r.note})
        for p in extra:
            ok = False
            problems.append(Problem(f"{INDEX} device {device}", str(p)))
        ok = ok and len(rows) == len(dev["baselines"])
        reports.append(DeviceReport(device, dev["protocol"], tuple(entries), ok))
    return reports


def list_bundle(path: str | Path) -> dict[str, Any]:
    """The index of a bundle (devices, baselines, signers, dates), read without
    verifying anything else.  Raises ConfigError when no index can be read."""
    with open_bundle(path) as fh:
        problems: list[Problem] = []
        try:
            first = next(read_members(fh))
            data = b"".join(first.chunks) if first.name == INDEX else b""
        except (BundleFormatError, StopIteration) as exc:
            raise ConfigError(f"not a plc-integrity bundle: {exc}", file=str(path)) from exc
        index = _load_index(data, problems) if data else None
    if index is None:
        raise ConfigError("not a plc-integrity bundle (no readable index.json first)",
                          file=str(path))
    return index
