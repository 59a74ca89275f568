"""Regenerate images/crane/plc-hoist.json (deterministic): python simulators/images/make_s7.py"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from simulators.s7_images import hoist_image  # noqa: E402

if __name__ == "__main__":
    out = Path(__file__).parent / "crane" / "plc-hoist.json"
    out.write_text(json.dumps(hoist_image(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
