"""Allen-Bradley Logix driver (pycomm3 1.2.16): the integrity signals a ControlLogix
or CompactLogix controller exposes over EtherNet/IP.  Ladder logic itself cannot be
read without Rockwell's tools; the Controller Change Detection AuditValue is what
changes when it does.

Artifacts (``quick`` ones are also read by a QUICK check):
  "identity"           identity   vendor, product type/code, revision, serial, name   quick
  "change-detection"   state      AuditValue + ChangesToDetect (class 0x8E), or
                                  {"available": false} when the controller has none    quick
  "controller"         state      controller (project) name, keyswitch position
  "programs", "tasks"  structure  programs with their routines; task names
  "tags/controller", "tags/program/<P>"
                       structure  tag database per scope: type, dims, external access
  "udt/<Name>"         structure  members, offsets, size, structure handle
  "module/<slot>"      identity   identity of each module listed in ``modules``
  "config"             config     values of the ``config_tags``, keyed by tag name

A controller without change detection cannot prove its logic unchanged cheaply,
so there every artifact is flagged quick: a quick check then reads everything
rather than pass on identity alone.

Read-only: ``_GuardedLogix._send`` parses each frame pycomm3 is about to send
(``drivers.logix_guard``) and passes every service in it through ``guard``.
"""

from __future__ import annotations

import fnmatch
import logging
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Iterator, Mapping

from pycomm3 import LogixDriver as _PycommLogix
from pycomm3.cip_driver import parse_cip_route
from pycomm3.exceptions import PycommError

from drivers import logix_artifacts as A
from drivers.base import Driver, reject_unknown_keys, utcnow
from drivers.logix_guard import READ_OPERATIONS, frame_operations
from drivers.logix_socket import NotEnipReplyError, StrictSocket
from integrity.errors import (
    ConfigError,
    DeviceAccessDeniedError,
    DeviceIncompleteError,
    DeviceProtocolError,
    PlcIntegrityError,
    ReadOnlyViolationError,
)
from integrity.model import Artifact, Capture, Device, Kind, Mode

# pycomm3 logs every failed request at ERROR with a traceback; we translate instead.
logging.getLogger("pycomm3").setLevel(logging.CRITICAL)

GET_ATTRIBUTE_SINGLE = 0x0E
CONTROLLER_CLASS = 0x8E
AUDIT_VALUE, CHANGES_TO_DETECT = 0x1B, 0x1C


@dataclass(frozen=True)
class LogixOptions:
    slot: int = 0
    route: str | None = None            # e.g. "bp/0/enet/10.0.0.5/bp/2" instead of a slot
    config_tags: tuple[str, ...] = ()   # names or fnmatch patterns whose values are settings
    modules: tuple[int, ...] = ()       # backplane slots whose module identity is recorded


class _GuardedLogix(_PycommLogix):
    """pycomm3's LogixDriver with the read-only guard at its lowest send point."""

    def __init__(self, path: str, owner: "LogixDriver", **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self._owner = owner
        self.violation: ReadOnlyViolationError | None = None

    def open(self) -> bool:
        if self._sock is None:  # pycomm3 keeps a socket it finds in place
            self._sock = StrictSocket(self._cfg["socket_timeout"])
        return super().open()

    def _send(self, message: bytes) -> None:
        try:
            for op in frame_operations(message):
                self._owner.guard(op)
        except ReadOnlyViolationError as exc:
            # pycomm3 wraps many exceptions in its own; keep ours to re-raise it.
            self.violation = exc
            raise
        self._owner.pace()
        super()._send(message)

    def hard_close(self) -> None:
        """Drop the socket without Forward Close/UnRegister: after an error the peer may
        be silent, and a polite close would cost another timeout."""
        try:
            if self._sock is not None:
                self._sock.close()
        except OSError:
            pass
        self._sock = None
        self._target_is_connected = False
        self._session = 0
        self._connection_opened = False


class LogixDriver(Driver):
    protocol: ClassVar[str] = "logix"
    default_port: ClassVar[int] = 44818
    READ_OPERATIONS: ClassVar[frozenset[Any]] = READ_OPERATIONS

    def __init__(self, device: Device) -> None:
        super().__init__(device)
        self.options: LogixOptions = device.options or LogixOptions()

    # -- configuration -------------------------------------------------------------

    @classmethod
    def parse_options(cls, table: Mapping[str, Any], *, file: str | None, device: str) -> LogixOptions:
        reject_unknown_keys(table, {"slot", "route", "config_tags", "modules"}, file=file,
                            device=device)

        def bad(field: str, message: str) -> ConfigError:
            return ConfigError(message, file=file, device=device, field=field)

        if "slot" in table and "route" in table:
            raise bad("route", "give either slot or route, not both")
        slot = table.get("slot", 0)
        if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot <= 255:
            raise bad("slot", f"slot must be an integer 0-255, got {slot!r}")
        route = table.get("route")
        if route is not None:
            if not isinstance(route, str) or not route.strip():
                raise bad("route", "route must be a non-empty string like 'bp/0/enet/10.0.0.5/bp/2'")
            try:
                parse_cip_route(route)
            except PycommError as exc:
                raise bad("route", f"invalid CIP route {route!r}: {exc}") from exc
        config = table.get("config_tags", [])
        if not isinstance(config, list) or not all(isinstance(t, str) and t.strip() for t in config):
            raise bad("config_tags", "config_tags must be a list of tag names or patterns")
        modules = table.get("modules", [])
        if (not isinstance(modules, list) or any(isinstance(m, bool) or not isinstance(m, int)
                                                 or not 0 <= m <= 255 for m in modules)):
            raise bad("modules", "modules must be a list of slot numbers 0-255")
        if len(set(modules)) != len(modules):
            raise bad("modules", "modules lists a slot twice")
        return LogixOptions(slot, route, tuple(config), tuple(modules))

    def path(self) -> str:
        """The pycomm3 connection path: host:port plus slot or route."""
        tail = self.options.route if self.options.route else str(self.options.slot)
        return f"{self.device.host}:{self.device.port}/{tail}"

    # -- the session -------------------------------------------------------------

    @contextmanager
    def session(self, *, upload_tags: bool) -> Iterator[_GuardedLogix]:
        """A fresh, opened, guarded pycomm3 connection, always closed afterwards.

        Raises a DeviceError subclass when the controller cannot be opened.
        """
        plc = _GuardedLogix(self.path(), self, init_tags=upload_tags,
                            init_program_tags=upload_tags)
        plc.socket_timeout = self.device.timeout  # must precede open(): no constructor argument
        clean = False
        try:
            with self.translated(plc):
                if not plc.open():
                    raise self.fail(DeviceProtocolError,
                                    "no EtherNet/IP session: the peer refused RegisterSession")
                if not plc.info.get("product_name") or "revision" not in plc.info:
                    raise self.fail(DeviceProtocolError, "the identity reply lacks product name "
                                    "or revision")
            yield plc
            clean = True
        finally:
            if clean:
                try:
                    plc.close()
                except (PycommError, OSError):
                    plc.hard_close()
            else:
                plc.hard_close()

    @contextmanager
    def translated(self, plc: _GuardedLogix) -> Iterator[None]:
        """pycomm3 and socket exceptions -> integrity.errors, most specific first."""
        try:
            yield
        except PlcIntegrityError:
            raise
        except Exception as exc:  # pycomm3 wraps anything (even struct.error) in its own errors
            if plc.violation is not None:
                raise plc.violation from exc
            for err in _chain(exc):
                if isinstance(err, NotEnipReplyError):
                    raise self.fail(DeviceProtocolError, str(err)) from exc
                if isinstance(err, OSError):
                    raise self.translate_os_error(err) from exc
            if any(isinstance(e, struct.error) for e in _chain(exc)):
                raise self.fail(DeviceProtocolError, "the peer closed the connection or sent a "
                                "malformed reply: not an EtherNet/IP controller?") from exc
            raise self.fail(DeviceProtocolError, _describe(exc)) from exc

    # -- collect -------------------------------------------------------------------

    def collect(self, mode: Mode = Mode.DEEP, *, now: datetime | None = None) -> Capture:
        mode = Mode(mode)
        captured_at = utcnow(now)
        with self.session(upload_tags=mode is Mode.DEEP) as plc:
            with self.translated(plc):
                cd = self._change_detection(plc)
                everything = mode is Mode.DEEP or not cd["available"]
                artifacts = [Artifact.from_value("identity", Kind.IDENTITY,
                                                 A.identity_value(plc.info)),
                             Artifact.from_value("change-detection", Kind.STATE, cd)]
                policy: dict[str, Any] = {
                    "change_detection": "available" if cd["available"] else "unavailable",
                    "excluded": ["process tag values", "symbol instance ids and addresses"]}
                if everything:
                    if mode is Mode.QUICK:
                        plc.get_tag_list(program="*")
                        policy["quick"] = "no change detection: everything was read"
                    artifacts += self._deep(plc, quick=not cd["available"], policy=policy)
        return Capture(self.device.name, self.protocol, mode, captured_at, tuple(artifacts), policy)

    def _change_detection(self, plc: _GuardedLogix) -> dict[str, Any]:
        values = {}
        for name, attribute in (("audit_value", AUDIT_VALUE), ("changes_to_detect", CHANGES_TO_DETECT)):
            tag = plc.generic_message(service=GET_ATTRIBUTE_SINGLE, class_code=CONTROLLER_CLASS,
                                      instance=1, attribute=attribute, connected=True,
                                      name=name)
            if tag.error or not isinstance(tag.value, bytes) or len(tag.value) < 8:
                # The controller answered with a CIP error: it has no change detection
                # (before v20, emulators).  Recorded as such, never as a value.
                return {"available": False, "reason": str(tag.error or "short reply")}
            values[name] = "0x" + tag.value[:8][::-1].hex()
        return {"available": True, **values}

    def _deep(self, plc: _GuardedLogix, *, quick: bool, policy: dict[str, Any]) -> list[Artifact]:
        info = plc.info
        arts = [Artifact.from_value("controller", Kind.STATE, A.controller_value(info), quick=quick),
                Artifact.from_value("programs", Kind.STRUCTURE, A.programs_value(info), quick=quick),
                Artifact.from_value("tasks", Kind.STRUCTURE, A.tasks_value(info), quick=quick)]
        for scope, tags in A.tag_scopes(plc.tags).items():
            key = "tags/controller" if scope == "controller" else f"tags/program/{scope}"
            arts.append(Artifact.from_value(key, Kind.STRUCTURE, tags, quick=quick))
        for program in info.get("programs", {}):
            if f"tags/program/{program}" not in {a.key for a in arts}:
                arts.append(Artifact.from_value(f"tags/program/{program}", Kind.STRUCTURE, {},
                                                quick=quick))
        for name, data_type in plc.data_types.items():
            arts.append(Artifact.from_value(f"udt/{name}", Kind.STRUCTURE, A.udt_value(data_type),
                                            quick=quick))
        for slot in self.options.modules:
            arts.append(Artifact.from_value(f"module/{slot}", Kind.IDENTITY,
                                            self._module(plc, slot), quick=quick))
        config, missing = self._config(plc)
        arts.append(Artifact.from_value("config", Kind.CONFIG, config, quick=quick))
        policy["config_tags"] = list(self.options.config_tags)
        if missing:
            policy["config_tags_missing"] = missing
        return arts

    def _module(self, plc: _GuardedLogix, slot: int) -> dict[str, Any]:
        try:
            return {"present": True, **A.identity_value(plc.get_module_info(slot))}
        except PycommError as exc:
            if plc.violation is not None or any(isinstance(e, OSError) for e in _chain(exc)):
                raise
            # The chassis answered that nothing identifies in that slot: a fact, not a failure.
            return {"present": False, "error": _describe(exc)}

    def _config(self, plc: _GuardedLogix) -> tuple[dict[str, Any], list[str]]:
        names: list[str] = []
        missing: list[str] = []
        known = plc.tags
        for entry in self.options.config_tags:
            if any(c in entry for c in "*?["):
                names += [t for t in sorted(known) if fnmatch.fnmatchcase(t, entry)]
            elif A.base_tag(entry) in known:
                names.append(entry)
            else:
                missing.append(entry)
        names = sorted(set(names))
        values: dict[str, Any] = {name: None for name in missing}
        if names:
            results = plc.read(*names)
            for name, tag in zip(names, results if len(names) > 1 else [results]):
                if tag.error:
                    error = DeviceAccessDeniedError if _denied(str(tag.error)) else \
                        DeviceIncompleteError
                    raise self.fail(error, f"config tag {name}: {tag.error}")
                values[name] = A.plain(tag.value)
        return values, missing


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _describe(exc: BaseException) -> str:
    """pycomm3's own messages along the chain, outermost first, without repeats."""
    parts: list[str] = []
    for err in _chain(exc):
        text = str(err.args[0]) if err.args else type(err).__name__
        if text and text not in parts:
            parts.append(text)
    return ": ".join(parts) or type(exc).__name__


def _denied(error: str) -> bool:
    """pycomm3's texts for CIP status 0x0F (privilege violation / permission denied)."""
    return any(word in error.lower() for word in ("privilege", "permission denied"))
