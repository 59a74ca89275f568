"""The store's rollback anchor: the signed checkpoint, or the plain head file
of a site that has no checkpoint yet.  Mixed into ``Store``.

Reading: ``_anchor`` gives the heads every history is held against.  Writing:
after each change to a device's history ``_record_head`` moves the head file
and signs the next checkpoint version.  ``sign_checkpoint`` re-signs on demand
(a timer against expiry, the first checkpoint of an older site, or, with
``reanchor``, deliberately accepting the store as it now is after a restore).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from integrity.errors import BaselineInvalidError, StoreError

from baselines import tables
from baselines.checkpoint import Checkpoint, Entry, SignedCheckpoint, utc
from baselines.heads import Head, HeadFile


class AnchorMixin:
    """Needs ``self._tx``, ``self._heads`` (HeadFile or None)
    and ``self._checkpoint`` (Checkpoint or None) from Store."""

    _heads: HeadFile | None
    _checkpoint: Checkpoint | None

    def _anchor(self) -> tuple[dict[str, Head] | None, str]:
        """The rollback anchor's heads and its name for messages: the signed
        checkpoint once there is one, else the plain head file (a site from
        before checkpoints, until its first change).  Raises ChainBrokenError
        or CheckpointError if the anchor exists but cannot be trusted."""
        if self._checkpoint is not None:
            heads = self._checkpoint.read()
            if heads is not None:
                return heads, f"checkpoint {self._checkpoint.path}"
        if self._heads is None:
            return None, "the head file"
        return self._heads.read(), "the head file"

    def _anchor_head(self, device: str) -> tuple[Head | None, str]:
        """``_anchor`` for one device (see ``_anchor_heads``)."""
        heads, name = self._anchor_heads([device])
        return heads[device], name

    def _anchor_heads(self, devices: list[str]) -> tuple[dict[str, Head | None], str]:
        """``_anchor`` for some devices, looked up rather than copied: appending
        N baselines asks N times and a sweep once per chunk, and a copy of
        every head each time was O(N²).  Same errors as ``_anchor``."""
        if self._checkpoint is not None:
            heads = self._checkpoint.heads_of(devices)
            if heads is not None:
                return heads, f"checkpoint {self._checkpoint.path}"
        if self._heads is None:
            return dict.fromkeys(devices), "the head file"
        every = self._heads.read() or {}
        return {d: every.get(d) for d in devices}, "the head file"

    def _record_head(self, device: str, head: Head, policy: int = 0, force: bool = False) -> None:
        """After a commit: move the anchors to the device's new head.  Raises
        StoreError (the baseline is stored, the anchor is behind: accepted on
        read, but said)."""
        self._record_heads({device: head}, policy, force)

    def _record_heads(self, heads: dict[str, Head], policy: int = 0, force: bool = False) -> None:
        """``_record_head`` for several devices (an import): one new checkpoint
        version for all of them."""
        try:
            if self._heads is not None:
                for device, head in heads.items():
                    self._heads.advance(device, head)
            if self._checkpoint is not None and heads:
                self._checkpoint.advance_many(
                    {d: Entry(h.sequence, h.id, policy) for d, h in heads.items()},
                    seed=self._seed_entries, replace=force)
        except (StoreError, BaselineInvalidError) as exc:
            what = (f"baseline {next(iter(heads))} #{next(iter(heads.values())).sequence} was"
                    if len(heads) == 1 else f"the baselines of {len(heads)} devices were")
            raise StoreError(f"{what} stored, but the rollback anchor was not updated: "
                             f"{exc}") from exc

    def _seed_entries(self) -> dict[str, Entry]:
        """Every device's newest stored row, as it is, with the policy version
        its approvals name (0: none): the first checkpoint of a site that had
        none, or a deliberate re-anchoring.  Each is verified on every read."""
        t, a = tables.baselines, tables.approvals
        out: dict[str, Entry] = {}
        with self._tx("reading the store's heads") as conn:
            for device, seq, ident in conn.execute(select(t.c.device, t.c.sequence, t.c.id)
                                                   .order_by(t.c.device, t.c.sequence)):
                out[device] = Entry(seq, ident, 0)
            heads = {e.id: d for d, e in out.items()}
            for target, statement in conn.execute(select(a.c.target, a.c.statement)
                                                  .where(a.c.target.in_(list(heads)))):
                try:
                    version = json.loads(bytes(statement))["policy"]
                except (ValueError, KeyError, TypeError):
                    continue  # an edited row is found by every read
                entry = out[heads[target]]
                if type(version) is int and version > entry.policy:
                    out[heads[target]] = Entry(entry.sequence, entry.id, version)
        return out

    def anchor_warning(self, now: datetime | None = None) -> str | None:
        """Why the rollback anchor cannot vouch for the stored baselines, or None.

        The anchor being absent is accepted on read (a fresh or migrated site
        has none), so a deleted head file would otherwise go unnoticed: this
        names it when the store holds baselines; likewise an expired
        checkpoint (a frozen store).  An anchor that exists but cannot be
        trusted is not a warning but a BaselineInvalidError on every read.
        """
        try:
            heads, _name = self._anchor()
        except BaselineInvalidError:
            return None
        signed = self._checkpoint is not None and _name.startswith("checkpoint")
        if signed:
            return self._checkpoint.warning(utc(now))
        if self._heads is None and self._checkpoint is None:
            return None
        with self._tx("listing devices") as conn:
            names = set(conn.execute(select(tables.baselines.c.device).distinct()).scalars())
        if not names:
            return None
        if self._checkpoint is not None:
            return (f"no signed checkpoint at {self._checkpoint.path} but the store holds "
                    f"baselines of {len(names)} device(s): a rollback of the site folder and "
                    "the database together cannot be detected; the next baseline change (or "
                    "`plc-integrity checkpoint sign`) signs the first one")
        where = self._heads.path
        if heads is None:
            return (f"the rollback anchor {where} is missing but the store holds "
                    f"baselines of {len(names)} device(s): a rollback of the database cannot be "
                    "detected (deleted?); the next baseline change (or `plc-integrity checkpoint "
                    "sign`) re-creates it")
        unanchored = sorted(names - set(heads))
        if unanchored:
            shown = ", ".join(unanchored[:10]) + (" ..." if len(unanchored) > 10 else "")
            return (f"{len(unanchored)} device(s) with baselines have no entry in the rollback "
                    f"anchor {where}: {shown} (entry deleted?); their next baseline "
                    "re-creates it")
        return None

    def sign_checkpoint(self, now: datetime | None = None, *,
                        reanchor: bool = False) -> SignedCheckpoint:
        """Re-sign the store's state as a new checkpoint version with a fresh
        expiry (creating the first one, and its key, if there is none),
        catching up with devices whose history the store holds further.

        ``reanchor``: sign what the store holds now instead of the recorded
        heads, even if the present checkpoint is older than this host saw:
        for a deliberate restore of an earlier copy, by someone holding the
        checkpoint key (the version still goes up).  Raises StoreError, or
        CheckpointError if the present checkpoint cannot be trusted (without
        ``reanchor``) or the key is not the pinned one.
        """
        if self._checkpoint is None:
            raise StoreError("this store has no checkpoint configured")
        seed = self._seed_entries()

        def heads(old: dict[str, Entry] | None) -> dict[str, Entry]:
            if reanchor or old is None:
                return seed
            # Catch up where the store is ahead (a change made without the key);
            # never step back: that is what reanchor is for.
            return {**old, **{d: e for d, e in seed.items()
                              if d not in old or e.sequence > old[d].sequence}}

        return self._checkpoint.update(heads, utc(now), create_key=True, reanchor=reanchor)
