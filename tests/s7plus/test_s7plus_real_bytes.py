"""Against real bytes: the two S7CommPlus captures in ../shared/captures/s7plus.

What applies and is tested: the guard's framing and classification of every
request a real TIA Portal V12 and a real HMI sent; identity from the real
CreateObject replies of an S7-1200 (FW V2.2) and an S7-1511 (FW V1.0); our
object parser and block list on the real EXPLORE replies of the S7-1200.
What does not apply: a full session replay.  s7commplus always opens with
InitSSL and reads the protection level, which neither capture contains (both
clients predate them), so there is nothing recorded to answer those with."""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path

import pytest
from s7commplus.codec import parse_create_object_attributes
from s7commplus.legitimation import extract_session_version_string

from drivers import s7plus_format as fmt
from drivers.s7plus_guard import classify

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
UPLOAD = SHARED / "s7plus" / "S7-1200-Uploading-OB1-TIAV12.pcap"
HMI = SHARED / "s7plus" / "S7-1511_db2_var1_HMI.pcap"


def _pcap_reader():
    name = "s7plus_tests_pcap_reader"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "s7" / "pcap_reader.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def frames(path: Path) -> list[tuple[bool, bytes]]:
    """(sent to the PLC, S7CommPlus frame) for every COTP data frame, in order."""
    if not path.is_file():
        pytest.skip(f"real S7CommPlus captures not found at {path.parent}")
    reader = _pcap_reader()
    raw = path.read_bytes()
    out, buffers = [], {}
    pcapng = raw[:4] == b"\x0a\x0d\x0d\x0a"  # the HMI capture is pcapng despite its name
    for packet in (reader._packets_pcapng(raw) if pcapng else reader._packets_pcap(raw)):
        parsed = reader._tcp(packet)
        if parsed is None or not parsed[2]:
            continue
        src, dst, payload = parsed
        buf = buffers.setdefault((src, dst), bytearray())
        if not buf and payload[:2] != b"\x03\x00":
            continue
        buf.extend(payload)
        while len(buf) >= 4 and len(buf) >= struct.unpack(">H", buf[2:4])[0]:
            length = struct.unpack(">H", buf[2:4])[0]
            tpkt, buf[:] = bytes(buf[:length]), buf[length:]
            cotp = tpkt[4:]
            if len(cotp) > 3 and cotp[1] == 0xF0 and cotp[3] == 0x72:
                out.append((dst[1] == 102, cotp[3:]))
    return out


def replies(path: Path, function: int) -> list[bytes]:
    """Response payloads (after the 10-byte header) of one function code."""
    out = []
    for to_plc, frame in frames(path):
        length = struct.unpack(">H", frame[2:4])[0]
        body = frame[4:4 + length]
        if not to_plc and body[:1] == b"\x32" and struct.unpack(">H", body[3:5])[0] == function:
            out.append(body[10:])
    return out


def test_hmi_session_is_all_reads_and_set_up():
    ops = [classify(f) for to_plc, f in frames(HMI) if to_plc]
    assert ops == [("create_session", True), ("session_setup", True)] \
        + [("get_multi_variables", True)] * 6 + [("delete_session", True)]


def test_tia_upload_session_set_up_and_reads_pass_and_its_upload_machinery_does_not():
    ops = [classify(f) for to_plc, f in frames(UPLOAD) if to_plc]
    allowed = {op for op, ok in ops if ok}
    assert allowed == {"create_session", "session_setup", "explore", "get_multi_variables",
                       "get_var_substreamed", "delete_session"}
    refused = sorted({op.partition(":")[0] for op, ok in ops if not ok})
    # TIA's upload creates an object inside the program (CreateObject 3), brackets it
    # in Begin/EndSequence and follows links: none of that is ours to send.
    assert refused == ["create_object", "function", "unreadable"], refused
    assert {op for op, ok in ops if not ok and op.startswith("function")} == \
        {"function:0x0524", "function:0x0556", "function:0x0560"}


@pytest.mark.parametrize("path, order, firmware", [
    pytest.param(UPLOAD, "6ES7 214-1HE30-0XB0", "V2.2", id="S7-1200"),
    pytest.param(HMI, "6ES7 511-1AK00-0AB0", "V1.0", id="S7-1511"),
])
def test_identity_from_the_real_create_object_reply(path, order, firmware):
    reply = replies(path, 0x04CA)[0]  # the session's (TIA later creates its upload object)
    version = parse_create_object_attributes(reply).server_session_version
    ident = fmt.identity(extract_session_version_string(version))
    assert (ident["order_number"], ident["firmware"]) == (order, firmware)


def test_block_list_from_the_real_explore_reply():
    explore = [fmt.objects(p) for p in replies(UPLOAD, 0x04BB)]
    blocks = [b for tree in explore for b in fmt.program_blocks(tree)]
    assert [(b["type"], b["number"], b["name"]) for b in blocks] == [("OB", 1, "Main")]
    [ob1] = blocks
    assert ob1["indicators"]["CRC:2532"] == "00000000"
    assert {"attribute:2453", "attribute:2543", "Unlinked:2527"} <= set(ob1["indicators"])
    names = [fmt.text(o.attributes[233]) for o in fmt.walk(explore[0]) if 233 in o.attributes]
    assert names[:3] == ["ASRoot", "PLCProgram", "ProgramCyclePI"]


def test_type_info_times_from_the_real_explore_reply():
    trees = [fmt.objects(p) for p in replies(UPLOAD, 0x04BB)]
    times = {o.relation_id: o.attributes[529].hex() for t in trees for o in fmt.walk(t) if 529 in o.attributes}
    assert times[0x90010000] == "134195016acc5538" and times[0x90020000] == "0000000000000000"
