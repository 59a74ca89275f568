"""What approving a proposal means, shown before anyone signs: the proposal held
against the device's current approved baseline, as a check result the CLI renders
like ``diff``.  It lives here, not in baselines/, because it compares (integrity's
job) what the store holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from baselines.manifest import Baseline
from baselines.proposals import Proposal
from integrity.compare import compare
from integrity.errors import NoBaselineError
from integrity.model import Capture, CheckResult, Mode, Status


def approval_diff(store: Any, device: str, target: Proposal | Baseline, trust: Any,
                  now: datetime) -> CheckResult:
    """What approving ``target`` means: a proposal's artifacts held against the
    device's current approved baseline; for a re-approval of the current
    baseline, what it changed from the baseline before it.  Every content
    loaded is re-hashed.  With nothing to compare to, everything is new."""
    proposed = target.baseline if isinstance(target, Proposal) else target
    m = proposed.manifest
    capture = Capture(device=device, protocol=m.protocol, mode=Mode(m.mode),
                      captured_at=m.captured_at, artifacts=store.load_artifacts(proposed),
                      policy=m.policy)
    base = CheckResult(device=device, protocol=m.protocol, status=Status.OK, checked_at=now,
                       mode=Mode(m.mode), fingerprint=m.fingerprint)
    if isinstance(target, Proposal):
        try:
            against: Baseline | None = store.latest(device, trust)
        except NoBaselineError:
            against = None
        note = None
    else:
        history = store.verified_history(device, trust)
        against = history[-2] if len(history) > 1 else None
        note = (f"re-approval of #{m.sequence}: what it changed from "
                f"{'#' + str(against.sequence) if against else 'nothing (the first baseline)'}")
    if against is None:
        return base.replace(status=Status.DRIFT, differences=compare((), capture).differences,
                            note=note or "no approved baseline yet: everything is new")
    comparison = compare(against.artifacts(), capture, baseline_mode=Mode(against.manifest.mode),
                         load=lambda entry: store.load_artifact(against, entry))
    return base.replace(status=comparison.status, mode=comparison.mode,
                        baseline_id=against.id, baseline_sequence=against.sequence,
                        signer=against.keyid, differences=comparison.differences,
                        note=note or comparison.note)
