"""The controller image: what a simulated Logix controller holds.

Loaded from a JSON image file (see ``images/crane/plc-gantry.json``)::

    identity          vendor, product_type, product_code, revision [major, minor],
                      serial (hex), product_name
    slot              backplane slot of the controller (default 0)
    controller_name   the project name (class 0x64)
    keyswitch         "RUN" | "REMOTE RUN" | "PROG" | "REMOTE PROG"
    change_detection  {"audit_value": hex, "changes_to_detect": hex, "status"?: int};
                      absent on controllers without Controller Change Detection;
                      a non-zero "status" is the CIP error its reads are answered
                      with (0x0F: a controller that refuses them)
    tasks             {task: [program, ...]}
    programs          {program: {"routines": {routine: text}, "tags": [tag, ...]}}
    udts              {name: [{"name", "type", "dim"?}, ...]} in dependency order
    tags              [tag, ...] controller scope; a tag is {"name", "type",
                      "dims"?: [..], "external_access"?: "Read/Write", "value"?}
    modules           {slot: identity} other modules in the chassis (optional); an
                      identity {"status": [general, extended...]} answers its identity
                      request with that CIP error instead (a faulted module)

The image is mutable on purpose: tests and the demo apply online edits, firmware
changes and process changes to it, as an engineer or the plant would.
"""

from __future__ import annotations

import copy
import hashlib
import math
import threading
from dataclasses import dataclass
from typing import Any

from simulators.logix.types import (
    ATOMIC,
    STRUCT_BIT,
    ImageError,
    Template,
    encode_elements,
    layout,
    string_template,
    type_size_align,
)

ACCESS_CODES = {"Read/Write": 0, "Read Only": 2, "None": 3}
# Identity status word bytes per keyswitch position (Rockwell KB 28917, as pycomm3 reads them).
KEYSWITCH_STATUS = {"RUN": (0x60, 0x10), "REMOTE RUN": (0x60, 0x30), "PROG": (0x70, 0x20),
                    "REMOTE PROG": (0x70, 0x30)}
FIRST_UDT_ID = 0x100  # user templates live in 0x100-0xEFF; lower ids look predefined to clients


@dataclass
class Tag:
    name: str
    program: str | None
    type_name: str
    dims: tuple[int, ...]
    external_access: str
    instance_id: int
    data: bytearray

    @property
    def elements(self) -> int:
        return math.prod(self.dims) if self.dims else 1


@dataclass
class Symbol:
    """One entry of the symbol table as Get_Instance_Attribute_List lists it."""

    instance_id: int
    name: str
    symbol_type: int
    dims: tuple[int, ...] = ()
    access: int = 0


class ControllerImage:
    def __init__(self, image: dict[str, Any]) -> None:
        self.lock = threading.RLock()
        self.raw = copy.deepcopy(image)
        ident = image.get("identity") or {}
        try:
            rev = ident.get("revision", [33, 11])
            self.identity = {
                "vendor": int(ident.get("vendor", 1)),
                "product_type": int(ident.get("product_type", 14)),
                "product_code": int(ident.get("product_code", 166)),
                "revision": (int(rev[0]), int(rev[1])),
                "serial": int(str(ident.get("serial", "00000000")), 16),
                "product_name": str(ident.get("product_name", "1756-L83E/B")),
            }
        except (TypeError, ValueError, IndexError) as exc:
            raise ImageError(f"{image.get('name')}: bad identity: {exc}") from exc
        self.slot = int(image.get("slot", 0))
        self.controller_name = str(image.get("controller_name", image["name"]))
        self.keyswitch = str(image.get("keyswitch", "REMOTE RUN"))
        if self.keyswitch not in KEYSWITCH_STATUS:
            raise ImageError(f"keyswitch {self.keyswitch!r}; known: {', '.join(KEYSWITCH_STATUS)}")
        cd = image.get("change_detection")
        self.audit_value: int | None = int(cd["audit_value"], 16) if cd else None
        self.change_detection_status = int(cd.get("status", 0)) if cd else 0
        self.changes_to_detect: int | None = int(cd.get("changes_to_detect", "ffffffffffffffff"),
                                                 16) if cd else None
        self.tasks: dict[str, list[str]] = {k: list(v) for k, v in image.get("tasks", {}).items()}
        self.programs: dict[str, dict[str, str]] = {
            p: dict(body.get("routines", {})) for p, body in image.get("programs", {}).items()}
        self.modules: dict[int, dict[str, Any]] = {
            int(slot): dict(m) for slot, m in (image.get("modules") or {}).items()}
        self.udt_decls: dict[str, list[dict[str, Any]]] = {
            k: [dict(m) for m in v] for k, v in image.get("udts", {}).items()}
        self.tag_decls: list[tuple[str | None, dict[str, Any]]] = (
            [(None, t) for t in image.get("tags", [])]
            + [(p, t) for p, body in image.get("programs", {}).items() for t in body.get("tags", [])])
        self._build()

    # -- derived tables -----------------------------------------------------

    def _build(self) -> None:
        """(Re)compute templates, tags and symbol tables from the declarations.

        Tag values survive a rebuild when the tag keeps its name and type, as they
        do across an online edit on a real controller.
        """
        old = getattr(self, "tags", {})
        self.templates: dict[str, Template] = {"STRING": string_template()}
        for i, (name, members) in enumerate(self.udt_decls.items()):
            self.templates[name] = layout(name, FIRST_UDT_ID + i, members, self.templates)
        self.templates_by_id = {t.instance_id: t for t in self.templates.values()}
        self.tags: dict[tuple[str | None, str], Tag] = {}
        next_id = {None: 1}
        for program, decl in self.tag_decls:
            name, type_name = decl["name"], decl["type"]
            type_size_align(type_name, self.templates)  # unknown types fail here
            dims = tuple(int(d) for d in decl.get("dims", ()))
            if len(dims) > 3 or any(d <= 0 for d in dims):
                raise ImageError(f"tag {name}: dims must be 1 to 3 positive sizes")
            access = decl.get("external_access", "Read/Write")
            if access not in ACCESS_CODES:
                raise ImageError(f"tag {name}: external_access {access!r}")
            iid = next_id.setdefault(program, 1)
            next_id[program] = iid + 1
            key = (program, name)
            prev = old.get(key)
            count = math.prod(dims) if dims else 0
            fresh = encode_elements(type_name, decl.get("value"), count, self.templates, name)
            if prev is not None and prev.type_name == type_name and len(prev.data) == len(fresh):
                data = prev.data
            else:
                data = bytearray(fresh)
            self.tags[key] = Tag(name, program, type_name, dims, access, iid, data)
        self.instances = {t.instance_id: t for t in self.tags.values() if t.program is None}
        self.symbols = self._symbols()

    def _symbols(self) -> dict[str | None, list[Symbol]]:
        out: dict[str | None, list[Symbol]] = {None: []}
        for tag in self.tags.values():
            base = ATOMIC[tag.type_name][0] if tag.type_name in ATOMIC else (
                STRUCT_BIT | self.templates[tag.type_name].instance_id)
            out.setdefault(tag.program, []).append(
                Symbol(tag.instance_id, tag.name, base | (len(tag.dims) << 13), tag.dims,
                       ACCESS_CODES[tag.external_access]))
        # Programs and tasks are listed in controller scope, routines in their program,
        # all as system entries with ids after the user tags.
        nid = max((s.instance_id for s in out[None]), default=0) + 1
        for i, prog in enumerate(self.programs):
            out[None].append(Symbol(nid + i, f"Program:{prog}", 0x1068))
        nid += len(self.programs)
        for i, task in enumerate(self.tasks):
            out[None].append(Symbol(nid + i, f"Task:{task}", 0x1070))
        for prog, routines in self.programs.items():
            scope = out.setdefault(prog, [])
            rid = max((s.instance_id for s in scope), default=0) + 1
            for i, routine in enumerate(routines):
                scope.append(Symbol(rid + i, f"Routine:{routine}", 0x106D))
        for scope in out.values():
            scope.sort(key=lambda s: s.instance_id)
        return out

    # -- status -------------------------------------------------------------

    def status_bytes(self) -> bytes:
        return bytes(KEYSWITCH_STATUS[self.keyswitch])

    def tag(self, program: str | None, name: str) -> Tag | None:
        return self.tags.get((program, name))

    # -- changes an engineer or the plant makes ------------------------------

    def regenerate_audit(self, event: str) -> None:
        """What the controller does on a download or an enabled change event."""
        if self.audit_value is None:
            return
        digest = hashlib.sha256(self.audit_value.to_bytes(8, "little") + event.encode()).digest()
        self.audit_value = int.from_bytes(digest[:8], "little")

    def edit_routine(self, program: str, routine: str, text: str) -> None:
        with self.lock:
            if program not in self.programs:
                raise KeyError(f"no program {program!r}")
            self.programs[program][routine] = text
            self.symbols = self._symbols()
            self.regenerate_audit(f"online edit {program}/{routine}")

    def add_udt_member(self, udt: str, member: str, type_name: str, dim: int = 0) -> None:
        with self.lock:
            decl = {"name": member, "type": type_name}
            if dim:
                decl["dim"] = dim
            self.udt_decls[udt].append(decl)
            self._build()
            self.regenerate_audit(f"download: {udt}.{member} added")

    def set_revision(self, major: int, minor: int) -> None:
        with self.lock:
            self.identity["revision"] = (major, minor)

    def set_keyswitch(self, position: str) -> None:
        if position not in KEYSWITCH_STATUS:
            raise ValueError(f"keyswitch {position!r}")
        with self.lock:
            self.keyswitch = position

    def set_value(self, name: str, value: Any, program: str | None = None) -> None:
        """The process changing a value (not a network write)."""
        with self.lock:
            tag = self.tags[(program, name)]
            count = tag.elements if tag.dims else 0
            tag.data[:] = encode_elements(tag.type_name, value, count, self.templates, name)

