"""The dashboard served for tests: real uvicorn on 127.0.0.1 port 0, asked with urllib."""

from __future__ import annotations

import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

TOKEN = "test-token-0123456789abcdef"


@contextmanager
def serving(site_root: Path, *, token: str | None = None, proxy_header: str | None = None,
            cache_seconds: float = 0.0) -> Iterator[str]:
    """The dashboard over the site's store; yields its base URL."""
    from integrity.cli._common import open_store, trust_store
    from integrity.inventory import load_site
    from integrity.metrics import make_registry
    from integrity.web.app import Auth, create_app
    from integrity.web.server import Bind, Server, check_exposure

    site = load_site(site_root)
    with open_store(site) as store:  # as the CLI opens it
        trust = trust_store(site, live=True)
        registry, _ = make_registry()
        bind, auth = Bind("127.0.0.1", 0), Auth(token, proxy_header)
        app = create_app(site, store, trust, auth=auth,
                         allowed_hosts=check_exposure(bind, auth), metrics=registry,
                         cache_seconds=cache_seconds)
        server = Server(app, bind).start()
        try:
            yield f"http://127.0.0.1:{server.port}"
        finally:
            server.stop()


def get(url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
        timeout: float = 60.0) -> tuple[int, Any, str]:
    """(status, headers, body) for any answer, errors included."""
    req = urllib.request.Request(url, method=method, headers=headers or {},
                                 data=b"" if method not in ("GET", "HEAD") else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode("utf-8")


def drive_capture(name: str, at: Any, *, vendor: str = "Nordwind Antriebe",
                  firmware: str = "V4.12", value: int = 0) -> Any:
    """A Modbus drive's capture made up in memory (identity and 100 holding
    registers), for stores whose devices are never contacted."""
    from integrity.model import Artifact, Capture, Kind, Mode

    ident = {"supported": True, "conformity": "0x83", "objects": {
        "0x00": {"name": "vendor_name", "text": vendor, "hex": ""},
        "0x02": {"name": "major_minor_revision", "text": firmware, "hex": ""}}}
    return Capture(name, "modbus", Mode.DEEP, at, (
        Artifact.from_value("identity", Kind.IDENTITY, ident),
        Artifact.from_value("holding/0-99", Kind.CONFIG, {"start": 0, "values": [value] * 100})))


def drift_result(name: str, at: Any, baseline: Any, *, drift: bool, signer: str) -> Any:
    """A recorded check of ``drive_capture``'s device: OK, or a drift of holding[22]."""
    from integrity.model import Change, CheckResult, Difference, Kind, Mode, Status, ValueChange

    return CheckResult(
        name, "modbus", Status.DRIFT if drift else Status.OK, at, Mode.DEEP,
        baseline_id=baseline.id, baseline_sequence=baseline.sequence, signer=signer,
        differences=(Difference("holding/0-99", Change.MODIFIED, Kind.CONFIG, "a" * 64, "b" * 64,
                                (ValueChange("holding[22]", 1500, 2250),)),) if drift else ())
