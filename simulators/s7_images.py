"""Device images for the S7 simulator: the crane's hoist CPU and synthetic CPUs.

Deterministic (seeded), so images/crane/plc-hoist.json can be regenerated
byte for byte by images/make_s7.py, and benchmarks can build a CPU of any size.
"""

from __future__ import annotations

import random
import struct
from datetime import datetime, timedelta
from typing import Any

from simulators.s7_blocks import build

# SFC/SFB numbers a CPU 315-2 PN/DP lists (subset of the real capture's lists).
SFC = [0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 28, 29, 30, 31, 32, 33,
       34, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 49, 51, 52, 55, 56, 57, 58, 59, 64, 65,
       66, 67, 68, 69]
SFB = [0, 1, 2, 3, 4, 5, 32, 52, 53, 54, 73, 74, 75, 81, 104]

IDENTITY = {"order_number": "6ES7 315-2EH14-0AB0", "firmware": "V3.2.7", "boot_loader": "A32.9.9",
            "module_type": "CPU 315-2 PN/DP", "serial": "S C-H4N739142018", "plant_id": "CRANE1-HOIST",
            "module_name": "PLC_HOIST", "as_name": "Crane 1 hoist", "copyright": "Original Siemens Equipment",
            "memory_card_serial": "MMC 4A1AC019"}
PROTECTION = {"sch_schal": 1, "sch_par": 0, "sch_rel": 1, "bart_sch": 2, "anl_sch": 0}

# type, number, name, language, MC7 size, interface size, local data
HOIST_BLOCKS = [
    ("OB", 1, "CYCLE", "FBD", 420, 28, 26), ("OB", 35, "CYC_INT", "STL", 180, 28, 22),
    ("OB", 82, "DIAG", "STL", 96, 28, 20), ("OB", 86, "RACKFLT", "STL", 64, 28, 20),
    ("OB", 100, "STARTUP", "STL", 210, 28, 20), ("OB", 121, "PROGERR", "STL", 48, 28, 20),
    ("FB", 1, "HOIST", "SCL", 1860, 412, 64), ("FB", 2, "BRAKE", "LAD", 640, 180, 32),
    ("FB", 10, "DRIVE_IF", "SCL", 980, 260, 40),
    ("FC", 1, "SCALE", "STL", 150, 40, 12), ("FC", 2, "LIMITS", "LAD", 330, 60, 16),
    ("FC", 10, "OVERLOAD", "FBD", 512, 72, 18), ("FC", 11, "SLACKROP", "FBD", 288, 48, 14),
    ("FC", 20, "ALARMS", "STL", 760, 90, 24),
    ("DB", 1, "HOIST_I", "DB", 64, 412, 0), ("DB", 2, "BRAKE_I", "DB", 32, 180, 0),
    ("DB", 10, "PARAMS", "DB", 120, 300, 0), ("DB", 20, "PROCESS", "DB", 96, 240, 0),
    ("DB", 21, "ALARMBUF", "DB", 200, 60, 0), ("DB", 100, "COMMS", "DB", 48, 96, 0),
    ("SDB", 0, "", "SDB", 144, 0, 0), ("SDB", 1, "", "SDB", 96, 0, 0), ("SDB", 2, "", "SDB", 180, 0, 0),
    ("SDB", 7, "", "SDB", 64, 0, 0), ("SDB", 1000, "", "SDB", 220, 0, 0),
]


def _block(rng: random.Random, spec: tuple, when: datetime) -> dict[str, Any]:
    block_type, number, name, language, mc7_len, sbb_len, local = spec
    mc7 = bytes(rng.getrandbits(8) for _ in range(mc7_len))
    if block_type == "DB" and number == 10:
        # Parameter DB: rated load 25.0 t, max speed 1.2 m/s, overload 110 % (REALs).
        mc7 = struct.pack(">fff", 25.0, 1.2, 110.0) + mc7[12:]
    interface = bytes(rng.getrandbits(8) for _ in range(sbb_len))
    author, family = ("", "") if block_type == "SDB" else ("HOIST", "CRANE1")
    image = build(block_type, number, mc7, interface=interface, language=language, author=author,
                  family=family, name=name, version="1.0" if block_type != "SDB" else "0.1",
                  code_date=when + timedelta(minutes=7 * number), interface_date=when,
                  local_data=local)
    label = f"{block_type} {number} {name}".strip()
    return {"block": label, "image": image.hex()}


def hoist_image() -> dict[str, Any]:
    rng = random.Random(20230401)
    when = datetime(2023, 4, 1, 8, 30)
    return {"name": "plc-hoist", "protocol": "s7",
            "description": "S7-300 CPU of crane 1's hoist: hoist/brake control, overload, limits",
            "inventory": {"rack": 0, "slot": 2, "dbs": {"10": "content", "20": "structure"}},
            "identity": IDENTITY, "protection": PROTECTION, "mode": "RUN", "sfc": SFC, "sfb": SFB,
            "blocks": [_block(rng, spec, when) for spec in HOIST_BLOCKS]}


def synthetic_image(name: str, blocks: int, *, seed: int = 7, mc7_size: int = 600) -> dict[str, Any]:
    """A CPU with ``blocks`` user blocks spread over OB/FB/FC/DB/SDB (benchmarks)."""
    rng = random.Random(seed)
    when = datetime(2024, 1, 1)
    kinds = [("FC", "STL"), ("FB", "SCL"), ("DB", "DB"), ("FC", "LAD"), ("DB", "DB"), ("OB", "STL"),
             ("SDB", "SDB")]
    specs, used = [], set()
    for i in range(blocks):
        block_type, language = kinds[i % len(kinds)]
        number = i + 1 if block_type != "OB" else 1 + (len([s for s in specs if s[0] == "OB"]) % 100)
        while (block_type, number) in used:
            number += 1
        used.add((block_type, number))
        size = max(16, int(mc7_size * (0.5 + rng.random())))
        sbb = 0 if block_type == "SDB" else 60
        specs.append((block_type, number, f"B{i}", language, size, sbb, 20))
    return {"name": name, "protocol": "s7", "inventory": {"rack": 0, "slot": 2, "dbs": {}},
            "identity": IDENTITY, "protection": PROTECTION, "mode": "RUN", "sfc": SFC, "sfb": SFB,
            "blocks": [_block(rng, spec, when) for spec in specs]}
