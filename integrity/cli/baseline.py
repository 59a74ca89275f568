"""plc-integrity baseline capture | show | history"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from integrity import check
from integrity.cli._common import (chosen_devices, complete_devices, emit_json, json_option,
                                   mode_option, open_site, open_store, selection_args,
                                   signer_names, trust_store)
from integrity.cli.keys import KeySpec, load_signer
from integrity.errors import BaselineInvalidError, ConfigError, NoBaselineError
from integrity.model import Mode
from integrity.render import columns, short, signer, when, word


@click.group("baseline")
def baseline_group() -> None:
    """Capture, show and list signed baselines."""


@baseline_group.command("capture")
@selection_args
@click.option("--key", "key_path", required=True, type=KeySpec(),
              help="Your private signing key (its public key must be in trust/), or "
                   "agent:NAME for trust/NAME.pub's key held by ssh-agent.")
@click.option("--reason", required=True, help="Why this is the approved state (kept, signed).")
@click.option("--passphrase-env", metavar="VAR", help="Read the key's passphrase from VAR.")
@mode_option
@click.option("--allow-quick", is_flag=True,
              help="Let a quick capture replace a deep baseline (every later check would then "
                   "be held to the quick artifacts only).")
@json_option
@click.pass_context
def capture_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool, tags: tuple[str, ...],
                key_path: Path, reason: str, passphrase_env: str | None, quick: bool,
                allow_quick: bool, as_json: bool) -> None:
    """Read devices now, sign what was read, and store it as their new baseline.

    \b
    Example:
      plc-integrity baseline capture vfd-hoist --key ~/.plc-integrity/alice.key \\
          --reason "commissioning, work order 4711"
    """
    from baselines.manifest import check_reason

    if not reason.strip():
        raise ConfigError("--reason must say why", field="--reason")
    check_reason(reason)  # before any device is read: a reason that cannot be signed costs no traffic
    site = open_site(ctx)
    chosen = chosen_devices(site, devices, all_, tags)
    trust = trust_store(site)
    key = load_signer(key_path, passphrase_env, trust)
    mode = Mode.QUICK if quick else Mode.DEEP
    with open_store(site) as store:
        if mode is Mode.QUICK and not allow_quick:
            current = store.latest_many([d.name for d in chosen], trust)
            deep = sorted(n for n, b in current.items()
                          if not isinstance(b, Exception) and b.manifest.mode == Mode.DEEP.value)
            if deep:
                raise ConfigError(f"{', '.join(deep)} ha{'s' if len(deep) == 1 else 've'} a deep "
                                  "baseline; a quick one would weaken every later deep check to "
                                  "block info only.  Give --allow-quick if that is intended.",
                                  field="--quick")
        outcomes = check.capture_baselines(chosen, store, trust, key, reason,
                                           mode=mode, concurrency=site.settings.concurrency)
    failed = max([getattr(o.error, "exit_code", 3) for o in outcomes if o.error is not None],
                 default=0)
    if as_json:
        emit_json({"exit_code": failed, "mode": mode.value, "reason": reason,
                   "captured": [_captured(o) for o in outcomes if o.error is None],
                   "failed": [{"device": o.device.name, "error": str(o.error),
                               "exit_code": getattr(o.error, "exit_code", 3)}
                              for o in outcomes if o.error is not None]})
        ctx.exit(failed)
    by = signer(key.keyid, signer_names(trust))
    for o in outcomes:
        if o.error is not None:
            click.echo(f"{o.device.name}: NOT captured: {o.error}", err=True)
            continue
        cap, b = o.capture, o.baseline
        if getattr(b, "pending", False):  # a proposal: the policy asks for more approvals
            click.echo(f"{o.device.name}: proposal {short(b.id)} (#{b.manifest.sequence}) "
                       f"signed by {short(key.keyid, 16)}; needs {b.tally.needs()} "
                       f"(plc-integrity baseline approve {o.device.name} --key KEY)")
            continue
        kinds: dict[str, int] = {}
        for a in cap.artifacts:
            kinds[a.kind.value] = kinds.get(a.kind.value, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        click.echo(f"{o.device.name}: baseline #{b.manifest.sequence} {short(b.id)} "
                   f"({len(cap.artifacts)} artifacts: {summary}; {mode.value}) "
                   f"fingerprint {short(cap.fingerprint)} signed by {by}")
    ctx.exit(failed)


def _captured(o: Any) -> dict[str, Any]:
    b = o.baseline
    return {"device": o.device.name, "baseline_id": b.id, "sequence": b.manifest.sequence,
            "fingerprint": o.capture.fingerprint, "artifacts": len(o.capture.artifacts),
            "signer": b.keyid}


@baseline_group.command("show")
@click.argument("device", shell_complete=complete_devices)
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, device: str, as_json: bool) -> None:
    """Show a device's latest valid baseline (verified before it is shown).

    Its signature, hash chain and every artifact content are checked: a
    content that was edited or deleted in the store is exit 5.

    \b
    Example:
      plc-integrity baseline show vfd-hoist
    """
    site = open_site(ctx)
    site.device(device)
    trust = trust_store(site)
    with open_store(site) as store:
        b = store.latest(device, trust)
        store.load_artifacts(b)  # re-hashes every content shown; StoreTamperedError → exit 5
    m = b.manifest
    if as_json:
        emit_json({"id": b.id, "keyid": b.keyid, "verified": True, "contents_verified": True,
                   "manifest": m.to_dict()})
        return
    click.echo(f"baseline #{m.sequence} of {m.device} ({m.protocol})")
    for label, value in (("id", b.id),
                         ("signed by", f"{signer(b.keyid, signer_names(trust))}  "
                                       f"at {when(m.signed_at)}"),
                         ("captured", f"{when(m.captured_at)}  mode {word(m.mode)}"),
                         ("reason", m.reason),
                         ("previous", m.previous or "-"),
                         ("fingerprint", m.fingerprint)):
        click.echo(f"  {label:<12}{value}")
    rows = [(a.key, word(a.kind), str(a.size), short(a.digest, 16)) for a in m.artifacts]
    click.echo(f"  {len(rows)} artifact{'s' if len(rows) != 1 else ''}:")
    click.echo(columns([("KEY", "KIND", "BYTES", "SHA-256"), *rows], indent=4, right={2}))


@baseline_group.command("history")
@click.argument("device", shell_complete=complete_devices)
@json_option
@click.pass_context
def history_cmd(ctx: click.Context, device: str, as_json: bool) -> None:
    """List every baseline of a device, each verified; exit 5 if any fails.

    \b
    Example:
      plc-integrity baseline history vfd-hoist
    """
    site = open_site(ctx, only=[device])  # not the whole inventory: one device's history
    site.device(device)
    trust = trust_store(site)
    with open_store(site) as store:
        entries = store.history(device, trust)
    bad = [e for e in entries if not e.ok]
    code = BaselineInvalidError.exit_code if bad else 0
    if as_json:
        emit_json({"exit_code": code, "device": device,
                   "baselines": [e.to_dict() for e in entries], "valid": not bad})
        ctx.exit(code)
    if not entries:
        click.echo(f"{device}: no baselines")
    names = signer_names(trust)
    rows = [(f"#{e.sequence}", short(e.id), when(e.signed_at),
             signer(e.keyid, names) if e.keyid else "-",
             "ok" if e.ok else f"INVALID: {e.problem}", e.reason or "") for e in entries]
    if rows:
        click.echo(columns([("#", "ID", "SIGNED (UTC)", "SIGNER", "STATE", "REASON"), *rows]))
    ctx.exit(code)


@baseline_group.command("approve")
@click.argument("device")
@click.option("--proposal", "proposal", metavar="ID", help="Which pending proposal (id prefix), "
              "when there are several.")
@click.option("--key", "key_path", type=KeySpec(),
              help="Your private signing key (or agent:NAME).  Without it only the diff is "
                   "shown.")
@click.option("--passphrase-env", metavar="VAR", help="Read the key's passphrase from VAR.")
@click.option("--yes", is_flag=True, help="Sign without asking (you have seen the diff).")
@json_option
@click.pass_context
def approve_cmd(ctx: click.Context, device: str, proposal: str | None, key_path: Path | None,
                passphrase_env: str | None, yes: bool, as_json: bool) -> None:
    """Approve a device's pending proposal, after showing what it changes.

    The diff against the current approved baseline is shown first; on a
    terminal you are asked to confirm, otherwise give --yes.  When the
    approvals meet the site policy the proposal becomes the device's baseline.
    With no pending proposal, re-approves the current baseline (e.g. after a
    signer was revoked as compromised).  --json prints one document: the diff,
    and with --key and --yes the outcome.

    \b
    Example:
      plc-integrity baseline approve vfd-hoist --key ~/.plc-integrity/bob.key
    """
    import sys
    from datetime import datetime, timezone

    from baselines.proposals import Proposal
    from integrity.approvals import approval_diff
    from integrity.render import diff_report

    site = open_site(ctx)
    site.device(device)
    trust = trust_store(site)
    with open_store(site) as store:
        target = store.pending_proposal(device, trust, proposal)
        if target is None:
            target = _current_for_reapproval(store, device, trust)
        diff = approval_diff(store, device, target, trust, datetime.now(timezone.utc))
        doc = {"schema": 1, "device": device, "target": target.id,
               "proposal": target.to_dict() if isinstance(target, Proposal) else None,
               "diff": diff.to_dict(), "approved": False, "promoted": None}
        if not as_json:
            click.echo(f"{'proposal' if isinstance(target, Proposal) else 'current baseline'} "
                       f"{short(target.id)} of {device}: {target.manifest.reason!r}")
            click.echo(diff_report(diff))
        if key_path is None:
            if as_json:
                emit_json(doc)
            return
        if not yes:
            if as_json or not sys.stdin.isatty():
                raise ConfigError("give --yes to sign what was shown (no terminal to ask on)",
                                  field="--yes")
            click.confirm(f"Approve {short(target.id)} of {device}?", abort=True)
        key = load_signer(key_path, passphrase_env, trust)
        outcome = store.approve(device, key, trust, proposal=proposal, expect=target.id)
    doc.update(approved=True, already=outcome.already, approvals=outcome.tally.to_dict(),
               promoted=outcome.promoted.id if outcome.promoted else None)
    if as_json:
        emit_json(doc)
        return
    if outcome.already:
        click.echo("already approved by this key: it counts once")
    if outcome.promoted is not None:
        click.echo(f"{device}: baseline #{outcome.promoted.manifest.sequence} "
                   f"{short(outcome.promoted.id)} approved by {', '.join(outcome.tally.counted)}")
    elif outcome.tally.ok:
        click.echo(f"{device}: current baseline re-approved by {', '.join(outcome.tally.counted)}")
    else:
        click.echo(f"{device}: approved by {', '.join(outcome.tally.counted)}; still needs "
                   f"{outcome.tally.needs()}")


def _current_for_reapproval(store, device: str, trust):  # type: ignore[no-untyped-def]
    """The device's current baseline, verified in all but its approvals."""
    history = store.verified_history(device, trust)
    if not history:
        raise NoBaselineError(f"{device} has no pending proposal and no baseline")
    return history[-1]


@baseline_group.command("reject")
@click.argument("device")
@click.option("--proposal", "proposal", metavar="ID", help="Which pending proposal (id prefix).")
@click.option("--reason", required=True, help="Why it is rejected (kept).")
@json_option
@click.pass_context
def reject_cmd(ctx: click.Context, device: str, proposal: str | None, reason: str,
               as_json: bool) -> None:
    """Close a device's pending proposal without approving it.

    \b
    Example:
      plc-integrity baseline reject vfd-hoist --reason "ramp not in WO 4711"
    """
    site = open_site(ctx)
    site.device(device)
    with open_store(site) as store:
        closed = store.reject(device, reason, trust_store(site), proposal=proposal)
    if as_json:
        emit_json({"schema": 1, "proposal": closed.to_dict()})
        return
    click.echo(f"{device}: proposal {short(closed.id)} rejected: {reason}")


def register(cli: click.Group) -> None:
    cli.add_command(baseline_group)


