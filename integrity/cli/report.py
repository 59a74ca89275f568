"""plc-integrity report — signed audit reports from the store."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import click

from integrity.cli._common import (chosen_devices, emit_json, json_option, open_site,
                                   open_store, selection_args, trust_store)
from integrity.render import signer as signer_label, when


def _when(text: str | None, option: str, *, end: bool = False) -> datetime | None:
    """A UTC date (a --to date includes its whole day) or an ISO time."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = datetime.combine(datetime.fromisoformat(text).date(), time(), timezone.utc)
            return day + timedelta(days=1) if end else day
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("give a date (2026-11-24) or an ISO time "
                                 "(2026-11-24T06:00+00:00)", param_hint=option) from None
    return ts.astimezone(timezone.utc) if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


@click.command("report")
@selection_args(default_all=True)
@click.option("--from", "since", metavar="DATE", help="Start (UTC date or ISO time); default "
              "7 days before --to.")
@click.option("--to", "until", metavar="DATE", help="End (a date includes its whole day); "
              "default now.")
@click.option("--format", "fmt", type=click.Choice(["html", "csv", "json"]),
              help="Default: from the --out suffix, else html.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Report file.")
@click.option("--key", "key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sign the report with this key: a detached signature goes to OUT.sig.")
@click.option("--passphrase-env", metavar="VAR", help="Read the key's passphrase from VAR.")
@click.option("--sig", "sig_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With `report verify FILE`: the detached signature (default FILE.sig).")
@json_option
@click.pass_context
def report_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool,
               tags: tuple[str, ...],
               since: str | None, until: str | None, fmt: str | None, out: Path | None,
               key_path: Path | None, passphrase_env: str | None, sig_path: Path | None,
               as_json: bool) -> None:
    """Write an audit report for a period: per device, checks by outcome,
    every drift and how it ended (restored, approved as a new baseline with
    reason and signer, or open), unreachable periods, baselines signed, supplier
    flags; backup and restore-drill results.  Reads only the store.

    With --key the report is signed (OUT.sig); `report verify FILE` later
    shows it is ours and unchanged (exit 0), or not (exit 5: changed, or not
    signed by a key in trust/).  HTML is one self-contained, printable file.
    Without names, --all or --tag, every device is reported.

    \b
    Examples:
      plc-integrity report --from 2026-11-23 --to 2026-11-29 --out week48.html \\
          --key ~/.plc-integrity/alice.key
      plc-integrity report verify week48.html --sig week48.html.sig
    """
    if devices[:1] == ("verify",):
        # `report verify FILE`: the first word, not a device named "verify".
        if len(devices) != 2:
            raise click.UsageError("usage: plc-integrity report verify FILE [--sig SIG]")
        _verify(ctx, Path(devices[1]), sig_path, as_json)
        return
    from baselines.signing import SigningKey
    from integrity.cli.keys import read_passphrase
    from integrity.report import Period, build_report, render, sign_report, write_report

    if out is None:
        raise click.UsageError("--out FILE is required")
    fmt = fmt or (out.suffix.lstrip(".").lower() if out.suffix.lower() in (".csv", ".json")
                  else "html")
    now = datetime.now(timezone.utc)
    end = _when(until, "--to", end=True) or now
    period = Period(_when(since, "--from") or end - timedelta(days=7), end)
    key = SigningKey.load(key_path, read_passphrase(key_path, passphrase_env)) if key_path else None
    site = open_site(ctx)
    chosen = chosen_devices(site, devices, all_, tags, default_all=True)
    with open_store(site) as store:
        doc = build_report(site, store, trust_store(site), period, now=now, devices=chosen)
    data = render(doc, fmt)
    write_report(out, data)
    sig_path = None
    if key is not None:
        sig_path = out.with_name(out.name + ".sig")
        write_report(sig_path, sign_report(data, key, signed_at=now))
    if as_json:
        emit_json({"schema": 1, "out": str(out), "format": fmt, "signature": str(sig_path)
                   if sig_path else None, "from": doc["from"], "to": doc["to"],
                   "devices": len(doc["devices"]),
                   "drifts": sum(len(d["drifts"]) for d in doc["devices"])})
        return
    click.echo(f"report of {len(doc['devices'])} devices, {doc['from'][:19]} to "
               f"{doc['to'][:19]}: {out} ({fmt})" + (f", signed: {sig_path}" if sig_path else ""))


def _verify(ctx: click.Context, file: Path, sig_path: Path | None, as_json: bool) -> None:
    """A report's signature, by a key in trust/, over its exact bytes."""
    from integrity.report import verify_report

    if not file.is_file():
        raise click.BadParameter(f"{file} does not exist", param_hint="FILE")
    sig_path = sig_path or file.with_name(file.name + ".sig")
    if not sig_path.is_file():
        raise click.BadParameter(f"{sig_path} does not exist", param_hint="--sig")
    site = open_site(ctx)
    doc = verify_report(file.read_bytes(), sig_path.read_bytes(), trust_store(site))
    if as_json:
        emit_json({"schema": 1, "verified": True, "file": str(file), "keyid": doc["keyid"],
                   "signer_name": doc["signer_name"], "signed_at": doc.get("signed_at")})
        return
    click.echo(f"{file}: verified, signed by "
               f"{signer_label(doc['keyid'], lambda _k: doc['signer_name'])} "
               f"at {when(doc.get('signed_at'))}")


def register(cli: click.Group) -> None:
    cli.add_command(report_cmd)
