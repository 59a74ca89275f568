"""A stricter socket for pycomm3: whole frames, bounded waits, non-ENIP peers named.

pycomm3 1.2.16's ``Socket.receive`` reads 256 bytes, trusts the length field
and loops on ``recv`` until that many arrived.  Against a peer that sends
something else and closes (an HTTP server, a port guard) ``recv`` returns b""
forever and the loop never ends.  This replacement reads exactly one
encapsulation frame within the timeout, says "closed" when the peer closes,
and refuses a reply whose command is not an EtherNet/IP one.

Cheap per frame, as the bare library is: one ``recv`` takes whatever has
arrived (a whole reply, usually), bytes past the frame wait in ``_surplus`` for
the next one, and the socket's timeout is changed only when a frame comes in
pieces (the first wait of a frame uses the timeout the socket already has).
"""

from __future__ import annotations

import socket
import struct
import time

from pycomm3.socket_ import Socket

HEADER_SIZE = 24
ENIP_COMMANDS = frozenset({0x00, 0x01, 0x04, 0x63, 0x64, 0x65, 0x66, 0x6F, 0x70})
RECV_SIZE = 65536


class NotEnipReplyError(ValueError):
    """The peer answered, but not with EtherNet/IP encapsulation."""


class StrictSocket(Socket):
    def __init__(self, timeout: float) -> None:
        super().__init__(timeout)  # the socket's timeout: ``timeout``
        self.timeout = timeout
        self._armed = timeout      # what the socket's timeout is now
        self._surplus = b""

    def receive(self, timeout: float = 0) -> bytes:
        """One whole encapsulation frame.

        Raises socket.timeout when the frame is not complete within the timeout,
        ConnectionResetError when the peer closes, NotEnipReplyError for other protocols.
        """
        limit = timeout or self.timeout
        data, self._surplus = self._surplus, b""
        deadline = 0.0
        while True:
            if len(data) >= 2 and struct.unpack_from("<H", data)[0] not in ENIP_COMMANDS:
                raise NotEnipReplyError(f"not an EtherNet/IP reply (starts {data[:8]!r})")
            need = HEADER_SIZE + struct.unpack_from("<H", data, 2)[0] \
                if len(data) >= HEADER_SIZE else HEADER_SIZE
            if len(data) >= need:
                self._surplus = data[need:]
                if self._armed != self.timeout:  # back to the timeout sends rely on
                    self.sock.settimeout(self.timeout)
                    self._armed = self.timeout
                return data[:need]
            if not deadline:
                # The frame's wait starts here: the socket already times out after
                # ``limit`` (unless the caller asked for another one).
                deadline = time.monotonic() + limit
                wait = limit
            else:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise socket.timeout(f"incomplete reply after {limit:g} s")
            if wait != self._armed:
                self.sock.settimeout(wait)
                self._armed = wait
            chunk = self.sock.recv(RECV_SIZE)
            if not chunk:
                raise ConnectionResetError("the device closed the connection"
                                           + (" mid-reply" if data else ""))
            data += chunk
