"""Siemens S7-300/400 driver (classic S7comm, python-snap7 3.3.0).

What one capture holds (``quick`` artifacts are also read in Mode.QUICK):

    identity                 order number, firmware (SZL 0x0011), module type,
                             serial, plant id, module name (SZL 0x001C)    quick
    protection               protection levels (SZL 0x0232 index 4)        quick
    checksums                the CPU's own checksums from that same record: quick
                             ``{valid, ken_rel, hardware: {mc7_size_xor,
                             checksum_xor}, program: {...}}``, the XOR of the
                             MC7 sizes and of the block checksums over the
                             SDBs (hardware) and OB/DB/FB/FC (program);
                             ``{valid: false, ken_rel}`` when ken_rel is not
                             0x5656 (the CPU does not vouch for them);
                             ``program: null`` when a listed DB is ``ignore``
    mode                     operating mode (SZL 0x0424): RUN -> STOP is drift quick
    blocks                   every block number per type, SFC/SFB included quick
    blocks/<T>/<n>/info      block info: sizes, checksum, version, author,
                             family, name, dates (not for SFC/SFB)         quick*
    blocks/<T>/<n>           deep only: the full_upload image (code blocks,
                             SDBs, ``content`` DBs), or for ``structure`` DBs
                             header, interface and footer without the values

DB policy (inventory ``dbs``): ``content`` hashes the whole image, ``structure``
(the default) everything but the values, ``ignore`` leaves info and image out;
the ``blocks`` list still names every DB, so an added or removed block is drift.

* Quick check floor: when the CPU vouches for its checksums (ken_rel 0x5656)
a quick check reads identity, protection + checksums, mode and the block
lists, and no block info at all: one request per block fewer.  Its policy
then says ``quick_skipped: ["blocks/"]`` and ``summaries: {"checksums":
"blocks/"}``, so a quick comparison leaves the baseline's block infos out and a
changed checksum is drift on ``checksums`` (a deep check names the block).
Without valid checksums, or when a listed DB is under ``ignore`` (the program
checksum covers every DB, so it would report a DB the policy leaves out), the
quick check reads every block's info as before.  The XOR is weak (two
compensating changes cancel; a tool can write any checksum into a footer):
quick is a pre-check, the deep check's hash of every uploaded block the proof.

Failures are never an empty program: a failed list, info or upload raises a
DeviceError; a CPU whose block counts disagree with its block lists is a
protocol error.  Connection losses are retried ``Device.retries`` times per collect, with a
fresh connection, restarting the step that failed (an upload restarts whole).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, ClassVar, Mapping, TypeVar

from snap7.error import S7ConnectionError, S7Error, S7TimeoutError

from drivers.base import Driver, reject_unknown_keys
from drivers.s7_format import S7FormatError, block_info, cpu_info, operating_mode, order_code
from drivers.s7_format import program_checksums
from drivers.s7_format import protection as parse_protection
from drivers.s7_format import split_image
from drivers.s7_session import READ_OPERATIONS, S7Session
from integrity.canonical import sha256
from integrity.clock import utcnow
from integrity.errors import (
    ConfigError,
    DeviceError,
    DeviceProtocolError,
    DeviceRefusedError,
    DeviceTimeoutError,
    DeviceUnreachableError,
)
from integrity.model import Artifact, Capture, Device, Kind, Mode

DB_POLICIES = ("content", "structure", "ignore")
LISTED_TYPES = ("OB", "FB", "FC", "DB", "SDB", "SFC", "SFB")
READ_TYPES = ("OB", "FB", "FC", "DB", "SDB")  # SFC/SFB live in the CPU firmware: numbers only
_RANGE = re.compile(r"\s*([0-9]{1,5})\s*(?:-\s*([0-9]{1,5}))?\s*", re.ASCII)
T = TypeVar("T")


@dataclass(frozen=True)
class DbRule:
    first: int
    last: int
    policy: str

    def label(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class S7Options:
    rack: int = 0
    slot: int = 2
    dbs: tuple[DbRule, ...] = ()

    def db_policy(self, number: int) -> str:
        for rule in self.dbs:
            if rule.first <= number <= rule.last:
                return rule.policy
        return "structure"


def _int_option(table: Mapping[str, Any], key: str, default: int, low: int, high: int, *,
                file: str | None, device: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key} must be an integer {low}..{high}, got {value!r}",
                          file=file, device=device, field=key)
    return value


def parse_db_rules(value: Any, *, file: str | None, device: str) -> tuple[DbRule, ...]:
    """``{"10" = "content", "20-29" = "structure"}`` -> sorted, non-overlapping rules."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"dbs must be a table of DB number or range -> policy, got {value!r}",
                          file=file, device=device, field="dbs")
    rules = []
    for key, policy in value.items():
        match = _RANGE.fullmatch(str(key))
        first, last = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (-1, -1)
        if not match or first > last or last > 65535:
            raise ConfigError(f"DB {key!r} is not a DB number or range like \"20-29\" (0..65535)",
                              file=file, device=device, field=f"dbs.{key}")
        if policy not in DB_POLICIES:
            raise ConfigError(f"DB {key}: policy must be one of {', '.join(DB_POLICIES)}, got {policy!r}",
                              file=file, device=device, field=f"dbs.{key}")
        rules.append(DbRule(first, last, policy))
    rules.sort(key=lambda r: (r.first, r.last))
    for a, b in zip(rules, rules[1:]):
        if b.first <= a.last:
            raise ConfigError(f"DB {b.label()} overlaps DB {a.label()}: each DB needs one policy",
                              file=file, device=device, field=f"dbs.{b.label()}")
    return tuple(rules)


class S7Driver(Driver):
    protocol: ClassVar[str] = "s7"
    default_port: ClassVar[int] = 102
    READ_OPERATIONS: ClassVar[frozenset[Any]] = READ_OPERATIONS

    def __init__(self, device: Device) -> None:
        super().__init__(device)
        self.options: S7Options = device.options if isinstance(device.options, S7Options) else S7Options()
        self._session: S7Session | None = None
        self._retries_left = max(0, device.retries)

    @classmethod
    def parse_options(cls, table: Mapping[str, Any], *, file: str | None, device: str) -> S7Options:
        reject_unknown_keys(table, {"rack", "slot", "dbs"}, file=file, device=device)
        rack = _int_option(table, "rack", 0, 0, 7, file=file, device=device)
        slot = _int_option(table, "slot", 2, 0, 31, file=file, device=device)
        dbs = parse_db_rules(table.get("dbs", {}), file=file, device=device)
        return S7Options(rack, slot, dbs)

    # -- connection with our own reconnect ------------------------------------
    def _connected(self) -> S7Session:
        if self._session is None:
            session = S7Session(self, self.options.rack, self.options.slot)
            try:
                session.connect()
            except BaseException:
                session.close()
                raise
            self._session = session
        return self._session

    def _call(self, step: Callable[[S7Session], T]) -> T:
        """Run one step; on a lost connection or timeout reconnect and rerun it.
        ``Device.retries`` is the budget for the whole collect, not per step: a
        peer that fails every few requests would otherwise cost a timeout per
        step.  Refusals and malformed replies are not retried: asking again would
        get the same answer."""
        while True:
            try:
                return step(self._connected())
            except (DeviceRefusedError, DeviceTimeoutError, DeviceUnreachableError):
                self.close()
                if self._retries_left <= 0 or self.aborted:
                    raise
                self._retries_left -= 1

    def live_sockets(self) -> list[socket.socket]:
        session = self._session
        sock = session.conn.socket if session is not None and session.conn is not None else None
        return [sock] if sock is not None else []

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def translate(self, exc: BaseException, doing: str) -> DeviceError:
        """snap7 and socket errors -> integrity.errors, most specific first."""
        if isinstance(exc, S7TimeoutError):
            return self.fail(DeviceTimeoutError,
                             f"no answer within {self.device.timeout:g} s while {doing}")
        cause = exc.__cause__ or exc.__context__
        if isinstance(exc, S7ConnectionError) and isinstance(cause, OSError):
            return self.translate_os_error(cause)
        text = str(exc)
        if isinstance(exc, S7ConnectionError) and ("closed by peer" in text or "Receive error" in text
                                                    or "Send failed" in text):
            return self.fail(DeviceRefusedError, f"connection closed by the device while {doing}")
        if isinstance(exc, S7ConnectionError):
            # TPKT/COTP framing wrong: whatever answered is not an S7 CPU.
            return self.fail(DeviceProtocolError,
                             f"peer does not speak S7 (ISO-on-TCP) while {doing}: {text}")
        if isinstance(exc, S7Error):
            return self.fail(DeviceProtocolError, f"malformed S7 reply while {doing}: {text}")
        return super().translate(exc, doing)

    # -- collection ---------------------------------------------------------------
    def _decode(self, what: str, parse: Callable[[bytes], T], data: bytes) -> T:
        try:
            return parse(data)
        except S7FormatError as exc:
            raise self.fail(DeviceProtocolError, f"malformed {what}: {exc}") from exc

    def collect(self, mode: Mode = Mode.DEEP, *, now: datetime | None = None) -> Capture:
        """Read identity, state, block lists, block info (QUICK: unless the CPU's
        checksums stand for it) and (DEEP) every block image.

        Raises DeviceError subclasses (never a snap7 exception); always closes the connection.
        """
        mode = Mode(mode)
        captured_at = utcnow(now)
        self._retries_left = max(0, self.device.retries)
        try:
            artifacts, skipped_info = self._collect(mode)
        except ValueError as exc:  # S7FormatError and any reply value we could not place
            raise self.fail(DeviceProtocolError, f"unexpected reply: {exc}") from exc
        finally:
            self.close()
        return Capture(self.device.name, self.protocol, mode, captured_at, tuple(artifacts),
                       policy=self._policy(mode, skipped_info=skipped_info))

    def _policy(self, mode: Mode, *, skipped_info: bool) -> dict[str, Any]:
        policy = {"code_blocks": "content", "system_blocks": "SFC/SFB numbers only",
                  "db_default": "structure",
                  "dbs": {r.label(): r.policy for r in self.options.dbs},
                  "uploads": "full_upload image, sha256" if mode is Mode.DEEP else "none (quick)",
                  # integrity.compare: the checksums stand for the block artifacts.
                  "summaries": {"checksums": "blocks/"}}
        if skipped_info:
            policy["quick_skipped"] = ["blocks/"]
            policy["block_info"] = "not read: the CPU's program and hardware checksums stand for it"
        return policy

    def _collect(self, mode: Mode) -> tuple[list[Artifact], bool]:
        """The artifacts, and whether block infos were left to the checksums."""
        szl = lambda sid, idx=0: self._call(lambda s: s.read_szl(sid, idx))  # noqa: E731
        identity = {**self._decode("SZL 0x0011", order_code, szl(0x0011)),
                    **self._decode("SZL 0x001C", cpu_info, szl(0x001C))}
        protection = szl(0x0232, 4)
        checksums = self._decode("SZL 0x0232", program_checksums, protection)
        arts = [Artifact.from_value("identity", Kind.IDENTITY, identity),
                Artifact.from_value("protection", Kind.STATE,
                                    self._decode("SZL 0x0232", parse_protection, protection)),
                Artifact.from_value("mode", Kind.STATE,
                                    self._decode("SZL 0x0424", operating_mode, szl(0x0424)))]

        counts = self._call(lambda s: s.list_blocks())
        blocks: dict[str, list[int]] = {}
        for block_type in LISTED_TYPES:
            if block_type not in counts:
                # A real CPU reports all seven types; a missing one is not "none".
                raise self.fail(DeviceProtocolError,
                                f"the CPU's block counts do not mention {block_type} blocks")
            if counts[block_type] == 0:
                # Nothing to list; some CPUs answer a list of an empty type with an
                # error, which must not turn a healthy CPU into "could not check".
                blocks[block_type] = []
                continue
            numbers = sorted(self._call(lambda s: s.list_blocks_of_type(block_type)))
            if len(numbers) != counts.get(block_type, 0) or len(set(numbers)) != len(numbers):
                # A short list would read as deleted blocks: refuse it instead.
                raise self.fail(DeviceProtocolError,
                                f"CPU counts {counts.get(block_type, 0)} {block_type} blocks but listed "
                                f"{len(numbers)}")
            blocks[block_type] = numbers
        arts.append(Artifact.from_value("blocks", Kind.STRUCTURE, blocks))
        ignored = [n for n in blocks["DB"] if self.options.db_policy(n) == "ignore"]
        if ignored and checksums["valid"]:
            # The program checksum covers every DB, the ones the policy ignores too.
            checksums = {**checksums, "program": None}
        arts.append(Artifact.from_value("checksums", Kind.STATE, checksums))

        if mode is Mode.QUICK and checksums["valid"] and not ignored and self.quick_summaries:
            return arts, True
        for block_type in READ_TYPES:
            for number in blocks[block_type]:
                arts.extend(self._block(block_type, number, mode))
        return arts, False

    def _block(self, block_type: str, number: int, mode: Mode) -> list[Artifact]:
        policy = self.options.db_policy(number) if block_type == "DB" else "content"
        if policy == "ignore":
            return []
        kind = {"DB": Kind.CONFIG if policy == "content" else Kind.STRUCTURE,
                "SDB": Kind.CONFIG}.get(block_type, Kind.CODE)
        key = f"blocks/{block_type}/{number}"
        info = self._decode(f"block info of {block_type} {number}", block_info,
                            self._call(lambda s: s.block_info(block_type, number)))
        if (info["type"], info["number"]) != (block_type, number):
            raise self.fail(DeviceProtocolError, f"asked for info on {block_type} {number}, "
                                                 f"got {info['type']} {info['number']}")
        arts = [Artifact.from_value(f"{key}/info", kind, info)]
        if mode is Mode.QUICK:
            return arts
        image = self._call(lambda s: s.full_upload(block_type, number))
        parts = self._decode(f"upload of {block_type} {number}", split_image, image)
        if (parts.header["type"], parts.header["number"]) != (block_type, number):
            raise self.fail(DeviceProtocolError, f"upload of {block_type} {number} returned "
                                                 f"{parts.header['type']} {parts.header['number']}")
        if policy == "structure":
            # Everything that says what the DB is, nothing of what it holds now.
            value = {"header": parts.header, "footer": parts.footer,
                     "mc7_size": len(parts.mc7), "interface_sha256": sha256(parts.interface),
                     "interface_size": len(parts.interface), "add_sha256": sha256(parts.add)}
            arts.append(Artifact.from_value(key, kind, value, quick=False))
        else:
            arts.append(Artifact.from_bytes(key, kind, image))
        return arts
