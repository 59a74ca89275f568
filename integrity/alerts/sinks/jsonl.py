"""The jsonl sink: one JSON document (Alert.to_dict) per line, appended.

Each line is written with a single write() on an O_APPEND descriptor and
fsync'ed before send() returns, so a crash never leaves half an alert behind
a line that claims to be delivered.  The file is created 0640: alerts name
devices and baselines, which is not for every local user.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from integrity.alerts.model import Alert
from integrity.alerts.sinks.base import Sink, SinkError

FILE_MODE = 0o640


class JsonlSink(Sink):
    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = name or f"jsonl {self.path}"

    def _send(self, alert: Alert) -> None:
        line = json.dumps(alert.to_dict(), ensure_ascii=False, sort_keys=True) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise SinkError(f"cannot open {self.path}: {exc.strerror or exc}", sink=self.name) from exc
        try:
            data = line.encode("utf-8")
            written = os.write(fd, data)
            if written != len(data):
                raise SinkError(f"short write to {self.path} ({written} of {len(data)} bytes)",
                                sink=self.name)
            os.fsync(fd)
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {exc.strerror or exc}", sink=self.name) from exc
        finally:
            os.close(fd)
