"""plc-integrity serve — the read-only web dashboard."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from integrity.cli._common import open_site, open_store, trust_store


@click.command("serve")
@click.option("--bind", default="127.0.0.1:8800", show_default=True, metavar="HOST:PORT",
              help="Where to listen.  Off loopback, authentication is required.")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File whose first line is the bearer token (else $PLC_INTEGRITY_TOKEN).")
@click.option("--proxy-auth-header", metavar="HEADER",
              help="Behind an authenticating reverse proxy: refuse requests without this "
                   "header (e.g. X-Forwarded-User).  The proxy must set it and strip it from "
                   "clients.")
@click.option("--cache", "cache_seconds", type=click.FloatRange(min=0), default=15.0,
              show_default=True, help="Seconds a computed fleet view is reused.")
@click.pass_context
def serve_cmd(ctx: click.Context, bind: str, token_file: Path | None,
              proxy_auth_header: str | None, cache_seconds: float) -> None:
    """Serve a read-only dashboard of the store: fleet, devices, health, assets,
    JSON endpoints (/api/...) and Prometheus /metrics.

    It never reads a device and never writes the store.  On 127.0.0.1 it needs
    no authentication; anywhere else it refuses to start (exit 2) unless a
    bearer token ($PLC_INTEGRITY_TOKEN or --token-file) or --proxy-auth-header
    is set.  With a token, every path but /healthz needs
    `Authorization: Bearer TOKEN` (401 otherwise).

    \b
    Examples:
      plc-integrity serve
      PLC_INTEGRITY_TOKEN=$(cat /etc/plc-integrity/token) plc-integrity serve --bind 0.0.0.0:8800
      curl -H "Authorization: Bearer $TOKEN" http://plc-mon:8800/api/status
    """
    from integrity.metrics import make_registry
    from integrity.web.app import create_app
    from integrity.web.server import Server, check_exposure, load_auth, parse_bind

    where = parse_bind(bind)
    auth = load_auth(token_file, proxy_auth_header)
    hosts = check_exposure(where, auth)
    site = open_site(ctx)
    with open_store(site) as store:
        trust = trust_store(site, live=True)
        registry, _ = make_registry()
        app = create_app(site, store, trust, auth=auth, allowed_hosts=hosts, metrics=registry,
                         cache_seconds=cache_seconds)
        server = Server(app, where).start()
        stop = threading.Event()
        handlers = {s: signal.signal(s, lambda *_: stop.set())
                    for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            host = f"[{where.host}]" if ":" in where.host else where.host
            click.echo(f"serving http://{host}:{server.port}/ "
                       f"({'token' if auth.token else 'proxy header' if auth.proxy_header else 'no'}"
                       " auth); ready", err=False)
            while not stop.wait(1.0):
                pass
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            server.stop()
    click.echo("stopped")


def register(cli: click.Group) -> None:
    cli.add_command(serve_cmd)
