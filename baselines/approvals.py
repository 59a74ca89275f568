"""Approval statements and counting them against the site policy.

An approval is a signature over a small canonical statement that names the
manifest by its id (the SHA-256 of its exact bytes, so it binds exactly what a
signature over the manifest would), plus what the manifest cannot carry: who
approves, when, and under which policy version::

    {"baseline": <manifest id>, "device", "policy": <version>, "sequence",
     "signed_at", "signer": <key id>, "type": "plc-integrity/approval"}

The time is needed to judge revocation and expiry "at signing time"; the policy
version makes the rule a baseline was approved under part of what is signed.
The times are the signer's own claim: a key's holder can back-date, which is why
a key revoked as compromised voids everything it ever signed.

Counting (``tally``): each key counts once; a signature by a key revoked,
expired or compromised at its time is void; roles are filled by distinct keys
(one key fills at most one slot, so "one engineer and one security" always
means two people).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from integrity import canonical
from integrity.errors import (PolicyError, SignatureInvalidError, StoreTamperedError,
                              UnapprovedError, UntrustedKeyError)

from baselines.manifest import Manifest, format_time, parse_time
from baselines.policy import KeyInfo, Policy, Requirement, archived
from baselines.signing import Signer, TrustSnapshot, short_keyid

DOC_TYPE = "plc-integrity/approval"


@dataclass(frozen=True)
class Approval:
    keyid: str
    signed_at: datetime
    policy: int
    statement: bytes
    signature: bytes


def make(key: Signer, target: str, manifest: Manifest, policy_version: int,
         signed_at: datetime) -> Approval:
    data = canonical.encode({"type": DOC_TYPE, "baseline": target, "device": manifest.device,
                             "sequence": manifest.sequence, "signer": key.keyid,
                             "signed_at": format_time(signed_at), "policy": policy_version})
    return Approval(key.keyid, signed_at, policy_version, data, key.sign(data))


def check(row: Any, target: str, device: str, trust: TrustSnapshot) -> Approval | None:
    """One stored approval, verified from its bytes.  None: its key is not in
    trust/ (it cannot count, and says nothing).  Raises StoreTamperedError for
    a row whose signature or content does not fit (an edited approval)."""
    where = f"approval by {short_keyid(str(row.keyid))} of {device} {str(target)[:16]}"
    try:
        key = trust.get(row.keyid)
    except UntrustedKeyError:
        return None
    try:
        key.verify(bytes(row.signature), bytes(row.statement))
        doc = json.loads(bytes(row.statement))
        if canonical.encode(doc) != bytes(row.statement) or doc.get("type") != DOC_TYPE:
            raise ValueError("not a canonical approval statement")
        if doc["baseline"] != target or doc["device"] != device or doc["signer"] != row.keyid:
            raise ValueError("it approves something else (row moved)")
        if type(doc["policy"]) is not int:
            raise ValueError("bad policy version")
        return Approval(row.keyid, parse_time(doc["signed_at"], "signed_at"), doc["policy"],
                        bytes(row.statement), bytes(row.signature))
    except SignatureInvalidError as exc:
        raise StoreTamperedError(f"{where}: signature does not match the statement "
                                 "(approval edited)") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreTamperedError(f"{where}: {exc}") from exc


@dataclass(frozen=True)
class Tally:
    requirement: Requirement
    policy_version: int
    counted: tuple[str, ...]          # key names whose signature counts
    void: tuple[str, ...]             # why others do not
    missing_roles: Mapping[str, int]

    @property
    def ok(self) -> bool:
        return len(self.counted) >= self.requirement.threshold and not self.missing_roles

    def needs(self) -> str:
        more = max(0, self.requirement.threshold - len(self.counted))
        parts = [f"{more} more signature(s)"] if more else []
        parts += [f"{n} more {r}" for r, n in sorted(self.missing_roles.items())]
        return ", ".join(parts) or "nothing"

    def to_dict(self) -> dict[str, Any]:
        return {"policy_version": self.policy_version, "required": self.requirement.text(),
                "signed_by": list(self.counted), "void": list(self.void),
                "needs": None if self.ok else self.needs(), "approved": self.ok}


def _fill_roles(holders: Mapping[str, tuple[str, ...]], wanted: Mapping[str, int]
                ) -> dict[str, int]:
    """Assign distinct keys to role slots (bipartite matching by augmenting
    paths); returns the slots left unfilled per role."""
    slots = [role for role, n in sorted(wanted.items()) for _ in range(n)]
    owner: dict[int, str] = {}

    def assign(key: str, seen: set[int]) -> bool:
        for i, role in enumerate(slots):
            if role in holders[key] and i not in seen:
                seen.add(i)
                if i not in owner or assign(owner[i], seen):
                    owner[i] = key
                    return True
        return False

    for key in holders:
        assign(key, set())
    missing: dict[str, int] = {}
    for i, role in enumerate(slots):
        if i not in owner:
            missing[role] = missing.get(role, 0) + 1
    return missing


def tally(approvals: Iterable[Approval], requirement: Requirement, version: int,
          info_now: Callable[[str], KeyInfo], roles_of: Callable[[str], tuple[str, ...]]) -> Tally:
    counted: dict[str, str] = {}
    void = []
    for a in sorted(approvals, key=lambda a: a.signed_at):
        if a.keyid in counted:
            continue  # the same key twice counts once
        info = info_now(a.keyid)
        why = info.why_void(a.signed_at)
        if why:
            void.append(f"{info.name}: {why}")
            continue
        counted[a.keyid] = info.name
    holders = {k: roles_of(k) for k in counted}
    missing = _fill_roles(holders, requirement.roles) if requirement.roles else {}
    return Tally(requirement, version, tuple(counted.values()), tuple(void), missing)


def tally_now(found: Iterable[Approval], device: str, trust: TrustSnapshot) -> Tally:
    """The approvals made under the policy in force, counted by its rule for
    ``device`` (``trust.policy`` must be a Policy)."""
    policy: Policy = trust.policy
    return tally([a for a in found if a.policy == policy.version],
                 policy.requirement(device, trust.tags_of(device)), policy.version,
                 lambda k: policy.key_info(k, trust), lambda k: policy.key_info(k, trust).roles)


def judge(device: str, target: str, manifest: Manifest, approvals: list[Approval],
          trust: TrustSnapshot, vouched_policy: int | None) -> Tally | None:
    """Whether ``approvals`` make ``target`` an approved state of ``device``
    under the policy in force (None: the site has no policy).

    A baseline approved under an earlier policy version stays valid when the
    signed checkpoint recorded it under that version (``vouched_policy``).  A
    baseline without approvals counts as approved by its signer alone, under
    "version 0": valid only when the checkpoint says so, i.e. it is from before
    the policy.  Keys revoked or compromised since are judged by the policy in
    force.  Raises PolicyError (the policy itself is bad) and UnapprovedError.
    """
    policy = trust.policy
    if isinstance(policy, PolicyError):
        raise policy
    if policy is None:
        return None
    groups: dict[int, list[Approval]] = {}
    for a in approvals:
        groups.setdefault(a.policy, []).append(a)
    if not approvals:
        groups[0] = [Approval(manifest.signer, manifest.signed_at, 0, b"", b"")]
    tags = trust.tags_of(device)

    def info_now(keyid: str) -> KeyInfo:
        return policy.key_info(keyid, trust)

    def judged(version: int) -> Tally:
        if version == 0:
            return tally(groups[0], Requirement(1, {}), 0, info_now, lambda k: ())
        under: Policy = archived(policy.path.parent, version, policy)
        return tally(groups[version], under.requirement(device, tags), version, info_now,
                     lambda k: under.key_info(k, trust).roles)

    current = judged(policy.version) if policy.version in groups else tally(
        [], policy.requirement(device, tags), policy.version, info_now, lambda k: ())
    if current.ok:
        return current
    voids = list(current.void)
    if vouched_policy is not None and vouched_policy in groups and vouched_policy < policy.version:
        older = judged(vouched_policy)
        if older.ok:
            return older
        voids += older.void
    void = f"; not counted: {'; '.join(voids)}" if voids else ""
    raise UnapprovedError(
        f"baseline {device} #{manifest.sequence} {target[:16]}: signed by "
        f"{', '.join(current.counted) or 'no valid key'} under policy v{policy.version}, which "
        f"requires {current.requirement.text()}; needs {current.needs()}{void} (re-approve with "
        f"`plc-integrity baseline approve {device} --key KEY`, or capture anew)")
