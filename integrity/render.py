"""Text renderings of results for people.  JSON output uses ``to_dict`` instead."""

from __future__ import annotations

import json
from typing import Any, Iterable

from integrity.model import CheckResult, Difference, Status

MAX_VALUES_SHOWN = 20


def short(digest: str | None, n: int = 12) -> str:
    return digest[:n] if digest else "-"


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


def diff_report(r: CheckResult, max_values: int = MAX_VALUES_SHOWN) -> str:
    lines = [f"{r.device}: {r.status.value}"]
    if r.baseline_id:
        lines[0] += (f" against baseline #{r.baseline_sequence} {short(r.baseline_id)}"
                     f" signed by {short(r.signer, 16)}")
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
