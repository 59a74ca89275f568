"""Real local receivers for alert sinks: an HTTP server that records requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOOPBACK = "127.0.0.1"


@dataclass
class HttpRequest:
    path: str
    headers: dict[str, str]
    body: bytes


class HttpReceiver(ThreadingHTTPServer):
    """Records every POST; answers with the queued ``statuses`` first, then 200."""

    daemon_threads = True

    def __init__(self, path: str = "/hooks/plc") -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.path = path
        self.requests: list[HttpRequest] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        # hold(): the next POST is recorded in ``held`` and never answered
        # until ``release`` is set, as a receiver stuck mid-request.
        self.holding = False
        self.held: list[HttpRequest] = []
        self.holds = threading.Event()
        self.release = threading.Event()
        # A short poll interval: shutdown() waits for one poll, 0.5 s by default.
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}{self.path}"

    def hold(self) -> None:
        self.holding = True

    def __enter__(self) -> "HttpReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: HttpReceiver

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            hold, self.server.holding = self.server.holding, False
            if hold:
                self.server.held.append(HttpRequest(self.path, dict(self.headers), body))
        if hold:
            self.server.holds.set()
            self.server.release.wait()
            self.close_connection = True
            return  # never answered: the sender cannot know it arrived
        with self.server.lock:
            self.server.requests.append(HttpRequest(self.path, dict(self.headers), body))
            status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass
