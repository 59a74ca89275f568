"""Siemens S7-1200/1500 driver over S7CommPlus (s7commplus 0.3.0, pinned).

What one capture holds (``quick`` artifacts are also read in Mode.QUICK):

    identity                 order number and firmware (the ServerSessionVersion
                             device string), theCPUcommon's attributes       quick
    mode                     CPU state from theCPUexecUnit: RUN -> STOP is drift  quick
    protection               the session's effective protection level     quick
    blocks                   every OB, FB, FC and DB number                   quick
    blocks/<T>/<n>/info      name, language, know-how protection and every
                             change indicator EXPLORE reports (CRC, type-info
                             time, ...: see drivers/s7plus_format.py)        quick
    blocks/<T>/<n>/interface deep: the block object explored with its members
    blocks/<T>/<n>           deep: the uploaded image of an OB/FB/FC, or the
                             bytes of a ``content`` DB

DB policy (inventory ``dbs``, as for S7-300/400): ``content`` hashes the
values, ``structure`` (default) interface and indicators only, ``ignore``
leaves info, interface and values out (the ``blocks`` list still names it).

"Not readable" is a value, never an omission and never a hash of content: a
block the CPU refuses to upload (know-how protection, access level) or a DB
whose values it will not give is recorded as ``{"readable": false, "reason":
...}``, listed in the capture policy's ``not_readable``, and named by the check
as not proven.  A baseline that held the block's bytes then differs: drift.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Mapping

from drivers.base import Driver, reject_unknown_keys
from drivers.s7 import DbRule, parse_db_rules
from drivers.s7plus_format import (
    SIZE_ATTRIBUTE,
    UPLOAD_TYPES,
    S7PlusFormatError,
    identity,
    indicators,
    interface,
    objects,
    program_blocks,
    upload_reply,
)
from drivers.s7plus_guard import READ_OPERATIONS
from drivers.s7plus_session import Session
from integrity.clock import utcnow
from integrity.errors import (
    ConfigError,
    DeviceAccessDeniedError,
    DeviceProtocolError,
    DeviceRefusedError,
    DeviceTimeoutError,
    DeviceUnreachableError,
)
from integrity.model import Artifact, Capture, Device, Kind, Mode

PLC_PROGRAM, CPU_COMMON = 3, 50
ACCESS_LEVELS = {0: "none", 1: "full access", 2: "read access", 3: "HMI access", 4: "no access"}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class S7PlusOptions:
    dbs: tuple[DbRule, ...] = ()
    tls: bool = False
    tls_fingerprint: str | None = None  # SHA-256 of the CPU's certificate (DER), hex
    tls_ca: str | None = None
    tls_cert: str | None = None         # client certificate and key, when the CPU asks for one
    tls_key: str | None = None
    password_env: str | None = None

    def db_policy(self, number: int) -> str:
        return next((r.policy for r in self.dbs if r.first <= number <= r.last), "structure")


def _path(table: Mapping[str, Any], key: str, *, file: str | None, device: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not Path(value).is_file():
        raise ConfigError(f"{key} must name a readable file, got {value!r}", file=file, device=device,
                          field=key)
    return value


class S7PlusDriver(Driver):
    protocol: ClassVar[str] = "s7plus"
    default_port: ClassVar[int] = 102
    READ_OPERATIONS: ClassVar[frozenset[Any]] = READ_OPERATIONS

    def __init__(self, device: Device) -> None:
        super().__init__(device)
        self.options: S7PlusOptions = device.options if isinstance(device.options, S7PlusOptions) \
            else S7PlusOptions()
        self._session: Session | None = None

    @classmethod
    def parse_options(cls, table: Mapping[str, Any], *, file: str | None, device: str) -> S7PlusOptions:
        keys = {"dbs", "tls", "tls_fingerprint", "tls_ca", "tls_cert", "tls_key", "password_env"}
        reject_unknown_keys(table, keys, file=file, device=device)
        tls = table.get("tls", False)
        if not isinstance(tls, bool):
            raise ConfigError(f"tls must be true or false, got {tls!r}", file=file, device=device, field="tls")
        fingerprint = table.get("tls_fingerprint")
        if fingerprint is not None:
            clean = re.sub(r"[\s:\-]", "", str(fingerprint)).lower()
            if not _HEX64.match(clean):
                raise ConfigError("tls_fingerprint must be the SHA-256 of the CPU's certificate: 64 hex "
                                  f"digits (':' allowed), got {fingerprint!r}", file=file, device=device,
                                  field="tls_fingerprint")
            fingerprint = clean
        opts = {k: _path(table, k, file=file, device=device) for k in ("tls_ca", "tls_cert", "tls_key")}
        if not tls and (fingerprint or any(opts.values())):
            field = "tls_fingerprint" if fingerprint else next(k for k, v in opts.items() if v)
            raise ConfigError(f"{field} needs tls = true: a pin is never checked on a plaintext session",
                              file=file, device=device, field=field)
        if bool(opts["tls_cert"]) != bool(opts["tls_key"]):
            raise ConfigError("tls_cert and tls_key go together", file=file, device=device,
                              field="tls_cert" if opts["tls_key"] else "tls_key")
        env = table.get("password_env")
        if env is not None and (not isinstance(env, str) or not _ENV.match(env)):
            raise ConfigError(f"password_env must name an environment variable, got {env!r}",
                              file=file, device=device, field="password_env")
        return S7PlusOptions(parse_db_rules(table.get("dbs", {}), file=file, device=device), tls,
                             fingerprint, opts["tls_ca"], opts["tls_cert"], opts["tls_key"], env)

    # -- connection -------------------------------------------------------------------
    def _password(self) -> str | None:
        env = self.options.password_env
        if env is None:
            return None
        value = os.environ.get(env)
        if value is None:
            raise self.fail(DeviceAccessDeniedError,
                            f"the password environment variable {env} is not set")
        return value

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def collect(self, mode: Mode = Mode.DEEP, *, now: datetime | None = None) -> Capture:
        """Read identity, state, the block list, block indicators and (DEEP)
        interfaces, uploads and ``content`` DBs.

        Raises DeviceError subclasses (never an s7commplus exception); a lost
        connection or timeout restarts the read on a fresh session
        ``Device.retries`` times.  Always closes the session.
        """
        mode = Mode(mode)
        captured_at = utcnow(now)
        attempts = max(0, self.device.retries) + 1
        for attempt in range(attempts):
            try:
                artifacts, not_readable = self._collect(mode)
                break
            except (DeviceRefusedError, DeviceTimeoutError, DeviceUnreachableError):
                if attempt == attempts - 1:
                    raise
            except S7PlusFormatError as exc:
                raise self.fail(DeviceProtocolError, f"unexpected reply: {exc}") from exc
            finally:
                self.close()
        policy = {"db_default": "structure", "dbs": {r.label(): r.policy for r in self.options.dbs},
                  "uploads": "GetVarSubStreamed image, sha256" if mode is Mode.DEEP else "none (quick)",
                  "tls": self.options.tls, "not_readable": not_readable}
        return Capture(self.device.name, self.protocol, mode, captured_at, tuple(artifacts), policy=policy)

    def _collect(self, mode: Mode) -> tuple[list[Artifact], dict[str, str]]:
        session = self._session = Session(self, password=self._password())
        session.connect()
        level = session.protection_level
        arts = [
            Artifact.from_value("identity", Kind.IDENTITY, {
                **identity(session.session_version_string()), "cpu_common": self._cpu_common(session)}),
            Artifact.from_value("mode", Kind.STATE, {"state": session.cpu_state()}),
            Artifact.from_value("protection", Kind.STATE, {
                "effective_level": level, "meaning": ACCESS_LEVELS.get(level, "not reported")}),
        ]
        blocks = program_blocks(objects(session.explore(PLC_PROGRAM)))
        numbers: dict[str, list[int]] = {t: [] for t in ("OB", "FB", "FC", "DB")}
        for block in blocks:
            numbers.setdefault(block["type"], []).append(block["number"])
        arts.append(Artifact.from_value("blocks", Kind.STRUCTURE, numbers))
        not_readable: dict[str, str] = {}
        for block in blocks:
            arts.extend(self._block(session, block, mode, level, not_readable))
        return arts, not_readable

    def _cpu_common(self, session: Session) -> Any:
        try:
            tree = objects(session.explore(CPU_COMMON))
        except (DeviceProtocolError, S7PlusFormatError) as exc:
            return {"readable": False, "reason": f"theCPUcommon: {exc}"}
        return [indicators(o) for o in tree]

    def _block(self, session: Session, block: dict[str, Any], mode: Mode, level: int | None,
               not_readable: dict[str, str]) -> list[Artifact]:
        btype, number = block["type"], block["number"]
        policy = self.options.db_policy(number) if btype == "DB" else "content"
        if policy == "ignore":
            return []
        kind = (Kind.CONFIG if policy == "content" else Kind.STRUCTURE) if btype == "DB" else Kind.CODE
        key = f"blocks/{btype}/{number}"
        info = {k: v for k, v in block.items() if k != "rid"}
        arts = [Artifact.from_value(f"{key}/info", kind, info)]
        if mode is Mode.QUICK:
            return arts
        try:
            shape: Any = interface(objects(session.explore(int(block["rid"], 16))))
        except DeviceProtocolError as exc:
            if not session.refused(exc):
                raise
            shape = {"readable": False, "reason": f"EXPLORE refused: {exc}"}
            not_readable[f"{key}/interface"] = shape["reason"]
        arts.append(Artifact.from_value(f"{key}/interface", Kind.STRUCTURE, shape, quick=False))
        if btype == "DB" and policy == "structure":
            return arts
        data, reason = self._db_values(session, block) if btype == "DB" else \
            self._upload(session, block, level)
        if data is None:
            not_readable[key] = reason
            arts.append(Artifact.from_value(key, kind, {"readable": False, "reason": reason}, quick=False))
        else:
            arts.append(Artifact.from_bytes(key, kind, data))
        return arts

    def _upload(self, session: Session, block: dict[str, Any], level: int | None) -> tuple[bytes | None, str]:
        if block["type"] not in UPLOAD_TYPES:
            return None, f"no upload is known for blocks of {block['type']}"
        result = upload_reply(session.upload(UPLOAD_TYPES[block["type"]], block["number"]))
        if isinstance(result, bytes):
            return result, ""
        if block["knowhow_protected"]:
            why = "know-how protected"
        elif level is not None and level > 2:
            why = f"access level {level} ({ACCESS_LEVELS.get(level, '?')})"
        else:
            why = "the CPU refused the upload"
        return None, f"{why}: upload refused with error {result}"

    def _db_values(self, session: Session, block: dict[str, Any]) -> tuple[bytes | None, str]:
        size_hex = block["indicators"].get(f"attribute:{SIZE_ATTRIBUTE}")
        if size_hex is None:
            return None, ("the CPU reports no byte size for this DB (an optimized DB: its values "
                          "need symbolic reads, which this driver does not do yet)")
        try:
            return session.db_read(block["number"], int(size_hex, 16)), ""
        except DeviceProtocolError as exc:
            if not session.refused(exc):
                raise
            return None, f"the CPU refused a byte read of the DB: {exc}"

