"""Allen-Bradley Logix driver (pycomm3 1.2.16): the integrity signals a ControlLogix
or CompactLogix controller exposes over EtherNet/IP.  Ladder logic itself cannot be
read without Rockwell's tools; the Controller Change Detection AuditValue is what
changes when it does.

Artifacts (``quick`` ones are also read by a QUICK check):
  "identity"           identity   vendor, product type/code, revision, serial, name   quick
  "change-detection"   state      AuditValue + ChangesToDetect (class 0x8E), or
                                  {"available": false} when the controller answers
                                  that it has no such object/attribute/service          quick
  "controller"         state      controller (project) name, keyswitch position
  "programs", "tasks"  structure  programs with their routines; task names
  "tags/controller", "tags/program/<P>"
                       structure  tag database per scope: type, dims, external access
  "udt/<Name>"         structure  members, offsets, size, structure handle
  "module/<slot>"      identity   identity of each module listed in ``modules``, or
                                  {"present": false} when the backplane answers that
                                  no module is at that address
  "config"             config     values of the ``config_tags``, keyed by tag name

A controller without change detection cannot prove its logic unchanged cheaply,
so there every artifact is flagged quick: a quick check then reads everything
rather than pass on identity alone.

One state per capture: a DEEP capture reads the AuditValue first and again after
everything else; if a download or online edit landed in between, the capture
would mix two programs, so DeviceIncompleteError ("check again") is raised.

Could not read is never a value: a CIP status other than "no such object /
attribute / service" (change detection) or "link address not available"
(module) is a DeviceError, and no library message text is ever hashed.

Read-only: ``_GuardedLogix._send`` parses each frame pycomm3 is about to send
(``drivers.logix_guard``) and passes every service in it through ``guard``.
"""

from __future__ import annotations

import fnmatch
import socket
import struct
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar, Iterator, Mapping

from pycomm3 import LogixDriver as _PycommLogix
from pycomm3.cip import PADDED_EPATH, PortSegment
from pycomm3.custom_types import ModuleIdentityObject
from pycomm3.exceptions import PycommError

from drivers import logix_artifacts as A
from drivers.base import Driver
from drivers.logix_guard import READ_OPERATIONS, frame_operations
from drivers.logix_options import LogixOptions, chain, describe, parse_options
from drivers.logix_replies import Connection, mismatch
from drivers.logix_socket import NotEnipReplyError, StrictSocket
from integrity.errors import (
    DeviceAccessDeniedError,
    DeviceError,
    DeviceIncompleteError,
    DeviceProtocolError,
    DeviceRefusedError,
    DeviceTimeoutError,
    DeviceUnreachableError,
    PlcIntegrityError,
    ReadOnlyViolationError,
)
from integrity.clock import utcnow
from integrity.model import Artifact, Capture, Device, Kind, Mode

GET_ATTRIBUTES_ALL, GET_ATTRIBUTE_SINGLE = 0x01, 0x0E
IDENTITY_CLASS, CONTROLLER_CLASS = 0x01, 0x8E
AUDIT_VALUE, CHANGES_TO_DETECT = 0x1B, 0x1C
PRIVILEGE_VIOLATION = 0x0F
# CIP general statuses meaning "this controller has no change detection" (before v20,
# emulators): the object, attribute or service is not there.  Our own words, stable
# across pycomm3 versions, because they are hashed.
NO_CHANGE_DETECTION = {0x05: "path destination unknown", 0x08: "service not supported",
                       0x14: "attribute not supported", 0x16: "object does not exist"}
# Connection failure / link address not available: the backplane has no module there.
NO_MODULE = (0x01, 0x0312)


class MismatchedReplyError(ValueError):
    """A well-formed EtherNet/IP reply that answers another request than the one sent."""


# pycomm3 splits its connection path on these and cannot open IPv6 sockets.
UNADDRESSABLE_HOST_CHARS = ":/\\,"


class _GuardedLogix(_PycommLogix):
    """pycomm3's LogixDriver with the read-only guard at its lowest send point."""

    def __init__(self, path: str, owner: "LogixDriver", **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self._owner = owner
        self.violation: ReadOnlyViolationError | None = None
        self._pending = b""
        self._connection: Connection | None = None

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
        self._pending = message
        super()._send(message)

    def _receive(self) -> bytes:
        """The next frame, once it is known to answer the request just sent
        (``drivers.logix_replies``); pycomm3 would take any frame as the answer."""
        reply = super()._receive()
        cfg = self._cfg
        connection = self._connection
        if connection is None or connection.o_t_id != self._target_cid \
                or connection.t_o_id != cfg["cid"] or connection.originator_serial != cfg["vsn"]:
            # Built when the ids change (open, Forward Open), not for every frame.
            connection = self._connection = Connection(cfg["cid"], cfg["csn"], cfg["vid"],
                                                       cfg["vsn"], self._target_cid)
        problem = mismatch(self._pending, reply, connection)
        if problem is not None:
            raise MismatchedReplyError(f"the reply does not answer the request sent: {problem}")
        return reply

    def identity_in_slot(self, slot: int) -> Any:
        """pycomm3's ``get_module_info`` request, but returning the reply packet so that
        "no module there" can be told from every other failure by its CIP status."""
        route = PADDED_EPATH.encode((*self._cfg["cip_path"][:-1], PortSegment("bp", slot)),
                                    length=True, pad_length=True)
        return self.generic_message(service=GET_ATTRIBUTES_ALL, class_code=IDENTITY_CLASS,
                                    instance=b"\x01", connected=False, unconnected_send=True,
                                    route_path=route, name=f"identity of slot {slot}",
                                    return_response_packet=True).value

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
        self._plc: _GuardedLogix | None = None  # the open session, for ``abort``

    # -- configuration -------------------------------------------------------------

    @classmethod
    def parse_options(cls, table: Mapping[str, Any], *, file: str | None, device: str) -> LogixOptions:
        return parse_options(table, file=file, device=device)

    def path(self) -> str:
        """The pycomm3 connection path: host:port plus slot or route."""
        tail = self.options.route if self.options.route else str(self.options.slot)
        return f"{self.device.host}:{self.device.port}/{tail}"

    # -- the session -------------------------------------------------------------

    @contextmanager
    def session(self, *, upload_tags: bool) -> Iterator[_GuardedLogix]:
        """A fresh, opened, guarded pycomm3 connection, always closed afterwards.

        Raises DeviceUnreachableError when pycomm3 cannot address the host or port,
        another DeviceError subclass when the controller cannot be opened.
        """
        self._check_addressable()
        with self.translated(None):
            plc = _GuardedLogix(self.path(), self, init_tags=upload_tags,
                                init_program_tags=upload_tags)
            plc.socket_timeout = self.device.timeout  # before open(): no constructor argument
        self._plc = plc
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
            self._plc = None

    def live_sockets(self) -> list[socket.socket]:
        plc = self._plc
        strict = plc._sock if plc is not None else None
        sock = getattr(strict, "sock", None)
        return [sock] if isinstance(sock, socket.socket) else []

    def _check_addressable(self) -> None:
        """pycomm3 1.2.16 takes "host:port/route" and opens IPv4 sockets only."""
        host, port = self.device.host, self.device.port
        if not host.isprintable() or any(c in host for c in UNADDRESSABLE_HOST_CHARS):
            raise self.fail(DeviceUnreachableError, f"pycomm3 cannot address host {host!r}: "
                            "give an IPv4 address or a host name (no IPv6, no ':/\\,')")
        if not 0 < port < 65535:
            raise self.fail(DeviceUnreachableError, f"pycomm3 cannot address port {port}: "
                            "it accepts ports 1-65534")

    @contextmanager
    def translated(self, plc: _GuardedLogix | None) -> Iterator[None]:
        """Raise what ``translate`` makes of any pycomm3 or socket exception inside."""
        try:
            yield
        except PlcIntegrityError:
            raise
        except Exception as exc:  # pycomm3 wraps anything (even struct.error) in its own errors
            if plc is not None and plc.violation is not None:
                raise plc.violation from exc
            raise self.translate(exc, "reading the controller") from exc

    def translate(self, exc: BaseException, doing: str) -> DeviceError:
        """pycomm3 and socket exceptions -> integrity.errors, most specific first,
        looking through pycomm3's wrappers to the cause."""
        for err in chain(exc):
            if isinstance(err, (NotEnipReplyError, MismatchedReplyError)):
                return self.fail(DeviceProtocolError, str(err))
            if isinstance(err, OSError):
                return self.translate_os_error(err)
            if type(err) is UnicodeError:  # the idna codec refused the host name
                return self.fail(DeviceUnreachableError, f"cannot resolve host "
                                 f"{self.device.host!r}: {err}")
        if any(isinstance(e, struct.error) for e in chain(exc)):
            return self.fail(DeviceProtocolError, "the peer closed the connection or sent a "
                             "malformed reply: not an EtherNet/IP controller?")
        return self.fail(DeviceProtocolError, describe(exc))

    # -- collect -------------------------------------------------------------------

    def collect(self, mode: Mode = Mode.DEEP, *, now: datetime | None = None) -> Capture:
        """Read the controller (see the module docstring for what is read).

        Raises DeviceIncompleteError when the controller changed during a DEEP read
        or a configured config tag is missing, DeviceAccessDeniedError when the
        controller refuses a read, other DeviceError subclasses when it cannot be read.
        """
        mode = Mode(mode)
        captured_at = utcnow(now)
        # Device.retries, per check as for S7: a lost connection or a timeout is
        # retried whole on a fresh session (a Logix read is short, and a half-read
        # controller must never be combined with a second half).  Refusals and
        # malformed replies are not: asking again would get the same answer.
        retries = max(0, self.device.retries)
        while True:
            try:
                return self._collect_once(mode, captured_at)
            except (DeviceRefusedError, DeviceTimeoutError, DeviceUnreachableError):
                if retries <= 0 or self.aborted:
                    raise
                retries -= 1

    def _collect_once(self, mode: Mode, captured_at: datetime) -> Capture:
        # Tags are uploaded after the first AuditValue read, never by open().
        with self.session(upload_tags=False) as plc, self.translated(plc):
            cd = self._change_detection(plc)
            artifacts = [Artifact.from_value("identity", Kind.IDENTITY,
                                             A.identity_value(plc.info)),
                         Artifact.from_value("change-detection", Kind.STATE, cd)]
            policy: dict[str, Any] = {
                "change_detection": "available" if cd["available"] else "unavailable",
                "excluded": ["process tag values", "symbol instance ids and addresses"]}
            if mode is Mode.DEEP or not cd["available"]:
                if mode is Mode.QUICK:
                    policy["quick"] = "no change detection: everything was read"
                artifacts += self._deep(plc, quick=not cd["available"], policy=policy)
                if cd["available"] and self._change_detection(plc) != cd:
                    raise self.fail(DeviceIncompleteError, "the controller changed while it "
                                    "was being read (its AuditValue moved); check again")
        return Capture(self.device.name, self.protocol, mode, captured_at, tuple(artifacts), policy)

    def _change_detection(self, plc: _GuardedLogix) -> dict[str, Any]:
        """AuditValue and ChangesToDetect, or {"available": false} when the controller
        answers that it has none.

        Raises DeviceAccessDeniedError on a privilege violation, DeviceProtocolError
        on any other CIP error or a short reply.
        """
        values = {}
        for name, attribute in (("audit_value", AUDIT_VALUE), ("changes_to_detect", CHANGES_TO_DETECT)):
            reply = plc.generic_message(service=GET_ATTRIBUTE_SINGLE, class_code=CONTROLLER_CLASS,
                                        instance=1, attribute=attribute, connected=True,
                                        name=name, return_response_packet=True).value
            status, ext, data = self._cip_reply(reply, f"reading the {name}")
            if status in NO_CHANGE_DETECTION:
                # Before v20 and on emulators: recorded as such, never as a value.
                return {"available": False,
                        "reason": f"CIP status 0x{status:02x}: {NO_CHANGE_DETECTION[status]}"}
            self._raise_for_status(status, ext, f"reading the {name} (class 0x8E)")
            if len(data) < 8:
                raise self.fail(DeviceProtocolError, f"reading the {name}: {len(data)}-byte "
                                "reply, 8 expected")
            values[name] = "0x" + data[:8][::-1].hex()
        return {"available": True, **values}

    def _cip_reply(self, reply: Any, what: str) -> tuple[int, tuple[int, ...], bytes]:
        """(general status, extended statuses, data) of a pycomm3 reply packet, parsed
        from its raw bytes.  Raises DeviceProtocolError when there are none to parse."""
        raw = getattr(reply, "raw", None)
        try:
            if not raw:
                raise ValueError("no reply")
            command, encap_status = struct.unpack_from("<H6xI", raw, 0)
            if encap_status:
                raise ValueError(f"encapsulation status 0x{encap_status:x}")
            # SendUnitData carries a connected address item and a sequence count.
            cip = raw[46:] if command == 0x70 else raw[40:]
            status, words = cip[2], cip[3]
            if len(cip) < 4 + 2 * words:
                raise ValueError("truncated extended status")
            ext = struct.unpack_from(f"<{words}H", cip, 4)
            return status, ext, cip[4 + 2 * words:]
        except (ValueError, IndexError, struct.error) as exc:
            raise self.fail(DeviceProtocolError, f"{what}: malformed reply ({exc})") from exc

    def _raise_for_status(self, status: int, ext: tuple[int, ...], what: str) -> None:
        if status == PRIVILEGE_VIOLATION:
            raise self.fail(DeviceAccessDeniedError, f"{what}: privilege violation (CIP 0x0f)")
        if status:
            extended = "".join(f"/0x{e:04x}" for e in ext)
            raise self.fail(DeviceProtocolError, f"{what}: CIP status 0x{status:02x}{extended}")

    def _deep(self, plc: _GuardedLogix, *, quick: bool, policy: dict[str, Any]) -> list[Artifact]:
        plc.get_plc_name()  # again, now that the first AuditValue was read
        plc.get_tag_list(program="*")  # tags, programs, tasks and the UDTs they use
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
        arts.append(Artifact.from_value("config", Kind.CONFIG, self._config(plc), quick=quick))
        policy["config_tags"] = list(self.options.config_tags)
        return arts

    def _module(self, plc: _GuardedLogix, slot: int) -> dict[str, Any]:
        """Identity of the module in ``slot``, or {"present": false} when the backplane
        answers "link address not available".

        Raises DeviceAccessDeniedError / DeviceProtocolError for any other answer.
        """
        what = f"identity of the module in slot {slot}"
        status, ext, data = self._cip_reply(plc.identity_in_slot(slot), what)
        if (status, *ext[:1]) == NO_MODULE:
            return {"present": False, "reason": "CIP status 0x01/0x0312: link address not "
                    "available"}
        self._raise_for_status(status, ext, what)
        try:
            identity = ModuleIdentityObject.decode(data)
        except Exception as exc:  # pycomm3 decoders raise whatever struct/bytes raise
            raise self.fail(DeviceProtocolError, f"{what}: malformed identity reply") from exc
        return {"present": True, **A.identity_value(identity)}

    def _config(self, plc: _GuardedLogix) -> dict[str, Any]:
        """Values of the configured config tags, keyed by tag name.

        Raises DeviceIncompleteError when a configured name or pattern matches no
        tag of the controller (or a tag cannot be read), DeviceAccessDeniedError
        when the controller refuses to read one.
        """
        names: list[str] = []
        missing: list[str] = []
        known = plc.tags
        for entry in self.options.config_tags:
            if any(c in entry for c in "*?["):
                matched = [t for t in sorted(known) if fnmatch.fnmatchcase(t, entry)]
                if not matched:
                    missing.append(f"pattern {entry!r} matches no tag")
                names += matched
            elif A.base_tag(entry) in known:
                names.append(entry)
            else:
                missing.append(f"{entry!r} does not exist")
        if missing:
            # Watching nothing would pass every check: the inventory is wrong, or a
            # download removed the tag, and either way someone has to look.
            raise self.fail(DeviceIncompleteError, "config_tags: the inventory names tags the "
                            f"controller does not have ({'; '.join(missing)})")
        names = sorted(set(names))
        values: dict[str, Any] = {}
        if names:
            results = plc.read(*names)
            for name, tag in zip(names, results if len(names) > 1 else [results]):
                if tag.error:
                    error = DeviceAccessDeniedError if _denied(str(tag.error)) else \
                        DeviceIncompleteError
                    raise self.fail(error, f"config tag {name}: {tag.error}")
                values[name] = A.plain(tag.value)
        return values


def _denied(error: str) -> bool:
    """pycomm3's texts for CIP status 0x0F (privilege violation / permission denied)."""
    return any(word in error.lower() for word in ("privilege", "permission denied"))
