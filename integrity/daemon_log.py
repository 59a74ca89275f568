"""What the daemon records beyond its sweeps: alert sinks that failed.

Starts, stops and abandoned work are recorded by the scheduler itself; a sink
failure is recorded here, so `plc-integrity events` shows it after the fact
(the log line alone scrolls away).
"""

from __future__ import annotations

from typing import Any


def record_sink_failures(store: Any, report: Any) -> None:
    from integrity.alerts.outbox import record_failures

    record_failures(store, report.delivery, report.finished_at)
