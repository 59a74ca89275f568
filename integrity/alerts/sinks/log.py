"""The log sink: one line per alert through Python logging.

The CLI decides where log lines go (stderr by default); the level follows the
alert's severity so a RECOVERY does not look like an incident.
"""

from __future__ import annotations

import logging

from integrity.alerts.model import Alert
from integrity.alerts.sinks.base import Sink, SinkError

LOGGER_NAME = "integrity.alerts"


def level_for(alert: Alert) -> int:
    if alert.severity >= 9:
        return logging.CRITICAL
    if alert.severity >= 7:
        return logging.ERROR
    if alert.severity >= 4:
        return logging.WARNING
    return logging.INFO


class LogSink(Sink):
    def __init__(self, *, logger: str = LOGGER_NAME, name: str | None = None) -> None:
        super().__init__()
        self.logger = logging.getLogger(logger)
        self.name = name or f"log {logger}"
        # Nothing may be configured to show INFO (a recovery, a device without a
        # baseline): a sink that reports delivery must really print something.
        if not self.logger.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            self.logger.addHandler(handler)
            self.logger.setLevel(logging.INFO)
            self.logger.propagate = False

    def _send(self, alert: Alert) -> None:
        extras = [f"since={alert.since.isoformat()}"]
        if alert.baseline_id:
            extras.append(f"baseline={alert.baseline_id}")
        if alert.signer:
            extras.append(f"signer={alert.signer}")
        if alert.maintenance:
            extras.append("maintenance=yes")
        try:
            self.logger.log(level_for(alert), "%s [%s %s]", alert.headline(), alert.kind.value,
                            " ".join(extras))
        except Exception as exc:  # a broken handler must read as a sink failure
            raise SinkError(f"logging failed: {exc}", sink=self.name) from exc
