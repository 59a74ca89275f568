"""EtherNet/IP encapsulation and the CIP requests in it that change a controller.

Requests only (responses carry the service code with bit 7 set).  Unconnected
Send (0x52 on the connection manager) and the Multiple Service Packet (0x0A)
are unwrapped, to a bounded depth.  Anything that does not parse is skipped.
"""

from __future__ import annotations

import struct
from typing import Any

from drivers import cip_codes as k
from integrity.watch.events import Finding

MAX_DEPTH = 4      # nesting of Unconnected Send / Multiple Service Packet
MAX_SERVICES = 64  # services looked at in one Multiple Service Packet

SET_SERVICES = {k.SET_ATTRIBUTE_SINGLE: "set-attribute-single", k.SET_ATTRIBUTES_ALL: "set-attribute-all",
                k.SET_ATTRIBUTE_LIST: "set-attribute-list", 0x0D: "apply-attributes"}
MODE_SERVICES = {k.START: "run", k.STOP: "program", k.RESET: "reset"}


def parse_path(path: bytes) -> dict[str, Any]:
    """Logical and symbolic segments of a request path: class, instance, attribute, tag."""
    out: dict[str, Any] = {}
    i, names = 0, []
    while i < len(path):
        seg = path[i]
        if seg in (0x20, 0x24, 0x30, 0x28) and i + 1 < len(path):
            out[{0x20: "class", 0x24: "instance", 0x30: "attribute", 0x28: "member"}[seg]] = path[i + 1]
            i += 2
        elif seg in (0x21, 0x25, 0x31, 0x29) and i + 3 < len(path):
            out[{0x21: "class", 0x25: "instance", 0x31: "attribute", 0x29: "member"}[seg]] = \
                struct.unpack_from("<H", path, i + 2)[0]
            i += 4
        elif seg == 0x91 and i + 1 < len(path):
            n = path[i + 1]
            names.append(path[i + 2:i + 2 + n].decode("latin-1", "replace"))
            i += 2 + n + (n & 1)
        else:
            break
    if names:
        out["tag"] = ".".join(names)
    return out


def _where(p: dict[str, Any]) -> str:
    if "tag" in p:
        return f"tag {p['tag']}"
    parts = []
    if "class" in p:
        cls = p["class"]
        parts.append(f"class 0x{cls:02X}" + (f" ({k.CLASS_NAMES[cls]})" if cls in k.CLASS_NAMES else ""))
    if "instance" in p:
        parts.append(f"instance {p['instance']}")
    if "attribute" in p:
        parts.append(f"attribute {p['attribute']}")
    return " ".join(parts)


class EnipDecoder:
    protocol = "enip"

    def __init__(self) -> None:
        # Set requests seen and not yet answered: a success reply whose request
        # we never saw (capture started late, segment lost) is still reported.
        self.outstanding_sets = 0

    def reset(self, from_client: bool) -> None:
        """Nothing but the count of unanswered set requests is carried between frames."""

    def frame(self, frame: bytes, from_client: bool) -> list[Finding]:
        if len(frame) < k.ENIP_HEADER_SIZE:
            return []
        command, length = struct.unpack_from("<HH", frame)
        if command not in (k.ENIP_SEND_RR_DATA, k.ENIP_SEND_UNIT_DATA):
            return []
        data = frame[k.ENIP_HEADER_SIZE:k.ENIP_HEADER_SIZE + length]
        if len(data) < 8:
            return []
        (count,) = struct.unpack_from("<H", data, 6)
        at, out = 8, []
        for _ in range(min(count, 8)):
            if at + 4 > len(data):
                break
            kind, size = struct.unpack_from("<HH", data, at)
            item = data[at + 4:at + 4 + size]
            at += 4 + size
            cip = item if kind == k.CPF_UNCONNECTED_DATA else item[2:] if kind == k.CPF_CONNECTED_DATA else b""
            if not cip:
                continue
            if from_client:
                if cip[0] in SET_SERVICES:  # a top-level set: its own reply will come
                    self.outstanding_sets = min(self.outstanding_sets + 1, 1024)
                out += self._request(cip, 0)
            else:
                out += self._reply(cip)
        return out

    def _reply(self, cip: bytes) -> list[Finding]:
        if len(cip) < 3 or not cip[0] & 0x80 or (cip[0] & 0x7F) not in SET_SERVICES:
            return []
        if self.outstanding_sets:
            self.outstanding_sets -= 1
            return []
        if cip[2] != 0:
            return []  # refused: nothing changed
        service = cip[0] & 0x7F
        return [Finding("enip", f"enip.{SET_SERVICES[service]}", "reply only (request not captured)",
                        {"service": service, "reply": cip[0]})]

    def _request(self, cip: bytes, depth: int) -> list[Finding]:
        if len(cip) < 2 or cip[0] & 0x80 or depth > MAX_DEPTH:
            return []
        service, words = cip[0], cip[1]
        path = parse_path(cip[2:2 + 2 * words])
        body = cip[2 + 2 * words:]
        cls = path.get("class")
        codes: dict[str, Any] = {"service": service}
        if cls is not None:
            codes["class"] = cls
        if service == k.MULTIPLE_SERVICE_PACKET and len(body) >= 2:
            (n,) = struct.unpack_from("<H", body)
            offsets = [struct.unpack_from("<H", body, 2 + 2 * i)[0]
                       for i in range(min(n, MAX_SERVICES)) if 4 + 2 * i <= len(body)]
            out: list[Finding] = []
            for i, off in enumerate(offsets):
                end = offsets[i + 1] if i + 1 < len(offsets) else len(body)
                out += self._request(body[off:end], depth + 1)
            return out
        if cls == k.CLASS_CONNECTION_MANAGER:
            if service == k.UNCONNECTED_SEND and len(body) >= 4:
                (size,) = struct.unpack_from("<H", body, 2)
                return self._request(body[4:4 + size], depth + 1)
            if service in (k.FORWARD_OPEN, k.LARGE_FORWARD_OPEN):
                return [Finding("enip", "enip.forward-open", "", codes, change=False)]
            return []
        where = _where(path)
        if service in (k.WRITE_TAG, k.WRITE_TAG_FRAGMENTED) or (
                service == k.READ_MODIFY_WRITE_TAG and ("tag" in path or cls == k.CLASS_SYMBOL)):
            return [Finding("enip", "enip.write-tag", where, codes)]
        if cls == k.CLASS_CONTROLLER and service not in (k.GET_ATTRIBUTES_ALL, k.GET_ATTRIBUTE_LIST,
                                                          k.GET_ATTRIBUTE_SINGLE):
            mode = MODE_SERVICES.get(service)
            return [Finding("enip", "enip.controller-mode-change" if mode else "enip.controller-change",
                            mode or where, codes)]
        if cls in k.PROGRAM_CLASSES and (service in SET_SERVICES or service in (k.CREATE, k.DELETE, 0x50)):
            # Program objects made, removed, set or streamed into: a download.  One
            # event per class (not per instance), so the dedupe window folds a
            # download of hundreds of objects into a few events.
            return [Finding("enip", "enip.program-download", _where({"class": cls}), codes)]
        if service in SET_SERVICES:
            op = "set-clock" if cls == k.CLASS_TIME else SET_SERVICES[service]
            # The clock is not part of what a deep check hashes.
            return [Finding("enip", f"enip.{op}", where, codes, change=cls != k.CLASS_TIME)]
        if service == k.RESET and cls == k.CLASS_IDENTITY:
            return [Finding("enip", "enip.device-reset", where, codes)]
        # Start/Stop/Create/Delete on other classes: no public meaning to classify by.
        return []
