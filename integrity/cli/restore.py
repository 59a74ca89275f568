"""plc-integrity restore drill | plan | apply

The writers live in the top-level ``restore`` package and are imported only
inside plan and apply: verify, sweep, run and watch never load them.  The drill
only reads, so it is ``integrity.drill`` (the scheduler runs it too).
"""

from __future__ import annotations

from pathlib import Path

import click

from integrity.cli._common import (chosen_devices, emit_json, json_option, open_site, open_store,
                                   selection_args, trust_store)

DRILL_EXIT_HELP = """\b
Exit codes:
  0  every device was rebuilt from its backup and checks clean (RESTORABLE)
  1  a device is NOT RESTORABLE: the backup lacks something (listed)
  2  usage or configuration error
  5  the bundle or a baseline fails verification
"""


@click.group("restore")
def restore_group() -> None:
    """Prove backups restore (drill), and restore a device (plan, apply)."""


@restore_group.command("drill", epilog=DRILL_EXIT_HELP)
@selection_args
@click.option("--from", "bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Drill from a backup bundle (verified against this site's trust/) instead "
                   "of the store.")
@json_option
@click.pass_context
def drill_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool, tags: tuple[str, ...],
              bundle: Path | None, as_json: bool) -> None:
    """Rebuild each device as a simulator from its backup alone, and deep-check it.

    Writes nothing to any device: the rebuilt devices run on 127.0.0.1 only.
    Each verdict is recorded in the store's events, and a device that is not
    (or no longer) restorable alerts through the site's [[alerts]] sinks.

    \b
    Examples:
      plc-integrity restore drill --all
      plc-integrity restore drill --from /media/usb/crane.plcbak
    """
    from integrity.clock import utcnow
    from integrity.cli.ops import report_sink_failures
    from integrity.drill import drill, drill_bundle
    from integrity.sweep import alerting

    site = open_site(ctx)
    tracker, dispatcher = alerting(site)
    with open_store(site) as store:
        if bundle is not None:
            names = ([d.name for d in chosen_devices(site, devices, all_, tags)]
                     if (devices or tags) else None)
            report = drill_bundle(bundle, names, trust_store(site), record_in=store)
        else:
            names = [d.name for d in chosen_devices(site, devices, all_, tags)]
            report = drill(names, store, trust_store(site))
        report.send_alerts(store, now=utcnow(), remind_after=tracker.remind_after,
                           dispatcher=dispatcher)
    if as_json:
        emit_json(report.to_dict())
        ctx.exit(report.exit_code)
    for r in report.results:
        head = f"{r.device}: {r.verdict}"
        if r.sequence is not None:
            head += f" (baseline #{r.sequence} {r.baseline_id[:12]})"
        click.echo(head)
        for item in r.missing:
            click.echo(f"  missing: {item}")
        for item in r.differences:
            click.echo(f"  rebuilt device differs: {item}")
        if r.error:
            click.echo(f"  {r.error}")
        for note in r.notes:
            click.echo(f"  note: {note}")
    if report.alerts:
        click.echo(f"{len(report.alerts)} alert(s) raised")
    report_sink_failures(report.delivery)
    ctx.exit(report.exit_code)


RESTORE_EXIT_HELP = """\b
Exit codes:
  0  plan: the device matches its baseline (nothing to write);
     apply: written, and the deep verify afterwards is OK
  1  plan: the device differs (the writes, and what cannot be restored over
     the network, listed); apply: the verify afterwards still finds drift
  2  usage error, or a gate refused (no --confirm, no maintenance window,
     CPU in RUN without --allow-run, a protocol restore does not write:
     S7-1200/1500 over S7CommPlus): nothing was written
  3  the device could not be read, or a write failed (what was written
     before it is listed and in the events)
  4  no baseline     5  the baseline fails verification
"""


def _baseline_sequence(store, trust, device: str, ref: str | None) -> int | None:
    from integrity.errors import ConfigError

    if ref is None:
        return None
    text = ref.lstrip("#")
    if text.isdigit():
        return int(text)
    matches = [e.sequence for e in store.history(device, trust) if e.id and e.id.startswith(text)]
    if len(matches) != 1 or len(text) < 8:
        raise ConfigError(f"--baseline {ref!r} names no single baseline of {device} (give its "
                          "sequence number or at least 8 hex digits of its id)", field="--baseline")
    return matches[0]


def _show_plan(plan) -> None:
    click.echo(f"{plan.device}: restore plan to baseline #{plan.sequence} {plan.baseline_id[:12]}"
               + (f" (CPU in {plan.mode})" if plan.mode else ""))
    if plan.unsupported:
        click.echo(f"  NOT SUPPORTED: {plan.unsupported}")
    if plan.in_sync:
        click.echo("  the device matches its baseline: nothing to write")
    for w in plan.writes:
        click.echo(f"  write  {w.describe()}")
    for item in plan.cannot:
        click.echo(f"  CANNOT restore over the network: {item}")


@restore_group.command("plan", epilog=RESTORE_EXIT_HELP)
@click.argument("device")
@click.option("--baseline", "baseline_ref", help="Sequence number or id of the baseline "
                                                 "(default: the latest valid one).")
@json_option
@click.pass_context
def plan_cmd(ctx: click.Context, device: str, baseline_ref: str | None, as_json: bool) -> None:
    """Read a device (read-only) and print the exact writes that would restore it.

    An S7-1200/1500 (S7CommPlus) is not restored over the network: its plan
    says so, writes nothing, and lists what differs.

    \b
    Example:
      plc-integrity restore plan vfd-hoist
    """
    from restore.plan import make_plan

    site = open_site(ctx)
    dev = site.device(device)
    with open_store(site) as store:
        trust = trust_store(site)
        plan = make_plan(dev, store, trust,
                         sequence=_baseline_sequence(store, trust, device, baseline_ref))
    code = 0 if plan.in_sync else 1
    if as_json:
        emit_json({"schema": 1, "exit_code": code, **plan.to_dict()})
    else:
        _show_plan(plan)
    ctx.exit(code)


@restore_group.command("apply", epilog=RESTORE_EXIT_HELP)
@click.argument("device")
@click.option("--confirm", help="The device's name again: you mean to write to it.")
@click.option("--allow-run", is_flag=True,
              help="S7: download blocks into a CPU in RUN (never the default).")
@json_option
@click.pass_context
def apply_cmd(ctx: click.Context, device: str, confirm: str | None, allow_run: bool,
              as_json: bool) -> None:
    """Write the plan to the device inside a maintenance window, then verify it deep.

    Only what `restore plan` lists is written; each write is recorded in the
    store's events with the old and new value and who confirmed it.

    \b
    Example:
      plc-integrity maintenance start vfd-hoist --reason "WO 4712: restore" --until 1h
      plc-integrity restore apply vfd-hoist --confirm vfd-hoist
    """
    import getpass

    from integrity.render import diff_report
    from restore.apply import apply_plan, check_supported
    from restore.plan import make_plan

    site = open_site(ctx)
    dev = site.device(device)
    check_supported(dev)  # before the device is even read
    with open_store(site) as store:
        trust = trust_store(site)
        plan = make_plan(dev, store, trust)
        result = apply_plan(plan, dev, store, trust, confirm=confirm, user=getpass.getuser(),
                            allow_run=allow_run)
    if as_json:
        emit_json(result.to_dict())
        ctx.exit(result.exit_code)
    _show_plan(plan)
    click.echo(f"{len(result.written)} of {len(plan.writes)} write(s) made")
    if result.error:
        click.echo(f"  stopped: {result.error}")
    if result.verify is not None:
        click.echo(diff_report(result.verify))
    ctx.exit(result.exit_code)


def register(cli: click.Group) -> None:
    cli.add_command(restore_group)
