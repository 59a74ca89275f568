"""Text renderings of results for people.  JSON output uses ``to_dict`` instead."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from integrity.model import CheckResult, Difference, Status

MAX_VALUES_SHOWN = 20
KEYID_SHOWN = 8
# keyid -> the name its trust/ file gives it (TrustSnapshot.name_of), or None.
SignerNames = Callable[[str], "str | None"]


def short(digest: str | None, n: int = 12) -> str:
    return digest[:n] if digest else "-"


def signer(keyid: str | None, names: SignerNames | None = None) -> str:
    """``alice (60dc2e4f)``: the trust name people know, and enough of the id to tell keys apart."""
    if not keyid:
        return "-"
    name = names(keyid) if names else None
    return f"{name} ({keyid[:KEYID_SHOWN]})" if name else keyid[:KEYID_SHOWN]


def word(value: Any) -> str:
    """An enum as the word the user typed (``deep``), never its repr (``Mode.DEEP``)."""
    return str(getattr(value, "value", value))


def when(value: datetime | str | None) -> str:
    """A time to the second, UTC as stored: ``2026-12-01 12:33:54``."""
    if value is None:
        return "-"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return text[:19].replace("T", " ")


def _val(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False) if not isinstance(v, (int, float)) or isinstance(v, bool) else str(v)


def difference_line(d: Difference) -> str:
    extra = ""
    if d.values:
        n = len(d.values)
        extra = f" ({n}{'+' if d.values_truncated else ''} value{'s' if n != 1 else ''})"
    return f"{d.change.value} {d.key}{extra}"


def result_line(r: CheckResult, width: int = 16) -> str:
    head = f"{r.device:<{width}} {r.status.value:<16}"
    if r.status is Status.OK:
        tail = f"baseline #{r.baseline_sequence} {short(r.baseline_id)} ({r.mode.value if r.mode else '-'})"
    elif r.status is Status.DRIFT:
        tail = "; ".join(difference_line(d) for d in r.differences[:5])
        if len(r.differences) > 5:
            tail += f"; and {len(r.differences) - 5} more"
    else:
        tail = f"{r.reason}: {r.message}"
    if r.note:
        tail += f"  [{r.note}]"
    return f"{head} {tail}".rstrip()


def results_table(results: Iterable[CheckResult]) -> str:
    results = list(results)
    width = max([len(r.device) for r in results] + [6])
    return "\n".join(result_line(r, width) for r in results)


def diff_report(r: CheckResult, max_values: int = MAX_VALUES_SHOWN,
                names: SignerNames | None = None) -> str:
    lines = [f"{r.device}: {r.status.value}"]
    if r.baseline_id:
        lines[0] += (f" against baseline #{r.baseline_sequence} {short(r.baseline_id)}"
                     f" signed by {signer(r.signer, names)}")
    if r.mode:
        lines[0] += f" ({r.mode.value} check)"
    if r.status not in (Status.OK, Status.DRIFT):
        lines.append(f"  {r.reason}: {r.message}")
    if r.note:
        lines.append(f"  note: {r.note}")
    for d in r.differences:
        lines.append(f"  {d.change.value:<8} {d.key}  [{d.kind.value}]  "
                     f"{short(d.baseline_digest)} -> {short(d.current_digest)}")
        for v in d.values[:max_values]:
            name = f" ({v.label})" if v.label else ""
            lines.append(f"      {v.path}{name}: {_val(v.baseline)} -> {_val(v.current)}")
        hidden = len(d.values) - max_values
        if hidden > 0 or d.values_truncated:
            lines.append(f"      ... {'more' if d.values_truncated else hidden} further value "
                         "changes (use --json for all)")
    if r.status is Status.OK:
        lines.append("  no differences")
    return "\n".join(lines)


def in_flight_line(done: int, total: int, in_flight: Sequence[str], width: int = 72) -> str:
    """``[3/50] reading plc-hoist, vfd-gantry +12``: the devices still being read."""
    head = f"[{done}/{total}]"
    if not in_flight:
        return head
    shown: list[str] = []
    for i, name in enumerate(in_flight):
        rest = len(in_flight) - i - 1
        tail = f" +{rest}" if rest else ""
        if shown and len(f"{head} reading {', '.join([*shown, name])}{tail}") > width:
            break
        shown.append(name)
    more = len(in_flight) - len(shown)
    return f"{head} reading {', '.join(shown)}" + (f" +{more}" if more else "")


def sweep_log_line(report: Any) -> str:
    """One daemon log line per sweep, naming every device that is not OK."""
    results = list(report.results)
    bad = [f"{r.device} {r.status.value}" + (f" ({r.reason})" if r.reason else "")
           for r in results if r.status is not Status.OK]
    ok = len(results) - len(bad)
    parts = bad + ([f"{ok} OK"] if ok else [])
    return (f"{when(report.started_at)} {report.mode.value} sweep of {len(results)} "
            f"device{'s' if len(results) != 1 else ''}: {', '.join(parts) or 'nothing due'}; "
            f"exit {report.exit_code}, {len(report.alerts)} alert(s)")


def columns(rows: Sequence[Sequence[str]], indent: int = 0, right: set[int] = frozenset()) -> str:
    """Rows as aligned columns (the last column is not padded)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if i in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths))]
        cells[-1] = row[-1] if len(row) - 1 not in right else cells[-1]
        lines.append(" " * indent + "  ".join(cells).rstrip())
    return "\n".join(lines)
