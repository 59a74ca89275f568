"""Deliver the alert outbox: pending alerts to their sinks, at least once.

The sweep stores each alert as pending (one row per sink) in the transaction
that advances the device's alert state (``baselines.outbox``); this module
delivers them.  Only the process holding the outbox lease delivers, so two
processes sharing a store do not both send; a row is marked sent only after
its sink accepted the alert, so a process killed mid-delivery leaves it
pending and the next delivery (the next sweep, the daemon's next step) sends
it again with the same Alert.id, which the webhook carries as
X-PLC-Integrity-Alert-Id and CEF as externalId for receivers to de-duplicate.

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
