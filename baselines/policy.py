"""The site policy: who may approve which devices, and how many must.

``trust/policy.toml``, signed by a threshold of the site's root keys, with an
expiry (TUF's root role, for PLC baselines)::

    version = 1
    expires = "2027-12-01"
    [root]                        # who may change this policy and the trusted keys
    keys = ["alice", "bob"]       # names of keys in [keys] or of trust/NAME.pub
    threshold = 1
    [keys.alice]                  # optional per key; the tools write keyid
    keyid = "<64 hex>"            # pins the name to one key
    roles = ["engineer"]
    expires = "2027-06-01"
    revoked = "2026-12-01T10:00:00Z"   # signatures made from then on are void
    reason = "left the team"
    compromised = false           # true: every signature it ever made is void
    [[rules]]
    devices = ["*"]               # names or patterns; or: tag = "safety"
    threshold = 2
    roles = { engineer = 1, security = 1 }
    [checkpoint]
    keyid = "<64 hex>"            # optional: pins the checkpoint key

The signatures are in ``policy.toml.sig`` (JSON: key id -> hex signature over
the file's exact bytes).  Version 1 needs the threshold of its own root keys;
every later version needs its own and the previous version's (kept in
``trust/policies/N.toml``), so whoever changes the policy or the keys needs the
old root threshold.  A new version is prepared as ``policy.draft.toml`` and
takes over when it is fully signed (``promote``).

Every rule that matches a device applies: the threshold is the highest, and each
role needs the most any rule asks; one key fills at most one role slot.  A
device no rule matches needs one signature.  Without a policy file a site
behaves as before (one signature by any trusted key).  A policy that fails
verification, has expired, or is older than one this host saw raises
PolicyError: it never falls back to "anyone may sign".
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from integrity.errors import PolicyError, SignatureInvalidError, StoreError, UntrustedKeyError
from integrity.tomlwriter import value as toml_value

from baselines.heads import write_atomic
from baselines.localstate import LocalState
from baselines.signing import KEYID_RE, Signer, TrustSnapshot, short_keyid

POLICY = "policy.toml"
DRAFT = "policy.draft.toml"
ARCHIVE = "policies"


def _time(value: Any, what: str) -> datetime:
    """A TOML date or datetime (a bare date means its start, UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if hasattr(value, "isoformat") and not isinstance(value, str):  # a datetime.date
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, str):
        try:
            return _time(datetime.fromisoformat(value.replace("Z", "+00:00")), what)
        except ValueError:
            pass
    raise ValueError(f"{what} must be a date or time, e.g. \"2027-12-01\", got {value!r}")


@dataclass(frozen=True)
class KeyInfo:
    name: str
    keyid: str | None
    roles: tuple[str, ...] = ()
    expires: datetime | None = None
    revoked: datetime | None = None
    reason: str | None = None
    compromised: bool = False

    def status(self, now: datetime) -> str:
        if self.compromised:
            return "compromised"
        if self.revoked is not None and now >= self.revoked:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "active"

    def why_void(self, signed_at: datetime) -> str | None:
        """Why a signature made at ``signed_at`` does not count, or None."""
        if self.compromised:
            return f"{self.name} is revoked as compromised"
        if self.revoked is not None and signed_at >= self.revoked:
            return f"{self.name} was revoked at {self.revoked:%Y-%m-%d %H:%M} UTC"
        if self.expires is not None and signed_at >= self.expires:
            return f"{self.name} expired at {self.expires:%Y-%m-%d %H:%M} UTC"
        return None


@dataclass(frozen=True)
class Rule:
    devices: tuple[str, ...] = ()
    tag: str | None = None
    threshold: int = 1
    roles: Mapping[str, int] = field(default_factory=dict)

    def matches(self, device: str, tags: frozenset[str] | None) -> bool:
        if self.tag is not None:
            # Unknown tags (a library caller without the inventory): the rule
            # applies, so a missing inventory never lowers the bar.
            return tags is None or self.tag in tags
        return any(fnmatch.fnmatchcase(device, p) for p in self.devices)


@dataclass(frozen=True)
class Requirement:
    threshold: int
    roles: Mapping[str, int]

    def text(self) -> str:
        roles = ", ".join(f"{n} {r}" for r, n in sorted(self.roles.items()))
        return f"{self.threshold} signature(s)" + (f" incl. {roles}" if roles else "")


@dataclass(frozen=True)
class Policy:
    version: int
    expires: datetime
    root_keys: tuple[str, ...]
    root_threshold: int
    keys: Mapping[str, KeyInfo]
    rules: tuple[Rule, ...]
    checkpoint_keyid: str | None
    raw: bytes
    path: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    def requirement(self, device: str, tags: frozenset[str] | None) -> Requirement:
        matching = [r for r in self.rules if r.matches(device, tags)]
        roles: dict[str, int] = {}
        for r in matching:
            for role, n in r.roles.items():
                roles[role] = max(roles.get(role, 0), n)
        threshold = max([r.threshold for r in matching] + [1, sum(roles.values())])
        return Requirement(threshold, roles)

    def key_info(self, keyid: str, trust: TrustSnapshot) -> KeyInfo:
        """The policy's entry for a key (by pinned id, else by its trust/ name);
        a trusted key the policy does not list has no roles and no limits."""
        for info in self.keys.values():
            if info.keyid == keyid:
                return info
        name = trust.name_of(keyid)
        if name is not None and name in self.keys and self.keys[name].keyid is None:
            return self.keys[name]
        return KeyInfo(name or short_keyid(keyid), keyid)

    def keyid_of(self, name: str, trust: TrustSnapshot) -> str | None:
        info = self.keys.get(name)
        if info is not None and info.keyid:
            return info.keyid
        for entry in trust.keys():
            if entry.name == name:
                return entry.keyid
        return None


def parse_policy(data: bytes, path: Path) -> Policy:
    """Parse policy bytes.  Raises PolicyError naming the file and field."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
        version = doc["version"]
        if type(version) is not int or version < 1:
            raise ValueError("version must be a positive integer")
        root = doc["root"]
        root_keys = tuple(root["keys"])
        threshold = root.get("threshold", 1)
        if not root_keys or type(threshold) is not int or not 1 <= threshold <= len(root_keys):
            raise ValueError("root needs keys and a threshold between 1 and their number")
        keys = {}
        for name, k in doc.get("keys", {}).items():
            keyid = k.get("keyid")
            if keyid is not None and not KEYID_RE.fullmatch(str(keyid)):
                raise ValueError(f"keys.{name}.keyid must be 64 hex digits")
            keys[name] = KeyInfo(
                name, keyid, tuple(k.get("roles", ())),
                _time(k["expires"], f"keys.{name}.expires") if "expires" in k else None,
                _time(k["revoked"], f"keys.{name}.revoked") if "revoked" in k else None,
                k.get("reason"), bool(k.get("compromised", False)))
        rules = []
        for i, r in enumerate(doc.get("rules", [])):
            if ("tag" in r) == ("devices" in r):
                raise ValueError(f"rules[{i}] needs either devices or tag")
            t = r.get("threshold", 1)
            roles = dict(r.get("roles", {}))
            if type(t) is not int or t < 1 or any(type(n) is not int or n < 1
                                                  for n in roles.values()):
                raise ValueError(f"rules[{i}]: threshold and role counts must be positive")
            rules.append(Rule(tuple(r.get("devices", ())), r.get("tag"), t, roles))
        cp = doc.get("checkpoint", {}).get("keyid")
        return Policy(version, _time(doc["expires"], "expires"), root_keys, threshold, keys,
                      tuple(rules), cp, data, path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, ValueError, TypeError,
            AttributeError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise PolicyError(f"policy {path} is not valid: {what}") from exc


# -- signatures ---------------------------------------------------------------------------

def sig_path(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def read_signatures(path: Path) -> dict[str, str]:
    try:
        doc = json.loads(sig_path(path).read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise PolicyError(f"policy signatures {sig_path(path)} are unreadable: {exc}") from exc
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise PolicyError(f"policy signatures {sig_path(path)} are damaged")
    return doc


def _root_signers(signer_policy: Policy, signed: Policy, trust: TrustSnapshot,
                  sigs: Mapping[str, str]) -> set[str]:
    """Distinct root keys of ``signer_policy`` with a good signature over ``signed``."""
    good = set()
    for name in signer_policy.root_keys:
        keyid = signer_policy.keyid_of(name, trust)
        if keyid is None or keyid not in sigs:
            continue
        try:
            trust.get(keyid).verify(bytes.fromhex(sigs[keyid]), signed.raw)
        except (SignatureInvalidError, UntrustedKeyError, ValueError):
            continue
        good.add(keyid)
    return good


def _check_signed(policy: Policy, previous: Policy | None, trust: TrustSnapshot) -> None:
    sigs = read_signatures(policy.path)
    for who in ([previous] if previous else []) + [policy]:
        good = _root_signers(who, policy, trust, sigs)
        if len(good) < who.root_threshold:
            of = "its own" if who is policy else f"the previous version's (v{who.version})"
            raise PolicyError(f"policy {policy.path} (v{policy.version}) has {len(good)} of the "
                              f"{who.root_threshold} root signature(s) {of} root keys require "
                              f"({', '.join(who.root_keys)}); sign it with `plc-integrity policy "
                              "sign --key KEY`")


def _load(path: Path) -> Policy:
    try:
        return parse_policy(path.read_bytes(), path)
    except OSError as exc:
        raise PolicyError(f"policy {path} is unreadable: {exc.strerror or exc}") from exc


def verify_chain(policy: Policy, trust: TrustSnapshot) -> None:
    """Check ``policy``'s signatures and, for version > 1, every earlier version
    in ``trust/policies/`` back to 1.  Raises PolicyError."""
    current = policy
    while True:
        previous = None
        if current.version > 1:
            older = current.path.parent if current.path.parent.name == ARCHIVE else \
                current.path.parent / ARCHIVE
            prev_path = older / f"{current.version - 1}.toml"
            if not prev_path.exists():
                raise PolicyError(f"policy {current.path} is version {current.version} but "
                                  f"{prev_path} is missing: the chain of root signatures cannot be "
                                  "checked")
            previous = _load(prev_path)
            if previous.version != current.version - 1:
                raise PolicyError(f"{prev_path} says version {previous.version}")
        _check_signed(current, previous, trust)
        if previous is None:
            return
        current = previous


def load_policy(trust_dir: Path, trust: TrustSnapshot, *, local: LocalState | None = None,
                now: datetime | None = None) -> Policy | None:
    """The policy in force, verified; None when the site has none (and this
    host never saw one).  Raises PolicyError."""
    now = now or datetime.now(timezone.utc)
    path = Path(trust_dir) / POLICY
    seen = local.read().get("policy_version", 0) if local is not None else 0
    if not path.exists():
        if seen:
            raise PolicyError(f"policy {path} is missing, but this host saw version {seen} "
                              f"(memory in {local.path}): deleted or rolled back")
        return None
    policy = _load(path)
    verify_chain(policy, trust)
    if policy.version < seen:
        raise PolicyError(f"policy {path} is version {policy.version}, but this host already "
                          f"saw version {seen}: rolled back")
    if now >= policy.expires:
        raise PolicyError(f"policy {path} (v{policy.version}) expired at "
                          f"{policy.expires:%Y-%m-%d %H:%M} UTC: every check stops until the root "
                          "keys sign a renewed version")
    if local is not None and policy.version > seen:
        try:
            local.remember(policy_version=policy.version)
        except StoreError:
            pass  # an unwritable memory must not fail a check
    return policy


def archived(trust_dir: Path, version: int, current: Policy) -> Policy:
    """The policy of ``version`` (the current one or from trust/policies/)."""
    if version == current.version:
        return current
    return _load(Path(trust_dir) / ARCHIVE / f"{version}.toml")


# -- changing the policy -------------------------------------------------------------------

def sign_policy(trust_dir: Path, key: Signer, trust: TrustSnapshot) -> tuple[Policy, bool, str]:
    """Add ``key``'s signature to the draft (or, with no draft, the policy in
    force) and promote a draft that now carries every threshold.

    Returns (the signed policy, whether it is now in force, what is missing).
    Raises PolicyError (not a root key of it or of its predecessor, bad file).
    """
    trust_dir = Path(trust_dir)
    draft = trust_dir / DRAFT
    path = draft if draft.exists() else trust_dir / POLICY
    policy = _load(path)
    current = _load(trust_dir / POLICY) if path == draft and (trust_dir / POLICY).exists() \
        else None
    if current is not None and policy.version != current.version + 1:
        raise PolicyError(f"draft {path} is version {policy.version}; the policy in force is "
                          f"v{current.version}, so the draft must be v{current.version + 1}")
    allowed = {policy.keyid_of(n, trust) for n in policy.root_keys}
    if current is not None:
        allowed |= {current.keyid_of(n, trust) for n in current.root_keys}
    if key.keyid not in allowed:
        raise PolicyError(f"key {short_keyid(key.keyid)} is not a root key of {path} "
                          "(or of the policy in force)")
    sigs = read_signatures(path)
    sigs[key.keyid] = key.sign(policy.raw).hex()
    write_atomic(sig_path(path), json.dumps(sigs, indent=1, sort_keys=True).encode("utf-8"))
    if path != draft:
        try:
            verify_chain(policy, trust)
            return policy, True, ""
        except PolicyError as exc:
            return policy, False, str(exc)
    try:
        _check_signed(policy, current, trust)
    except PolicyError as exc:
        return policy, False, str(exc)
    if current is not None:
        (trust_dir / ARCHIVE).mkdir(exist_ok=True)
        arch = trust_dir / ARCHIVE / f"{current.version}.toml"
        write_atomic(arch, current.raw)
        write_atomic(sig_path(arch), sig_path(current.path).read_bytes())
    write_atomic(trust_dir / POLICY, policy.raw)
    write_atomic(sig_path(trust_dir / POLICY), sig_path(draft).read_bytes())
    draft.unlink()
    sig_path(draft).unlink()
    return _load(trust_dir / POLICY), True, ""


def render(policy_doc: Mapping[str, Any]) -> str:
    """A policy document as TOML (what the tools write into a draft)."""
    out = [f"version = {policy_doc['version']}", f"expires = {toml_value(policy_doc['expires'])}",
           "", "[root]"]
    out += [f"{k} = {toml_value(v)}" for k, v in policy_doc["root"].items()]
    for name, k in policy_doc.get("keys", {}).items():
        out += ["", f"[keys.{json.dumps(name)}]"]
        out += [f"{a} = {toml_value(v)}" for a, v in k.items() if v is not None]
    for r in policy_doc.get("rules", []):
        out += ["", "[[rules]]"] + [f"{a} = {toml_value(v)}" for a, v in r.items()]
    if policy_doc.get("checkpoint"):
        out += ["", "[checkpoint]"]
        out += [f"{a} = {toml_value(v)}" for a, v in policy_doc["checkpoint"].items()]
    return "\n".join(out) + "\n"


def to_doc(policy: Policy) -> dict[str, Any]:
    """A policy as a plain document, for ``render`` (e.g. a draft of the next version)."""
    def t(x: datetime | None) -> str | None:
        return x.isoformat().replace("+00:00", "Z") if x else None

    return {
        "version": policy.version, "expires": t(policy.expires),
        "root": {"keys": list(policy.root_keys), "threshold": policy.root_threshold},
        "keys": {n: {"keyid": k.keyid, "roles": list(k.roles), "expires": t(k.expires),
                     "revoked": t(k.revoked), "reason": k.reason,
                     "compromised": k.compromised or None}
                 for n, k in policy.keys.items()},
        "rules": [{**({"tag": r.tag} if r.tag else {"devices": list(r.devices)}),
                   "threshold": r.threshold, **({"roles": dict(r.roles)} if r.roles else {})}
                  for r in policy.rules],
        "checkpoint": {"keyid": policy.checkpoint_keyid} if policy.checkpoint_keyid else {}}


def write_draft(trust_dir: Path, doc: Mapping[str, Any]) -> Path:
    """Write ``doc`` as trust/policy.draft.toml (replacing an unsigned draft)."""
    path = Path(trust_dir) / DRAFT
    write_atomic(path, render(doc).encode("utf-8"))
    sig_path(path).unlink(missing_ok=True)
    return path
