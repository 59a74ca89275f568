"""One sweep: check many devices concurrently, record every result, raise alerts.

The same per-device path as ``verify`` (integrity.check); what a sweep adds is
the alert state per device (integrity.alerts.tracker) and delivery to the
site's sinks.  The daemon (integrity.scheduler) calls ``run_sweep`` for the
devices that are due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from integrity import check
from integrity.alerts import Alert, AlertRecord, AlertTracker, DeliveryReport, Dispatcher
from integrity.alerts.outbox import deliver_pending, outgoing
from integrity.clock import utcnow
from integrity.model import CheckResult, Device, Mode, overall_exit_code

Progress = Callable[[int, int, CheckResult], None]


@dataclass(frozen=True)
class SweepReport:
    started_at: datetime
    finished_at: datetime
    mode: Mode
    results: tuple[CheckResult, ...]
    alerts: tuple[Alert, ...]
    delivery: DeliveryReport | None

    @property
    def exit_code(self) -> int:
        return overall_exit_code([r.status for r in self.results])

    def to_dict(self, *, lazy: bool = False) -> dict[str, Any]:
        """``lazy``: ``results`` as a generator of the results' dicts, made one at a
        time as they are written (``emit_json``), not a list of every device's."""
        results = (r.to_dict() for r in self.results)
        return {
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "mode": self.mode.value,
            "exit_code": self.exit_code,
            "results": results if lazy else list(results),
            "alerts": [a.to_dict() for a in self.alerts],
            "delivery": self.delivery.to_dict() if self.delivery else None,
        }


def alerting(site: Any) -> tuple[AlertTracker, Dispatcher | None]:
    """The site's alert tracker (settings.remind_after) and its sinks ([[alerts]]).

    Raises ConfigError for a bad [[alerts]] table or a missing secret variable.
    One place, so the CLI, the daemon and tests build alerting the same way.
    """
    from integrity.alerts import parse_alert_tables

    sinks = parse_alert_tables(list(site.alerts), file=str(site.root / "site.toml"),
                               base_dir=site.root)
    return (AlertTracker(remind_after=site.settings.remind_after),
            Dispatcher(sinks) if sinks else None)


# Devices whose alert records are read, advanced and written together: one read
# and one write transaction per chunk, not two per device, and a sweep of
# 10,000 holds a chunk's records at a time, not the fleet's.  Each chunk's
# alerts are stored with the records that raised them, as ever.
OBSERVE_CHUNK = 500


def observe_results(results: Iterable[CheckResult], store: Any, tracker: AlertTracker,
                    now: datetime, sinks: list[str] | None = None, *,
                    chunk: int = OBSERVE_CHUNK) -> list[Alert]:
    """Advance each device's alert record; return the alerts raised.

    The alerts are stored as pending in the outbox for each of ``sinks`` in
    the same transaction as the records that raised them, so a crash
    before or during delivery delays them (``deliver_pending``), never loses them.
    """
    results = list(results)
    alerts: list[Alert] = []
    for i in range(0, len(results), chunk):
        alerts.extend(_observe_chunk(results[i:i + chunk], store, tracker, now, sinks))
    return alerts


def _observe_chunk(results: list[CheckResult], store: Any, tracker: AlertTracker,
                   now: datetime, sinks: list[str] | None) -> list[Alert]:
    alerts: list[Alert] = []
    records = store.alert_records([r.device for r in results])
    changed: dict[str, dict[str, Any]] = {}
    for result in results:
        raw = records.get(result.device)
        try:
            record = AlertRecord.from_dict(raw) if raw else None
        except ValueError:
            # Unsigned state damaged by an edit or a crash: judge the device
            # afresh (at worst one repeated alert), and say so.
            store.add_event(now, "state-reset", f"{result.device}: unreadable alert record reset")
            record = None
        new_record, new_alerts = tracker.observe(record, result, now=now)
        new_raw = new_record.to_dict()
        if new_raw != raw:
            changed[result.device] = new_raw
        alerts.extend(new_alerts)
    if changed or alerts:
        store.save_alert_records(changed, now=now, pending=outgoing(alerts), sinks=sinks)
    return alerts


def run_sweep(devices: Iterable[Device], store: Any, trust: Any, *, mode: Mode = Mode.DEEP,
              concurrency: int = 16, tracker: AlertTracker | None = None,
              dispatcher: Dispatcher | None = None, now: datetime | None = None,
              clock: Callable[[], datetime] | None = None, progress: Progress | None = None,
              driver_factory: check.DriverFactory = check.default_driver_factory) -> SweepReport:
    """Check every device once and deliver the alerts the results call for.

    ``now`` stamps the results (tests pass a fixed time); ``clock`` tells the
    finish time.  Every result is recorded in the store's check history.
    """
    clock = clock or utcnow
    started = now or clock()
    results = check.verify(devices, store, trust, mode=mode, concurrency=concurrency, now=started,
                           driver_factory=driver_factory, progress=progress)
    sinks = [s.name for s in dispatcher.sinks] if dispatcher else None
    alerts = observe_results(results, store, tracker or AlertTracker(), started, sinks)
    # Also what earlier sweeps left pending (a kill during delivery, a dead sink).
    delivery = deliver_pending(store, dispatcher, clock=clock)
    return SweepReport(started, clock() if now is None else started, mode, tuple(results),
                       tuple(alerts), delivery)
