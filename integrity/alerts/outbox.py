"""Deliver the alert outbox: pending alerts to their sinks, at least once.

The sweep stores each alert as pending (one row per sink) in the transaction
that advances the device's alert state (``baselines.outbox``); this module
delivers them.  Only the process holding the outbox lease delivers, so two
processes sharing a store do not both send; a row is marked sent only after
its sink accepted the alert, so a process killed mid-delivery leaves it
pending and the next delivery (the next sweep, the daemon's next step) sends
it again with the same Alert.id, which the webhook carries as
X-PLC-Integrity-Alert-Id and CEF as externalId for receivers to de-duplicate.

Every alert the tool raises takes this path: device checks (integrity.sweep),
site warnings and store damage (integrity.evidence), stalled checks
(integrity.scheduler), drills and backups (integrity.maintenance_jobs), wire
events (integrity.watch).  ``raise_alerts`` stores them pending together with
the state and events that raised them, then delivers the outbox.  Only code
without a store (a WatchLoop built without one) calls ``Dispatcher.dispatch``
itself; the dispatcher's own SINK_FAILURE notices go straight to the working
sinks during a delivery (through the outbox they could loop).

A row's first failure raises a SINK_FAILURE alert (to the sinks that work);
its retries do not, so a dead sink is reported once, not every sweep.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from baselines.outbox import Outgoing
from integrity.alerts.dispatch import DeliveryReport, Dispatcher, SinkFailure
from integrity.alerts.model import Alert
from integrity.clock import utcnow

# Beyond the dispatcher's own bound for the batch: room to mark rows sent.
LEASE_MARGIN = timedelta(seconds=30)


def holder_id() -> str:
    """This process, as the outbox lease names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_dead(holder: str) -> bool:
    """True when ``holder`` was a process on this host that no longer exists:
    its lease need not run out before its pending alerts are delivered."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (ValueError, OSError):
        return False
    return False


def outgoing(alerts: Iterable[Alert]) -> list[Outgoing]:
    return [Outgoing(a.id, a.device, a.to_dict()) for a in alerts]


def raise_alerts(store: Any, dispatcher: Dispatcher | None, alerts: Iterable[Alert], *,
                 now: datetime, records: dict[str, dict[str, Any]] | None = None,
                 events: list[tuple[datetime, str, str]] | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 deliver: bool = True) -> DeliveryReport | None:
    """Store ``alerts`` as pending for the dispatcher's sinks in one transaction
    with the alert ``records`` and ``events`` that go with them, then deliver
    the outbox (``deliver_pending``) if there were alerts (``deliver=False``
    leaves that to the caller's next delivery).  Returns what the delivery
    did, or None.
    Raises StoreError when the store cannot be written (nothing is stored then).
    """
    alerts = list(alerts)
    sinks = [s.name for s in dispatcher.sinks] if dispatcher is not None else None
    if records or events or (alerts and sinks):
        store.save_alert_records(records or {}, now=now, pending=outgoing(alerts), sinks=sinks,
                                 events=events)
    return deliver_pending(store, dispatcher, clock=clock) if deliver and alerts else None


def record_failures(store: Any, delivery: DeliveryReport | None, now: datetime, *,
                    first_only: bool = False) -> None:
    """Each failed delivery as a ``sink-failed`` event (``plc-integrity events``);
    with ``first_only``, only a row's first failure (the one a SINK_FAILURE
    alert reports), so retrying a dead sink does not fill the event log."""
    failures = delivery.failures if delivery is not None else ()
    if first_only and delivery is not None:
        first = {(a.sink, a.device, a.since) for a in delivery.failure_alerts}
        failures = tuple(f for f in failures if (f.sink, f.alert.device, f.alert.since) in first)
    for f in failures:
        store.add_event(now, "sink-failed", f"{f.sink}: alert for {f.alert.device} not "
                        f"delivered: {f.error}")


def deliver_pending(store: Any, dispatcher: Dispatcher | None, *,
                    clock: Callable[[], datetime] = utcnow,
                    holder: str | None = None) -> DeliveryReport | None:
    """Deliver what the outbox holds for the dispatcher's sinks.

    Returns None when there was nothing to deliver or another live process
    holds the lease (it delivers); otherwise what happened.  Raises StoreError
    when the store cannot be read or written.
    """
    if dispatcher is None or not dispatcher.sinks:
        return None
    names = [s.name for s in dispatcher.sinks]
    if not store.pending_alerts(names, limit=1):
        return None
    holder = holder or holder_id()
    pending = store.pending_alerts(names)
    per_sink: dict[str, int] = {}
    for p in pending:
        per_sink[p.sink] = per_sink.get(p.sink, 0) + 1
    start = clock()
    bound = timedelta(seconds=dispatcher.phase_limit(dispatcher.sinks, max(per_sink.values())))
    if not store.take_outbox_lease(holder, start, start + 2 * bound + LEASE_MARGIN,
                                   holder_is_dead):
        return None
    try:
        return _deliver(store, dispatcher, names, clock)
    finally:
        store.release_outbox_lease(holder)


def _deliver(store: Any, dispatcher: Dispatcher, names: list[str],
             clock: Callable[[], datetime]) -> DeliveryReport | None:
    pending = store.pending_alerts(names)  # again, now that this process holds the lease
    parsed: dict[str, Alert] = {}
    batches: dict[str, list[Alert]] = {}
    rows: dict[tuple[str, int], int] = {}
    first: set[tuple[str, int]] = set()
    unreadable: dict[int, str] = {}
    for p in pending:
        alert = parsed.get(p.alert_id)
        if alert is None:
            try:
                alert = parsed[p.alert_id] = Alert.from_dict(p.alert)
            except ValueError as exc:
                unreadable[p.row] = f"unreadable alert in the outbox: {exc}"
                continue
        batches.setdefault(p.sink, []).append(alert)
        rows[(p.sink, id(alert))] = p.row
        if p.attempts == 0:
            first.add((p.sink, id(alert)))
    if unreadable:
        store.mark_alerts_failed(unreadable)
    if not batches:
        return None

    def report(f: SinkFailure) -> bool:
        return (f.sink, id(f.alert)) in first

    result = dispatcher.dispatch_each(batches, report_failures=report)
    sent = [rows[(s, id(a))] for s, a in result.delivered if (s, id(a)) in rows]
    if sent:
        store.mark_alerts_sent(sent, clock())
    failed = {rows[(f.sink, id(f.alert))]: f.error for f in result.failures
              if (f.sink, id(f.alert)) in rows}
    if failed:
        store.mark_alerts_failed(failed)
    return result
