"""The checks every site.toml table starts with: it is a table, and it has no
keys we do not know (a misspelt key silently ignored would be a silent error)."""

from __future__ import annotations

from typing import Any, Iterable

from integrity.errors import ConfigError


def checked_table(value: Any, where: str, allowed: Iterable[str], *, file: str | None,
                  field: str, key_prefix: str = "") -> dict[str, Any]:
    """``value`` if it is a dict with only ``allowed`` keys, else ConfigError.

    ``where`` names the table in messages (``"[store]"``); ``field`` is the
    field of a non-table; an unknown key's field is ``key_prefix + key``.
    """
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table", file=file, field=field)
    known = set(allowed)
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {where} "
                          f"(known: {', '.join(sorted(known))})", file=file,
                          field=key_prefix + unknown[0])
    return value
