"""A stricter socket for pycomm3: whole frames, bounded waits, non-ENIP peers named.

pycomm3 1.2.16's ``Socket.receive`` reads 256 bytes, trusts the length field
and loops on ``recv`` until that many arrived.  Against a peer that sends
something else and closes (an HTTP server, a port guard) ``recv`` returns b""
forever and the loop never ends.  This replacement reads exactly one
encapsulation frame within the timeout, says "closed" when the peer closes,
and refuses a reply whose command is not an EtherNet/IP one.
"""

from __future__ import annotations

import socket
import struct
import time

from pycomm3.socket_ import Socket

HEADER_SIZE = 24
ENIP_COMMANDS = frozenset({0x00, 0x01, 0x04, 0x63, 0x64, 0x65, 0x66, 0x6F, 0x70})


class NotEnipReplyError(ValueError):
    """The peer answered, but not with EtherNet/IP encapsulation."""


class StrictSocket(Socket):
    def __init__(self, timeout: float) -> None:
        super().__init__(timeout)
        self.timeout = timeout

    def receive(self, timeout: float = 0) -> bytes:
        """One whole encapsulation frame.

        Raises socket.timeout when the frame is not complete within the timeout,
        ConnectionResetError when the peer closes, NotEnipReplyError for other protocols.
        """
        deadline = time.monotonic() + (timeout or self.timeout)
        data = b""
        need = HEADER_SIZE
        while len(data) < need:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout(f"incomplete reply after {timeout or self.timeout:g} s")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(min(need - len(data), 65536))
            if not chunk:
                raise ConnectionResetError("the device closed the connection"
                                           + (" mid-reply" if data else ""))
            data += chunk
            if len(data) >= 2 and struct.unpack_from("<H", data)[0] not in ENIP_COMMANDS:
                raise NotEnipReplyError(f"not an EtherNet/IP reply (starts {data[:8]!r})")
            if len(data) >= HEADER_SIZE and need == HEADER_SIZE:
                need = HEADER_SIZE + struct.unpack_from("<H", data, 2)[0]
        return data
