"""Turn what pycomm3 uploaded from a Logix controller into artifact values.

Pure functions over ``plc.info``, ``plc.tags`` and ``plc.data_types`` so they
are testable from recorded replies too.  What is left out, and why:
- symbol instance ids and memory addresses: the controller renumbers them on
  every download, so they would report every tag as changed for one edit;
- tag values other than the declared configuration tags: process values move
  all the time and are never hashed.
"""

from __future__ import annotations

import math
from typing import Any, Mapping


def identity_value(info: Mapping[str, Any]) -> dict[str, Any]:
    """Identity object fields as pycomm3 decodes them (vendor and type by name)."""
    rev = info.get("revision") or {}
    return {"vendor": info.get("vendor"), "product_type": info.get("product_type"),
            "product_code": info.get("product_code"),
            "revision": f"{rev.get('major')}.{rev.get('minor')}",
            "serial": info.get("serial"), "product_name": info.get("product_name")}


def controller_value(info: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": info.get("name"), "keyswitch": info.get("keyswitch")}


def programs_value(info: Mapping[str, Any]) -> dict[str, Any]:
    return {name: {"routines": sorted(body.get("routines", []))}
            for name, body in (info.get("programs") or {}).items()}


def tasks_value(info: Mapping[str, Any]) -> dict[str, Any]:
    return {name: {} for name in (info.get("tasks") or {})}


def tag_scopes(tags: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{"controller": {tag: definition}, "Hoist": {...}, ...} keyed by scope."""
    scopes: dict[str, dict[str, Any]] = {"controller": {}}
    for full_name, tag in tags.items():
        scope, name = "controller", full_name
        if full_name.startswith("Program:"):
            scope, _, name = full_name[len("Program:"):].partition(".")
        dims = list(tag.get("dimensions", [0, 0, 0]))[:int(tag.get("dim") or 0)]
        scopes.setdefault(scope, {})[name] = {
            "type": tag.get("data_type_name"), "dims": dims,
            "external_access": tag.get("external_access"), "alias": bool(tag.get("alias"))}
    return scopes


def udt_value(data_type: Mapping[str, Any]) -> dict[str, Any]:
    """Members (with offsets and hidden BOOL hosts), size and structure handle."""
    template = data_type.get("template") or {}
    members = {}
    for i, (name, info) in enumerate((data_type.get("internal_tags") or {}).items()):
        member: dict[str, Any] = {"index": i, "type": info.get("data_type_name"),
                                  "offset": info.get("offset")}
        if "bit" in info:
            member["bit"] = info["bit"]
        if info.get("array"):
            member["array"] = info["array"]
        members[name] = member
    return {"name": data_type.get("name"), "structure_handle": template.get("structure_handle"),
            "structure_size": template.get("structure_size"),
            "member_count": template.get("member_count"), "members": members}


def plain(value: Any) -> Any:
    """A tag value in canonical-JSON-able form: bytes as hex, non-finite floats as text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def base_tag(name: str) -> str:
    """'Program:P.T.member[1]' -> 'Program:P.T'; 'T[3].x' -> 'T'."""
    head, rest = ("", name)
    if name.startswith("Program:"):
        prog, _, rest = name.partition(".")
        head = prog + "."
    return head + rest.split(".")[0].split("[")[0]
