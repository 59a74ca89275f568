"""A restore plan: read the device (read-only, the normal driver) and list the
exact writes that would bring it back to its baseline, and what cannot be
restored over the network.

The plan is computed from the verified baseline's artifacts and a fresh deep
capture, artifact by artifact (digests first, contents only where they differ):

- Modbus: every declared holding register or coil whose value differs is a
  write (current -> target); input registers and discrete inputs are read-only
  by nature, and identity is the device itself: both are "cannot".
- S7: every code block or ``content`` DB (and SDB) whose image differs or is
  missing is a block download of the baseline's exact image; a ``structure`` DB
  (values never kept), an extra block, identity, protection and mode are not.
- Logix: every configuration tag value that differs is a tag write (members
  and elements one by one); programs, routines, tags, UDTs and the AuditValue
  are the project itself, which only a download from the ACD file restores.
- S7-1200/1500 (S7CommPlus): no writes at all.  The plan says so plainly and
  lists what differs, block by block: those CPUs take optimized blocks and
  their program only from TIA Portal, and a download we cannot verify
  against a real CPU is not one to make on a crane.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from integrity.check import read_device
from integrity.model import Device, Encoding, Mode


UNSUPPORTED = {
    "s7plus": "restoring over S7CommPlus is not supported: an S7-1200/1500 takes optimized "
              "blocks and its program only by a download from TIA Portal, so restore it from "
              "the TIA Portal project",
}


@dataclass(frozen=True)
class Write:
    kind: str        # modbus-holding | modbus-coil | s7-block | logix-tag
    address: str     # holding[22], coil[3], FC 10, Program:Hoist.Brake_ReleaseDelay
    current: Any     # what the device holds now (None: absent); S7: digest prefix
    target: Any      # what the baseline says
    payload: Any = None  # what is written (the block image for S7)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "address": self.address, "current": self.current,
                "target": self.target}

    def describe(self) -> str:
        if self.kind == "s7-block":
            action = "download (missing on the CPU)" if self.current is None else "download"
            return f"{self.address}: {action}, {self.target}"
        return f"{self.address}: {self.current!r} -> {self.target!r}"


@dataclass(frozen=True)
class Plan:
    device: str
    protocol: str
    baseline_id: str
    sequence: int
    writes: tuple[Write, ...]
    cannot: tuple[str, ...]          # what differs and cannot be restored over the network
    mode: str | None = None          # S7: the CPU's mode when read
    unsupported: str | None = None   # why this protocol is not restored at all (S7CommPlus)

    @property
    def in_sync(self) -> bool:
        return not self.writes and not self.cannot

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "protocol": self.protocol, "baseline_id": self.baseline_id,
                "baseline_sequence": self.sequence, "cpu_mode": self.mode,
                "writes": [w.to_dict() for w in self.writes], "cannot": list(self.cannot),
                "unsupported": self.unsupported}


def make_plan(device: Device, store: Any, trust: Any, *, sequence: int | None = None) -> Plan:
    """Read ``device`` (read-only) and plan its restore to its latest (or #``sequence``)
    baseline.  Raises BaselineError (none, or it fails verification), DeviceError."""
    baseline = (store.latest(device.name, trust) if sequence is None
                else store.baseline(device.name, sequence, trust))
    outcome = read_device(device, Mode.DEEP)
    if outcome.error is not None:
        raise outcome.error
    capture = outcome.capture
    current = {a.key: a for a in capture.artifacts}
    wanted = {e.key: e for e in baseline.artifacts()}
    differing = [e for e in wanted.values()
                 if e.key not in current or current[e.key].digest != e.digest]
    targets = {e.key: a for e, a in zip(differing, store.load_artifacts(baseline, differing))}
    writes: list[Write] = []
    cannot: list[str] = []
    planner = {"modbus": _modbus, "s7": _s7, "logix": _logix, "s7plus": _s7plus}[device.protocol]
    planner(targets, current, writes, cannot)
    if device.protocol in ("s7", "s7plus"):
        # By block, not by key: one block has several artifacts (info, interface, image).
        for block in sorted(_blocks(current) - _blocks(wanted)):
            cannot.append(f"{block} is on the CPU but not in the baseline: deleting "
                          "blocks is left to the engineering tool")
    mode = None
    if "mode" in current:
        state = current["mode"].value()
        mode = state.get("mode", state.get("state"))  # S7 says "mode", S7CommPlus "state"
    return Plan(device.name, device.protocol, baseline.id, baseline.sequence, tuple(writes),
                tuple(cannot), mode, _unsupported(device.protocol))


def _modbus(targets: dict[str, Any], current: dict[str, Any], writes: list[Write],
            cannot: list[str]) -> None:
    for key, target in sorted(targets.items()):
        table = key.split("/", 1)[0]
        if table not in ("holding", "coils"):
            why = ("identity is the device itself" if key == "identity"
                   else "read-only by nature (FC 2/4 tables)")
            cannot.append(f"{key} differs: {why}")
            continue
        want = target.value()
        have = current[key].value()["values"] if key in current else [None] * len(want["values"])
        for i, (now, then) in enumerate(zip(have, want["values"])):
            if now != then:
                address = want["start"] + i
                kind = "modbus-holding" if table == "holding" else "modbus-coil"
                label = "holding" if table == "holding" else "coil"
                writes.append(Write(kind, f"{label}[{address}]", now, then, (address, then)))


def _blocks(keys: Any) -> set[str]:
    return {_block_name(k) for k in keys if k.startswith("blocks/") and k.count("/") >= 2}


def _block_name(key: str) -> str:
    _, block_type, number = key.split("/")[:3]
    return f"{block_type} {number}"


def _s7(targets: dict[str, Any], current: dict[str, Any], writes: list[Write],
        cannot: list[str]) -> None:
    infos = {k for k in targets if k.endswith("/info")}
    for key, target in sorted(targets.items()):
        if key in infos and key[:-len("/info")] in targets:
            continue  # the block's own artifact decides
        if key.startswith("blocks/") and key.count("/") == 2:
            name = _block_name(key)
            if target.encoding is not Encoding.RAW:
                cannot.append(f"{name} differs, but only its structure was kept (policy "
                              "`structure`): its values cannot be restored from this baseline")
                continue
            have = current.get(key)
            writes.append(Write("s7-block", name, have.digest[:16] if have else None,
                                f"{len(target.content)} bytes, sha256 {target.digest[:16]}",
                                (name.split()[0], int(name.split()[1]), target.content)))
        elif key in infos:
            cannot.append(f"{_block_name(key)} differs in its block info, and the baseline is "
                          "quick (no image to download)")
        elif key not in ("blocks", "checksums"):  # these follow from the downloads
            what = "the CPU itself" if key == "identity" else "a CPU setting, not a block"
            cannot.append(f"{key} differs ({what}); not restorable by block download")


def _unsupported(protocol: str) -> str | None:
    why = UNSUPPORTED.get(protocol)
    return f"{why}; this plan writes nothing and lists what differs" if why else None


def _s7plus(targets: dict[str, Any], current: dict[str, Any], writes: list[Write],
            cannot: list[str]) -> None:
    """Nothing is written (UNSUPPORTED); what differs is listed, one line per block."""
    parts: dict[str, list[str]] = {}
    absent: set[str] = set()
    for key in sorted(targets):
        if key.startswith("blocks/") and key.count("/") >= 2:
            _, block_type, _, *part = key.split("/")
            what = (({"info": "block info", "interface": "interface"}.get(part[0], part[0]))
                    if part else ("values" if block_type == "DB" else "code"))
            parts.setdefault(_block_name(key), []).append(what)
            if key not in current:
                absent.add(_block_name(key))
        elif key == "blocks":
            cannot.append("the block list differs")
        else:
            what = {"identity": "the CPU itself", "mode": "the CPU's operating state",
                    "protection": "the CPU's protection level, set in its hardware configuration"
                    }.get(key, "a CPU setting")
            cannot.append(f"{key} differs ({what})")
    for block, what in parts.items():
        cannot.append(f"{block} is in the baseline but missing on the CPU" if block in absent
                      else f"{block} differs: {', '.join(what)}")


def _logix(targets: dict[str, Any], current: dict[str, Any], writes: list[Write],
           cannot: list[str]) -> None:
    for key, target in sorted(targets.items()):
        if key != "config":
            cannot.append(f"{key} differs: the project itself (routines, tags, UDTs); only a "
                          "download of the ACD file with Studio 5000 restores it")
            continue
        have = current["config"].value() if "config" in current else {}
        for name, value in sorted(target.value().items()):
            _leaf_writes(name, have.get(name), value, writes)


def _leaf_writes(path: str, have: Any, want: Any, writes: list[Write]) -> None:
    """Writes for the differing leaves of a (nested) tag value."""
    if isinstance(want, dict) and isinstance(have, dict):
        for member, value in want.items():
            _leaf_writes(f"{path}.{member}", have.get(member), value, writes)
    elif isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        for i, (h, w) in enumerate(zip(have, want)):
            _leaf_writes(f"{path}[{i}]", h, w, writes)
    elif have != want:
        writes.append(Write("logix-tag", path, have, want, (path, want)))
