"""An S7-1200/1500 image rebuilt from an S7CommPlus baseline (the restore drill).

What drivers/s7plus.py keeps is enough to serve the same program again: the
block list, each block's info (name, language, know-how protection, CRC,
type-info time, DB size, instance FB), its interface (members' names, types and
offsets), the uploaded image of each OB/FB/FC and the bytes of each ``content``
DB; identity (device string, theCPUcommon), CPU state and protection level.
The simulator regenerates the CRC from image and interface as a CPU does, so
the drill's deep check proves the backup holds exactly those.

What a network backup cannot hold is named, never filled in: the code of a
know-how-protected block (the CPU refuses its upload), a DB kept as
``structure`` or whose values the CPU would not give (optimized DBs), anything
the policy ignored.  The image format is simulators/s7plus_program.py's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from s7commplus.protocol import BlockLanguage

from simulators.from_baseline import Rebuilt, kept_as_structure
from simulators.s7plus_program import CPU_COMMON_ATTRS, EPOCH

BLOCK_TYPES = ("OB", "FB", "FC", "DB")
NAME, TYPE, OFFSET, SIZE, INSTANCE_OF, TIME = (
    "TypeName:233", "attribute:7003", "attribute:7004", "attribute:2", "attribute:7002",
    "TypeInfoModificationTime:529")
PROJECT_NOTE = ("a real S7-1200/1500 is restored by a download from its TIA Portal project "
                "(restoring over S7CommPlus is not supported): keep the project with the bundle; "
                "the hardware configuration and the CPU's passwords are in no network backup")


def rebuild(device: str, values: dict[str, Any], policy: dict[str, Any]) -> Rebuilt:
    missing: list[str] = []
    notes = [PROJECT_NOTE]
    state = (values.get("mode") or {}).get("state", "RUN")
    image: dict[str, Any] = {"name": device, "protocol": "s7plus", "mode": state,
                             "identity": _identity(values.get("identity") or {}, missing)}
    level = (values.get("protection") or {}).get("effective_level")
    if isinstance(level, int):
        image["protection_level"] = level
    if policy.get("tls"):
        notes.append("the drill reads the rebuilt CPU without TLS: certificates are not part of "
                     "a backup")
    listed = values.get("blocks") or {}
    blocks = []
    for block_type in sorted(set(listed) - set(BLOCK_TYPES)):
        missing.append(f"{block_type} {', '.join(map(str, listed[block_type]))}: a kind of block "
                       "the drill cannot rebuild")
    for block_type in BLOCK_TYPES:
        for number in listed.get(block_type, []):
            spec = _block(f"blocks/{block_type}/{number}", values, missing)
            if spec is not None:
                blocks.append(spec)
    image["blocks"] = blocks
    inventory = {"dbs": dict(policy.get("dbs", {}))}
    image["inventory"] = inventory
    return Rebuilt(image, inventory, missing, notes)


def _text(hex_value: Any) -> str:
    return bytes.fromhex(str(hex_value)).decode("utf-8", errors="replace")


def _identity(ident: dict[str, Any], missing: list[str]) -> dict[str, Any]:
    out = {"order_number": ident.get("order_number"), "firmware": ident.get("firmware")}
    if ident.get("device_string") is None:
        missing.append("identity: the CPU sent no device string (order number, firmware)")
    common = ident.get("cpu_common")
    if isinstance(common, list) and common:
        attrs = common[0]
        for key, attr_id in CPU_COMMON_ATTRS.items():
            out[key] = _text(attrs.get(f"attribute:{attr_id}", ""))
    else:
        missing.append("identity: theCPUcommon (module name, serial) was not readable when the "
                       "baseline was captured")
    return out


def _block(key: str, values: dict[str, Any], missing: list[str]) -> dict[str, Any] | None:
    """One block of the image, or None with what is missing said in ``missing``."""
    _, block_type, number = key.split("/")
    name = f"{block_type} {number}"
    info, shape = values.get(f"{key}/info"), values.get(f"{key}/interface")
    content = values.get(key)
    if info is None:
        missing.append(f"{name}: not in the backup (policy `ignore`)")
        return None
    name = f"{name} ({info.get('name')})"
    if shape is None:
        missing.append(f"{name}: only its block info is in the backup (a quick baseline); take a "
                       "deep baseline to keep the block itself")
        return None
    if shape.get("readable") is False:
        missing.append(f"{name}: its interface was not readable when the baseline was captured "
                       f"({shape.get('reason')})")
        return None
    if isinstance(content, dict):  # {"readable": false, "reason": ...}
        why = content.get("reason")
        if info.get("knowhow_protected"):
            missing.append(f"{name}: know-how protected, so the CPU refuses to upload its code "
                           f"({why}) and no network backup can hold it; restore it from its "
                           "protected source (the TIA Portal project or the vendor's library)")
        else:
            what = "values" if block_type == "DB" else "code"
            missing.append(f"{name}: the backup does not hold its {what}: not readable when the "
                           f"baseline was captured ({why})")
        return None
    if content is None:  # the driver keeps every OB/FB/FC; a DB without values is `structure`
        missing.append(kept_as_structure(name))
        return None
    if info.get("language") not in BlockLanguage.__members__:
        missing.append(f"{name}: language {info.get('language')!r} is not one the drill can serve")
        return None
    indicators = info.get("indicators") or {}
    spec: dict[str, Any] = {"type": block_type, "number": int(number), "name": info.get("name"),
                            "language": info["language"],
                            "knowhow_protected": bool(info.get("knowhow_protected")),
                            "variables": _variables(shape)}
    if TIME in indicators:
        microseconds = int(indicators[TIME], 16)
        spec["interface_time"] = (EPOCH + timedelta(microseconds=microseconds)).isoformat()
    if block_type == "DB":
        spec["size"] = int(indicators.get(SIZE, f"{len(content):x}"), 16)
        spec["values"] = bytes(content).hex()
        if INSTANCE_OF in indicators:
            spec["instance_of"] = _text(indicators[INSTANCE_OF])
    else:
        spec["code_hex"] = bytes(content).hex()  # a real CPU's image is binary
    return spec


def _variables(shape: dict[str, Any]) -> dict[str, list[Any]]:
    """Interface members as the image declares them: {name: [type, offset]}."""
    out: dict[str, list[Any]] = {}
    for obj in shape.get("objects", []):
        for child in obj.get("children", []):
            attrs = child.get("attributes", {})
            if NAME in attrs and TYPE in attrs and OFFSET in attrs:
                out[attrs[NAME]] = [_text(attrs[TYPE]), int(attrs[OFFSET], 16)]
    return out

