"""Alert sinks, one module per destination (see base.Sink)."""

from integrity.alerts.sinks.base import DEFAULT_TIMEOUT, Sink, SinkError
from integrity.alerts.sinks.email import EmailSink
from integrity.alerts.sinks.jsonl import JsonlSink
from integrity.alerts.sinks.log import LogSink
from integrity.alerts.sinks.syslog import SyslogSink
from integrity.alerts.sinks.webhook import WebhookSink

__all__ = ["DEFAULT_TIMEOUT", "EmailSink", "JsonlSink", "LogSink", "Sink", "SinkError",
           "SyslogSink", "WebhookSink"]
