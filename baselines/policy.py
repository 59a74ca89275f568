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
takes over when it is fully signed (``policy_edit.sign_policy``).

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

from baselines.localstate import LocalState
from baselines.signing import KEYID_RE, TrustSnapshot, short_keyid

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
    listed: bool = True    # False: in trust/ but not one of the policy's keys

    def status(self, now: datetime) -> str:
        if not self.listed:
            return "not in policy"
        if self.compromised:
            return "compromised"
        if self.revoked is not None and now >= self.revoked:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "active"

    def why_void(self, signed_at: datetime) -> str | None:
        """Why a signature made at ``signed_at`` does not count, or None."""
        if not self.listed:
            return (f"{self.name} is in trust/ but not one of the policy's keys (adding a key "
                    "is a signed policy change: plc-integrity keys grant)")
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
        """The policy's entry for a key: by pinned key id, else by its trust/
        name (an entry without keyid, or a root key named only in [root]).
        Under a policy the trusted keys are the policy's: a key that is only
        in trust/ comes back ``listed=False``, and its signatures do not count,
        so dropping a .pub into trust/ adds no approver."""
        for info in self.keys.values():
            if info.keyid == keyid:
                return info
        name = trust.name_of(keyid)
        if name is not None and name in self.keys and self.keys[name].keyid is None:
            return self.keys[name]
        if name is not None and name in self.root_keys and name not in self.keys:
            return KeyInfo(name, keyid)
        return KeyInfo(name or short_keyid(keyid), keyid, listed=False)

    def keyid_of(self, name: str, trust: TrustSnapshot) -> str | None:
        info = self.keys.get(name)
        if info is not None and info.keyid:
            return info.keyid
        for entry in trust.keys():
            if entry.name == name:
                return entry.keyid
        return None


def _strings(value: Any, what: str) -> tuple[str, ...]:
    """A list of strings, strictly: a bare string would otherwise be read
    character by character (``devices = "vfd-*"`` matching "v", "f", ...)."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{what} must be a list of names, e.g. [\"vfd-*\"]")
    return tuple(value)


def _count(value: Any, what: str) -> int:
    if type(value) is not int or value < 1:
        raise ValueError(f"{what} must be a positive whole number, got {value!r}")
    return value


_TOP = {"version", "expires", "root", "keys", "rules", "checkpoint"}
_KEY_FIELDS = {"keyid", "roles", "expires", "revoked", "reason", "compromised"}
_RULE_FIELDS = {"devices", "tag", "threshold", "roles"}


def _unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    # A misspelt field (say "treshold") must not silently mean "the default".
    extra = sorted(set(table) - known)
    if extra:
        raise ValueError(f"{where}: unknown field(s) {', '.join(extra)}")


def _key_info(name: str, k: Any) -> KeyInfo:
    where = f"keys.{name}"
    if not isinstance(k, dict):
        raise ValueError(f"{where} must be a table")
    _unknown(k, _KEY_FIELDS, where)
    keyid = k.get("keyid")
    if keyid is not None and not (isinstance(keyid, str) and KEYID_RE.fullmatch(keyid)):
        raise ValueError(f"{where}.keyid must be 64 hex digits")
    compromised = k.get("compromised", False)
    reason = k.get("reason")
    if not isinstance(compromised, bool) or not (reason is None or isinstance(reason, str)):
        raise ValueError(f"{where}: compromised must be true/false and reason a string")
    return KeyInfo(name, keyid, _strings(k.get("roles", []), f"{where}.roles"),
                   _time(k["expires"], f"{where}.expires") if "expires" in k else None,
                   _time(k["revoked"], f"{where}.revoked") if "revoked" in k else None,
                   reason, compromised)


def _rule(i: int, r: Any) -> Rule:
    where = f"rules[{i}]"
    if not isinstance(r, dict):
        raise ValueError(f"{where} must be a table")
    _unknown(r, _RULE_FIELDS, where)
    if ("tag" in r) == ("devices" in r):
        raise ValueError(f"{where} needs either devices or tag")
    tag = r.get("tag")
    if tag is not None and not (isinstance(tag, str) and tag):
        raise ValueError(f"{where}.tag must be a tag name")
    roles = r.get("roles", {})
    if not isinstance(roles, dict):
        raise ValueError(f"{where}.roles must be a table, e.g. {{ engineer = 1 }}")
    return Rule(_strings(r["devices"], f"{where}.devices") if "devices" in r else (), tag,
                _count(r.get("threshold", 1), f"{where}.threshold"),
                {role: _count(n, f"{where}.roles.{role}") for role, n in roles.items()})


def parse_policy(data: bytes, path: Path) -> Policy:
    """Parse policy bytes, strictly.  Raises PolicyError naming the file and field."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
        _unknown(doc, _TOP, "policy")
        version = _count(doc["version"], "version")
        root = doc["root"]
        if not isinstance(root, dict):
            raise ValueError("root must be a table")
        _unknown(root, {"keys", "threshold"}, "root")
        root_keys = _strings(root["keys"], "root.keys")
        threshold = _count(root.get("threshold", 1), "root.threshold")
        if not root_keys or threshold > len(root_keys):
            raise ValueError("root needs keys and a threshold of at most their number")
        keys_table = doc.get("keys", {})
        if not isinstance(keys_table, dict):
            raise ValueError("keys must be a table of tables, e.g. [keys.alice]")
        keys = {name: _key_info(name, k) for name, k in keys_table.items()}
        rules_list = doc.get("rules", [])
        if not isinstance(rules_list, list):
            raise ValueError("rules must be an array of tables ([[rules]])")
        rules = tuple(_rule(i, r) for i, r in enumerate(rules_list))
        cp_table = doc.get("checkpoint", {})
        if not isinstance(cp_table, dict):
            raise ValueError("checkpoint must be a table")
        _unknown(cp_table, {"keyid"}, "checkpoint")
        cp = cp_table.get("keyid")
        if cp is not None and not (isinstance(cp, str) and KEYID_RE.fullmatch(cp)):
            raise ValueError("checkpoint.keyid must be 64 hex digits")
        return Policy(version, _time(doc["expires"], "expires"), root_keys, threshold, keys,
                      rules, cp, data, path)
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


def check_signed(policy: Policy, previous: Policy | None, trust: TrustSnapshot) -> None:
    sigs = read_signatures(policy.path)
    for who in ([previous] if previous else []) + [policy]:
        good = _root_signers(who, policy, trust, sigs)
        if len(good) < who.root_threshold:
            of = "its own" if who is policy else f"the previous version's (v{who.version})"
            raise PolicyError(f"policy {policy.path} (v{policy.version}) has {len(good)} of the "
                              f"{who.root_threshold} root signature(s) {of} root keys require "
                              f"({', '.join(who.root_keys)}); sign it with `plc-integrity policy "
                              "sign --key KEY`")


def load_file(path: Path) -> Policy:
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
            previous = load_file(prev_path)
            if previous.version != current.version - 1:
                raise PolicyError(f"{prev_path} says version {previous.version}")
        check_signed(current, previous, trust)
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
    policy = load_file(path)
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
    return load_file(Path(trust_dir) / ARCHIVE / f"{version}.toml")
