"""Hostile peers, driven the same way for every protocol (issue 8).

Each case ends in exit 3 (could not check) with its own reason, within
timeout x (retries + 1) + 1 s, never 0, never 70, never a hang, and the
simulator behind the proxy saw only reads.
"""

from __future__ import annotations

import pytest

from support.hostile import PROTOCOLS, At, bound
from support.peers import closed_port

TIMEOUT = 0.3  # seconds per request: loopback peers answer in microseconds

# (action, reply index at which the peer turns hostile, reasons it may end with)
CASES = [
    pytest.param("silent", 0, {"timeout"}, id="silent"),
    pytest.param("silent", 2, {"timeout"}, id="silent-mid-session"),
    pytest.param("reset", 0, {"refused", "protocol"}, id="reset-mid-reply"),
    pytest.param("reset", 3, {"refused", "protocol"}, id="reset-mid-session"),
    pytest.param("partial", 0, {"timeout"}, id="partial-reply-then-silence"),
    pytest.param("partial", 3, {"timeout"}, id="partial-reply-mid-session"),
    pytest.param("garbage", 0, {"protocol"}, id="non-protocol-bytes"),
    pytest.param("garbage", 3, {"protocol"}, id="non-protocol-mid-session"),
    pytest.param("huge", 0, {"timeout", "protocol"}, id="huge-length"),
    pytest.param("huge", 3, {"timeout", "protocol"}, id="huge-length-mid-session"),
]


def assert_could_not_check(code: int, doc: dict, elapsed: float, limit: float,
                           reasons: set[str]) -> None:
    [result] = doc["results"]
    assert code == 3 and result["status"] == "UNREACHABLE", doc
    assert result["reason"] in reasons, result
    assert elapsed < limit, f"took {elapsed:.2f} s, bound {limit:.2f} s"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("action, k, reasons", CASES)
def test_hostile_peer_is_could_not_check_within_the_bound(bench, only_reads, protocol, action, k,
                                                          reasons):
    code, doc, elapsed = bench.verify(protocol, lambda: At(k, action), timeout=TIMEOUT)
    assert_could_not_check(code, doc, elapsed, bound(TIMEOUT, 0), reasons)
    only_reads(bench.sims[protocol])


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("k", [0, 3], ids=["first-reply", "mid-session"])
def test_slow_drip_peer_is_a_timeout_within_the_bound(bench, only_reads, protocol, k):
    # One byte every 0.4 s: each receive is within the 0.6 s timeout, the
    # request is not.  Two attempts (retries = 1).
    code, doc, elapsed = bench.verify(protocol, lambda: At(k, "drip"), timeout=0.6, retries=1)
    assert_could_not_check(code, doc, elapsed, bound(0.6, 1), {"timeout"})
    only_reads(bench.sims[protocol])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_refused_port(bench, protocol):
    with closed_port() as port:
        bench.write_inventory(TIMEOUT, 0)
        path = bench.site.root / "devices" / "sim.toml"
        path.write_text(path.read_text().replace(f"port = {bench.proxies[protocol].port}",
                                                 f"port = {port}"))
        code, doc, elapsed = bench.cli.timed_json("verify", protocol)
    assert_could_not_check(code, doc, elapsed, bound(TIMEOUT, 0), {"refused"})


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pass_through_is_ok(bench, protocol):
    """The proxy itself changes nothing: the same check through it is OK."""
    code, doc, _ = bench.verify(protocol, timeout=2.0)
    assert code == 0, doc
