"""Deterministic Logix controller images: the plc-gantry image and sized ones.

``gantry_image()`` is what ``images/crane/plc-gantry.json`` holds (regenerate
with ``python -m simulators.images.make_logix``); ``sized_image(n)`` builds a
controller with about ``n`` tags for benchmarks.
"""

from __future__ import annotations

from typing import Any

UDTS: dict[str, list[dict[str, Any]]] = {
    "DriveParams": [
        {"name": "AccelRate", "type": "REAL"}, {"name": "DecelRate", "type": "REAL"},
        {"name": "MaxCurrent", "type": "REAL"}, {"name": "Mode", "type": "DINT"},
        {"name": "Enabled", "type": "BOOL"}, {"name": "Reversed", "type": "BOOL"}],
    "Motor": [
        {"name": "Speed", "type": "REAL"}, {"name": "Current", "type": "REAL"},
        {"name": "Running", "type": "BOOL"}, {"name": "Faulted", "type": "BOOL"},
        {"name": "Cmd", "type": "BOOL"}, {"name": "Drive", "type": "DriveParams"},
        {"name": "RunHours", "type": "DINT"}, {"name": "Label", "type": "STRING"}],
    "Axis": [
        {"name": "Position", "type": "LREAL"}, {"name": "Target", "type": "LREAL"},
        {"name": "Homed", "type": "BOOL"}, {"name": "Limits", "type": "REAL", "dim": 2},
        {"name": "Motor", "type": "Motor"}],
    "Alarm": [
        {"name": "Code", "type": "DINT"}, {"name": "Active", "type": "BOOL"},
        {"name": "Acked", "type": "BOOL"}, {"name": "Stamp", "type": "LINT"}],
    "Spreader": [
        {"name": "Locked", "type": "BOOL"}, {"name": "TwistlockCount", "type": "DINT"},
        {"name": "LoadKg", "type": "REAL"}],
}

IDENTITY = {"vendor": 1, "product_type": 14, "product_code": 166, "revision": [33, 11],
            "serial": "c0ffee42", "product_name": "1756-L83E/B"}
MODULES = {"1": {"vendor": 1, "product_type": 12, "product_code": 166, "revision": [11, 2],
                 "serial": "00a1b2c3", "product_name": "1756-EN2T/D"},
           "2": {"vendor": 1, "product_type": 7, "product_code": 8, "revision": [3, 1],
                 "serial": "00d4e5f6", "product_name": "1756-IB16/A"}}

CONFIG_TAGS = ["Gantry_MaxSpeed", "Gantry_MaxAccel", "Hoist_MaxLoadKg", "Trolley_MaxSpeed",
               "Hoist_DriveCfg", "Program:Hoist.Brake_*"]

_ATOMS = ["DINT", "REAL", "BOOL", "INT", "DINT", "REAL"]


def _filler(prefix: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    """Plain I/O-style tags so the symbol list spans several pages."""
    out = []
    for i in range(start, start + count):
        t = _ATOMS[i % len(_ATOMS)]
        tag: dict[str, Any] = {"name": f"{prefix}_{i:04d}", "type": t}
        if i % 11 == 0:
            tag["dims"] = [8]
        if i % 17 == 0:
            tag["external_access"] = "Read Only"
        out.append(tag)
    return out


def _program(name: str, routines: list[str], tags: list[dict[str, Any]]) -> dict[str, Any]:
    return {"routines": {r: f"// {name}/{r}: rungs live in the controller" for r in routines},
            "tags": tags}


def gantry_image(name: str = "plc-gantry", *, controller_filler: int = 220,
                 program_filler: int = 20) -> dict[str, Any]:
    tags: list[dict[str, Any]] = [
        {"name": "Gantry_MaxSpeed", "type": "REAL", "value": 2.5},
        {"name": "Gantry_ActualSpeed", "type": "REAL", "value": 0.0,
         "external_access": "Read Only"},
        {"name": "Gantry_MaxAccel", "type": "REAL", "value": 0.4},
        {"name": "Hoist_MaxLoadKg", "type": "REAL", "value": 40000.0},
        {"name": "Trolley_MaxSpeed", "type": "REAL", "value": 1.8},
        {"name": "Gantry_Mode", "type": "DINT", "value": 1},
        {"name": "Gantry_Axis", "type": "Axis"},
        {"name": "Trolley_Axis", "type": "Axis"},
        {"name": "Hoist_Motor", "type": "Motor", "value": {"Label": "HOIST-M1"}},
        {"name": "Hoist_DriveCfg", "type": "DriveParams",
         "value": {"AccelRate": 0.5, "DecelRate": 0.8, "MaxCurrent": 310.0, "Mode": 2,
                   "Enabled": True}},
        {"name": "Spreader", "type": "Spreader"},
        {"name": "Alarms", "type": "Alarm", "dims": [32]},
        {"name": "Recipe", "type": "DINT", "dims": [64]},
        {"name": "LoadCell", "type": "REAL", "dims": [4, 2]},
        {"name": "Craneside", "type": "STRING", "value": "QUAY-3"},
    ] + _filler("IO", controller_filler)
    programs = {
        "Gantry": _program("Gantry", ["MainRoutine", "Travel", "Anticollision"],
                           [{"name": "TravelCmd", "type": "DINT"},
                            {"name": "Local_Motor", "type": "Motor"}] + _filler("G", program_filler)),
        "Hoist": _program("Hoist", ["MainRoutine", "Brake", "Overload"],
                          [{"name": "Brake_ReleaseDelay", "type": "DINT", "value": 250},
                           {"name": "Brake_TestTorque", "type": "REAL", "value": 1.2},
                           {"name": "Load", "type": "REAL"}] + _filler("H", program_filler)),
        "Trolley": _program("Trolley", ["MainRoutine", "Positioning"],
                            _filler("T", program_filler)),
        "Safety": _program("Safety", ["MainRoutine", "EStop"],
                           [{"name": "EStop_Chain", "type": "BOOL", "value": True}]
                           + _filler("S", program_filler // 2)),
    }
    return {
        "name": name,
        "protocol": "logix",
        "identity": dict(IDENTITY),
        "slot": 0,
        "controller_name": "GANTRY_STS3",
        "keyswitch": "REMOTE RUN",
        "change_detection": {"audit_value": "5a3c9e01d2f47b68",
                             "changes_to_detect": "ffffffffffffffff"},
        "tasks": {"MainTask": ["Gantry", "Hoist", "Trolley"], "SafetyTask": ["Safety"]},
        "programs": programs,
        "udts": {k: [dict(m) for m in v] for k, v in UDTS.items()},
        "tags": tags,
        "modules": {k: dict(v) for k, v in MODULES.items()},
        "config_tags": list(CONFIG_TAGS),
    }


def sized_image(n_tags: int, name: str = "plc-bench") -> dict[str, Any]:
    """A gantry-like controller with about ``n_tags`` tags, 80 % in controller scope."""
    fixed = 15 + 2 + 3 + 1  # named tags in gantry_image
    rest = max(n_tags - fixed, 0)
    per_program = rest // 5 // 4
    return gantry_image(name, controller_filler=rest - per_program * 4,
                        program_filler=per_program)
