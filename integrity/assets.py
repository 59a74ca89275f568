"""Assets and suppliers: every device's identity as its signed baselines
captured it, firmware changes over time, and the site's supplier policy.

The identity is read from the ``identity`` (and ``module/N``) artifacts of
verified baselines only: what an engineer signed, never a live read, so
``assets`` touches no device.  Each protocol names things differently; here
they become one ``Identity`` (vendor, model, order number, firmware, serial,
modules).

The policy is the ``[suppliers]`` table of site.toml (the advisory asks plants
to identify and segment equipment from untrusted suppliers)::

    [suppliers]
    disallowed_vendors = ["Kessler*"]        # glob patterns, case-insensitive
    disallowed_models = ["KD5-*"]
    segment_vendors = ["Nordwind*"]          # must sit in a segmented zone
    segment_models = []
    segmented_tags = ["segmented"]           # a device with one of these tags is segmented
    minimum_firmware = { "Nordwind*" = "4.10", "6ES7 315*" = "3.2.8" }

Errors: a bad ``[suppliers]`` table is a ConfigError naming site.toml and the
field (raised by ``parse_policy``, which ``load_site`` calls).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

from integrity.config_tables import checked_table
from integrity.errors import BaselineError, ConfigError, PlcIntegrityError
from integrity.model import Kind

LIST_KEYS = ("disallowed_vendors", "disallowed_models", "segment_vendors", "segment_models",
             "segmented_tags")
POLICY_KEYS = {*LIST_KEYS, "minimum_firmware"}


@dataclass(frozen=True)
class Identity:
    vendor: str | None = None
    model: str | None = None          # product name / module type
    order_number: str | None = None   # order number / product code
    firmware: str | None = None
    serial: str | None = None
    modules: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"vendor": self.vendor, "model": self.model, "order_number": self.order_number,
                "firmware": self.firmware, "serial": self.serial, "modules": list(self.modules)}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def identity_of(protocol: str, values: Mapping[str, Any]) -> Identity:
    """One Identity from a baseline's decoded identity artifacts (key -> value)."""
    ident = values.get("identity") if isinstance(values.get("identity"), dict) else {}
    modules = tuple(
        {"slot": key.split("/", 1)[1], "vendor": _text(v.get("vendor")),
         "model": _text(v.get("product_name")), "firmware": _text(v.get("revision")),
         "serial": _text(v.get("serial"))}
        for key, v in sorted(values.items())
        if key.startswith("module/") and isinstance(v, dict) and v.get("present", True))
    if protocol == "modbus":
        objects = ident.get("objects") if isinstance(ident.get("objects"), dict) else {}
        by_name = {o.get("name"): _text(o.get("text")) for o in objects.values()
                   if isinstance(o, dict)}
        return Identity(vendor=by_name.get("vendor_name"),
                        model=by_name.get("model_name") or by_name.get("product_name"),
                        order_number=by_name.get("product_code"),
                        firmware=by_name.get("major_minor_revision"), modules=modules)
    if protocol == "s7":
        # The CPU reports no vendor field: its copyright string says Siemens.
        vendor = "Siemens" if "siemens" in str(ident.get("copyright", "")).lower() else None
        return Identity(vendor=vendor, model=_text(ident.get("module_type")),
                        order_number=_text(ident.get("order_number")),
                        firmware=_text(ident.get("firmware")), serial=_text(ident.get("serial")),
                        modules=modules)
    return Identity(vendor=_text(ident.get("vendor")), model=_text(ident.get("product_name")),
                    order_number=_text(str(ident["product_code"])) if "product_code" in ident
                    else None, firmware=_text(ident.get("revision")),
                    serial=_text(ident.get("serial")), modules=modules)


# -- the supplier policy -----------------------------------------------------------------------

@dataclass(frozen=True)
class SupplierPolicy:
    disallowed_vendors: tuple[str, ...] = ()
    disallowed_models: tuple[str, ...] = ()
    segment_vendors: tuple[str, ...] = ()
    segment_models: tuple[str, ...] = ()
    segmented_tags: tuple[str, ...] = ("segmented",)
    minimum_firmware: tuple[tuple[str, str], ...] = ()   # (vendor or model pattern, version)

    @property
    def empty(self) -> bool:
        return not (self.disallowed_vendors or self.disallowed_models or self.segment_vendors
                    or self.segment_models or self.minimum_firmware)


def parse_policy(table: Any, *, file: str) -> SupplierPolicy:
    """The ``[suppliers]`` table, validated.  ConfigError names the field."""
    if table is None:
        return SupplierPolicy()
    table = checked_table(table, "[suppliers]", POLICY_KEYS, file=file, field="suppliers",
                          key_prefix="suppliers.")
    lists: dict[str, tuple[str, ...]] = {}
    for key in LIST_KEYS:
        value = table.get(key, [] if key != "segmented_tags" else ["segmented"])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"must be a list of non-empty strings, got {value!r}", file=file,
                              field=f"suppliers.{key}")
        lists[key] = tuple(value)
    minimum = table.get("minimum_firmware", {})
    if not isinstance(minimum, dict) or not all(isinstance(v, str) and version_key(v)
                                                for v in minimum.values()):
        raise ConfigError("must be a table from vendor or model pattern to a version with "
                          f"digits, e.g. {{ \"Nordwind*\" = \"4.10\" }}, got {minimum!r}",
                          file=file, field="suppliers.minimum_firmware")
    return SupplierPolicy(**lists, minimum_firmware=tuple(sorted(minimum.items())))


def version_key(text: str) -> tuple[int, ...]:
    """``V4.09`` -> (4, 9); ``A32.9.9`` -> (32, 9, 9): the digits, compared as numbers."""
    return tuple(int(n) for n in re.findall(r"\d+", text or ""))


def _match(value: str | None, patterns: Iterable[str]) -> str | None:
    if not value:
        return None
    for p in patterns:
        if fnmatch.fnmatchcase(value.casefold(), p.casefold()):
            return p
    return None


@dataclass(frozen=True)
class Flag:
    device: str
    rule: str       # disallowed | segment | firmware | unknown-identity
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"device": self.device, "rule": self.rule, "message": self.message}


def flags_for(device: Any, ident: Identity | None, policy: SupplierPolicy) -> list[Flag]:
    """What the policy says about one device (``device``: an inventory Device)."""
    if policy.empty:
        return []
    name = device.name
    if ident is None:
        return [Flag(name, "unknown-identity", "no verified baseline identity: the supplier "
                     "policy cannot be checked")]
    out = []
    models = [m for m in (ident.model, ident.order_number) if m]
    if p := _match(ident.vendor, policy.disallowed_vendors):
        out.append(Flag(name, "disallowed", f"vendor {ident.vendor!r} is not allowed ({p})"))
    for m in models:
        if p := _match(m, policy.disallowed_models):
            out.append(Flag(name, "disallowed", f"model {m!r} is not allowed ({p})"))
            break
    must_segment = _match(ident.vendor, policy.segment_vendors) or next(
        (p for m in models if (p := _match(m, policy.segment_models))), None)
    # Zones (issue 13) will say where a device sits; until then a tag does.
    zone = getattr(device, "zone", None)
    segmented = bool(set(device.tags) & set(policy.segmented_tags)) or bool(
        zone and zone in policy.segmented_tags)
    if must_segment and not segmented:
        out.append(Flag(name, "segment", f"must be segmented ({must_segment}) but carries none "
                    f"of the tags {', '.join(policy.segmented_tags)}"))
    for pattern, minimum in policy.minimum_firmware:
        if _match(ident.vendor, [pattern]) or any(_match(m, [pattern]) for m in models):
            if ident.firmware is None or version_key(ident.firmware) < version_key(minimum):
                out.append(Flag(name, "firmware", f"firmware {ident.firmware or 'unknown'} is "
                            f"below the minimum {minimum} ({pattern})"))
            break
    return out


# -- collecting -------------------------------------------------------------------------------

@dataclass(frozen=True)
class FirmwareChange:
    sequence: int
    signed_at: datetime
    before: str | None
    after: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "signed_at": self.signed_at.isoformat(),
                "before": self.before, "after": self.after, "reason": self.reason}


@dataclass(frozen=True)
class Asset:
    device: str
    protocol: str
    tags: tuple[str, ...]
    identity: Identity | None
    baseline_sequence: int | None
    captured_at: datetime | None
    problem: str | None = None
    firmware_changes: tuple[FirmwareChange, ...] = ()
    flags: tuple[Flag, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "protocol": self.protocol, "tags": list(self.tags),
                "identity": self.identity.to_dict() if self.identity else None,
                "baseline_sequence": self.baseline_sequence,
                "captured_at": self.captured_at.isoformat() if self.captured_at else None,
                "problem": self.problem,
                "firmware_changes": [c.to_dict() for c in self.firmware_changes],
                "flags": [f.to_dict() for f in self.flags]}


def _identity_values(store: Any, baseline: Any) -> dict[str, Any]:
    entries = [e for e in baseline.artifacts() if e.kind is Kind.IDENTITY]
    return {a.key: a.value() for a in store.load_artifacts(baseline, entries)}


def _firmware_changes(store: Any, device: Any, trust: Any) -> tuple[FirmwareChange, ...]:
    changes, before = [], None
    for entry in store.history(device.name, trust):
        if not entry.ok:
            continue
        try:
            b = store.baseline(device.name, entry.sequence, trust)
            fw = identity_of(device.protocol, _identity_values(store, b)).firmware
        except BaselineError:
            continue
        if entry.sequence > 1 and fw != before:
            changes.append(FirmwareChange(entry.sequence, b.manifest.signed_at, before, fw,
                                          b.manifest.reason))
        before = fw
    return tuple(changes)


def collect_assets(site: Any, store: Any, trust: Any, devices: Iterable[Any] | None = None, *,
                   history: bool = True, latest: dict[str, Any] | None = None) -> list[Asset]:
    """Every chosen device's asset row.  ``history``: also walk every baseline
    for firmware changes (one verified read per baseline; the fleet page skips it).
    ``latest``: store.latest_many of the devices, when the caller has it.
    A device without a verified baseline has no identity and says why."""
    chosen = list(site.devices if devices is None else devices)
    policy = getattr(site, "suppliers", None) or SupplierPolicy()
    if latest is None:
        latest = store.latest_many([d.name for d in chosen], trust)
    out = []
    for d in chosen:
        b = latest[d.name]
        ident = problem = seq = at = None
        if isinstance(b, PlcIntegrityError):
            problem = str(b)
        else:
            try:
                ident = identity_of(d.protocol, _identity_values(store, b))
                seq, at = b.sequence, b.manifest.captured_at
            except BaselineError as exc:
                problem = str(exc)
        out.append(Asset(d.name, d.protocol, tuple(d.tags), ident, seq, at, problem,
                         _firmware_changes(store, d, trust) if history and ident else (),
                         tuple(flags_for(d, ident, policy))))
    return out


CSV_FIELDS = ("device", "protocol", "vendor", "model", "order_number", "firmware", "serial",
              "modules", "baseline_sequence", "captured_at", "firmware_changes", "flags")


def csv_rows(assets: Iterable[Asset]) -> Iterable[dict[str, Any]]:
    for a in assets:
        i = a.identity or Identity()
        yield {"device": a.device, "protocol": a.protocol, "vendor": i.vendor, "model": i.model,
               "order_number": i.order_number, "firmware": i.firmware, "serial": i.serial,
               "modules": "; ".join(f"{m['slot']}: {m['model']} {m['firmware']}" for m in i.modules),
               "baseline_sequence": a.baseline_sequence,
               "captured_at": a.captured_at.isoformat() if a.captured_at else a.problem,
               "firmware_changes": "; ".join(f"#{c.sequence}: {c.before} -> {c.after}"
                                             for c in a.firmware_changes),
               "flags": "; ".join(f"{f.rule}: {f.message}" for f in a.flags)}
