"""Write images/crane/plc-gantry.json from simulators.logix.generate (deterministic).

    python -m simulators.images.make_logix
"""

from __future__ import annotations

import json
from pathlib import Path

from simulators.logix.generate import gantry_image

TARGET = Path(__file__).parent / "crane" / "plc-gantry.json"


def main() -> None:
    TARGET.write_text(json.dumps(gantry_image(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
