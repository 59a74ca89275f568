"""Changing the site policy: signing it, drafting the next version.

A new version is written as ``trust/policy.draft.toml`` (by hand, or by the
``keys`` commands from the version in force) and signed by root keys; it takes
over once it carries its own root threshold and the previous version's, and
the previous version moves to ``trust/policies/N.toml`` where ``verify_chain``
finds it.  Nothing here is trusted on read: ``policy.load_policy`` verifies.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from integrity.errors import PolicyError

from baselines.heads import write_atomic
from baselines.policy import (ARCHIVE, DRAFT, POLICY, Policy, check_signed, load_file,
                              read_signatures, sig_path, verify_chain)
from baselines.signing import Signer, TrustSnapshot, short_keyid


def sign_policy(trust_dir: Path, key: Signer, trust: TrustSnapshot) -> tuple[Policy, bool, str]:
    """Add ``key``'s signature to the draft (or, with no draft, the policy in
    force) and promote a draft that now carries every threshold.

    Returns (the signed policy, whether it is now in force, what is missing).
    Raises PolicyError (not a root key of it or of its predecessor, bad file).
    """
    trust_dir = Path(trust_dir)
    draft = trust_dir / DRAFT
    path = draft if draft.exists() else trust_dir / POLICY
    policy = load_file(path)
    current = load_file(trust_dir / POLICY) if path == draft and (trust_dir / POLICY).exists() \
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
        check_signed(policy, current, trust)
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
    return load_file(trust_dir / POLICY), True, ""


def toml_value(v: Any) -> str:
    """The few TOML values a policy holds: strings, whole numbers, booleans,
    lists of those and inline tables of them.  Anything else is refused."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON string escapes are valid TOML
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(x)}"
                                for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} into a policy")


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
