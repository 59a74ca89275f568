"""The dashboard as a Starlette application: GET only, over the store.

Pages: ``/`` the fleet, ``/devices/{name}``, ``/health`` (scheduler, watcher,
alerts, events), ``/assets``.  JSON: ``/api/status``, ``/api/devices/{name}``,
``/api/devices/{name}/diff``, ``/api/health``, ``/api/events``,
``/api/assets``, each one document with ``"schema": 1`` (the CLI's ``--json``
documents).  ``/metrics`` (Prometheus) and ``/healthz`` (liveness, the only
path without auth).

Security: every response carries anti-framing, no-sniff and no-store headers
and a CSP that allows only the page's own inline style (by hash) and nothing
else, so a page can neither be framed nor load or send anything.  Any other
method than GET/HEAD is 405: there is nothing to forge a request against.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Callable

from jinja2 import Environment, FunctionLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from integrity.errors import ConfigError, PlcIntegrityError
from integrity.web import svg, views

CSS = resources.files("integrity.web").joinpath("templates/style.css").read_text("utf-8")
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     f"default-src 'none'; style-src 'sha256-{CSS_HASH}'; img-src 'self' data:; "
     "frame-ancestors 'none'; form-action 'self'; base-uri 'none'".encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
OPEN_PATHS = {"/healthz"}


@dataclass(frozen=True)
class Auth:
    """``token``: every request but /healthz needs ``Authorization: Bearer <token>``.
    ``proxy_header``: a reverse proxy authenticates and sets this header (e.g.
    X-Forwarded-User); a request without it is refused.  Both None: no auth
    (allowed on loopback only, see server.py)."""

    token: str | None = None
    proxy_header: str | None = None

    def allows(self, headers: dict[bytes, bytes]) -> bool:
        if self.token is not None:
            given = headers.get(b"authorization", b"")
            scheme, _, value = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(
                    value.strip(), self.token.encode()):
                return False
        if self.proxy_header is not None:
            if not headers.get(self.proxy_header.lower().encode(), b"").strip():
                return False
        return True


class Guard:
    """ASGI middleware: GET/HEAD only, auth, and the security headers on every answer."""

    def __init__(self, app: Any, auth: Auth) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  *SECURITY_HEADERS]}
            await send(message)

        headers = dict(scope["headers"])
        if scope["method"] not in ("GET", "HEAD"):
            response: Response = PlainTextResponse("read-only: GET only\n", 405,
                                                   headers={"Allow": "GET, HEAD"})
        elif scope["path"] not in OPEN_PATHS and not self.auth.allows(headers):
            response = PlainTextResponse("authentication required\n", 401,
                                         headers={"WWW-Authenticate": "Bearer"})
        else:
            await self.app(scope, receive, send_secured)
            return
        await response(scope, receive, send_secured)


class Snapshot:
    """A value recomputed at most every ``ttl`` seconds: 10,000 devices cost
    seconds to verify, and a dashboard reloaded by several people should not
    redo it for each.  ``ttl`` 0 recomputes every time."""

    def __init__(self, compute: Callable[[], Any], ttl: float) -> None:
        self.compute, self.ttl = compute, ttl
        self._lock = threading.Lock()
        self._at: float | None = None
        self._value: Any = None

    def get(self) -> Any:
        with self._lock:
            if self._at is None or time.monotonic() - self._at >= self.ttl:
                self._value, self._at = self.compute(), time.monotonic()
            return self._value


def _template_source(name: str) -> tuple[str, None, Callable[[], bool]]:
    return resources.files("integrity.web").joinpath(f"templates/{name}").read_text("utf-8"), \
        None, lambda: True


TEMPLATES = Environment(loader=FunctionLoader(_template_source),
                        autoescape=select_autoescape(default=True, default_for_string=True))


def create_app(site: Any, store: Any, trust: Any, *, auth: Auth = Auth(),
               allowed_hosts: list[str] | None = None, metrics: Any = None,
               cache_seconds: float = 15.0, clock: Callable[[], datetime] | None = None,
               pages: bool = True) -> Starlette:
    """The dashboard over ``store`` (opened by the caller, who closes it).

    ``metrics``: a prometheus_client registry for /metrics (None: 404); the
    store's metrics are registered on it, read from the same cached snapshot.
    ``allowed_hosts``: Host header values accepted (a DNS-rebinding page
    cannot then read a loopback dashboard); None accepts any.  ``pages``
    False: only /metrics and /healthz (the daemon's exporter).
    """
    from integrity.assets import collect_assets

    now = clock or (lambda: datetime.now(timezone.utc))

    def compute() -> tuple[dict[str, Any], dict[str, Any]]:
        # Every baseline verified once for both views: at 10,000 devices the
        # verification is most of the cost.
        latest = store.latest_many([d.name for d in site.devices], trust)
        return (views.fleet_snapshot(site, store, trust, now=now(), latest=latest),
                {a.device: a for a in collect_assets(site, store, trust, history=False,
                                                     latest=latest)} if pages else {})

    both = Snapshot(compute, cache_seconds)

    def status() -> dict[str, Any]:
        return both.get()[0]

    def assets() -> dict[str, Any]:
        return both.get()[1]

    def flags() -> dict[str, list[dict[str, str]]]:
        return {name: [f.to_dict() for f in a.flags] for name, a in assets().items()}

    def flag_counts() -> dict[str, int]:
        counts: dict[str, int] = {}
        for a in assets().values():
            for f in a.flags:
                counts[f.rule] = counts.get(f.rule, 0) + 1
        return counts

    if metrics is not None:
        from integrity.metrics import FlagsCollector, StoreCollector
        metrics.register(StoreCollector(store, status, clock=now))
        if pages:
            metrics.register(FlagsCollector(flag_counts))

    def fleet_doc(request: Request) -> dict[str, Any]:
        q = request.query_params
        return views.fleet(status(), flags=flags(),
                           **{k: q.get(k) or None for k in ("tag", "zone", "protocol", "state")})

    def page(name: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(TEMPLATES.get_template(name).render(css=CSS, **context))

    def fleet_page(request: Request) -> Response:
        doc = fleet_doc(request)
        return page("fleet.html", doc=doc, bars=svg.bars(doc["counts"]))

    def device_doc(request: Request) -> dict[str, Any]:
        name = request.path_params["name"]
        site.device(name)  # ConfigError (404) before anything is read
        mine = collect_assets(site, store, trust, [site.device(name)])[0]
        return views.device_page(site, store, trust, name, now=now(), asset=mine)

    def device_html(request: Request) -> Response:
        doc = device_doc(request)
        return page("device.html", doc=doc, timeline=svg.timeline(
            doc["checks"], title=f"checks of {doc['device']}"))

    def health_doc() -> dict[str, Any]:
        snapshot = status()
        return views.health(store, now=now(), scheduler=snapshot["scheduler"],
                            heartbeat_at=snapshot["heartbeat_at"])

    def assets_doc() -> dict[str, Any]:
        rows = [a.to_dict() for a in assets().values()]
        return {"schema": views.SCHEMA, "devices": rows,
                "flags": [f for a in rows for f in a["flags"]]}

    def drift_doc(request: Request) -> dict[str, Any]:
        doc = device_doc(request)
        return doc["drift"] or {"schema": views.SCHEMA, "device": doc["device"], "status": None,
                                "current": False, "text": f"{doc['device']}: no drift recorded"}

    def metrics_endpoint(_request: Request) -> Response:
        if metrics is None:
            return PlainTextResponse("metrics are not enabled\n", 404)
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    def json_route(path: str, make: Callable[..., dict[str, Any]], takes_request: bool = True
                   ) -> Route:
        def endpoint(request: Request) -> Response:
            return JSONResponse(make(request) if takes_request else make())
        return Route(path, _errors(endpoint, as_json=True))

    routes = [
        Route("/", _errors(fleet_page)),
        Route("/devices/{name}", _errors(device_html)),
        Route("/health", _errors(lambda r: page("health.html", doc=health_doc()))),
        Route("/assets", _errors(lambda r: page("assets.html", doc=assets_doc()))),
        json_route("/api/status", fleet_doc),
        json_route("/api/devices/{name}", device_doc),
        json_route("/api/devices/{name}/diff", drift_doc),
        json_route("/api/health", health_doc, False),
        json_route("/api/events", lambda r: {"schema": views.SCHEMA,
                                              "events": store.events(limit=200)}),
        json_route("/api/assets", assets_doc, False),
    ]
    if not pages:
        routes = []
    routes += [Route("/metrics", metrics_endpoint),
               Route("/healthz", lambda r: PlainTextResponse("ok\n"))]

    middleware = [Middleware(Guard, auth=auth)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    return Starlette(routes=routes, middleware=middleware)


def _errors(endpoint: Callable[[Request], Response], as_json: bool = False
            ) -> Callable[[Request], Response]:
    """Our own errors as 404 (unknown device) or 503 (store unreadable), one line, no traceback."""

    def wrapped(request: Request) -> Response:
        try:
            return endpoint(request)
        except PlcIntegrityError as exc:
            code = 404 if isinstance(exc, ConfigError) else 503
            if as_json:
                return JSONResponse({"schema": views.SCHEMA, "error": str(exc),
                                     "error_type": type(exc).__name__}, code)
            return HTMLResponse(TEMPLATES.get_template("error.html").render(
                css=CSS, code=code, message=str(exc)), code)

    return wrapped
