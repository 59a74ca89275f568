"""Send alerts to every sink; a failing sink never stops the others or the sweep.

Each sink gets its own (daemon) thread and receives the batch in order, so a
slow or dead sink costs the sweep at most the slowest sink's own time bound,
not the sum.  After its first failure in a batch a sink is not tried again
for the rest of that batch: a dead webhook with retries would otherwise cost
its full retry budget once per alert.

Every alert a sink did not get becomes a SINK_FAILURE alert, sent to the
sinks that did work and returned in the DeliveryReport.  Failures to deliver
those are only returned, never reported again, so nothing can loop.

A sink that overruns the dispatcher's ``deadline`` is reported as failed and
left behind (its thread is a daemon and cannot hold the process open).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Mapping, Sequence

from integrity.alerts.model import Alert, AlertKind, bound
from integrity.alerts.sinks.base import Sink, SinkError
from integrity.clock import utcnow


@dataclass(frozen=True)
class SinkFailure:
    sink: str
    alert: Alert
    error: str


@dataclass(frozen=True)
class DeliveryReport:
    """What happened to one batch.  ``failure_alerts`` are the SINK_FAILURE
    alerts raised for ``failures`` (and already sent to the working sinks)."""

    delivered: tuple[tuple[str, Alert], ...] = ()
    failures: tuple[SinkFailure, ...] = ()
    failure_alerts: tuple[Alert, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, object]:
        return {"delivered": [{"sink": s, "alert": a.id} for s, a in self.delivered],
                "failures": [{"sink": f.sink, "alert": f.alert.id, "device": f.alert.device,
                              "error": f.error} for f in self.failures],
                "failure_alerts": [a.to_dict() for a in self.failure_alerts]}


@dataclass
class _Run:
    """One sink's progress through a batch, shared with its thread under a lock."""

    sink: Sink
    alerts: Sequence[Alert]
    delivered: list[Alert] = field(default_factory=list)
    failed: list[tuple[Alert, str]] = field(default_factory=list)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def work(self) -> None:
        for i, alert in enumerate(self.alerts):
            try:
                self.sink.send(alert)
            except Exception as exc:  # any sink bug is that sink's failure, not the sweep's
                error = str(exc) if isinstance(exc, SinkError) else f"{type(exc).__name__}: {exc}"
                with self.lock:
                    if not self.closed:
                        self.failed.append((alert, error))
                        self.failed.extend((a, f"not attempted after an earlier failure: {error}")
                                           for a in self.alerts[i + 1:])
                return
            with self.lock:
                if self.closed:
                    return
                self.delivered.append(alert)

    def close(self, deadline: float) -> tuple[list[Alert], list[tuple[Alert, str]]]:
        """Freeze the results; whatever is unfinished counts as failed."""
        with self.lock:
            self.closed = True
            done = {id(a) for a in self.delivered} | {id(a) for a, _ in self.failed}
            late = [(a, f"did not finish within the dispatch deadline of {deadline:g} s")
                    for a in self.alerts if id(a) not in done]
            return list(self.delivered), self.failed + late


class Dispatcher:
    """Deliver batches of alerts to a fixed set of sinks.

    ``deadline`` (seconds) bounds one phase of ``dispatch`` whatever the sinks
    do.  By default it is the slowest sink's ``max_duration`` (a dead sink
    fails once, then is skipped) plus one second per alert in the batch, so
    a healthy sink is not cut off in the middle of a long batch.
    ``clock`` stamps SINK_FAILURE alerts.
    """

    def __init__(self, sinks: Iterable[Sink], *, deadline: float | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.sinks = tuple(sinks)
        if deadline is not None and deadline <= 0:
            raise ValueError("dispatch deadline must be positive")
        self.deadline = deadline
        self._clock = clock

    def dispatch(self, alerts: Iterable[Alert]) -> DeliveryReport:
        batch = list(alerts)
        if not batch or not self.sinks:
            return DeliveryReport()
        return self.dispatch_each({s.name: batch for s in self.sinks})

    def dispatch_each(self, batches: Mapping[str, Sequence[Alert]], *,
                      report_failures: Callable[[SinkFailure], bool] = lambda _f: True
                      ) -> DeliveryReport:
        """Deliver to each sink (by name) its own batch, as the outbox needs:
        a sink that failed earlier gets only what it still lacks.
        ``report_failures`` says which failures raise a SINK_FAILURE alert
        (the outbox reports a row's first failure, not every retry)."""
        work = [(s, list(batches[s.name])) for s in self.sinks if batches.get(s.name)]
        if not work:
            return DeliveryReport()
        delivered, failures, failed_sinks = self._phase(work)
        failure_alerts = tuple(self._failure_alert(f) for f in failures if report_failures(f))
        healthy = [s for s in self.sinks if s not in failed_sinks]
        if failure_alerts and healthy:
            more_delivered, more_failures, _ = self._phase(
                [(s, list(failure_alerts)) for s in healthy])
            delivered += more_delivered
            failures += more_failures
        return DeliveryReport(tuple(delivered), tuple(failures), failure_alerts)

    def phase_limit(self, sinks: Sequence[Sink], longest: int) -> float:
        """How long one phase may take: see the class docstring."""
        if self.deadline is not None:
            return self.deadline
        return max(s.max_duration for s in sinks) + longest

    def _phase(self, work: Sequence[tuple[Sink, list[Alert]]]
               ) -> tuple[list[tuple[str, Alert]], list[SinkFailure], list[Sink]]:
        runs = [_Run(sink, batch) for sink, batch in work]
        threads = [threading.Thread(target=run.work, name=f"alert-sink {run.sink.name}",
                                    daemon=True) for run in runs]
        for thread in threads:
            thread.start()
        # One shared deadline for the phase, not one per thread.
        limit = self.phase_limit([s for s, _ in work], max(len(b) for _, b in work))
        end = time.monotonic() + limit
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))
        delivered: list[tuple[str, Alert]] = []
        failures: list[SinkFailure] = []
        failed_sinks: list[Sink] = []
        for run in runs:
            ok, failed = run.close(limit)
            delivered += [(run.sink.name, a) for a in ok]
            failures += [SinkFailure(run.sink.name, a, e) for a, e in failed]
            if failed:
                failed_sinks.append(run.sink)
        return delivered, failures, failed_sinks

    def _failure_alert(self, failure: SinkFailure) -> Alert:
        lost = failure.alert
        return Alert(kind=AlertKind.SINK_FAILURE, device=lost.device, state=lost.state,
                     at=self._clock(), since=lost.since, previous_state=lost.previous_state,
                     summary=bound(f"{lost.kind.value} alert for {lost.device} "
                                   f"({lost.state.value}) not delivered to {failure.sink}"),
                     differences=lost.differences, baseline_id=lost.baseline_id,
                     signer=lost.signer, reason="sink-failure", message=failure.error,
                     maintenance=lost.maintenance, protocol=lost.protocol, sink=failure.sink)

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:  # closing is best effort; nothing is pending after dispatch
                pass

