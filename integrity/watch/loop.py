"""The watch loop: segments in; events recorded, alerted, and followed by a deep check.

    WatchLoop(site devices, policy, store=..., trust=..., dispatcher=..., clock=...)
        .feed(segment)   per packet: decode, record, alert, note changes
        .tick(now)       run the deep checks whose burst has settled
        .finish()        end of input: decode what waited, run every pending check

Checks go through ``integrity.sweep.run_sweep`` (the path ``sweep`` takes), so
the check is recorded and the usual state alerts follow; on top, a WIRE_CHECK
alert ties the verdict to the operations that triggered it.  The clock is a
parameter: offline replays use packet time, tests a fake.

Alerts go through the store's outbox (integrity.alerts.outbox): each is stored
pending in the transaction that records its event, then the outbox is
delivered under the outbox lease.  A watcher often runs where no collector
does, so it drains the outbox itself: after each alert, at its first tick
(what a killed watcher left pending), and every DRAIN_EVERY while rows wait
(a sink that failed).  Where a collector shares the store, whichever of the
two holds the lease delivers; the other finds nothing to do.  A replayed
capture raises the same alerts with the same ids, which the outbox stores
once: a restarted replay delivers what the killed one could not, nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from integrity.alerts import Alert, AlertKind, AlertRecord, summarise_differences
from integrity.model import CheckResult, Device, Mode, Status
from integrity.watch.config import WatchPolicy
from integrity.watch.events import WireEvent
from integrity.watch.packets import Segment
from integrity.watch.wire import Wire

EVENT_KIND = "watch"          # rows in the store's events table
CHECK_KIND = "watch-check"
DRAIN_EVERY = timedelta(seconds=60)


@dataclass
class Pending:
    last: datetime
    operations: list[str] = field(default_factory=list)
    stations: set[str] = field(default_factory=set)


class Settler:
    """Deep checks wait until a burst of changes has settled."""

    def __init__(self, settle: timedelta) -> None:
        self.settle = settle
        self.pending: dict[str, Pending] = {}

    def note(self, device: str, at: datetime, event: WireEvent | None = None) -> None:
        p = self.pending.setdefault(device, Pending(at))
        p.last = max(p.last, at)
        if event is not None and len(p.operations) < 20 and event.operation not in p.operations:
            p.operations.append(event.operation)
            p.stations.add(event.src)

    def due(self, now: datetime | None) -> list[tuple[str, Pending]]:
        """Devices whose last change is ``settle`` old (all of them when now is None)."""
        ready = [(d, p) for d, p in self.pending.items() if now is None or now - p.last >= self.settle]
        for d, _ in ready:
            del self.pending[d]
        return ready


def list_watch_events(store: Any, limit: int = 100) -> list[dict[str, Any]]:
    """The latest watch events in the store, newest first (``events --watch``)."""
    out = []
    for row in store.events(limit=limit, kind=EVENT_KIND):
        try:
            out.append(json.loads(row["detail"]))
        except ValueError:
            out.append({"schema": 1, "at": row["at"], "unreadable": row["detail"][:200]})
    return out


class WatchLoop:
    def __init__(self, devices: Iterable[Device], policy: WatchPolicy, *, store: Any = None,
                 trust: Any = None, dispatcher: Any = None, tracker: Any = None,
                 check: bool = True, on_event: Callable[[WireEvent, bool], None] | None = None,
                 on_check: Callable[[CheckResult, Pending], None] | None = None,
                 driver_factory: Any = None) -> None:
        self.devices = {d.name: d for d in devices}
        self.policy = policy
        self.wire = Wire(self.devices.values(), policy)
        self.store, self.trust, self.dispatcher, self.tracker = store, trust, dispatcher, tracker
        self.check = check and store is not None and trust is not None
        self.settler = Settler(policy.settle)
        self.on_event, self.on_check = on_event, on_check
        self.driver_factory = driver_factory
        self.events: list[WireEvent] = []
        self.alerts: list[Alert] = []
        self.deliveries: list[Any] = []   # integrity.alerts.DeliveryReport, one per delivery
        self._next_drain: datetime | None = None

    # -- per packet ----------------------------------------------------------------------
    def feed(self, seg: Segment) -> list[WireEvent]:
        out = self.wire.segment(seg)
        self._handle(out)
        return out.events

    def finish(self) -> list[WireEvent]:
        out = self.wire.finish()
        self._handle(out)
        self.tick(None)
        return out.events

    def _handle(self, out: Any) -> None:
        quiet_devices = set()
        for event in out.events:
            quiet = self.policy.is_quiet(event.operation, event.device, event.src)
            if quiet and event.device:
                quiet_devices.add(event.device)
            self._record(event, quiet)
            if event.change and event.device and not quiet:
                self.settler.note(event.device, event.at, event)
        for device, ts in out.touched:
            if device in quiet_devices:
                continue
            self.settler.note(device, datetime.fromtimestamp(ts, timezone.utc))

    def _record(self, event: WireEvent, quiet: bool) -> None:
        self.events.append(event)
        alert = None if quiet else self._alert_for(event)
        detail = json.dumps({**event.to_dict(), "quiet": quiet, "alerted": alert is not None},
                            sort_keys=True, separators=(",", ":"))
        if self.on_event is not None:
            self.on_event(event, alert is not None)
        self._raise([alert] if alert is not None else [], event.at, (EVENT_KIND, detail))

    def _record_state(self, device: str | None) -> AlertRecord | None:
        if self.store is None or device is None:
            return None
        try:
            raw = self.store.alert_record(device)
            return AlertRecord.from_dict(raw) if raw else None
        except ValueError:
            return None

    def _alert_for(self, event: WireEvent) -> Alert | None:
        record = self._record_state(event.device)
        in_window = record is not None and record.in_maintenance(event.at)
        if event.station_allowed and event.device is not None and in_window:
            return None  # approved work by an engineering station: recorded, not alerted
        state = record.state if record is not None and record.state else Status.NO_BASELINE
        proto = self.devices[event.device].protocol if event.device in self.devices else event.protocol
        return Alert(kind=AlertKind.WIRE_EVENT, device=event.device_label, state=state, at=event.at,
                     since=event.at, summary=event.headline(), protocol=proto,
                     operation=event.operation, source=event.src, maintenance=in_window,
                     message=json.dumps(event.to_dict(), sort_keys=True))

    def _raise(self, alerts: list[Alert], at: datetime, event: tuple[str, str]) -> None:
        """Record the event and store its alerts pending in one transaction, then
        deliver the outbox.  Without a store (a bare replay) alerts go straight out."""
        from integrity.alerts.outbox import raise_alerts

        self.alerts.extend(alerts)
        if self.store is None:
            if self.dispatcher is not None and alerts:
                self.deliveries.append(self.dispatcher.dispatch(alerts))
            return
        delivery = raise_alerts(self.store, self.dispatcher, alerts, now=at,
                                events=[(at, *event)])
        self._delivered(delivery, at)

    def _delivered(self, delivery: Any, at: datetime) -> None:
        from integrity.alerts.outbox import record_failures

        if delivery is not None:
            self.deliveries.append(delivery)
            record_failures(self.store, delivery, at)

    def drain(self, now: datetime | None) -> None:
        """Deliver what the outbox holds (see the module docstring), at most every
        DRAIN_EVERY; ``now`` None (end of input) drains regardless."""
        from integrity.alerts.outbox import deliver_pending

        if self.store is None or self.dispatcher is None:
            return
        if now is not None and self._next_drain is not None and now < self._next_drain:
            return
        self._next_drain = now + DRAIN_EVERY if now is not None else None
        self._delivered(deliver_pending(self.store, self.dispatcher), now or datetime.now(timezone.utc))

    # -- deep checks ---------------------------------------------------------------------
    def tick(self, now: datetime | None) -> list[CheckResult]:
        """Run the checks that are due (all pending ones when ``now`` is None)."""
        self.drain(now)
        due = self.settler.due(now)
        if not due or not self.check:
            return []
        from integrity.check import default_driver_factory
        from integrity.sweep import run_sweep

        results = []
        for name, pending in due:
            device = self.devices[name]
            report = run_sweep([device], self.store, self.trust, mode=Mode.DEEP,
                               tracker=self.tracker, dispatcher=self.dispatcher,
                               driver_factory=self.driver_factory or default_driver_factory)
            self.alerts.extend(report.alerts)
            result = report.results[0]
            results.append(result)
            self._verdict(result, pending)
        return results

    def _verdict(self, result: CheckResult, pending: Pending) -> None:
        ops = ", ".join(pending.operations) or "changes"
        verdict = {Status.OK: "matches its baseline", Status.DRIFT: "differs from its baseline",
                   Status.UNREACHABLE: "could not be checked", Status.NO_BASELINE: "has no baseline",
                   Status.BASELINE_INVALID: "has a baseline that failed its integrity check"
                   }[result.status]
        summary = f"after {ops} from {', '.join(sorted(pending.stations)) or '?'}: {verdict}"
        if result.status is Status.DRIFT:
            summary += ": " + summarise_differences(result.differences)
        elif result.message:
            summary += f" ({result.message})"
        now = result.checked_at or datetime.now(timezone.utc)
        detail = json.dumps({"schema": 1, "device": result.device, "status": result.status.value,
                             "operations": pending.operations, "summary": summary}, sort_keys=True)
        self._raise([Alert(kind=AlertKind.WIRE_CHECK, device=result.device, state=result.status,
                          at=now, since=now, summary=summary, protocol=self.devices[result.device].protocol,
                          operation=pending.operations[0] if pending.operations else None,
                          source=", ".join(sorted(pending.stations)) or None,
                          differences=tuple(d.key for d in result.differences),
                          baseline_id=result.baseline_id)], now, (CHECK_KIND, detail))
        if self.on_check is not None:
            self.on_check(result, pending)


def run_live(loop: WatchLoop, capture: Any, *, stop: Any = None,
             clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
    """Feed a LiveCapture into the loop until ``stop`` (a threading.Event) is set.

    Deep checks run between packets, on this thread; the kernel buffers what
    arrives meanwhile (the capture asks for an 8 MiB receive buffer).
    """
    for seg in capture.segments(lambda: clock().timestamp()):
        if seg is not None:
            loop.feed(seg)
        loop.tick(clock())
        if stop is not None and stop.is_set():
            return
