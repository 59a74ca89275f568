"""CIP services of a Logix controller, as pycomm3 1.2.16 uses them.

``CipHandler.handle(msg, ctx)`` takes one CIP request (service, path, data) and
returns the reply bytes.  Every request, wrappers and embedded services alike,
is recorded through the simulator so tests can prove who only read.  Anything
not listed here gets general status 0x08 (service not supported).

What counts as a read is decided here independently of the driver's guard, from
the CIP spec: the get-attribute services are common services and read on every
object; services from 0x32 up are object-specific (0x4C is Read Tag on a tag
but Initiate_Download on the File object 0x37), so they are reads only on the
objects listed in ``OBJECT_READS``.  Operations are named like the guard's:
``cip:0x0e``, ``cip:0x4c@tag``, ``cip:0x4c@0x6c``, ``cip:0x4c@0x68/0x6d``.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from typing import Callable

from simulators.logix import paths as P
from simulators.logix.image import ControllerImage
from simulators.logix.tags import TagAccess, TagError, read_tag, write_tag

# Get_Attributes_All, Get_Attribute_List, Get_Attribute_Single: reads on any object.
GET_ATTRIBUTE_SERVICES = {0x01, 0x03, 0x0E}
FIRST_OBJECT_SPECIFIC = 0x32
# (service, object) pairs that only read: Read Tag (Fragmented) on a tag by name or by
# Symbol instance, Read Template, Get Instance Attribute List on the Symbol object.
OBJECT_READS = {(0x4C, "tag"), (0x52, "tag"), (0x4C, "0x6b"), (0x52, "0x6b"), (0x4C, "0x6c"),
                (0x55, "0x6b")}

Recorder = Callable[[str, bool, str], None]


@dataclass
class Context:
    """Per-request context: who asks, how big a reply may be, how to record."""

    record: Recorder
    reply_limit: int = 500
    connections: dict[int, int] | None = None  # O->T connection id -> connection size


def _identity_bytes(ident: dict, status: bytes) -> bytes:
    name = ident["product_name"].encode("iso-8859-1")
    major, minor = ident["revision"]
    return (struct.pack("<HHHBB", ident["vendor"], ident["product_type"], ident["product_code"],
                        major, minor) + status + struct.pack("<I", ident["serial"])
            + bytes([len(name)]) + name)


class CipHandler:
    def __init__(self, image: ControllerImage) -> None:
        self.image = image

    # -- dispatch --------------------------------------------------------------

    def handle(self, msg: bytes, ctx: Context) -> bytes:
        try:
            service, path, data = P.split_request(msg)
        except P.PathError as exc:
            ctx.record("cip:malformed", False, str(exc))
            return P.reply(msg[0] if msg else 0, P.PATH_SEGMENT_ERROR)
        cls = P.first(path, "class")
        detail = _describe(path)
        classes = [v for k, v in path if k == "class"]
        if classes == [0x06] and service in (0x52, 0x54, 0x5B, 0x4E):
            ctx.record(f"cip:0x{service:02x}@0x06", True, detail)
            if service == 0x52:
                return self._unconnected_send(data, ctx)
            if service == 0x4E:
                return P.reply(service, data=data[2:10] + b"\0\0")
            return self._forward_open(service, data, ctx)
        if classes == [0x02] and service == 0x0A:
            ctx.record("cip:0x0a@0x02", True, detail)
            return self._multiple(data, ctx)
        ctx.record(*classify(service, path), detail)
        with self.image.lock:
            return self._service(service, cls, path, data, ctx)

    def _service(self, service: int, cls: object, path: list, data: bytes, ctx: Context) -> bytes:
        img = self.image
        inst = P.first(path, "instance")
        attr = P.first(path, "attribute")
        if service == 0x01 and cls == 0x01:
            return P.reply(service, data=_identity_bytes(img.identity, img.status_bytes()))
        if service == 0x01 and cls == 0x64:
            name = img.controller_name.encode("iso-8859-1")
            return P.reply(service, data=struct.pack("<H", len(name)) + name)
        if service == 0x03 and cls == 0x6C:
            return self._template_attributes(inst, data)
        if service == 0x03 and cls == 0x8B:
            return self._attribute_list(service, data, {
                6: struct.pack("<Q", int(time.time() * 1_000_000))})
        if cls == 0x8E and service in (0x03, 0x0E):
            return self._change_detection(service, attr, data)
        if service == 0x55 and cls == 0x6B:
            return self._symbols(path, inst, data, ctx)
        if service == 0x4C and cls == 0x6C:
            return self._template_read(inst, data, ctx)
        if service in (0x4C, 0x52, 0x4D, 0x53) and cls in (None, 0x6B):
            return self._tag_service(service, path, data, ctx)
        return P.reply(service, P.NOT_SUPPORTED)

    # -- connection manager ------------------------------------------------------

    def _unconnected_send(self, data: bytes, ctx: Context) -> bytes:
        try:
            n = struct.unpack_from("<H", data, 2)[0]
            embedded = data[4:4 + n]
            rest = data[4 + n + (n % 2):]
            route = P.parse_epath(rest[2:2 + rest[0] * 2]) if rest else []
        except (struct.error, IndexError, P.PathError):
            return P.reply(0x52, P.NOT_ENOUGH_DATA)
        slot = _backplane_slot(route)
        if slot is None or slot == self.image.slot:
            return self.handle(embedded, ctx)
        # Another module in the chassis: it answers its identity and nothing else.
        module = self.image.modules.get(slot)
        if module is None:
            ctx.record("cip:route", True, f"no module in slot {slot}")
            return P.reply(embedded[0] if embedded else 0x52, P.CONNECTION_FAILURE, ext=(0x0312,))
        try:
            service, path, _ = P.split_request(embedded)
        except P.PathError:
            return P.reply(0x52, P.PATH_SEGMENT_ERROR)
        ctx.record(*classify(service, path), f"slot {slot} {_describe(path)}")
        if service == 0x01 and P.first(path, "class") == 0x01:
            if "status" in module:
                general, *extended = module["status"]
                return P.reply(service, general, ext=tuple(extended))
            ident = {"vendor": 1, "product_type": 12, "product_code": 0, "revision": (1, 1),
                     "serial": 0, "product_name": "module", **module}
            ident["revision"] = tuple(ident["revision"])
            if isinstance(ident["serial"], str):
                ident["serial"] = int(ident["serial"], 16)
            return P.reply(service, data=_identity_bytes(ident, b"\x60\x00"))
        return P.reply(service, P.NOT_SUPPORTED)

    def _forward_open(self, service: int, data: bytes, ctx: Context) -> bytes:
        large = service == 0x5B
        params_len = 4 if large else 2
        fixed = 2 + 4 + 4 + 2 + 2 + 4 + 1 + 3 + 4 + params_len + 4 + params_len + 1
        try:
            serial_vid_vsn = data[10:18]
            params = data[2 + 4 + 4 + 2 + 2 + 4 + 1 + 3 + 4:][:params_len]
            size = (struct.unpack("<I", params)[0] & 0xFFFF) if large else (
                struct.unpack("<H", params)[0] & 0x01FF)
            route = P.parse_epath(data[fixed + 1:fixed + 1 + data[fixed] * 2])
        except (struct.error, IndexError, P.PathError):
            return P.reply(service, P.NOT_ENOUGH_DATA)
        slot = _backplane_slot(route)
        if slot is not None and slot != self.image.slot:
            return P.reply(service, P.CONNECTION_FAILURE, ext=(0x0312,))
        o_t = struct.unpack("<I", os.urandom(4))[0] | 1
        if ctx.connections is not None:
            ctx.connections[o_t] = size
        t_o = data[6:10]
        body = (struct.pack("<I", o_t) + t_o + serial_vid_vsn
                + b"\x01\x40\x20\x00\x01\x40\x20\x00\x00\x00")
        return P.reply(service, data=body)

    def _multiple(self, data: bytes, ctx: Context) -> bytes:
        try:
            count = struct.unpack_from("<H", data, 0)[0]
            offsets = list(struct.unpack_from(f"<{count}H", data, 2)) + [len(data)]
        except struct.error:
            return P.reply(0x0A, P.NOT_ENOUGH_DATA)
        replies = [self.handle(data[offsets[i]:offsets[i + 1]], ctx) for i in range(count)]
        status = P.EMBEDDED_ERROR if any(r[2] not in (P.SUCCESS, P.PARTIAL) for r in replies) else 0
        out, pos = [], 2 + 2 * count
        for r in replies:
            out.append(struct.pack("<H", pos))
            pos += len(r)
        return P.reply(0x0A, status, struct.pack("<H", count) + b"".join(out) + b"".join(replies))

    # -- objects -----------------------------------------------------------------

    def _attribute_list(self, service: int, data: bytes, values: dict[int, bytes]) -> bytes:
        try:
            count = struct.unpack_from("<H", data, 0)[0]
            ids = struct.unpack_from(f"<{count}H", data, 2)
        except struct.error:
            return P.reply(service, P.NOT_ENOUGH_DATA)
        out = [struct.pack("<H", count)]
        for a in ids:
            if a in values:
                out.append(struct.pack("<HH", a, 0) + values[a])
            else:
                out.append(struct.pack("<HH", a, P.ATTR_NOT_SUPPORTED))
        return P.reply(service, data=b"".join(out))

    def _change_detection(self, service: int, attr: object, data: bytes) -> bytes:
        img = self.image
        if img.audit_value is None:
            # Controllers before v20 (and emulators) have no Controller Change Detection.
            return P.reply(service, P.PATH_UNKNOWN)
        if img.change_detection_status:
            return P.reply(service, img.change_detection_status)
        values = {0x1B: struct.pack("<Q", img.audit_value),
                  0x1C: struct.pack("<Q", img.changes_to_detect or 0)}
        if service == 0x03:
            return self._attribute_list(service, data, values)
        if attr not in values:
            return P.reply(service, P.ATTR_NOT_SUPPORTED)
        return P.reply(service, data=values[attr])

    def _template_attributes(self, inst: object, data: bytes) -> bytes:
        tpl = self.image.templates_by_id.get(inst)  # type: ignore[arg-type]
        if tpl is None:
            return P.reply(0x03, P.PATH_UNKNOWN)
        return self._attribute_list(0x03, data, {
            1: struct.pack("<H", tpl.handle), 2: struct.pack("<H", len(tpl.members)),
            4: struct.pack("<I", tpl.definition_words), 5: struct.pack("<I", tpl.size)})

    def _template_read(self, inst: object, data: bytes, ctx: Context) -> bytes:
        tpl = self.image.templates_by_id.get(inst)  # type: ignore[arg-type]
        if tpl is None:
            return P.reply(0x4C, P.PATH_UNKNOWN)
        try:
            offset, count = struct.unpack_from("<IH", data, 0)
        except struct.error:
            return P.reply(0x4C, P.NOT_ENOUGH_DATA)
        chunk = tpl.raw[offset:offset + min(count, ctx.reply_limit)]
        more = offset + len(chunk) < len(tpl.raw) and len(chunk) < count
        return P.reply(0x4C, P.PARTIAL if more else P.SUCCESS, chunk)

    def _symbols(self, path: list, start: object, data: bytes, ctx: Context) -> bytes:
        prefix = P.first(path, "symbol")
        program = None
        if isinstance(prefix, str):
            if not prefix.startswith("Program:") or prefix[8:] not in self.image.programs:
                return P.reply(0x55, P.PATH_UNKNOWN)
            program = prefix[8:]
        try:
            count = struct.unpack_from("<H", data, 0)[0]
            attrs = struct.unpack_from(f"<{count}H", data, 2)
        except struct.error:
            return P.reply(0x55, P.NOT_ENOUGH_DATA)
        out, size, more = [], 0, False
        for sym in self.image.symbols.get(program, []):
            if sym.instance_id < int(start or 0):
                continue
            rec = _symbol_record(sym, attrs)
            if size + len(rec) > ctx.reply_limit:
                more = True
                break
            out.append(rec)
            size += len(rec)
        return P.reply(0x55, P.PARTIAL if more else P.SUCCESS, b"".join(out))

    def _tag_service(self, service: int, path: list, data: bytes, ctx: Context) -> bytes:
        try:
            access = TagAccess.resolve(self.image, path)
            if service in (0x4C, 0x52):
                status, body = read_tag(self.image, access, data, fragmented=service == 0x52,
                                        limit=ctx.reply_limit)
                return P.reply(service, status, body)
            write_tag(self.image, access, data, fragmented=service == 0x53)
            return P.reply(service)
        except TagError as exc:
            return P.reply(service, exc.status, ext=exc.ext)


def classify(service: int, path: list) -> tuple[str, bool]:
    """(operation name, whether it only reads) of a request other than the plumbing."""
    if service < FIRST_OBJECT_SPECIFIC:
        return f"cip:0x{service:02x}", service in GET_ATTRIBUTE_SERVICES
    classes = [f"0x{v:02x}" for k, v in path if k == "class"]
    target = "/".join(classes) or ("tag" if any(k == "symbol" for k, _ in path) else "none")
    return f"cip:0x{service:02x}@{target}", (service, target) in OBJECT_READS


def _symbol_record(sym, attrs: tuple[int, ...]) -> bytes:
    name = sym.name.encode("iso-8859-1")
    dims = tuple(sym.dims) + (0,) * (3 - len(sym.dims))
    system = sym.name.startswith(("Program:", "Task:", "Routine:"))
    fields = {
        1: struct.pack("<H", len(name)) + name,
        2: struct.pack("<H", sym.symbol_type),
        3: struct.pack("<I", 0x2000_0000 + sym.instance_id * 0x40),
        5: struct.pack("<I", 0x1000_0000 + sym.instance_id * 0x10),
        6: struct.pack("<I", 0 if system else 1 << 26),
        8: struct.pack("<3I", *dims),
        10: bytes([sym.access]),
    }
    return struct.pack("<I", sym.instance_id) + b"".join(fields.get(a, b"") for a in attrs)


def _backplane_slot(route: list) -> int | None:
    for kind, value in route:
        if kind == "port" and value[0] == 1 and isinstance(value[1], int):  # type: ignore[index]
            return value[1]  # type: ignore[index]
    return None


def _describe(path: list) -> str:
    parts = []
    for kind, value in path:
        parts.append(f"{kind} {value}" if kind in ("symbol", "port") else f"{kind} 0x{value:x}")
    return " ".join(parts)
