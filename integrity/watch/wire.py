"""From TCP segments to WireEvents: flows, reassembly, framing, decoding, classification.

``Wire.segment(seg)`` is the whole per-packet path and never raises for what a
packet holds: a decoder that trips over a PDU is counted in ``stats`` (the
fuzz test asserts that count stays zero) and the connection carries on.
It knows the inventory (which endpoint is which device) and the policy (which
stations may connect); recording, alerting and checks are the loop's job.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from integrity.model import Device
from integrity.watch import stream
from integrity.watch.config import WatchPolicy
from integrity.watch.enip import EnipDecoder
from integrity.watch.events import CONNECTION_OPERATIONS, Finding, WireEvent
from integrity.watch.modbus import ModbusDecoder
from integrity.watch.packets import FIN, RST, SYN, Segment
from integrity.watch.s7 import S7Decoder

log = logging.getLogger(__name__)

# Well-known ports, and what the inventory's protocols speak on the wire.
STANDARD_PORTS = {102: "tpkt", 502: "modbus", 44818: "enip"}
WIRE_OF = {"modbus": "modbus", "s7": "tpkt", "s7plus": "tpkt", "logix": "enip"}
_FRAMERS = {"tpkt": stream.TpktFramer, "modbus": stream.ModbusFramer, "enip": stream.EnipFramer}
_DECODERS = {"tpkt": S7Decoder, "modbus": ModbusDecoder, "enip": EnipDecoder}
ACK = 0x10


def _norm(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host  # a name: matched as written (the watcher never resolves: no traffic)


class Flow:
    __slots__ = ("client", "server", "wire", "device", "halves", "framers", "decoder", "fins",
                 "recent", "seen_frame")

    def __init__(self, client: tuple[str, int], server: tuple[str, int], wire: str,
                 device: str | None) -> None:
        self.client, self.server, self.wire, self.device = client, server, wire, device
        self.halves = {True: stream.HalfStream(), False: stream.HalfStream()}
        self.framers = {True: _FRAMERS[wire](), False: _FRAMERS[wire]()}
        self.decoder = _DECODERS[wire]()
        self.fins = 0
        self.recent: dict[tuple[str, str], float] = {}
        self.seen_frame = False


@dataclass
class Stats:
    packets: int = 0
    frames: int = 0
    findings: int = 0
    decode_errors: int = 0
    flows_opened: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Output:
    events: list[WireEvent] = field(default_factory=list)
    # Devices a change-class operation touched (also when its event was deduplicated),
    # with the packet time: the settle timer restarts on each.
    touched: list[tuple[str, float]] = field(default_factory=list)


class Wire:
    def __init__(self, devices: Iterable[Device], policy: WatchPolicy | None = None) -> None:
        self.policy = policy or WatchPolicy()
        self.endpoints: dict[tuple[str, int], Device] = {}
        self.ports: dict[int, str] = dict(STANDARD_PORTS)
        for d in devices:
            wire = WIRE_OF.get(d.protocol)
            if wire:
                self.endpoints[(_norm(d.host), d.port)] = d
                self.ports.setdefault(d.port, wire)
        self.flows = stream.FlowTable()
        self.stats = Stats()
        self.unknown_reported: set[tuple[str, int]] = set()

    def _wire_of(self, addr: str, port: int) -> str | None:
        dev = self.endpoints.get((addr, port))
        if dev is not None:
            return WIRE_OF[dev.protocol]
        return self.ports.get(port)

    def _flow(self, seg: Segment) -> tuple[tuple, Flow, bool] | None:
        fwd = (seg.src, seg.sport, seg.dst, seg.dport)
        flow = self.flows.get(fwd)
        if flow is not None:
            return fwd, flow, True  # type: ignore[return-value]
        rev = (seg.dst, seg.dport, seg.src, seg.sport)
        flow = self.flows.get(rev)
        if flow is not None:
            return rev, flow, False  # type: ignore[return-value]
        to_dst = self._wire_of(seg.dst, seg.dport)
        to_src = self._wire_of(seg.src, seg.sport)
        syn_only = seg.flags & SYN and not seg.flags & ACK
        if to_dst and (syn_only or not to_src or (seg.dst, seg.dport) in self.endpoints):
            key, server, wire, from_client = fwd, (seg.dst, seg.dport), to_dst, True
        elif to_src:
            key, server, wire, from_client = rev, (seg.src, seg.sport), to_src, False
        else:
            return None
        dev = self.endpoints.get(server)
        flow = Flow((key[0], key[1]), server, wire, dev.name if dev else None)
        self.flows.put(key, flow)
        self.stats.flows_opened += 1
        return key, flow, from_client

    def segment(self, seg: Segment) -> Output:
        self.stats.packets += 1
        out = Output()
        if not seg.payload and not seg.flags & (SYN | FIN | RST):
            return out  # a bare ACK: half of a PLC conversation, and nothing to decode
        found = self._flow(seg)
        if found is None:
            return out
        key, flow, from_client = found
        chunks = flow.halves[from_client].feed(seg.ts, seg.seq, bool(seg.flags & SYN), seg.payload)
        self._chunks(flow, from_client, chunks, out)
        if seg.flags & RST:
            self.flows.drop(key)
        elif seg.flags & FIN:
            flow.fins += 1
            if flow.fins >= 2:
                self.flows.drop(key)
        return out

    def _chunks(self, flow: Flow, from_client: bool,
                chunks: list[tuple[float, bytes] | None], out: Output) -> None:
        framer = flow.framers[from_client]
        for chunk in chunks:
            if chunk is None:  # a hole was given up: start afresh at the next header
                framer.reset()
                flow.decoder.reset(from_client)
                continue
            ts, data = chunk  # a frame is dated by the segment that completes it
            for frame in framer.feed(data):
                self.stats.frames += 1
                try:
                    findings = flow.decoder.frame(frame, from_client)
                except Exception:  # noqa: BLE001 - a PDU must never stop the watcher
                    self.stats.decode_errors += 1
                    log.debug("cannot decode a %s frame from %s", flow.wire, flow.client,
                              exc_info=True)
                    continue
                if not flow.seen_frame:
                    flow.seen_frame = True
                    self._unknown(flow, ts, out)
                for finding in findings:
                    self._emit(flow, finding, ts, out)

    def finish(self) -> Output:
        """End of input: decode what waited behind holes that will never be filled."""
        out = Output()
        for flow in list(self.flows.flows.values()):
            for from_client in (True, False):
                chunks = flow.halves[from_client].flush()  # type: ignore[attr-defined]
                if chunks:
                    self._chunks(flow, from_client, chunks, out)  # type: ignore[arg-type]
        return out

    def _unknown(self, flow: Flow, ts: float, out: Output) -> None:
        if flow.device is not None or flow.server in self.unknown_reported:
            return
        self.unknown_reported.add(flow.server)
        protocol = {"tpkt": "s7", "enip": "enip", "modbus": "modbus"}[flow.wire]
        self._emit(flow, Finding(protocol, "unknown-device", "not in the inventory", {},
                                 change=False), ts, out)

    def _emit(self, flow: Flow, finding: Finding, ts: float, out: Output) -> None:
        self.stats.findings += 1
        station = flow.client[0]
        allowed = self.policy.allowed(station)
        if finding.operation in CONNECTION_OPERATIONS and allowed:
            return  # an engineering station may connect; only its changes are events
        if finding.change and flow.device is not None:
            out.touched.append((flow.device, ts))
        key = (finding.operation, finding.target)
        last = flow.recent.get(key)
        if last is not None and 0 <= ts - last < self.policy.dedupe.total_seconds():
            return
        flow.recent[key] = ts
        if len(flow.recent) > 256:
            flow.recent.clear()
        out.events.append(WireEvent.from_finding(
            finding, at=datetime.fromtimestamp(ts, timezone.utc), src=station,
            sport=flow.client[1], dst=flow.server[0], dport=flow.server[1], device=flow.device,
            station_allowed=allowed))
