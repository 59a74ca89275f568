"""The guard reads which object a service is addressed to: 0x4C, 0x52 and 0x55 are
object-specific services and read only on tags, the Symbol object 0x6B and the
Template object 0x6C.  Elsewhere they are program downloads, file transfers or
connection set-up, and are refused before anything is sent."""

from __future__ import annotations

import struct

import pytest

from drivers.logix import LogixDriver
from drivers.logix_guard import READ_OPERATIONS, frame_operations
from integrity.errors import ReadOnlyViolationError
from simulators.logix import paths as P
from simulators.logix.cip import classify

FILE_OBJECT, CONNECTION_CONFIGURATION = 0x37, 0xF3


@pytest.fixture
def guarded(gantry, device_for):
    with LogixDriver(device_for(gantry)) as driver, driver.session(upload_tags=False) as plc:
        yield gantry, plc


@pytest.mark.parametrize("service, class_code, unconnected", [
    pytest.param(0x4C, FILE_OBJECT, False, id="initiate-download-on-file-object"),
    pytest.param(0x4C, FILE_OBJECT, True, id="initiate-download-inside-unconnected-send"),
    pytest.param(0x52, FILE_OBJECT, False, id="0x52-on-file-object"),
    pytest.param(0x55, CONNECTION_CONFIGURATION, False, id="0x55-on-0xf3"),
    pytest.param(0x4C, CONNECTION_CONFIGURATION, False, id="open-connection-on-0xf3"),
    pytest.param(0x55, 0x6C, False, id="0x55-on-template-object"),
    pytest.param(0x52, 0x02, False, id="0x52-on-message-router"),
])
def test_object_specific_services_elsewhere_are_refused_before_sending(guarded, service,
                                                                        class_code, unconnected):
    sim, plc = guarded
    before = len(sim.requests)
    with pytest.raises(ReadOnlyViolationError, match=f"cip:0x{service:02x}@0x{class_code:02x}"):
        plc.generic_message(service=service, class_code=class_code, instance=1,
                            request_data=b"\x00" * 8, connected=not unconnected,
                            unconnected_send=unconnected)
    assert sim.requests[before:] == []  # the controller saw nothing


def test_the_same_services_on_tags_and_templates_still_read(gantry, collect, assert_only_reads):
    collect(gantry)
    ops = {r.operation for r in gantry.requests}
    assert {"cip:0x4c@0x6c", "cip:0x55@0x6b"} <= ops
    assert ops & {"cip:0x4c@tag", "cip:0x4c@0x6b"}
    assert_only_reads(gantry)


def _simulator_says_read(msg: bytes) -> bool:
    """Whether our simulator, which parses paths on its own, would record every request
    in ``msg`` (wrappers unwrapped) as a read."""
    try:
        service, path, data = P.split_request(msg)
        classes = [v for k, v in path if k == "class"]
        if classes == [0x06] and service in (0x54, 0x5B, 0x4E):
            return True
        if classes == [0x06] and service == 0x52:
            n = struct.unpack_from("<H", data, 2)[0]
            return _simulator_says_read(data[4:4 + n])
        if classes == [0x02] and service == 0x0A:
            count = struct.unpack_from("<H", data, 0)[0]
            offsets = list(struct.unpack_from(f"<{count}H", data, 2)) + [len(data)]
            return all(_simulator_says_read(data[offsets[i]:offsets[i + 1]])
                       for i in range(count))
        return classify(service, path)[1]
    except (P.PathError, struct.error, IndexError):
        return False


@pytest.mark.parametrize("capture", ["EIP-SoftwareDownload.pcap", "EIP-SoftwareUpload.pcap"])
def test_real_programming_sessions_are_refused_where_they_are_not_reads(enip_replay,
                                                                        enip_captures, capture):
    # RSLogix 5000 downloading and uploading a program: every request it sent, through
    # the guard's frame parser.  The guard and the simulator's own reading of each
    # frame must agree frame by frame.
    frames = [f for f in enip_replay.read_frames(enip_captures / capture) if f.dst[1] == 44818]
    assert len(frames) > 300
    allowed = {f.index: all(op in READ_OPERATIONS for op in frame_operations(f.data))
               for f in frames}
    reads = {f.index: _simulator_says_read(enip_replay.cip_of(f)) for f in frames}
    assert allowed == reads
    assert 0 < sum(allowed.values()) < len(frames)


def test_download_requests_on_0x4c_are_all_refused(enip_replay, enip_captures):
    frames = [f for f in enip_replay.read_frames(enip_captures / "EIP-SoftwareDownload.pcap")
              if f.dst[1] == 44818]
    ops = [op for f in frames for op in frame_operations(f.data)]
    on_0x4c = [op for op in ops if op.startswith("cip:0x4c")]
    # 304 to class 0x72, 3 each to the nested paths 0x8E/0x74 and 0x68/0x74.
    assert len(on_0x4c) == 310
    assert {"cip:0x4c@0x72", "cip:0x4c@0x8e/0x74", "cip:0x4c@0x68/0x74"} == set(on_0x4c)
    assert not set(on_0x4c) & READ_OPERATIONS
    # What the guard lets through of a download: identity and attribute reads, plumbing.
    assert {op for op in ops if op in READ_OPERATIONS} <= {
        "enip:0x6f", "enip:0x70", "cip:0x01", "cip:0x03", "cip:0x0e", "cip:0x52@0x06",
        "cip:0x54@0x06", "cip:0x4e@0x06", "cip:0x0a@0x02"}
