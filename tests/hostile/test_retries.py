"""``retries`` means the same for every protocol (issue 9): one lost reply is
survived with retries = 1 and is a timeout with retries = 0."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from support.hostile import PROTOCOLS, Policy, Reply


class DropOnce(Policy):
    """Genuine replies, except that the k-th reply of the whole check never comes.
    One object serves every connection, so a reconnect does not drop again."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.seen = 0
        self.lock = threading.Lock()

    def __call__(self, reply: Reply, index: int, frame: bytes) -> bool:
        with self.lock:
            self.seen += 1
            drop = self.seen == self.k + 1
        if not drop:
            reply.send(frame)
        return True


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("retries, code", [(0, 3), (1, 0)], ids=["no-retry", "one-retry"])
def test_one_lost_reply_is_retried_when_retries_allow(bench, only_reads, protocol, retries, code):
    policy = DropOnce(3)
    exit_code, doc, _ = bench.verify(protocol, lambda: policy, timeout=0.3, retries=retries)
    [result] = doc["results"]
    assert exit_code == code, result
    if code == 3:
        assert result["reason"] == "timeout"
    only_reads(bench.sims[protocol])


def test_drivers_leave_the_vendor_loggers_alone_at_import():
    code = ("import logging, drivers.modbus, drivers.s7, drivers.logix; "
            "print([logging.getLogger(n).level for n in ('pymodbus', 'snap7', 'pycomm3')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[0, 0, 0]"
