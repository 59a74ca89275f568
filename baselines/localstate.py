"""What this host remembers about a site, kept outside the site folder.

An attacker who can write the site folder and the database can roll both back
to an earlier copy together; the signed checkpoint of that copy is genuine, so
only a memory kept elsewhere can tell it is old.  This module is that memory:
one small JSON file per site (keyed by the site folder's resolved path) in a
per-user state folder:

    $PLC_INTEGRITY_STATE_DIR            if set (tests, or a folder of your choice)
    $XDG_STATE_HOME/plc-integrity       else
    ~/.local/state/plc-integrity        else

It holds the highest checkpoint version and policy version seen, and the key
ids they were signed with (pinned at first sight).  Run the checker as a user
whose home the site folder's writers cannot write (e.g. the ``plc-integrity``
service account, with the site owned by the engineers' group): then rolling
the site back is seen.  The same folder keeps the site's checkpoint signing key
(``keys/checkpoint-<site id>.key``), for the same reason.

Losing this file costs the memory (the next read trusts what it finds, once),
never a baseline.  Errors: a damaged file is CheckpointError (someone edited
what only this user should write); an unwritable folder is StoreError.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from integrity.errors import CheckpointError, StoreError

from baselines.heads import locked, write_atomic

STATE_ENV = "PLC_INTEGRITY_STATE_DIR"


def state_dir() -> Path:
    """The per-user state folder (see the module docstring)."""
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "plc-integrity"


def site_id(site_root: Path) -> str:
    """A short stable name for a site folder: SHA-256 of its resolved path."""
    return hashlib.sha256(str(Path(site_root).resolve()).encode("utf-8")).hexdigest()[:16]


class LocalState:
    """The remembered versions of one site.  ``folder``: the state folder
    (default ``state_dir()``), read when the object is made."""

    def __init__(self, site_root: Path, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else state_dir()
        self.site_root = Path(site_root)
        self.site_id = site_id(self.site_root)
        self.path = self.folder / "sites" / f"{self.site_id}.json"

    @property
    def checkpoint_key_path(self) -> Path:
        return self.folder / "keys" / f"checkpoint-{self.site_id}.key"

    def read(self) -> dict[str, Any]:
        """Everything remembered ({} if nothing yet).  Raises CheckpointError if damaged."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CheckpointError(f"cannot read this host's memory of the site {self.path}: "
                                  f"{exc.strerror or exc}") from exc
        try:
            doc = json.loads(data.decode("utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("not an object")
            return doc
        except (ValueError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"this host's memory of the site {self.path} is damaged "
                                  f"({exc}); if you trust the site as it is, delete the file "
                                  "and check again") from exc

    def remember(self, **fields: Any) -> None:
        """Merge ``fields`` in; integer versions only ever go up.  Raises StoreError."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with locked(self.path):
                doc = self.read()
                for name, value in fields.items():
                    old = doc.get(name)
                    if isinstance(value, int) and isinstance(old, int) and old > value:
                        continue
                    doc[name] = value
                doc["site"] = str(self.site_root.resolve())
                write_atomic(self.path, json.dumps(doc, indent=1, sort_keys=True).encode("utf-8"))
        except OSError as exc:
            raise StoreError(f"cannot update this host's memory of the site {self.path}: "
                             f"{exc.strerror or exc}") from exc
