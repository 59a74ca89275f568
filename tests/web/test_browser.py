"""The dashboard in a real browser: Debian's headless Chromium loads the pages
from uvicorn on 127.0.0.1, dumps the DOM it built and takes screenshots.

Nothing may leave the loopback: Chromium runs with background networking
off, no name resolution but 127.0.0.1, and a proxy that is a recording
listener on 127.0.0.1 (loopback itself is never proxied), so any request for
another host reaches the listener, which never answers.  Chromium
still tries its own services (component updates, account and time checks)
despite the flags; the test asserts those are the only hosts asked for, so
no page of ours made a request off loopback, and none of them left the machine.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from support.peers import Peer
from support.web import serving

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium package "
                                "at /usr/bin/chromium (apt-get install -y chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
         "--window-size=1280,1000"]
# Chromium's own services, which it asks for even with background networking off.
CHROMIUM_OWN = (".google.com", ".googleapis.com", ".gstatic.com")


def first_lines(peer: Peer) -> list[str]:
    """The request line of every connection the silent peer accepted (what
    the browser asked its "proxy" for; the peer never answered)."""
    out = []
    for conn in list(peer.conns):
        conn.settimeout(2)
        try:
            line = conn.recv(1024).split(b"\r\n")[0].decode("latin-1")
        except OSError:
            continue  # a connection the browser gave up before asking anything
        if line:
            out.append(line)
    return out


def hosts(lines: list[str]) -> set[str]:
    out = set()
    for line in lines:
        parts = line.split()
        target = parts[1] if len(parts) > 1 else line
        out.add(target.split("://")[-1].split("/")[0].split(":")[0])
    return out


@pytest.fixture(scope="module")
def browser(crane_week, tmp_path_factory):
    """run(url, *args) -> stdout of one headless Chromium run; ``proxy`` records
    every connection that tried to leave loopback."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with serving(crane_week.root) as base, Peer() as proxy:
        def run(path: str, *args: str) -> str:
            done = subprocess.run(
                [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}",
                 f"--proxy-server=http://127.0.0.1:{proxy.port}", *args, base + path],
                capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr[-2000:]
            return done.stdout

        yield run
        asked = first_lines(proxy)
    strangers = {h for h in hosts(asked) if not h.endswith(CHROMIUM_OWN)}
    assert not strangers, f"requests off loopback: {asked}"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_fleet_page_dom_shows_every_device_and_the_drift(browser, crane_week):
    dom = browser("/", "--dump-dom")
    assert '<table id="fleet">' in dom
    for device in crane_week.site.devices:
        assert f'data-device="{device.name}"' in dom
    assert 'data-device="vfd-hoist" data-state="DRIFT"' in dom
    assert '<span class="state s-DRIFT">DRIFT</span>' in dom
    assert 'data-device="vfd-spare" data-state="UNREACHABLE"' in dom
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="bars"' in dom
    assert 'class="flag"' in dom  # supplier flags on the fleet


def test_device_page_dom_shows_timeline_and_diff(browser):
    dom = browser("/devices/vfd-hoist", "--dump-dom")
    assert 'id="timeline"' in dom and 'class="check drift"' in dom
    assert '<pre class="diff" id="diff">' in dom and "holding[22]" in dom
    assert "commissioning" in dom


def test_filter_by_tag_in_the_browser(browser):
    dom = browser("/?tag=crane-2", "--dump-dom")
    assert 'data-device="vfd-spare"' in dom and 'data-device="vfd-hoist"' not in dom


@pytest.mark.parametrize("path, name", [("/", "fleet"), ("/devices/vfd-hoist", "device"),
                                        ("/health", "health"), ("/assets", "assets")])
def test_screenshots(browser, tmp_path, path, name):
    shot = tmp_path / f"{name}.png"
    browser(path, f"--screenshot={shot}")
    assert shot.is_file()
    assert png_size(shot) == (1280, 1000)
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
