"""The sink interface: one small class per destination, like a transport.

A sink renders an Alert and delivers it, within its own time bound, or
raises SinkError saying why not.  It holds no state between alerts except
configuration, so the dispatcher may run each sink in its own thread.
"""

from __future__ import annotations

import abc
import threading

from integrity.alerts.model import Alert
from integrity.errors import PlcIntegrityError

DEFAULT_TIMEOUT = 5.0


class SinkError(PlcIntegrityError):
    """An alert could not be delivered to one sink.  The dispatcher turns it
    into a SINK_FAILURE report; it never stops a sweep."""

    exit_code = 3

    def __init__(self, message: str, *, sink: str | None = None) -> None:
        self.sink = sink
        super().__init__(f"{sink}: {message}" if sink else message)


class Sink(abc.ABC):
    """Deliver alerts to one destination.

    ``name`` says which destination in failure reports (never a secret).
    ``max_duration`` is the longest one ``send`` may take (timeouts, retries
    and backoff included), which bounds how long a dead sink can hold a sweep.
    """

    name: str = "sink"

    def __init__(self) -> None:
        # One alert at a time per sink: the jsonl file, a syslog TCP stream or an
        # SMTP session must not interleave two alerts sent from two threads.
        self._lock = threading.Lock()

    @property
    def max_duration(self) -> float:
        return DEFAULT_TIMEOUT

    def send(self, alert: Alert) -> None:
        """Deliver one alert.  Raises SinkError when it could not be delivered."""
        with self._lock:
            self._send(alert)

    @abc.abstractmethod
    def _send(self, alert: Alert) -> None: ...

    def close(self) -> None:
        """Release resources; sinks that hold none need not override this."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
