"""Baselines and their history, kept in the store: appending a signed
baseline, and reading one back only after verifying it (signature over the
stored bytes with a key from trust/, row columns against the manifest, the
device's hash chain, the head file against rollback, and that every artifact
still has its content row).  Mixed into ``Store``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import Connection, select

from integrity import canonical
from integrity.clock import as_utc, utcnow
from integrity.errors import (BaselineError, BaselineInvalidError, ConfigError,
                              NoBaselineError, PolicyError, StoreTamperedError)
from integrity.model import Capture

from baselines import contents, tables
from baselines.heads import Head
from baselines.manifest import Baseline, Manifest, check_reason, format_time
from baselines.parallel import check_rows
from baselines.signing import Signer, TrustSnapshot, TrustStore, short_keyid
from baselines.verify import HistoryEntry, Row, check_row_caught, verify_rows

if TYPE_CHECKING:
    from baselines.proposals import Proposal

# A command reads trust/ once and passes the snapshot; the daemon passes the
# live folder, read afresh for each sweep (``snapshot()`` of a snapshot is itself).
Trust = TrustStore | TrustSnapshot


class BaselineHistoryMixin:
    """Needs ``self._tx``, ``self._put_blobs`` from Store,
    the rollback anchor from ``anchor.AnchorMixin`` and the approvals from
    ``proposals.ProposalsMixin``."""

    def _rows(self, conn: Connection, device: str) -> list[Row]:
        t = tables.baselines
        result = conn.execute(select(t.c.id, t.c.device, t.c.sequence, t.c.keyid, t.c.manifest,
                                     t.c.signature, t.c.created_at)
                              .where(t.c.device == device).order_by(t.c.sequence))
        return [Row.from_db(r) for r in result]

    def _head(self, device: str) -> tuple[Head | None, str]:
        """Raises ChainBrokenError / CheckpointError if the anchor cannot be trusted."""
        return self._anchor_head(device)

    def _verified(self, conn: Connection, device: str, trust: Trust
                  ) -> list[Baseline]:
        """The device's whole history, verified, oldest first; raises the first problem."""
        snapshot = trust.snapshot()
        head, anchor = self._head(device)
        return self._verify_history(device, self._rows(conn, device), snapshot, head, anchor)

    def _verify_history(self, device: str, rows: list[Row], snapshot: TrustSnapshot,
                        head: Head | None, anchor: str, checked: list[Any] | None = None
                        ) -> list[Baseline]:
        try:
            reports, extra = verify_rows(device, rows, snapshot, head, anchor, checked)
        except BaselineInvalidError:
            raise
        except Exception as exc:  # noqa: BLE001 - fail closed on rows nobody expected
            # Rows are attacker-reachable input: whatever they do to the checks,
            # the answer is "this history cannot be trusted", never a crash.
            raise StoreTamperedError(f"baseline {device}: history could not be verified "
                                     f"({type(exc).__name__}: {str(exc)[:200]})") from exc
        # The newest bad row first: it is the one closest to what the caller is
        # about to trust (e.g. "the current baseline's signer is not trusted").
        for problem in [r.problem for r in reversed(reports) if r.problem is not None] + extra:
            raise problem
        return [Baseline(r.row.id, r.manifest, r.row.manifest, r.row.signature, r.row.keyid,
                         r.signer_name) for r in reports if r.manifest is not None]

    # -- baselines ---------------------------------------------------------------------------

    def append_baseline(self, capture: Capture, key: Signer, reason: str, *,
                        trust: Trust, now: datetime | None = None) -> "Baseline | Proposal":
        """Sign ``capture`` as the device's next baseline and store it, in one transaction.

        Under a site policy whose rule asks for more than this key's signature,
        what is stored is a pending ``proposals.Proposal`` instead (returned;
        its ``pending`` is True), and the device's baseline stays as it was.

        Refuses (UntrustedKeyError) a key whose public half is not in trust/:
        every later verify would reject what it signs.  Refuses an empty capture
        (ConfigError).  Refuses to extend a
        history that fails verification (the verification error is raised), so a
        broken chain is never papered over by a new link.  Raises PolicyError
        (the policy cannot be trusted), UnapprovedError (under a policy, this
        key's signature would not count), ConfigError for an empty reason,
        StoreError if the database cannot be written, and StoreError after the
        commit if the checkpoint or head file cannot be updated.
        """
        check_reason(reason, device=capture.device)
        if not capture.artifacts:
            # A baseline of nothing would make every later check pass vacuously.
            raise ConfigError("the capture has no artifacts; refusing to sign an empty baseline",
                              device=capture.device)
        snapshot = trust.snapshot()
        try:
            public = snapshot.get(key.keyid)
        except BaselineInvalidError as exc:
            raise type(exc)(f"refusing to sign with key {short_keyid(key.keyid)}: its public key is "
                            f"not in {snapshot.folder}, so every verify would reject the baseline; "
                            "add the .pub to trust/ first") from exc
        policy = snapshot.policy
        if isinstance(policy, PolicyError):
            raise policy
        signed_at = as_utc(utcnow(now))
        with self._tx(f"storing a baseline of {capture.device}", write=True) as conn:
            history = self._verified(conn, capture.device, snapshot)
            newest = history[-1] if history else None
            try:
                manifest = Manifest.from_capture(
                    capture, sequence=newest.sequence + 1 if newest else 1,
                    previous=newest.id if newest else None, signer=key.keyid, reason=reason,
                    signed_at=signed_at)
            except ValueError as exc:
                raise ConfigError(f"cannot make a baseline: {exc}", device=capture.device) from exc
            data = manifest.to_bytes()
            signature = key.sign(data)
            public.verify(signature, data)  # the trusted key must accept it, before storing
            self._put_blobs(conn, capture)
            ident = canonical.sha256(data)
            made = Baseline(ident, manifest, data, signature, key.keyid,
                            snapshot.name_of(key.keyid))
            if policy is not None:
                proposal = self._propose(conn, made, key, snapshot, signed_at)
                if proposal is not None:
                    return proposal  # not a baseline yet: verify keeps the approved one
            self._insert_baseline(conn, made, format_time(signed_at))
        self._record_head(manifest.device, Head(manifest.sequence, ident),
                          policy.version if policy is not None else 0)
        return made

    def latest(self, device: str, trust: Trust) -> Baseline:
        """The device's newest baseline, verified with its whole history.

        Raises NoBaselineError if the device has none (and the head file does not
        say it had some), a BaselineInvalidError subclass if verification fails
        (including StoreTamperedError when the content of one of its artifacts
        is missing: a row lookup per artifact, no content is read), StoreError
        if the database cannot be read.
        """
        snapshot = trust.snapshot()
        if isinstance(snapshot.policy, PolicyError):
            raise snapshot.policy
        with self._tx(f"reading baselines of {device}") as conn:
            history = self._verified(conn, device, snapshot)
            if not history:
                raise NoBaselineError(f"no baseline for {device}")
            missing = contents.missing_contents(conn, [history[-1]])
            missing.update(self._judge(conn, {device: history[-1]}, snapshot))
        if device in missing:
            raise missing[device]
        return history[-1]

    def latest_many(self, devices: list[str], trust: Trust, *, parallel: bool | None = None,
                    meanwhile: Callable[[], Any] | None = None
                    ) -> dict[str, Baseline | BaselineError]:
        """``latest`` for many devices, read in one transaction (a sweep's worth).

        Each device is verified exactly as ``latest`` does (missing contents
        included, looked up in one batch for all devices); its value is the
        verified Baseline or the NoBaselineError / BaselineInvalidError that
        ``latest`` would raise.  StoreError if the database cannot be read
        or a verification worker fails.  ``parallel``: check the rows in a
        worker process too (baselines.parallel; default: when there are many);
        ``meanwhile``: the caller's other work, run once (while the worker checks).
        """
        snapshot = trust.snapshot()
        if isinstance(snapshot.policy, PolicyError):
            if meanwhile is not None:
                meanwhile()
            return {device: snapshot.policy for device in devices}  # every check stops
        t = tables.baselines
        rows: dict[str, list[Row]] = {d: [] for d in devices}
        broken: dict[str, StoreTamperedError] = {}
        names = sorted(set(devices))
        with self._tx("reading baselines") as conn:
            for i in range(0, len(names), contents.CHUNK):
                result = conn.execute(
                    select(t.c.id, t.c.device, t.c.sequence, t.c.keyid, t.c.manifest,
                           t.c.signature, t.c.created_at)
                    .where(t.c.device.in_(names[i:i + contents.CHUNK]))
                    .order_by(t.c.device, t.c.sequence))
                for r in result:
                    try:
                        rows[r.device].append(Row.from_db(r))
                    except StoreTamperedError as exc:
                        broken.setdefault(r.device, exc)
        out: dict[str, Baseline | BaselineError] = {}
        try:
            heads, anchor = self._anchor_heads(list(devices))
        except BaselineInvalidError as exc:  # a damaged anchor vouches for no device
            if meanwhile is not None:
                meanwhile()
            return {device: exc for device in devices}
        # Every row checked up front, on two cores when there are many
        # (baselines.parallel); the chain, head and checkpoint checks follow per device.
        order = [d for d in rows if d not in broken]
        checked = check_rows([r for d in order for r in rows[d]], snapshot, check_row_caught,
                             parallel=parallel, meanwhile=meanwhile)
        at, by_device = 0, {}
        for device in order:
            by_device[device], at = checked[at:at + len(rows[device])], at + len(rows[device])
        for device in devices:
            if device in broken:
                out[device] = broken[device]
                continue
            try:
                head = heads.get(device)
                history = self._verify_history(device, rows[device], snapshot, head, anchor,
                                               by_device[device])
                if not history:
                    raise NoBaselineError(f"no baseline for {device}")
                out[device] = history[-1]
            except BaselineError as exc:
                out[device] = exc
        found = [b for b in out.values() if isinstance(b, Baseline)]
        if found:
            with self._tx("looking up artifact contents") as conn:
                out.update(contents.missing_contents(conn, found))
                out.update(self._judge(conn, {d: b for d, b in out.items()
                                              if isinstance(b, Baseline)}, snapshot))
        return out

    def verified_history(self, device: str, trust: Trust) -> list[Baseline]:
        """Every baseline of ``device``, oldest first, verified (signatures, chain,
        anchor) but not judged by the policy: what re-approval starts from."""
        with self._tx(f"reading baselines of {device}") as conn:
            return self._verified(conn, device, trust)

    def baseline(self, device: str, sequence: int, trust: Trust) -> Baseline:
        """One baseline by sequence, verified with the whole history (same errors as latest)."""
        with self._tx(f"reading baselines of {device}") as conn:
            history = self._verified(conn, device, trust)
        for item in history:
            if item.sequence == sequence:
                return item
        raise NoBaselineError(f"no baseline #{sequence} for {device}")

    def history(self, device: str, trust: Trust) -> list[HistoryEntry]:
        """Every stored baseline of ``device``, oldest first, each with ok/problem.

        Never raises for bad rows or a damaged head file: it reports them (a
        rollback shows as a final entry for the missing head).  Raises StoreError
        only if the database cannot be read.
        """
        snapshot = trust.snapshot()
        with self._tx(f"reading baselines of {device}") as conn:
            rows = self._rows(conn, device)
        head_problem: BaselineInvalidError | None = None
        try:
            head, anchor = self._head(device)
        except BaselineInvalidError as exc:
            head, anchor, head_problem = None, "", exc
        reports, extra = verify_rows(device, rows, snapshot, head, anchor)
        # Contents each baseline lists but the store lost: one batched lookup.
        with self._tx(f"looking up artifact contents of {device}") as conn:
            have = contents.present(conn, (e.digest for r in reports if r.manifest
                                           for e in r.manifest.artifacts))
        entries = []
        for r in reports:
            m = r.manifest
            problem = r.problem
            if problem is None and m is not None:
                problem = contents.missing_error(device, r.row.sequence, m.artifacts, have)
            entries.append(HistoryEntry(
                sequence=r.row.sequence, id=r.row.id, keyid=r.row.keyid, signer_name=r.signer_name,
                reason=m.reason if m else None, captured_at=m.captured_at if m else None,
                signed_at=m.signed_at if m else None, ok=problem is None,
                problem=str(problem) if problem else None,
                problem_kind=problem.reason if problem else None, note=r.note))
        newest = reports[-1] if reports else None
        if newest is not None and newest.manifest is not None and entries[-1].ok:
            b = Baseline(newest.row.id, newest.manifest, newest.row.manifest, newest.row.signature,
                         newest.row.keyid, newest.signer_name)
            with self._tx(f"reading approvals of {device}") as conn:
                extra = extra + list(self._judge(conn, {device: b}, snapshot).values())
        elif isinstance(snapshot.policy, PolicyError):
            extra = extra + [snapshot.policy]
        for problem in extra + ([head_problem] if head_problem else []):
            entries.append(HistoryEntry(
                sequence=head.sequence if head else 0, id=head.id if head else None, keyid=None,
                signer_name=None, reason=None, captured_at=None, signed_at=None, ok=False,
                problem=str(problem), problem_kind=problem.reason))
        return entries

    def devices(self) -> list[str]:
        """Devices with baselines, plus devices the head file anchors (so a device
        whose every baseline was deleted still shows up, and fails verification)."""
        with self._tx("listing devices") as conn:
            names = set(conn.execute(select(tables.baselines.c.device).distinct()).scalars())
        try:
            names |= set(self._anchor()[0] or {})
        except BaselineInvalidError:
            pass  # reported by latest()/history() for each device
        return sorted(names)
