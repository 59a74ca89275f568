"""The S7CommPlus read-only guard: classify one outgoing frame before it is sent.

S7CommPlus has no "read service" byte to check: the session set-up itself is
written with write-class function codes (CreateObject of the session,
SetMultiVariables echoing the ServerSessionVersion, SetVariable for the
password legitimation, DeleteObject of the session at the end).  So the guard
looks past the function code at *what* is written or created:

    allowed                                    operation
    InitSSL                                    init_ssl
    CreateObject of a ServerSession            create_session   (RequestId 285)
    SetMultiVariables of the session's         session_setup    (addresses 306 and
      ServerSessionVersion / SecurityKey                          1830 only, on the session)
    SetVariable on the session object          legitimation     (304 legacy response,
                                                                  1846 password, 323 activation)
    SetVarSubStreamed on the session object    legitimation     (1846 only)
    DeleteObject of the session itself         delete_session   (object 0 or the session id)
    Explore                                    explore
    GetMultiVariables                          get_multi_variables
    GetVarSubStreamed                          get_var_substreamed (protection level,
                                                                  challenge, block upload)

Everything else (SetMultiVariables of a DB, SetVariable on any other object,
SetVarSubStreamed of a block (a download), CreateObject of anything but a
session, DeleteObject of a program object, Invoke, BeginSequence...) is
refused.  The same classification runs over the real TIA Portal and HMI
captures in tests/s7plus/test_s7plus_real_bytes.py.
"""

from __future__ import annotations

import struct

from s7commplus.vlq import decode_uint32_vlq

INIT_SSL = 0x05B3
EXPLORE = 0x04BB
CREATE_OBJECT = 0x04CA
DELETE_OBJECT = 0x04D4
SET_VARIABLE = 0x04F2
SET_MULTI_VARIABLES = 0x0542
GET_MULTI_VARIABLES = 0x054C
SET_VAR_SUBSTREAMED = 0x057C
GET_VAR_SUBSTREAMED = 0x0586

OBJECT_SERVER_SESSION_CONTAINER = 285
SERVER_SESSION_VERSION = 306
SESSION_SETUP_LEGITIMATION = 1830
SERVER_SESSION_RESPONSE = 304   # legacy legitimation answer (SHA-1 XOR challenge)
LEGITIMATE = 1846               # password legitimation blob
SESSION_ACTIVATE = 323          # V1 SessionKey session activation (USINT 5)

READS = {EXPLORE: "explore", GET_MULTI_VARIABLES: "get_multi_variables",
         GET_VAR_SUBSTREAMED: "get_var_substreamed"}
READ_OPERATIONS = frozenset({"init_ssl", "create_session", "session_setup", "legitimation",
                             "delete_session", *READS.values()})

_REQUEST_OPCODE = 0x31
_HEADER = 14  # opcode, reserved, function, reserved, sequence, session id, transport flags


class FrameError(ValueError):
    """The frame is not a well-formed S7CommPlus request."""


def request_of(frame: bytes) -> tuple[int, int, bytes]:
    """(function code, session id, payload after the 14-byte header) of one frame.

    ``frame`` is what the library hands to its transport: the 4-byte
    S7CommPlus header, the request (V3: behind a length-prefixed HMAC) and
    the trailer.  Raises FrameError.
    """
    if len(frame) < 4 or frame[0] != 0x72:
        raise FrameError(f"not an S7CommPlus frame: {frame[:8].hex()}")
    version, length = frame[1], struct.unpack_from(">H", frame, 2)[0]
    body = frame[4:4 + length]
    if version == 3:  # V3: [digest length][HMAC-SHA256][request]
        if not body or len(body) < 1 + body[0]:
            raise FrameError("V3 frame shorter than its HMAC")
        body = body[1 + body[0]:]
    if len(body) < _HEADER or body[0] != _REQUEST_OPCODE:
        raise FrameError(f"not a request: {body[:_HEADER].hex()}")
    function = struct.unpack_from(">H", body, 3)[0]
    session = struct.unpack_from(">I", body, 9)[0]
    return function, session, body[_HEADER:]


def _object_and_addresses(payload: bytes) -> tuple[int, list[int]]:
    """InObjectId and the address list of a SetMultiVariables request."""
    if len(payload) < 6:
        raise FrameError("SetMultiVariables payload too short")
    in_object = struct.unpack_from(">I", payload)[0]
    off = 4
    _items, used = decode_uint32_vlq(payload, off)
    off += used
    count, used = decode_uint32_vlq(payload, off)
    off += used
    if count > 16:
        raise FrameError(f"{count} addresses in one session set-up write")
    addresses = []
    for _ in range(count):
        address, used = decode_uint32_vlq(payload, off)
        off += used
        addresses.append(address)
    return in_object, addresses


def _single_address(payload: bytes, function: int) -> tuple[int, int]:
    """InObjectId and the one address of a SetVariable / SetVarSubStreamed request."""
    if len(payload) < 6:
        raise FrameError("request payload too short")
    in_object = struct.unpack_from(">I", payload)[0]
    off = 4
    if function == SET_VAR_SUBSTREAMED:
        # [0x20, datatype] address-array header, then (real PLC layout) an item count
        if payload[off] != 0x20:
            raise FrameError("SetVarSubStreamed without an address array")
        off += 2
        first, used = decode_uint32_vlq(payload, off)
        if first != LEGITIMATE:  # the item-number layout: [1][address]
            off += used
        address, _ = decode_uint32_vlq(payload, off)
        return in_object, address
    count, used = decode_uint32_vlq(payload, off)
    if count != 1:
        raise FrameError(f"SetVariable of {count} addresses")
    address, _ = decode_uint32_vlq(payload, off + used)
    return in_object, address


def classify(frame: bytes) -> tuple[str, bool]:
    """(operation, allowed) for one outgoing frame.  Never raises: a frame the
    guard cannot read is refused."""
    try:
        function, session, payload = request_of(frame)
        if function in READS:
            return READS[function], True
        if function == INIT_SSL:
            return "init_ssl", True
        if function == CREATE_OBJECT:
            request_id = struct.unpack_from(">I", payload)[0] if len(payload) >= 4 else None
            return ("create_session", True) if request_id == OBJECT_SERVER_SESSION_CONTAINER \
                else (f"create_object:{request_id}", False)
        if function == SET_MULTI_VARIABLES:
            in_object, addresses = _object_and_addresses(payload)
            setup = {SERVER_SESSION_VERSION, SESSION_SETUP_LEGITIMATION}
            ok = in_object == session and addresses and set(addresses) <= setup
            return ("session_setup", True) if ok else (f"set_multi_variables:{in_object:#x}", False)
        if function in (SET_VARIABLE, SET_VAR_SUBSTREAMED):
            in_object, address = _single_address(payload, function)
            allowed = {LEGITIMATE} if function == SET_VAR_SUBSTREAMED else \
                {SERVER_SESSION_RESPONSE, LEGITIMATE, SESSION_ACTIVATE}
            if in_object == session and address in allowed:
                return "legitimation", True
            name = "set_variable" if function == SET_VARIABLE else "set_var_substreamed"
            return f"{name}:{in_object:#x}/{address}", False
        if function == DELETE_OBJECT:
            target = struct.unpack_from(">I", payload)[0] if len(payload) >= 4 else None
            return ("delete_session", True) if target in (0, session) \
                else (f"delete_object:{target}", False)
        return f"function:{function:#06x}", False
    except (FrameError, ValueError, IndexError, struct.error) as exc:
        return f"unreadable:{exc}", False
