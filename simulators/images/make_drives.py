"""Write the crane plant's Modbus drive images (vfd-hoist, vfd-trolley, vfd-gantry).

Run ``python simulators/images/make_drives.py`` to regenerate them; the output
is deterministic, so a diff of the JSON files shows exactly what changed.

Each drive keeps its parameters in holding registers 0-1999 (the settings the
checker hashes) and its live process values in input registers 0-31 (not
declared in the inventory, so never hashed: they change all the time).  The
parameter map loosely follows common VFD layouts; units are in the labels.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).parent / "crane"

# address: (label, hoist, trolley, gantry)
PARAMETERS: dict[int, tuple[str, int, int, int]] = {
    0: ("parameter set version", 3, 3, 3),
    1: ("control mode (0 V/f, 1 sensorless vector, 2 closed-loop vector)", 2, 1, 1),
    2: ("motor rated power, 0.1 kW", 750, 110, 220),
    3: ("motor rated voltage, V", 400, 400, 400),
    4: ("motor rated current, 0.1 A", 1390, 214, 410),
    5: ("motor rated frequency, 0.01 Hz", 5000, 5000, 5000),
    6: ("motor rated speed, rpm", 1480, 1455, 1465),
    7: ("motor pole pairs", 2, 2, 2),
    8: ("motor cos phi, 0.01", 86, 81, 84),
    10: ("acceleration time, 0.1 s", 40, 30, 60),
    11: ("deceleration time, 0.1 s", 40, 25, 60),
    12: ("S-curve ratio, %", 20, 30, 30),
    13: ("quick-stop deceleration, 0.1 s", 10, 8, 15),
    20: ("maximum frequency, 0.01 Hz", 5000, 6000, 5000),
    21: ("minimum frequency, 0.01 Hz", 150, 200, 200),
    22: ("maximum speed, rpm", 1500, 1800, 1500),
    23: ("jog speed, rpm", 150, 300, 200),
    30: ("motor current limit, % of rated", 180, 150, 150),
    31: ("torque limit motoring, %", 200, 150, 150),
    32: ("torque limit generating, %", 200, 150, 150),
    33: ("motor thermal time constant, s", 900, 600, 720),
    40: ("brake release current, % of rated", 40, 0, 0),
    41: ("brake release delay, ms", 250, 100, 150),
    42: ("brake engage frequency, 0.01 Hz", 150, 100, 100),
    43: ("brake engage delay, ms", 300, 100, 150),
    44: ("torque proving before release (0 off, 1 on)", 1, 0, 0),
    50: ("overspeed trip, % of max speed", 115, 120, 120),
    51: ("load monitoring enable (0 off, 1 on)", 1, 0, 0),
    52: ("rated load, 0.1 t", 320, 0, 0),
    53: ("overload trip, % of rated load", 110, 0, 0),
    60: ("encoder pulses per revolution", 1024, 0, 0),
    61: ("speed loop gain, %", 35, 25, 25),
    62: ("speed loop integral time, ms", 120, 200, 200),
    70: ("fieldbus timeout, 0.1 s", 10, 10, 10),
    71: ("fieldbus fault reaction (0 coast, 1 ramp, 2 quick stop)", 2, 1, 1),
    72: ("control source (0 terminals, 1 fieldbus)", 1, 1, 1),
    80: ("digital input 1 function (1 run forward)", 1, 1, 1),
    81: ("digital input 2 function (2 run reverse)", 2, 2, 2),
    82: ("digital input 3 function (10 upper limit / end stop)", 10, 10, 10),
    83: ("digital input 4 function (11 lower limit / end stop)", 11, 11, 11),
    90: ("relay 1 function (5 brake control)", 5, 5, 5),
    91: ("relay 2 function (1 fault)", 1, 1, 1),
    100: ("switching frequency, 0.1 kHz", 40, 80, 60),
    101: ("dc braking current, %", 0, 50, 50),
    102: ("braking chopper enable (0 off, 1 on)", 1, 1, 1),
    103: ("braking resistor, 0.1 ohm", 150, 600, 330),
    1900: ("application id (crane profile)", 0x4352, 0x4352, 0x4352),
    1999: ("parameter checksum (vendor)", 0x5A17, 0x3C41, 0x7E02),
}

IDENTITIES = {
    "vfd-hoist": {"vendor_name": "Nordwind Antriebe", "product_code": "NX-800-075",
                  "major_minor_revision": "V4.12", "vendor_url": "https://nordwind.example",
                  "product_name": "NX800 Crane Drive", "model_name": "NX800-075-4",
                  "user_application_name": "HOIST MAIN"},
    "vfd-trolley": {"vendor_name": "Nordwind Antriebe", "product_code": "NX-400-011",
                    "major_minor_revision": "V4.09", "vendor_url": "https://nordwind.example",
                    "product_name": "NX400 Drive", "model_name": "NX400-011-4",
                    "user_application_name": "TROLLEY"},
    "vfd-gantry": {"vendor_name": "Kessler Drives", "product_code": "KD5-22",
                   "major_minor_revision": "2.3.1", "vendor_url": "https://kessler.example",
                   "product_name": "KD5 Vector Drive", "model_name": "KD5-022",
                   "user_application_name": "GANTRY LONG TRAVEL"},
}

# Live values in input registers (not hashed), at rest: one moment of a running crane.
LIVE = [("output frequency, 0.01 Hz", (0, 0, 0)), ("motor speed, rpm", (0, 0, 0)),
        ("motor current, 0.1 A", (12, 3, 5)), ("motor torque, 0.1 %", (0, 0, 0)),
        ("dc bus voltage, V", (565, 562, 560)), ("drive temperature, C", (38, 31, 33)),
        ("status word", (0x0231, 0x0231, 0x0231)), ("fault code", (0, 0, 0))]


def image(name: str, column: int) -> dict:
    holding = [0] * 2000
    labels = {}
    for address, (label, *values) in PARAMETERS.items():
        holding[address] = values[column]
        labels[f"holding/{address}"] = label
    live = [0] * 32
    for address, (label, values) in enumerate(LIVE):
        live[address] = values[column]
        labels[f"input/{address}"] = label
    return {"name": name, "protocol": "modbus", "unit": 1, "identity": IDENTITIES[name],
            "holding": {"start": 0, "values": holding}, "input": {"start": 0, "values": live},
            "inventory": {"holding": ["0-1999"]}, "labels": labels}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for column, name in enumerate(("vfd-hoist", "vfd-trolley", "vfd-gantry")):
        text = json.dumps(image(name, column), indent=1, ensure_ascii=False)
        # Keep the 2000-register list on one line: the file stays readable.
        (OUT / f"{name}.json").write_text(_compact_lists(text) + "\n", encoding="utf-8")


def _compact_lists(text: str) -> str:
    import re

    return re.sub(r"\[\s+([0-9,\s]+?)\s+\]", lambda m: "[" + re.sub(r"\s+", "", m.group(1))
                  .replace(",", ", ") + "]", text)


if __name__ == "__main__":
    main()
