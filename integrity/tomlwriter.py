"""A small TOML writer for the files plc-integrity generates (inventories).

Python ships a TOML reader (tomllib) but no writer; what we write is simple:
arrays of tables whose values are strings, numbers, booleans, lists of those,
and inline tables.  Anything else is refused rather than written wrongly.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable, Mapping

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else json.dumps(key)


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} to TOML")
        return repr(v)
    if isinstance(v, str):
        # JSON string escaping is valid TOML basic-string escaping for what we write.
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(str(k))} = {value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def array_of_tables(name: str, tables: Iterable[Mapping[str, Any]], header: str = "") -> str:
    out = [header.rstrip() + "\n"] if header else []
    for table in tables:
        out.append(f"[[{name}]]\n")
        for k, v in table.items():
            out.append(f"{_key(k)} = {value(v)}\n")
        out.append("\n")
    return "".join(out)
