"""The site's evidence beyond any one device: stored contents, the rollback
anchor (state/heads.json) and trust/.

An attacker who can write trust/ or state/ is out of scope (README), but what
the tool can see it says: ``site_warnings`` is shown by ``verify`` and
``status``; the daemon's ``EvidenceWatch`` re-hashes every stored content on
the ``[store] check`` schedule and sends the warnings and any damage through
the alert path, once each.
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


@dataclass(frozen=True)
class SiteWarning:
    """``kind``: anchor-missing, new-key, store-damaged, due-reset or zone-unwatched."""

    kind: str
    message: str

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

    return [SiteWarning("new-key", f"a key appeared in {trust.folder} since the last run: "
                        f"{keys[k].name} ({k[:8]}, {keys[k].path.name}); if nobody added it, "
                        "remove it and check the baselines it signed") for k in new]


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
        self._alerted: set[str] = set()
        # e.g. integrity.zones.site_zone_warnings: a zone with no live collector.
        self.more_warnings = more_warnings

    def step(self, now: datetime) -> list[Alert]:
        """Run the store check if due, then alert on what is new.  Returns the alerts sent."""
        alerts = []
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
                if not report.ok:
                    alerts.append(_alert(AlertKind.STORE_DAMAGE, "store", now, report.summary(),
                                         "; ".join(p.line() for p in report.damaged[:5])))
        more = self.more_warnings(now) if self.more_warnings is not None else []
        for w in site_warnings(self.store, self.trust, now) + more:
            if w.kind == "store-damaged" or w.message in self._alerted:
                continue  # store damage was alerted by the check itself
            self._alerted.add(w.message)
            alerts.append(_alert(AlertKind.SITE_WARNING, "site", now, w.message, None))
        if alerts and self.dispatcher is not None:
            delivery = self.dispatcher.dispatch(alerts)
            for f in delivery.failures:
                self.store.add_event(now, "sink-failure", f"{f.sink}: {f.error}")
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
