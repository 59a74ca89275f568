"""plc-integrity policy init | sign | show, and checkpoint sign | show"""

from __future__ import annotations

from pathlib import Path

import click

from integrity.cli._common import emit_json, json_option, open_site, open_store, trust_store
from integrity.cli.keys import KeySpec, load_signer, sign_and_say
from integrity.errors import ConfigError, PolicyError
from integrity.render import signer, when


@click.group("checkpoint")
def checkpoint_group() -> None:
    """The signed checkpoint of the store's state (rollback and freeze)."""


@checkpoint_group.command("sign")
@click.option("--reanchor", is_flag=True,
              help="Sign what the store holds now, even if it is older than the last "
                   "checkpoint: only after a deliberate restore of an earlier copy.")
@json_option
@click.pass_context
def checkpoint_sign_cmd(ctx: click.Context, reanchor: bool, as_json: bool) -> None:
    """Re-sign the store's state as a new checkpoint version with a fresh expiry.

    Run it regularly (cron, a systemd timer) on a site whose baselines rarely
    change: an expired checkpoint is reported as a frozen store.  On a site
    from before checkpoints it signs the first one (and makes this host's
    checkpoint key).  After restoring an earlier copy on purpose, --reanchor
    accepts the restored state (needs the checkpoint key; the version still
    goes up, so every other host sees it as new).

    \b
    Example:
      plc-integrity checkpoint sign
    """
    site = open_site(ctx)
    with open_store(site) as store:
        cp = store.sign_checkpoint(reanchor=reanchor)
    if as_json:
        emit_json({"schema": 1, "checkpoint": cp.to_dict()})
        return
    click.echo(f"checkpoint version {cp.version} signed by {signer(cp.keyid)}, "
               f"{len(cp.heads)} device(s), expires {when(cp.expires)} UTC")


@checkpoint_group.command("show")
@json_option
@click.pass_context
def checkpoint_show_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show the checkpoint in force, verified (exit 5 if it cannot be trusted).

    \b
    Example:
      plc-integrity checkpoint show --json
    """
    from baselines.checkpoint import Checkpoint

    site = open_site(ctx)
    checkpoint = Checkpoint.for_site(site.root)
    cp = checkpoint.load()
    if as_json:
        emit_json({"schema": 1, "path": str(checkpoint.path),
                   "memory": str(checkpoint.local.path),
                   "checkpoint": cp.to_dict() if cp else None})
        return
    if cp is None:
        click.echo(f"no checkpoint at {checkpoint.path} (`plc-integrity checkpoint sign`)")
        return
    click.echo(f"checkpoint {checkpoint.path}: version {cp.version}, signed by "
               f"{signer(cp.keyid)} at {when(cp.issued)} UTC, expires "
               f"{when(cp.expires)} UTC")
    click.echo(f"this host's memory: {checkpoint.local.path}")
    for device, e in sorted(cp.heads.items()):
        click.echo(f"  {device:<24} #{e.sequence:<4} {e.id[:16]}  policy v{e.policy}")


@click.group("policy")
def policy_group() -> None:
    """The signed site policy: who may approve what, and how many must."""


@policy_group.command("init")
@click.option("--root", "root", multiple=True, required=True, metavar="NAME",
              help="A root key (a name in trust/); repeat for several.")
@click.option("--root-threshold", type=click.IntRange(1), default=1, show_default=True,
              help="Root signatures needed to adopt or change the policy.")
@click.option("--threshold", type=click.IntRange(1), default=1, show_default=True,
              help="Approvals every baseline needs (edit the draft for per-tag rules and roles).")
@click.option("--expires", default="365d", show_default=True,
              help="Expiry: a date (2027-12-01) or a number of days (365d).")
@click.pass_context
def policy_init_cmd(ctx: click.Context, root: tuple[str, ...], root_threshold: int,
                    threshold: int, expires: str) -> None:
    """Write a first policy draft (trust/policy.draft.toml) from the trusted keys.

    Edit the draft if you like (rules per tag, roles, key expiry), then sign it
    with the root keys; it is in force once it carries the root threshold.

    \b
    Example:
      plc-integrity policy init --root alice --root bob --threshold 2
      plc-integrity policy sign --key ~/.plc-integrity/alice.key
    """
    from baselines.policy_edit import write_draft

    site = open_site(ctx)
    trust = trust_store(site)
    if (site.trust_dir / "policy.toml").exists():
        raise ConfigError("a policy is in force; change it with a draft of the next version "
                          "(plc-integrity keys revoke/rotate write one)",
                          file=str(site.trust_dir / "policy.toml"))
    keys = {k.name: k.keyid for k in trust.keys()}
    unknown = [n for n in root if n not in keys]
    if unknown:
        raise ConfigError(f"no key named {', '.join(unknown)} in {site.trust_dir}", field="--root")
    if root_threshold > len(root):
        raise ConfigError("--root-threshold is more than the root keys", field="--root-threshold")
    from baselines.checkpoint import Checkpoint

    doc = {"version": 1, "expires": _expiry(expires),
           "root": {"keys": list(root), "threshold": root_threshold},
           "keys": {n: {"keyid": k, "roles": []} for n, k in keys.items()},
           "rules": [{"devices": ["*"], "threshold": threshold}]}
    current = Checkpoint.for_site(site.root).load()
    if current is not None:  # the policy pins the checkpoint key, also for hosts new to the site
        doc["checkpoint"] = {"keyid": current.keyid}
    path = write_draft(site.trust_dir, doc)
    click.echo(f"draft written to {path}; sign it: plc-integrity policy sign --key KEY")


def _expiry(text: str) -> str:
    from datetime import datetime, timedelta, timezone

    if text.endswith("d") and text[:-1].isdigit():
        return (datetime.now(timezone.utc) + timedelta(days=int(text[:-1]))).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{text!r} is neither a date nor a number of days", field="--expires")
    return text


@policy_group.command("sign")
@click.option("--key", "key_path", required=True, type=KeySpec(),
              help="A root key's private key (or agent:NAME).")
@click.option("--passphrase-env", metavar="VAR", help="Read the key's passphrase from VAR.")
@click.pass_context
def policy_sign_cmd(ctx: click.Context, key_path: Path, passphrase_env: str | None) -> None:
    """Add a root signature to the policy draft (or to the policy in force).

    A draft takes over once it carries its own root threshold and that of the
    version before it; the version before is kept in trust/policies/.

    \b
    Example:
      plc-integrity policy sign --key ~/.plc-integrity/alice.key
    """
    site = open_site(ctx)
    trust = trust_store(site)
    sign_and_say(site, load_signer(key_path, passphrase_env, trust), trust)


@policy_group.command("show")
@json_option
@click.pass_context
def policy_show_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show the policy in force and whether it verifies (exit 5 if it does not).

    \b
    Example:
      plc-integrity policy show
    """
    from datetime import datetime, timezone

    site = open_site(ctx)
    trust = trust_store(site)
    draft = site.trust_dir / "policy.draft.toml"
    policy = trust.policy
    now = datetime.now(timezone.utc)
    if isinstance(policy, PolicyError):
        if as_json:
            emit_json({"schema": 1, "policy": None, "valid": False, "error": str(policy),
                       "draft": draft.exists()})
        else:
            click.echo(f"policy INVALID: {policy}")
        ctx.exit(PolicyError.exit_code)
    if policy is None:
        if as_json:
            emit_json({"schema": 1, "policy": None, "valid": True, "draft": draft.exists()})
        else:
            click.echo("no policy: one signature by any key in trust/ makes a baseline")
        return
    keys = {k.keyid: k.name for k in trust.keys()}
    rows = []
    for keyid, name in sorted(keys.items(), key=lambda kv: kv[1]):
        info = policy.key_info(keyid, trust)
        rows.append({"name": name, "keyid": keyid, "roles": list(info.roles),
                     "status": info.status(now),
                     "expires": info.expires.isoformat() if info.expires else None,
                     "root": name in policy.root_keys})
    rules = [{"devices": list(r.devices) or None, "tag": r.tag, "threshold": r.threshold,
              "roles": dict(r.roles)} for r in policy.rules]
    if as_json:
        emit_json({"schema": 1, "valid": True, "draft": draft.exists(), "policy": {
            "version": policy.version, "expires": policy.expires.isoformat(),
            "sha256": policy.sha256, "root": {"keys": list(policy.root_keys),
                                              "threshold": policy.root_threshold},
            "keys": rows, "rules": rules}})
        return
    click.echo(f"policy v{policy.version} verified, expires {policy.expires:%Y-%m-%d} "
               f"({policy.path})")
    click.echo(f"  root: {policy.root_threshold} of {', '.join(policy.root_keys)}")
    for r in rules:
        who = f"tag {r['tag']}" if r["tag"] else ", ".join(r["devices"])
        roles = ", ".join(f"{n} {role}" for role, n in r["roles"].items())
        click.echo(f"  rule: {who}: {r['threshold']} approval(s)" + (f" incl. {roles}" if roles else ""))
    for row in rows:
        click.echo(f"  key {row['name']:<16} {row['status']:<12} roles "
                   f"{','.join(row['roles']) or '-'}")
    if draft.exists():
        click.echo(f"  a draft of the next version waits for signatures: {draft}")


def register(cli: click.Group) -> None:
    cli.add_command(checkpoint_group)
    cli.add_command(policy_group)
