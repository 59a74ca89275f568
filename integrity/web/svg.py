"""Plots drawn on the server as inline SVG: no script, nothing fetched.

Every piece of text that reaches the SVG goes through ``escape``: device
names and reasons come from the inventory and the store, not from us.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any, Iterable

LANES = ("OK", "DRIFT", "UNREACHABLE", "NO_BASELINE", "BASELINE_INVALID")
COLOURS = {"OK": "#2e7d32", "DRIFT": "#c62828", "UNREACHABLE": "#ef6c00",
           "NO_BASELINE": "#6d6d6d", "BASELINE_INVALID": "#6a1b9a"}


def timeline(checks: Iterable[dict[str, Any]], *, width: int = 900, lane: int = 22,
             title: str = "checks over time") -> str:
    """One dot per check, one lane per outcome, time left to right."""
    points = []
    for c in checks:
        try:
            points.append((datetime.fromisoformat(c["checked_at"]), c["status"]))
        except (KeyError, TypeError, ValueError):
            continue  # an unreadable row is left out of the plot, not the page
    left, top = 130, 10
    height = top + lane * len(LANES) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f"<title>{escape(title)}</title>"]
    for i, name in enumerate(LANES):
        y = top + lane * i + lane // 2
        out.append(f'<text x="4" y="{y + 4}" font-size="11" fill="#333">{name}</text>'
                   f'<line x1="{left}" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#ddd"/>')
    if not points:
        out.append(f'<text x="{left}" y="{height - 8}" font-size="12" fill="#555">'
                   "no checks recorded</text></svg>")
        return "".join(out)
    start, end = min(p[0] for p in points), max(p[0] for p in points)
    span = max((end - start).total_seconds(), 1.0)
    usable = width - left - 20
    for at, status in points:
        x = left + 5 + usable * (at - start).total_seconds() / span
        y = top + lane * (LANES.index(status) if status in LANES else 0) + lane // 2
        out.append(f'<circle cx="{x:.1f}" cy="{y}" r="4" fill="{COLOURS.get(status, "#000")}" '
                   f'class="check {escape(status.lower())}"><title>{escape(at.isoformat())} '
                   f"{escape(status)}</title></circle>")
    out.append(f'<text x="{left}" y="{height - 8}" font-size="11" fill="#555">'
               f"{start:%Y-%m-%d %H:%M}</text>"
               f'<text x="{width - 10}" y="{height - 8}" font-size="11" fill="#555" '
               f'text-anchor="end">{end:%Y-%m-%d %H:%M} UTC</text></svg>')
    return "".join(out)


def bars(counts: dict[str, int], *, width: int = 420, bar: int = 18) -> str:
    """Horizontal bars, one per state (the fleet at a glance)."""
    most = max(counts.values(), default=0) or 1
    height = bar * len(counts) + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="bars" role="img" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}"><title>devices by state</title>']
    for i, (name, n) in enumerate(counts.items()):
        y = 5 + i * bar
        w = int((width - 190) * n / most)
        colour = COLOURS.get("BASELINE_INVALID" if name == "INVALID" else name, "#1565c0")
        out.append(f'<text x="0" y="{y + 13}" font-size="12">{escape(name)}</text>'
                   f'<rect x="120" y="{y + 2}" width="{w}" height="{bar - 5}" fill="{colour}"/>'
                   f'<text x="{126 + w}" y="{y + 13}" font-size="12">{n}</text>')
    out.append("</svg>")
    return "".join(out)
