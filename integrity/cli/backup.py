"""plc-integrity backup export | verify | list | import"""

from __future__ import annotations

from pathlib import Path

import click

from integrity.cli._common import (chosen_devices, emit_json, json_option, open_site, open_store,
                                   selection_args, trust_store)
from integrity.cli.keys import read_passphrase
from integrity.errors import ConfigError
from integrity.render import signer, when

BACKUP_EXIT_HELP = """\b
Exit codes:
  0  the bundle is complete and every signature, chain and hash verifies
  2  usage error, or the file cannot be read
  4  (export) no chosen device has a baseline
  5  something in the bundle is altered or missing (each finding says what
     and where); (export) a history in the store fails verification
"""


@click.group("backup")
def backup_group() -> None:
    """Offline backups of every signed baseline and its contents."""


@backup_group.command("export", epilog=BACKUP_EXIT_HELP)
@selection_args
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="The bundle file to write (replaced atomically if it exists).")
@click.option("--dir", "folder", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Instead of --out: write plc-integrity-<UTC time>.plcbak into this folder.")
@click.option("--keep", type=click.IntRange(min=1),
              help="With --dir: then remove all but the newest KEEP such bundles there.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Sign the bundle's index with this private key.")
@click.option("--passphrase-env", metavar="VAR", help="Read the key's passphrase from VAR.")
@json_option
@click.pass_context
def export_cmd(ctx: click.Context, devices: tuple[str, ...], all_: bool, tags: tuple[str, ...],
               out: Path | None, folder: Path | None, keep: int | None, key_path: Path | None,
               passphrase_env: str | None, as_json: bool) -> None:
    """Write the devices' whole signed histories and contents into one bundle file.

    The same store always gives the same bytes.  Devices without a baseline are
    skipped with --all or --tag, and an error when named.

    \b
    Examples:
      plc-integrity backup export --all --out /media/usb/crane-2026-12-01.plcbak \\
          --key ~/.plc-integrity/alice.key
      plc-integrity backup export --all --dir /srv/backups --keep 14     # nightly, rotated
    """
    from datetime import datetime, timezone

    from baselines.bundle import prune, rotated_name, write_bundle_file
    from baselines.signing import SigningKey

    if (out is None) == (folder is None):
        raise ConfigError("give exactly one of --out FILE or --dir DIR", field="--out")
    if keep is not None and folder is None:
        raise ConfigError("--keep works with --dir (it rotates that folder's bundles)",
                          field="--keep")
    site = open_site(ctx)
    chosen = [d.name for d in chosen_devices(site, devices, all_, tags)]
    key = SigningKey.load(key_path, read_passphrase(key_path, passphrase_env)) if key_path else None
    target = out if out is not None else folder / rotated_name(datetime.now(timezone.utc))
    with open_store(site) as store:
        summary = write_bundle_file(store, trust_store(site), chosen, target, key=key,
                                    skip_missing=bool(all_ or tags))
    removed = prune(folder, keep) if folder is not None and keep is not None else []
    if as_json:
        emit_json({"schema": 1, "exit_code": 0, "file": str(target), **summary.to_dict(),
                   "removed": [str(p) for p in removed]})
        return
    click.echo(f"{target}: {len(summary.devices)} devices, {summary.baselines} baselines, "
               f"{summary.blobs} blobs ({summary.blob_bytes} bytes of content)"
               + (f", index signed by {signer(summary.signed_by)}" if summary.signed_by else "")
               + (f", checkpoint version {summary.checkpoint_version}"
                  if summary.checkpoint_version else ""))
    for name in summary.skipped:
        click.echo(f"  {name}: skipped (no baseline)")
    if summary.checkpoint_left_out:
        click.echo(f"  warning: {summary.checkpoint_left_out}")
    for path in removed:
        click.echo(f"  removed older bundle {path.name}")


@backup_group.command("verify", epilog=BACKUP_EXIT_HELP)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trust", "trust_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Folder of trusted *.pub keys (e.g. a copy of a site's trust/). Without it "
                   "only the bundle's own keys are used.")
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, file: Path, trust_dir: Path | None, as_json: bool) -> None:
    """Check a bundle offline: signatures, chains, hashes, completeness.

    Needs no site, store or network.

    \b
    Example:
      plc-integrity backup verify crane.plcbak --trust /media/usb/trust
    """
    from baselines.bundle_verify import verify_bundle

    report = verify_bundle(file, trust_dir)
    if as_json:
        emit_json(report.to_dict())
        ctx.exit(report.exit_code)
    baselines = sum(len(d.baselines) for d in report.devices)
    click.echo(f"{file}: {len(report.devices)} devices, {baselines} baselines, {report.blobs} "
               f"blobs, {report.size} bytes")
    click.echo(f"signatures {report.trust}")
    index_signer = report.index_signer
    click.echo(f"index: {'signed by ' + signer(index_signer) if index_signer else 'not signed'}")
    cp = report.checkpoint
    if cp is None:
        click.echo("checkpoint: none (the site had no signed checkpoint)")
    elif cp["keyid"] is not None:
        click.echo(f"checkpoint: version {cp['version']}, key {signer(cp['keyid'])}, issued "
                   f"{when(cp['issued'])}, {'ok' if cp['ok'] else 'FAILED'}; key vouched for by "
                   f"{cp['vouched_by'] or 'nothing here (its own signature only)'}")
    for d in report.devices:
        last = d.baselines[-1] if d.baselines else None
        newest = (f"  newest #{last['sequence']} by "
                  f"{signer(last['keyid'], lambda _k: last['signer'])}" if last else "")
        click.echo(f"  {d.device:<24} {d.protocol:<7} {len(d.baselines)} baseline(s)  "
                   f"{'ok' if d.ok else 'FAILED'}{newest}")
    if report.ok:
        click.echo("OK: the bundle is complete and verifies")
    else:
        click.echo(f"TAMPERED or INCOMPLETE: {len(report.problems)} problem(s)")
        for p in report.problems:
            click.echo(f"  {p}")
    ctx.exit(report.exit_code)


@backup_group.command("list")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def list_cmd(file: Path, as_json: bool) -> None:
    """Show a bundle's devices, baselines, signers and dates (not verified: use verify).

    \b
    Example:
      plc-integrity backup list crane.plcbak --json
    """
    from baselines.bundle_verify import list_bundle

    index = list_bundle(file)
    keys = index["keys"]
    if as_json:
        emit_json({"schema": 1, "file": str(file), "verified": False,
                   "devices": index["devices"], "keys": keys, "blobs": len(index["blobs"]),
                   "checkpoint": index.get("checkpoint")})
        return
    for device, dev in sorted(index["devices"].items()):
        click.echo(f"{device} ({dev['protocol']})")
        for b in dev["baselines"]:
            name = (keys.get(b["keyid"]) or {}).get("name") or "?"
            click.echo(f"  #{b['sequence']:<4} {b['id'][:16]}  {b['signed_at']}  "
                       f"{signer(b['keyid'], lambda _k: name)}")
    cp = index.get("checkpoint")
    click.echo(f"checkpoint: version {cp['version']} (key {signer(cp['keyid'])})" if cp
               else "checkpoint: none")
    click.echo(f"{len(index['blobs'])} blobs; not verified: run `plc-integrity backup verify`")


@backup_group.command("import", epilog=BACKUP_EXIT_HELP)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@click.pass_context
def import_cmd(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Bring a bundle's histories into this site, unchanged (same ids, same signatures).

    This site's trust/ decides: a bundle with a signer it does not trust is
    refused.  A device that already has newer history here is left as it is.

    \b
    Example:
      plc-integrity --site /srv/dr-site backup import crane.plcbak
    """
    from baselines.bundle_import import import_bundle

    site = open_site(ctx)
    with open_store(site) as store:
        result = import_bundle(file, store, trust_store(site))
    if as_json:
        emit_json({"schema": 1, **result.to_dict()})
        ctx.exit(result.exit_code)
    for p in result.problems:
        click.echo(f"  {p}", err=True)
    for d in result.devices:
        click.echo(f"{d.device}: {d.outcome}" + (f" ({d.detail})" if d.detail else ""))
    if result.checkpoint_note:
        click.echo(f"note: {result.checkpoint_note}")
    if result.problems:
        click.echo(f"nothing imported: the bundle does not verify against {site.trust_dir}",
                   err=True)
    ctx.exit(result.exit_code)


def register(cli: click.Group) -> None:
    cli.add_command(backup_group)

