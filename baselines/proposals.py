"""Proposals and approvals, kept in the store.  Mixed into ``Store``.

Under a site policy whose rule for a device needs more than the capturer's
signature, ``append_baseline`` stores a *proposal*: the signed manifest (next
sequence, previous = the current baseline's id) and the capturer's approval.
``approve`` adds signed approvals; when they meet the policy the proposal is
inserted as the device's next baseline (the chain links approved baselines
only) and the checkpoint moves.  Until then every check uses the last approved
baseline.  ``approve`` on a device with no pending proposal re-approves its
current baseline (e.g. after its signer was revoked as compromised).

Every read re-verifies approvals from their stored bytes (``approvals.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from integrity.errors import (BaselineInvalidError, ConfigError, NoBaselineError, PolicyError,
                              StoreTamperedError, UnapprovedError)

from baselines import approvals, tables
from baselines.checkpoint import Checkpoint, utc
from baselines.heads import Head
from baselines.manifest import Baseline, format_time
from baselines.signing import Signer, TrustSnapshot, short_keyid
from baselines.verify import Row, check_row


@dataclass(frozen=True)
class Proposal:
    """A pending (or closed) proposal with its verified approvals' tally."""

    baseline: Baseline            # the proposed manifest, signature verified
    state: str
    created_at: str
    tally: approvals.Tally | None
    closed_reason: str | None = None

    @property
    def id(self) -> str:
        return self.baseline.id

    @property
    def manifest(self) -> Any:
        return self.baseline.manifest

    @property
    def pending(self) -> bool:
        return self.state == "pending"

    def to_dict(self) -> dict[str, Any]:
        m = self.baseline.manifest
        return {"id": self.id, "device": m.device, "sequence": m.sequence, "state": self.state,
                "proposed_by": self.baseline.signer_name or self.baseline.keyid[:16],
                "reason": m.reason, "created_at": self.created_at,
                "closed_reason": self.closed_reason,
                "approvals": self.tally.to_dict() if self.tally else None}


@dataclass(frozen=True)
class ApproveOutcome:
    target: Proposal | Baseline
    tally: approvals.Tally
    promoted: Baseline | None     # the new baseline, once the threshold is met
    already: bool                 # this key had signed already: it counts once


class ProposalsMixin:
    """Needs ``_tx``, ``_verified``, ``_record_head`` and
    ``_checkpoint`` from Store and its history part."""

    _checkpoint: Checkpoint | None

    # -- reading -------------------------------------------------------------------------

    def _approval_rows(self, conn: Connection, targets: list[str]) -> dict[str, list[Any]]:
        t = tables.approvals
        out: dict[str, list[Any]] = {x: [] for x in targets}
        for i in range(0, len(targets), 500):
            for r in conn.execute(select(t.c.target, t.c.keyid, t.c.statement, t.c.signature)
                                  .where(t.c.target.in_(targets[i:i + 500])).order_by(t.c.id)):
                out.setdefault(r.target, []).append(r)
        return out

    def _verified_approvals(self, rows: list[Any], target: str, device: str,
                            trust: TrustSnapshot) -> list[approvals.Approval]:
        found = (approvals.check(r, target, device, trust) for r in rows)
        return [a for a in found if a is not None]

    def _vouched(self) -> dict[str, Any]:
        """The checkpoint's entries (device -> Entry: head id and the policy
        version it was recorded under); {} without a checkpoint."""
        cp = self._checkpoint.load() if self._checkpoint is not None else None
        return dict(cp.heads) if cp is not None else {}

    def _judge(self, conn: Connection, found: dict[str, Baseline], trust: TrustSnapshot
               ) -> dict[str, BaselineInvalidError]:
        """The devices whose current baseline fails the policy, with why."""
        if trust.policy is None or not found:
            return {}
        if isinstance(trust.policy, PolicyError):
            return {d: trust.policy for d in found}
        rows = self._approval_rows(conn, [b.id for b in found.values()])
        bad: dict[str, BaselineInvalidError] = {}
        try:
            recorded = self._vouched()
        except BaselineInvalidError as exc:  # reported by the chain check too; never vouches
            recorded, bad = {}, {d: exc for d in found}
        for device, b in found.items():
            entry = recorded.get(device)
            vouched = entry.policy if entry is not None and entry.id == b.id else None
            try:
                mine = self._verified_approvals(rows.get(b.id, []), b.id, device, trust)
                approvals.judge(device, b.id, b.manifest, mine, trust, vouched)
            except BaselineInvalidError as exc:
                bad[device] = exc
            except Exception as exc:  # noqa: BLE001 - approval rows are attacker-reachable input
                bad[device] = StoreTamperedError(
                    f"baseline {device}: approvals could not be verified "
                    f"({type(exc).__name__}: {str(exc)[:200]})")
        return bad

    def _proposal_rows(self, conn: Connection, device: str | None, state: str | None) -> list[Any]:
        t = tables.proposals
        q = select(t).order_by(t.c.device, t.c.created_at)
        if device is not None:
            q = q.where(t.c.device == device)
        if state is not None:
            q = q.where(t.c.state == state)
        return list(conn.execute(q))

    def _proposal(self, conn: Connection, r: Any, trust: TrustSnapshot) -> Proposal:
        row = Row.from_db(r)  # refuses columns of the wrong type (an edited row)
        manifest, problem, _untrusted = check_row(row, trust)
        if problem is not None:
            raise type(problem)(f"proposal {r.id[:16]}: {problem}")
        b = Baseline(r.id, manifest, row.manifest, row.signature, r.keyid, trust.name_of(r.keyid))
        mine = self._verified_approvals(self._approval_rows(conn, [r.id])[r.id], r.id, r.device,
                                        trust)
        tally = None
        if not isinstance(trust.policy, PolicyError) and trust.policy is not None:
            tally = approvals.tally_now(mine, r.device, trust)
        return Proposal(b, r.state, r.created_at, tally, r.closed_reason)

    def proposals(self, trust: Any, device: str | None = None,
                  state: str | None = "pending") -> list[Proposal]:
        """Proposals (pending by default), each verified, with who signed and
        who is still needed under the policy in force."""
        snapshot = trust.snapshot()
        with self._tx("reading proposals") as conn:
            return [self._proposal(conn, r, snapshot)
                    for r in self._proposal_rows(conn, device, state)]

    def _pick(self, conn: Connection, device: str, proposal: str | None,
              trust: TrustSnapshot) -> Any | None:
        rows = self._proposal_rows(conn, device, "pending")
        if proposal is not None:
            rows = [r for r in rows if r.id.startswith(proposal)]
            if len(rows) != 1:
                raise ConfigError(f"{len(rows)} pending proposals of {device} match "
                                  f"{proposal!r}", field="--proposal")
        if len(rows) > 1:
            raise ConfigError(f"{device} has {len(rows)} pending proposals: choose one with "
                              "--proposal ID", field="--proposal")
        return rows[0] if rows else None

    def pending_proposal(self, device: str, trust: Any, proposal: str | None = None
                         ) -> Proposal | None:
        snapshot = trust.snapshot()
        with self._tx(f"reading proposals of {device}") as conn:
            r = self._pick(conn, device, proposal, snapshot)
            return self._proposal(conn, r, snapshot) if r is not None else None

    # -- writing -------------------------------------------------------------------------

    def _add_approval(self, conn: Connection, approval: approvals.Approval, target: str,
                      now: datetime) -> None:
        conn.execute(insert(tables.approvals).values(
            target=target, keyid=approval.keyid, statement=approval.statement,
            signature=approval.signature, created_at=format_time(now)))

    def _insert_baseline(self, conn: Connection, b: Baseline, at: str) -> None:
        conn.execute(insert(tables.baselines).values(
            id=b.id, device=b.manifest.device, sequence=b.manifest.sequence, keyid=b.keyid,
            manifest=b.manifest_bytes, signature=b.signature, created_at=at))

    def approve(self, device: str, key: Signer, trust: Any, *, proposal: str | None = None,
                expect: str | None = None, now: datetime | None = None) -> ApproveOutcome:
        """Sign the device's pending proposal (or, with none, its current
        baseline) and promote a proposal that now meets the policy.
        ``expect``: the id the approver was shown; anything else is refused.

        Raises ConfigError (no policy, ambiguous proposal, or a newer baseline
        was approved since: the proposal is then closed as superseded),
        UnapprovedError (the key's signature would not count: revoked, expired,
        not the policy's), PolicyError, StoreError.
        """
        snapshot = trust.snapshot()
        policy = snapshot.policy
        if isinstance(policy, PolicyError):
            raise policy
        if policy is None:
            raise ConfigError("this site has no policy (trust/policy.toml): one signature "
                              "makes a baseline, there is nothing to approve")
        at = utc(now)
        info = policy.key_info(key.keyid, snapshot)
        why = info.why_void(at) or (None if snapshot.name_of(key.keyid) else
                                    f"key {short_keyid(key.keyid)} is not in {snapshot.folder}")
        if why:
            raise UnapprovedError(f"refusing to approve with a key whose signature would not "
                                  f"count: {why}")
        promoted = stale = None
        with self._tx(f"approving for {device}", write=True) as conn:
            r = self._pick(conn, device, proposal, snapshot)
            history = self._verified(conn, device, snapshot)
            if r is None:
                if not history:
                    raise NoBaselineError(f"{device} has no pending proposal and no baseline")
                target: Proposal | Baseline = history[-1]
                target_id, manifest = history[-1].id, history[-1].manifest
            else:
                target = self._proposal(conn, r, snapshot)
                target_id, manifest = r.id, target.manifest
                newest = history[-1] if history else None
                if (newest.id if newest else None) != manifest.previous or \
                        (newest.sequence if newest else 0) + 1 != manifest.sequence:
                    # Closed (and committed) before saying so: it can never be promoted.
                    conn.execute(update(tables.proposals).where(tables.proposals.c.id == r.id)
                                 .values(state="superseded", closed_at=format_time(at)))
                    stale = r.id
            if stale is None and expect is not None and target_id != expect:
                raise ConfigError(f"{device}: what would be approved ({target_id[:16]}) is not "
                                  f"what was shown ({expect[:16]}); look again")
            if stale is None:
                promoted, result, already = self._sign_target(conn, key, r, target, target_id,
                                                              manifest, snapshot, at)
        if stale is not None:
            raise ConfigError(f"proposal {stale[:16]} of {device} was made on top of a baseline "
                              "that is no longer the newest; it is closed as superseded: "
                              "capture again")
        if promoted is not None:
            self._record_head(device, Head(promoted.manifest.sequence, promoted.id),
                              policy.version)
        elif r is None and result.ok:
            # A re-approved baseline: the checkpoint records the version it now stands under.
            self._record_head(device, Head(manifest.sequence, target_id), policy.version,
                              force=True)
        return ApproveOutcome(target, result, promoted, already)

    def _sign_target(self, conn: Connection, key: Signer, r: Any, target: Any, target_id: str,
                     manifest: Any, snapshot: TrustSnapshot, at: datetime
                     ) -> tuple[Baseline | None, approvals.Tally, bool]:
        """Add ``key``'s approval (once) and promote a proposal that now meets
        the policy.  Returns (the promoted baseline or None, tally, already)."""
        policy = snapshot.policy
        rows = self._approval_rows(conn, [target_id])[target_id]
        mine = self._verified_approvals(rows, target_id, manifest.device, snapshot)
        already = any(a.keyid == key.keyid and a.policy == policy.version for a in mine)
        if not already:
            approval = approvals.make(key, target_id, manifest, policy.version, at)
            self._add_approval(conn, approval, target_id, at)
            mine.append(approval)
        result = approvals.tally_now(mine, manifest.device, snapshot)
        promoted = None
        if r is not None and result.ok:
            promoted = target.baseline
            self._insert_baseline(conn, promoted, format_time(at))
            conn.execute(update(tables.proposals).where(tables.proposals.c.id == r.id)
                         .values(state="approved", closed_at=format_time(at)))
        return promoted, result, already

    def reject(self, device: str, reason: str, trust: Any, *, proposal: str | None = None,
               now: datetime | None = None) -> Proposal:
        """Close the device's pending proposal with ``reason``.  Raises
        ConfigError (none pending, ambiguous, empty reason)."""
        if not reason or not reason.strip():
            raise ConfigError("a reason is required", field="--reason")
        snapshot = trust.snapshot()
        at = format_time(utc(now))
        with self._tx(f"rejecting a proposal of {device}", write=True) as conn:
            r = self._pick(conn, device, proposal, snapshot)
            if r is None:
                raise ConfigError(f"{device} has no pending proposal")
            conn.execute(update(tables.proposals).where(tables.proposals.c.id == r.id)
                         .values(state="rejected", closed_at=at, closed_reason=reason))
            closed = self._proposal(conn, r, snapshot)
        return Proposal(closed.baseline, "rejected", closed.created_at, closed.tally, reason)

    def _propose(self, conn: Connection, b: Baseline, key: Signer, snapshot: TrustSnapshot,
                 at: datetime) -> Proposal | None:
        """Under a policy: the capturer's approval, and a proposal unless it
        alone meets the rule (then None: store it as the baseline).  Raises
        UnapprovedError if the capturer's own signature would not count."""
        policy = snapshot.policy
        approval = approvals.make(key, b.id, b.manifest, policy.version, at)
        result = approvals.tally_now([approval], b.manifest.device, snapshot)
        if not result.counted:
            raise UnapprovedError(f"refusing to sign {b.manifest.device}: your key's signature "
                                  f"would not count ({'; '.join(result.void)})")
        self._add_approval(conn, approval, b.id, at)
        if result.ok:
            return None
        conn.execute(insert(tables.proposals).values(
            id=b.id, device=b.manifest.device, sequence=b.manifest.sequence, keyid=b.keyid,
            manifest=b.manifest_bytes, signature=b.signature, created_at=format_time(at),
            state="pending"))
        return Proposal(b, "pending", format_time(at), result)
