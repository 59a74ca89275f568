"""The site's evidence beyond any one device: stored contents, the rollback
anchor (state/heads.json) and trust/.

An attacker who can write trust/ or state/ is out of scope (README), but what
the tool can see it says: ``site_warnings`` is shown by ``verify`` and
``status``; the daemon's ``EvidenceWatch`` re-hashes every stored content on
the ``[store] check`` schedule and raises the warnings and any damage as
alerts through the outbox (integrity.alerts.outbox), once each: what it has
announced is kept in the store (the alert record ``:site``) in the same
transaction as the pending alerts, so a restart neither repeats nor loses one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from integrity.alerts.model import Alert, AlertKind
from integrity.errors import StoreError
from integrity.model import Status

# The store check's due time lives beside the device jobs' ("<device>/<mode>");
# no device name can start with ':'.
PRUNE_JOB = ":prune"
PRUNE_EVERY = timedelta(days=1)
STORE_CHECK_JOB = ":store-check"
# The daemon's own alert record for the site (what it announced, the keys it
# knows); alert records of devices share the table, and no device name starts with ':'.
SITE_RECORD = ":site"


@dataclass(frozen=True)
class SiteWarning:
    """``kind``: anchor-missing, new-key, store-damaged, due-reset, zone-unwatched or
    collector-stalled."""

    kind: str
    message: str
    # What the daemon remembers having announced (default: the message): a
    # warning whose text changes while its cause stays (a zone's last beat)
    # is not news again.
    key: str | None = None

    @property
    def ident(self) -> str:
        return self.key or self.message

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


def new_key_warnings(store: Any, trust: Any, now: datetime) -> list[SiteWarning]:
    """Keys that appeared in trust/ since the last run, each reported once.

    The first run only remembers what it finds (nothing to compare with)."""
    keys = {k.keyid: k for k in trust.keys()}
    try:
        new = store.note_trust_keys(set(keys), now) or []
    except StoreError:
        return []  # a marker that cannot be written must not fail a verify; the next run tells
    return [_key_warning(trust, keys[k]) for k in new]


def _key_warning(trust: Any, key: Any) -> SiteWarning:
    return SiteWarning("new-key", f"a key appeared in {trust.folder} since the last run: "
                       f"{key.name} ({key.keyid[:8]}, {key.path.name}); if nobody added it, "
                       "remove it and check the baselines it signed", key=f"new-key:{key.keyid}")


def site_warnings(store: Any, trust: Any, now: datetime) -> list[SiteWarning]:
    """What ``verify`` and ``status`` warn about besides the devices.

    A deleted head file (while baselines exist) warns every time until a new
    baseline re-creates it; a new trusted key is reported once; damage found
    by the last store check warns until a check finds the store intact.
    """
    out = []
    anchor = store.anchor_warning()
    if anchor:
        out.append(SiteWarning("anchor-missing", anchor))
    out.extend(new_key_warnings(store, trust, now))
    last = store.last_store_check()
    if last is not None and last[1].get("ok") is False:
        out.append(SiteWarning("store-damaged", f"the store check at {last[0]:%Y-%m-%d %H:%M:%S} "
                               f"UTC found damage: {last[1].get('summary')} (run `plc-integrity "
                               "store check` for details)"))
    return out


class EvidenceWatch:
    """The daemon's site-level duties, run once per scheduler step.

    ``every``: the ``[store] check`` period (None: contents are never re-hashed
    by the daemon).  A due time further ahead than one period is damaged
    state and is recomputed, as for device jobs.
    """

    def __init__(self, store: Any, trust: Any, every: timedelta | None, *,
                 dispatcher: Any = None, rng: random.Random | None = None,
                 more_warnings: Callable[[datetime], list[SiteWarning]] | None = None,
                 keep: timedelta | None = None) -> None:
        self.keep = keep  # [store] keep: prune the check history daily
        self.store = store
        self.trust = trust
        self.every = every
        self.dispatcher = dispatcher
        self.rng = rng or random.Random()
        # e.g. integrity.zones.site_zone_warnings: a zone with no live collector.
        self.more_warnings = more_warnings

    def step(self, now: datetime) -> list[Alert]:
        """Run the store check if due, then raise what is new.  Returns the alerts raised."""
        if self.keep is not None:
            self._prune(now)
        if self.every is not None:
            due = self.store.due(STORE_CHECK_JOB)
            if due is None or due > now + self.every:
                if due is not None:
                    self.store.add_event(now, "due-reset", f"{STORE_CHECK_JOB}: due time "
                                         f"{due.isoformat()} is beyond its period; recomputed")
                # First run: soon, but spread so that many daemons do not all
                # re-read their stores at the same moment after an upgrade.
                due = now + timedelta(seconds=self.rng.uniform(0, 60))
                self.store.set_due(STORE_CHECK_JOB, due, None)
            if due <= now:
                report = self.store.check_contents(now)
                self.store.record_store_check(report)
                self.store.set_due(STORE_CHECK_JOB, now + self.every, now)
        return self._announce(now)

    def _announce(self, now: datetime) -> list[Alert]:
        """Alert each current warning not announced yet, and remember it with the
        pending alerts in one transaction.  Everything here is derived from
        stored state (the last store check, the anchor, trust/, the collectors'
        beats), so a kill anywhere before that transaction only delays an alert."""
        from integrity.alerts.outbox import raise_alerts, record_failures

        raw = self.store.alert_records([SITE_RECORD]).get(SITE_RECORD) or {}
        told = raw.get("announced") if isinstance(raw.get("announced"), dict) else {}
        known = raw.get("keys") if isinstance(raw.get("keys"), list) else None
        keys = {k.keyid: k for k in self.trust.keys()}
        warnings: list[tuple[SiteWarning, Alert | None]] = []
        last = self.store.last_store_check()
        if last is not None and last[1].get("ok") is False:
            damaged = [str(x) for x in last[1].get("damaged") or []][:5]
            warnings.append((SiteWarning("store-damaged", str(last[1].get("summary")),
                                         key=f"store-damaged:{last[0].isoformat()}"),
                             _alert(AlertKind.STORE_DAMAGE, "store", now,
                                    str(last[1].get("summary")), "; ".join(damaged) or None)))
        anchor = self.store.anchor_warning()
        if anchor:
            warnings.append((SiteWarning("anchor-missing", anchor, key="anchor-missing"), None))
        if known is not None:  # the first run only remembers the keys it finds
            warnings += [(_key_warning(self.trust, keys[k]), None)
                         for k in sorted(set(keys) - set(known))]
        warnings += [(w, None) for w in (self.more_warnings(now) if self.more_warnings else [])]
        alerts = [a or _alert(AlertKind.SITE_WARNING, "site", now, w.message, None)
                  for w, a in warnings if w.ident not in told]
        record = {"format": 1, "keys": sorted(keys),
                  "announced": {w.ident: told.get(w.ident, now.isoformat()) for w, _ in warnings}}
        if record != raw:
            record_failures(self.store, raise_alerts(self.store, self.dispatcher, alerts, now=now,
                                                     records={SITE_RECORD: record}), now)
        if any(w.kind == "new-key" for w, _ in warnings):
            # verify and status report a key once too; they need not repeat this one.
            new_key_warnings(self.store, self.trust, now)
        return alerts

    def _prune(self, now: datetime) -> None:
        """Thin the check history once a day ([store] keep)."""
        due = self.store.due(PRUNE_JOB)
        if due is not None and now < due <= now + PRUNE_EVERY:
            return
        report = self.store.prune_checks(now - self.keep)
        self.store.add_event(now, "prune", report.render())
        self.store.set_due(PRUNE_JOB, now + PRUNE_EVERY, now)


def _alert(kind: AlertKind, device: str, now: datetime, summary: str,
           message: str | None) -> Alert:
    return Alert(kind=kind, device=device, state=Status.BASELINE_INVALID, at=now, since=now,
                 summary=summary, message=message)
