"""Logix: each reply must answer the request sent (issue 8, item 6).

A peer that sends the Identity reply twice used to have the second one taken as
the Forward Open reply: pycomm3 then sent its reads on an invented connection
id.  Now the mismatch is a protocol error (exit 3) before anything else is sent.
"""

from __future__ import annotations

import struct

from support.hostile import Policy, Reply


def cip_service(frame: bytes) -> int | None:
    """The CIP reply service of a SendRRData frame (unconnected), else None."""
    if struct.unpack_from("<H", frame, 0)[0] != 0x6F:
        return None
    pos, count = 24 + 8, struct.unpack_from("<H", frame, 24 + 6)[0]
    for _ in range(count):
        kind, n = struct.unpack_from("<HH", frame, pos)
        if kind == 0xB2 and n:
            return frame[pos + 4]
        pos += 4 + n
    return None


class RepeatIdentity(Policy):
    """Genuine replies, but the first Identity reply (Get_Attributes_All, 0x81) twice."""

    def __init__(self) -> None:
        self.repeated = False

    def __call__(self, reply: Reply, index: int, frame: bytes) -> bool:
        reply.send(frame)
        if not self.repeated and cip_service(frame) == 0x81:
            self.repeated = True
            reply.send(frame)
        return True


def test_duplicated_identity_reply_is_not_taken_as_the_forward_open_reply(bench, only_reads):
    code, doc, _ = bench.verify("logix", RepeatIdentity, timeout=1.0)
    [result] = doc["results"]
    assert code == 3 and result["status"] == "UNREACHABLE", result
    assert result["reason"] == "protocol"
    assert "does not answer the request sent" in result["message"]
    assert "CIP reply service 0x81" in result["message"]
    # Nothing was sent on an invented connection (the simulator records such a
    # request as a non-read).
    only_reads(bench.sims["logix"])


def test_genuine_replies_still_pass(bench):
    code, doc, _ = bench.verify("logix", timeout=2.0)
    assert code == 0, doc
