"""Compare a baseline's artifacts with a fresh capture.

The comparison works on digests first (exact), then, for artifacts that differ,
decodes both sides to name the values that changed.  "No" is a value here: a
drift is a Comparison with differences, never an exception.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol

from integrity.model import (
    Artifact,
    Capture,
    Change,
    Comparison,
    Difference,
    Encoding,
    Kind,
    Mode,
    ValueChange,
)

# Enough to show what changed without flooding a terminal or an alert; the
# digest still proves everything else.
MAX_VALUE_CHANGES = 200


class Entry(Protocol):
    """What compare needs of a baseline artifact: an Artifact, or a signed
    manifest entry whose content is fetched only if it differs."""

    key: str
    kind: Any
    digest: str
    quick: bool


def compare(baseline_artifacts: Iterable[Entry], capture: Capture, *,
            baseline_mode: Mode = Mode.DEEP,
            load: Callable[[Any], Artifact] | None = None) -> Comparison:
    """Compare, in the shallower of the two modes.

    A QUICK capture is compared only with the baseline artifacts a quick read
    produces; a deep capture against a quick baseline is reduced to quick, and
    the Comparison's note says so, because the baseline has nothing deeper to
    hold the device to.

    The verdict rests on digests alone.  Baseline contents are needed only to
    name the values inside a modified artifact: entries that are not Artifacts
    are turned into one by ``load`` then, and only then.
    """
    baseline = {a.key: a for a in baseline_artifacts}
    current = capture.by_key()
    mode = capture.mode
    note = None
    if Mode(baseline_mode) is Mode.QUICK and mode is Mode.DEEP:
        mode = Mode.QUICK
        note = "the baseline was captured in quick mode, so only quick artifacts were compared"
    if mode is Mode.QUICK:
        baseline = {k: a for k, a in baseline.items() if a.quick}
        current = {k: a for k, a in current.items() if a.quick}
    notes = [note] if note else []
    uncompared = _summaries(baseline, current, capture, mode, Mode(baseline_mode), notes)

    differences = []
    for key in sorted(set(baseline) | set(current)):
        old, new = baseline.get(key), current.get(key)
        if old is None:
            differences.append(Difference(key, Change.ADDED, new.kind, None, new.digest))
        elif new is None:
            differences.append(Difference(key, Change.REMOVED, Kind(old.kind), old.digest, None))
        elif old.digest != new.digest:
            if not isinstance(old, Artifact):
                if load is None:
                    raise TypeError(f"compare: baseline entry {key} has no content and no loader")
                old = load(old)
            changes, truncated = value_changes(old, new)
            differences.append(Difference(key, Change.MODIFIED, new.kind, old.digest, new.digest,
                                          changes, truncated))
    summaries = _declared(capture)
    if mode is Mode.QUICK:
        notes += [f"{d.key} differs: it stands for every {summaries[d.key]}* artifact, which this "
                  "quick check did not read; a deep check names what changed"
                  for d in differences if d.key in summaries and d.change is Change.MODIFIED]
    return Comparison(mode, tuple(differences), "; ".join(notes) or None, uncompared)


def _declared(capture: Capture) -> dict[str, str]:
    return dict(capture.policy.get("summaries") or {})


def _summaries(baseline: dict[str, Any], current: dict[str, Any], capture: Capture, mode: Mode,
               baseline_mode: Mode, notes: list[str]) -> tuple[str, ...]:
    """Leave out, in place, what a summary artifact stands for on one side only.

    A driver's capture policy may declare ``summaries`` (artifact key -> the
    key prefix it stands for, e.g. the S7 CPU's checksums over ``blocks/``)
    and, in a quick capture that read nothing under that prefix because the
    summary stood for it, ``quick_skipped`` (those prefixes).  Then:
    - a quick capture that skipped a prefix is not held to the baseline's
      artifacts under it (the summary and the other artifacts, such as a block
      list, are compared instead); a quick baseline holding the summary and
      nothing under its prefix is likewise not held to the capture's;
    - a baseline captured before the driver read the summary is not drift: the
      summary is left out, and the prefixes a quick capture therefore compared
      with nothing are returned (integrity.check reads them again, unskipped).
    """
    skipped = tuple(capture.policy.get("quick_skipped") or ()) if mode is Mode.QUICK else ()
    uncompared: list[str] = []
    for key, prefix in _declared(capture).items():
        under = lambda side: [k for k in side if k.startswith(prefix)]  # noqa: E731
        if key in current and key not in baseline:
            del current[key]
            if prefix in skipped and under(baseline):
                uncompared.append(prefix)
                notes.append(f"the baseline predates {key}: its {prefix}* artifacts were not "
                             "compared by this quick check (the others were); a deep check, or "
                             "a baseline captured now, covers them")
        if prefix in skipped:
            for k in under(baseline):
                del baseline[k]
        elif mode is Mode.QUICK and baseline_mode is Mode.QUICK and key in baseline and not under(baseline):
            for k in under(current):  # the baseline's quick read left them to the summary
                del current[k]
    return tuple(uncompared)


def value_changes(old: Artifact, new: Artifact) -> tuple[tuple[ValueChange, ...], bool]:
    """Name the values that differ between two versions of one artifact."""
    if old.encoding is Encoding.RAW or new.encoding is Encoding.RAW:
        return _raw_changes(old.content, new.content)
    out: list[ValueChange] = []
    _diff(old.value(), new.value(), "", out, _root_name(old.key))
    truncated = len(out) > MAX_VALUE_CHANGES
    return tuple(out[:MAX_VALUE_CHANGES]), truncated


def _root_name(key: str) -> str:
    # "holding/0-1999" -> "holding", so register paths read holding[17].
    return key.split("/", 1)[0]


def _is_addressed_table(v: Any) -> bool:
    return (isinstance(v, dict) and isinstance(v.get("start"), int)
            and isinstance(v.get("values"), list) and set(v) <= {"start", "values"})


def _diff(old: Any, new: Any, path: str, out: list[ValueChange], root: str) -> None:
    if len(out) > MAX_VALUE_CHANGES:
        return
    if _is_addressed_table(old) and _is_addressed_table(new) and old["start"] == new["start"]:
        start, a, b = old["start"], old["values"], new["values"]
        for i in range(max(len(a), len(b))):
            va = a[i] if i < len(a) else None
            vb = b[i] if i < len(b) else None
            if va != vb or type(va) is not type(vb):
                out.append(ValueChange(f"{path or root}[{start + i}]", va, vb))
                if len(out) > MAX_VALUE_CHANGES:
                    return
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            sub = f"{path}.{k}" if path else k
            if k not in old:
                out.append(ValueChange(sub, None, new[k]))
            elif k not in new:
                out.append(ValueChange(sub, old[k], None))
            else:
                _diff(old[k], new[k], sub, out, root)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            _diff(a, b, f"{path}[{i}]", out, root)
        return
    if old != new or type(old) is not type(new):
        out.append(ValueChange(path or root, old, new))


def _raw_changes(a: bytes, b: bytes) -> tuple[tuple[ValueChange, ...], bool]:
    """For raw images, name the changed byte ranges (offset and hex of both sides)."""
    out: list[ValueChange] = []
    if len(a) != len(b):
        out.append(ValueChange("size", len(a), len(b)))
    n = min(len(a), len(b))
    i = 0
    while i < n and len(out) <= MAX_VALUE_CHANGES:
        if a[i] != b[i]:
            j = i
            while j < n and a[j] != b[j] and j - i < 16:
                j += 1
            out.append(ValueChange(f"bytes[{i}:{j}]", a[i:j].hex(), b[i:j].hex()))
            i = j
        else:
            i += 1
    truncated = len(out) > MAX_VALUE_CHANGES
    return tuple(out[:MAX_VALUE_CHANGES]), truncated
