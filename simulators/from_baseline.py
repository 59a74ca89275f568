"""A device image rebuilt from a baseline's artifacts alone (the restore drill).

``image_from_artifacts`` takes what a signed baseline holds (artifact values
by key, and the capture policy) and returns a simulator image, or says exactly
what the baseline lacks to rebuild the device: an S7 DB kept as ``structure``
(its values were never stored), a DB the policy ignores, a quick baseline
without block images.  ``notes`` list what no network backup can hold even
when the image is complete (Logix routine logic lives only in the ACD file).

Plain values in, plain image out: this module knows nothing of stores, bundles
or signatures (the caller verified those), only of the simulators' image
formats (see modbus.py, s7.py, logix/image.py and, for S7CommPlus,
from_baseline_s7plus.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from simulators.modbus import IDENTITY_OBJECTS


@dataclass
class Rebuilt:
    image: dict[str, Any]
    inventory: dict[str, Any]          # device options that check this image as backed up
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def image_from_artifacts(device: str, protocol: str, values: Mapping[str, Any],
                         policy: Mapping[str, Any]) -> Rebuilt:
    """``values``: artifact key -> decoded value (raw artifacts as bytes)."""
    if protocol == "s7plus":
        from simulators.from_baseline_s7plus import rebuild  # it imports Rebuilt from here

        return rebuild(device, dict(values), dict(policy))
    build = {"modbus": _modbus, "s7": _s7, "logix": _logix}.get(protocol)
    if build is None:
        return Rebuilt({}, {}, [f"no drill for protocol {protocol!r}"])
    return build(device, dict(values), dict(policy))


# --- Modbus --------------------------------------------------------------------------

def _modbus(device: str, values: dict[str, Any], policy: dict[str, Any]) -> Rebuilt:
    unit = int(policy.get("unit", 1))
    image: dict[str, Any] = {"name": device, "protocol": "modbus", "unit": unit}
    ident = values.get("identity")
    if isinstance(ident, dict) and ident.get("supported"):
        names = {f"0x{oid:02x}": name for name, oid in IDENTITY_OBJECTS.items()}
        image["identity"] = {names[k]: bytes.fromhex(v["hex"]).decode("latin-1")
                             for k, v in ident.get("objects", {}).items() if k in names}
    else:
        image["identity"] = None
    ranges = policy.get("ranges", {})
    for table, labels in ranges.items():
        blocks = []
        for label in labels:
            v = values.get(f"{table}/{label}")
            if v is None:
                continue
            blocks.append({"start": v["start"], "values": list(v["values"])})
        if blocks:
            image[table] = blocks
    inventory = {"unit": unit, "identity": bool(policy.get("identity", True)), **ranges}
    image["inventory"] = inventory
    notes = [f"only the declared ranges are in the backup ({_ranges_text(ranges)}); other "
             "parameters of the drive are not"]
    return Rebuilt(image, inventory, [], notes)


def _ranges_text(ranges: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{t} {', '.join(labels)}" for t, labels in sorted(ranges.items())) or "none"


# --- S7 ------------------------------------------------------------------------------

def kept_as_structure(block: str) -> str:
    """What the backup lacks for a DB whose policy is ``structure`` (S7 and S7CommPlus)."""
    return (f"{block}: kept as `structure` (size, interface and metadata only); its values were "
            "never stored, so it cannot be rebuilt (declare it `content` to back it up)")


def _s7(device: str, values: dict[str, Any], policy: dict[str, Any]) -> Rebuilt:
    missing: list[str] = []
    ident = dict(values.get("identity") or {})
    mode = (values.get("mode") or {}).get("mode", "RUN")
    image: dict[str, Any] = {"name": device, "protocol": "s7", "identity": ident,
                             "protection": dict(values.get("protection") or {}),
                             "mode": mode if mode in ("RUN", "STOP", "STARTUP", "HOLD") else "STOP",
                             # as the CPU did: its checksums themselves follow from the blocks
                             "checksums_valid": (values.get("checksums") or {}).get("valid", True)}
    listed = values.get("blocks") or {}
    image["sfc"] = list(listed.get("SFC", []))
    image["sfb"] = list(listed.get("SFB", []))
    blocks = []
    for block_type in ("OB", "FB", "FC", "DB", "SDB"):
        for number in listed.get(block_type, []):
            key = f"blocks/{block_type}/{number}"
            content = values.get(key)
            if isinstance(content, (bytes, bytearray)):
                blocks.append({"block": f"{block_type} {number}", "image": bytes(content).hex()})
            elif isinstance(content, dict):
                missing.append(kept_as_structure(f"{block_type} {number}"))
            elif f"{key}/info" in values or policy.get("quick_skipped"):
                missing.append(f"{block_type} {number}: only its block info or the CPU's checksums "
                               "are in the backup (a quick baseline); take a deep baseline to keep "
                               "the block itself")
            else:
                missing.append(f"{block_type} {number}: not in the backup (policy `ignore`)")
    image["blocks"] = blocks
    dbs = dict(policy.get("dbs", {}))
    inventory = {"rack": 0, "slot": 2, "dbs": dbs}
    image["inventory"] = inventory
    return Rebuilt(image, inventory, missing)


# --- Logix ---------------------------------------------------------------------------

_HOST_PREFIX = "ZZZZZZZZZZ"  # hidden BOOL host members the controller adds to a UDT


def _logix(device: str, values: dict[str, Any], policy: dict[str, Any]) -> Rebuilt:
    from pycomm3 import PRODUCT_TYPES, VENDORS  # the names pycomm3 decoded, back to codes

    missing: list[str] = []
    vendors = {v: k for k, v in VENDORS.items()}
    types = {v: k for k, v in PRODUCT_TYPES.items()}

    def identity(v: Mapping[str, Any]) -> dict[str, Any]:
        major, _, minor = str(v.get("revision", "0.0")).partition(".")
        return {"vendor": vendors.get(v.get("vendor"), 1),
                "product_type": types.get(v.get("product_type"), 14),
                "product_code": int(v.get("product_code") or 0),
                "revision": [int(major), int(minor or 0)], "serial": str(v.get("serial")),
                "product_name": str(v.get("product_name"))}

    if "programs" not in values:
        return Rebuilt({}, {}, ["the baseline is quick: the controller's structure (programs, "
                                "tags, UDTs) is not in it; take a deep baseline"])
    controller = values.get("controller") or {}
    image: dict[str, Any] = {"name": device, "protocol": "logix", "slot": 0,
                             "identity": identity(values.get("identity") or {}),
                             "controller_name": controller.get("name") or device,
                             "keyswitch": controller.get("keyswitch") or "REMOTE RUN"}
    cd = values.get("change-detection") or {}
    if cd.get("available"):
        image["change_detection"] = {"audit_value": cd["audit_value"][2:],
                                     "changes_to_detect": cd["changes_to_detect"][2:]}
    image["tasks"] = {name: [] for name in values.get("tasks", {})}
    image["udts"] = _udts(values)
    config = values.get("config") or {}
    programs = values.get("programs") or {}
    image["programs"] = {p: {"routines": {r: f"// {p}/{r}: logic not in the backup"
                                          for r in body.get("routines", [])},
                             "tags": _tags(values.get(f"tags/program/{p}") or {}, config,
                                           f"Program:{p}.", missing)}
                         for p, body in programs.items()}
    image["tags"] = _tags(values.get("tags/controller") or {}, config, "", missing)
    modules = {}
    for key, v in values.items():
        if key.startswith("module/") and v.get("present"):
            modules[key.split("/", 1)[1]] = identity(v)
    image["modules"] = modules
    image["config_tags"] = list(policy.get("config_tags", []))
    inventory = {"slot": 0, "config_tags": image["config_tags"],
                 "modules": sorted(int(s) for s in modules)}
    notes = ["routine logic (rungs) is not readable over EtherNet/IP: only the ACD project file "
             "holds it; the drill rebuilt routine names, tags, UDTs and config values",
             "which task runs which program is not in the backup"]
    return Rebuilt(image, inventory, missing, notes)


def _udts(values: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """UDT declarations in dependency order, members in the controller's order
    without the hidden BOOL hosts."""
    decls: dict[str, list[dict[str, Any]]] = {}
    for key, v in values.items():
        if not key.startswith("udt/") or v.get("name") == "STRING":
            continue
        members = []
        for name, m in sorted(v.get("members", {}).items(), key=lambda kv: kv[1]["index"]):
            if name.startswith(_HOST_PREFIX):
                continue
            decl = {"name": name, "type": m["type"]}
            if m.get("array"):
                decl["dim"] = m["array"]
            members.append(decl)
        decls[v["name"]] = members
    ordered: dict[str, list[dict[str, Any]]] = {}

    def visit(name: str, trail: tuple[str, ...] = ()) -> None:
        if name in ordered or name not in decls or name in trail:
            return
        for m in decls[name]:
            visit(m["type"], trail + (name,))
        ordered[name] = decls[name]

    for name in sorted(decls):
        visit(name)
    return _matching_order(ordered, {v["name"]: v.get("structure_handle") for k, v in values.items()
                                     if k.startswith("udt/")})


def _matching_order(decls: dict[str, list[dict[str, Any]]],
                    handles: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The controller numbers UDT templates in the order they were declared, and a
    UDT's structure handle depends on its member UDTs' numbers, which the backup
    does not hold.  Try declaration orders (dependencies first) until every
    handle matches; give up after a bounded number and keep the first order."""
    import itertools

    from simulators.logix.image import FIRST_UDT_ID
    from simulators.logix.types import ImageError, layout, string_template

    def handles_match(order: tuple[str, ...]) -> bool:
        templates = {"STRING": string_template()}
        for i, name in enumerate(order):
            try:
                templates[name] = layout(name, FIRST_UDT_ID + i, decls[name], templates)
            except (ImageError, KeyError):
                return False
            if handles.get(name) not in (None, templates[name].handle):
                return False
        return True

    names = tuple(decls)
    if handles_match(names):
        return decls
    for order in itertools.islice(itertools.permutations(names), 5040):
        if handles_match(order):
            return {n: decls[n] for n in order}
    return decls


def _tags(scope: Mapping[str, Any], config: Mapping[str, Any], prefix: str,
          missing: list[str]) -> list[dict[str, Any]]:
    tags = []
    for name, t in sorted(scope.items()):
        if t.get("alias"):
            missing.append(f"{prefix}{name}: an alias tag; its target is not in the backup")
            continue
        decl: dict[str, Any] = {"name": name, "type": t["type"],
                                "external_access": t.get("external_access") or "Read/Write"}
        if t.get("dims"):
            decl["dims"] = list(t["dims"])
        if f"{prefix}{name}" in config:
            decl["value"] = config[f"{prefix}{name}"]
        tags.append(decl)
    return tags
