"""Audit reports (``plc-integrity report``): what an auditor asks for, per device,
over a period, from the store alone.

For each device: how often it was checked (by outcome and mode), every drift
and how it ended (restored to the same baseline, approved as a new baseline
with its reason and signer, or still open), unreachable periods, the
baselines signed in the period; site-wide: backup and restore-drill results
and supplier flags.  Rendered as JSON (``"schema": 1``), CSV or one
self-contained, printable HTML file (inline CSS and SVG, no script).

A report is signed with a detached Ed25519 signature over its exact bytes
(``FILE.sig``, a small JSON document naming the key), so it can later be shown
to be ours and unchanged: ``verify_report`` checks it against trust/.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any, Iterable

from integrity import canonical
from integrity.errors import ConfigError, SignatureInvalidError
from integrity.web import svg

SCHEMA = 1
FORMATS = ("html", "csv", "json")
BACKUP_KINDS = ("backup", "restore", "drill")
SIG_FORMAT = "plc-integrity-report-signature"


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise ConfigError(f"--to ({self.until:%Y-%m-%d}) must be after --from "
                              f"({self.since:%Y-%m-%d})", field="--to")


def _episodes(checks: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    """Runs of consecutive checks with ``status``: start, end (the first check
    that was not ``status``, or None while open), the checks in between."""
    out, current = [], None
    for c in checks:
        if c["status"] == status:
            if current is None:
                current = {"start": c["checked_at"], "end": None, "checks": 0, "first": c,
                           "next": None}
            current["checks"] += 1
        elif current is not None:
            current.update(end=c["checked_at"], next=c)
            out.append(current)
            current = None
    if current is not None:
        out.append(current)
    return out


def _drift_outcome(ep: dict[str, Any], baselines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    first, after = ep["first"], ep["next"]
    keys = sorted({d["key"] for d in first.get("differences") or ()})
    doc = {"start": ep["start"], "end": ep["end"], "checks": ep["checks"],
           "baseline_sequence": first.get("baseline_sequence"), "differences": keys}
    if after is None:
        return {**doc, "ended": "open"}
    if after["status"] != "OK":
        return {**doc, "ended": after["status"].lower()}
    if after.get("baseline_id") == first.get("baseline_id"):
        return {**doc, "ended": "restored"}
    new = baselines.get(after.get("baseline_id") or "", {})
    return {**doc, "ended": "approved", "new_baseline": after.get("baseline_sequence"),
            "reason": new.get("reason"), "signer": new.get("signer_name") or new.get("keyid")}


def build_report(site: Any, store: Any, trust: Any, period: Period, *, now: datetime,
                 devices: Iterable[Any] | None = None) -> dict[str, Any]:
    """The report as one JSON-able document (every format renders this)."""
    from integrity.assets import collect_assets
    from integrity.web.views import pending_approvals

    chosen = list(site.devices if devices is None else devices)
    assets = {a.device: a for a in collect_assets(site, store, trust, chosen, history=False)}
    rows = []
    for d in chosen:
        checks = store.checks_between(period.since, period.until, d.name)
        history = [e.to_dict() for e in store.history(d.name, trust)]
        by_id = {e["id"]: e for e in history if e["id"]}
        counts: dict[str, int] = {}
        for c in checks:
            key = f"{c['status']}/{c.get('mode') or '-'}"
            counts[key] = counts.get(key, 0) + 1
        signed = [e for e in history if e["signed_at"]
                  and period.since <= datetime.fromisoformat(e["signed_at"]) < period.until]
        rows.append({
            "device": d.name, "protocol": d.protocol, "tags": list(d.tags),
            "checks": len(checks), "by_outcome": counts,
            "first_check": checks[0]["checked_at"] if checks else None,
            "last_check": checks[-1]["checked_at"] if checks else None,
            "timeline": [{"checked_at": c["checked_at"], "status": c["status"]} for c in checks],
            "drifts": [_drift_outcome(ep, by_id) for ep in _episodes(checks, "DRIFT")],
            "unreachable": [{"start": ep["start"], "end": ep["end"], "checks": ep["checks"],
                             "reason": ep["first"].get("reason")}
                            for ep in _episodes(checks, "UNREACHABLE")],
            "baselines": signed,
            "baselines_valid": all(e["ok"] for e in history),
            "flags": [f.to_dict() for f in assets[d.name].flags],
            "pending_approvals": pending_approvals(store, trust, d.name),
        })
    events = [e for e in store.events(limit=10000)
              if period.since.isoformat() <= _iso(e["at"]) < period.until.isoformat()]
    return {"schema": SCHEMA, "generated_at": now.isoformat(),
            "from": period.since.isoformat(), "to": period.until.isoformat(),
            "site": str(site.root), "devices": rows,
            "backups": [e for e in events if e["kind"].startswith(BACKUP_KINDS)],
            "approvals_pending": [p for d in rows for p in d["pending_approvals"]],
            "events": len(events)}


def _iso(stored: str) -> str:
    """An event's stored time (``...Z``) in isoformat, comparable as text."""
    try:
        return datetime.fromisoformat(stored.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return stored


# -- rendering ---------------------------------------------------------------------------------

def render(doc: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    if fmt == "csv":
        return _csv(doc).encode()
    if fmt == "html":
        return _html(doc).encode()
    raise ConfigError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})", field="--format")


def _csv(doc: dict[str, Any]) -> str:
    """One row per finding: section, device, start, end, outcome, detail."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", "device", "start", "end", "outcome", "detail"])
    for d in doc["devices"]:
        w.writerow(["checks", d["device"], d["first_check"], d["last_check"], d["checks"],
                    "; ".join(f"{k}: {n}" for k, n in sorted(d["by_outcome"].items()))])
        for x in d["drifts"]:
            w.writerow(["drift", d["device"], x["start"], x["end"], x["ended"],
                        "; ".join(x["differences"]) + (f" | new baseline #{x['new_baseline']} "
                                                       f"by {x['signer']}: {x['reason']}"
                                                       if x["ended"] == "approved" else "")])
        for u in d["unreachable"]:
            w.writerow(["unreachable", d["device"], u["start"], u["end"], u["reason"],
                        f"{u['checks']} checks"])
        for b in d["baselines"]:
            w.writerow(["baseline", d["device"], b["signed_at"], "", f"#{b['sequence']}",
                        f"{b['signer_name'] or b['keyid']}: {b['reason']}"])
        for f in d["flags"]:
            w.writerow(["supplier-flag", d["device"], "", "", f["rule"], f["message"]])
    for e in doc["backups"]:
        w.writerow(["backup", "", e["at"], "", e["kind"], e["detail"]])
    return out.getvalue()


CSS = """body{font:12px/1.4 sans-serif;margin:16px;color:#111}h1{font-size:18px}
h2{font-size:15px;margin:18px 0 4px;page-break-after:avoid}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #bbb;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#eee}.device{page-break-inside:avoid}.open{color:#b00;font-weight:bold}
.none{color:#666;font-style:italic}@page{margin:15mm}"""


def _table(head: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return f'<p class="none">{escape(empty)}</p>'
    cells = "".join("<tr>" + "".join(f"<td>{escape(str(c if c is not None else '-'))}</td>"
                                     for c in r) + "</tr>" for r in rows)
    return ("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
            + cells + "</table>")


def _html(doc: dict[str, Any]) -> str:
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
             f"plc-integrity report {escape(doc['from'][:10])} to {escape(doc['to'][:10])}"
             f"</title><style>{CSS}</style></head><body>",
             f"<h1>plc-integrity audit report</h1><p>Period {escape(doc['from'])} to "
             f"{escape(doc['to'])} · generated {escape(doc['generated_at'])} · site "
             f"{escape(doc['site'])} · {len(doc['devices'])} devices</p>"]
    parts.append("<h2>Summary</h2>" + _table(
        ["device", "checks", "drifts", "how they ended", "unreachable periods",
         "baselines signed", "supplier flags"],
        [[d["device"], d["checks"], len(d["drifts"]),
          ", ".join(x["ended"] for x in d["drifts"]) or "-", len(d["unreachable"]),
          len(d["baselines"]), ", ".join(f["rule"] for f in d["flags"]) or "-"]
         for d in doc["devices"]], "no devices"))
    for d in doc["devices"]:
        parts.append(f'<div class="device" id="device-{escape(d["device"])}">'
                     f"<h2>{escape(d['device'])} ({escape(d['protocol'])})</h2>"
                     f"<p>{d['checks']} checks: "
                     + escape(", ".join(f"{k} {n}" for k, n in sorted(d["by_outcome"].items()))
                              or "none") + "</p>")
        parts.append(svg.timeline(d["timeline"], width=700, title=f"checks of {d['device']}"))
        parts.append("<h3>Drifts</h3>" + _table(
            ["from", "until", "differences", "how it ended", "new baseline", "reason", "signer"],
            [[x["start"], x["end"], ", ".join(x["differences"]), x["ended"],
              x.get("new_baseline"), x.get("reason"), x.get("signer")] for x in d["drifts"]],
            "no drift in the period"))
        parts.append("<h3>Unreachable</h3>" + _table(
            ["from", "until", "reason", "checks"],
            [[u["start"], u["end"] or "still at the end of the period", u["reason"], u["checks"]]
             for u in d["unreachable"]], "always reachable when checked"))
        parts.append("<h3>Baselines signed (approvals)</h3>" + _table(
            ["#", "signed", "signer", "reason", "verified"],
            [[b["sequence"], b["signed_at"], b["signer_name"] or b["keyid"], b["reason"],
              "ok" if b["ok"] else b["problem"]] for b in d["baselines"]],
            "none in the period"))
        if d["flags"]:
            parts.append("<h3>Supplier flags</h3>" + _table(
                ["rule", "message"], [[f["rule"], f["message"]] for f in d["flags"]], ""))
        parts.append("</div>")
    parts.append("<h2>Backups and restore drills</h2>" + _table(
        ["at", "kind", "detail"], [[e["at"], e["kind"], e["detail"]] for e in doc["backups"]],
        "none recorded"))
    parts.append("<h2>Pending approvals</h2>" + _table(
        ["proposal"], [[json.dumps(p, sort_keys=True)] for p in doc["approvals_pending"]],
        "none recorded") + "</body></html>")
    return "".join(parts)


# -- signing -----------------------------------------------------------------------------------

def sign_report(data: bytes, key: Any, *, signed_at: datetime) -> bytes:
    """The detached signature document for ``data`` (canonical JSON)."""
    return canonical.encode({"format": SIG_FORMAT, "keyid": key.keyid,
                             "sha256": canonical.sha256(data), "signed_at": signed_at.isoformat(),
                             "signature": base64.b64encode(key.sign(data)).decode()}) + b"\n"


def verify_report(data: bytes, sig: bytes, trust: Any) -> dict[str, Any]:
    """Check a report against its signature with a key from trust/.  Returns
    the signature document plus the signer's name.  Raises SignatureInvalidError
    (the bytes changed, or it is not a signature), UntrustedKeyError (the key
    is not in trust/)."""
    try:
        doc = json.loads(sig)
        if doc.get("format") != SIG_FORMAT:
            raise ValueError("not a report signature")
        raw = base64.b64decode(doc["signature"], validate=True)
        keyid = doc["keyid"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SignatureInvalidError(f"the signature file is not a plc-integrity report "
                                    f"signature ({exc})") from None
    snapshot = trust.snapshot()
    snapshot.get(keyid).verify(raw, data)  # UntrustedKeyError / SignatureInvalidError
    return {**doc, "signer_name": snapshot.name_of(keyid)}


def write_report(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"cannot write the report: {exc.strerror}", file=str(path)) from exc
