"""Drift alerts for unattended operation.

    AlertTracker.observe(record, CheckResult, now=...) -> (AlertRecord, [Alert])
        decides *whether* to alert (state changes, new drift, reminders,
        recovery, maintenance windows); pure, clock passed in.
    parse_alert_tables(site["alerts"], file=...) -> [Sink]
        builds the sinks of site.toml's [[alerts]] tables.
    Dispatcher(sinks).dispatch(alerts) -> DeliveryReport
        sends them; a failing sink is reported, never fatal.
    integrity.alerts.outbox.raise_alerts(store, dispatcher, alerts, now=...)
        how every alert leaves: stored pending with what raised it, then
        delivered by the outbox lease holder (at least once, stable ids).

This package sees only integrity.model values: no drivers, no baselines.
"""

from integrity.alerts.config import parse_alert_tables
from integrity.alerts.dispatch import DeliveryReport, Dispatcher, SinkFailure
from integrity.alerts.model import Alert, AlertKind, summarise_differences
from integrity.alerts.sinks import (EmailSink, JsonlSink, LogSink, Sink, SinkError, SyslogSink,
                                    WebhookSink)
from integrity.alerts.tracker import (AlertRecord, AlertTracker, drift_signature, end_maintenance,
                                      start_maintenance)

__all__ = ["Alert", "AlertKind", "AlertRecord", "AlertTracker", "DeliveryReport", "Dispatcher",
           "EmailSink", "JsonlSink", "LogSink", "Sink", "SinkError", "SinkFailure", "SyslogSink",
           "WebhookSink", "drift_signature", "end_maintenance", "parse_alert_tables",
           "start_maintenance", "summarise_differences"]
