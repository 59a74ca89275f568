"""What the daemon records beyond its sweeps: alert sinks that failed.

Starts, stops and abandoned work are recorded by the scheduler itself; a sink
failure is recorded here, so `plc-integrity events` shows it after the fact
(the log line alone scrolls away).
"""

from __future__ import annotations

from typing import Any


def record_sink_failures(store: Any, report: Any) -> None:
    delivery = report.delivery
    if delivery is None or delivery.ok:
        return
    for failure in delivery.failures:
        store.add_event(report.finished_at, "sink-failed",
                        f"{failure.sink}: alert for {failure.alert.device} not delivered: "
                        f"{failure.error}")
