"""plc-integrity keys create | list"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from integrity.cli._common import emit_json, json_option, open_site, site_root, trust_store
from integrity.errors import ConfigError, KeyFileError
from integrity.render import columns, signer


def passphrase_from_env(var: str) -> bytes:
    value = os.environ.get(var)
    if value is None:
        raise ConfigError(f"environment variable {var} is not set", field="--passphrase-env")
    if not value:
        raise ConfigError(f"environment variable {var} is empty", field="--passphrase-env")
    return value.encode("utf-8")


def read_passphrase(key_path: Path, passphrase_env: str | None) -> bytes | None:
    """The passphrase to unlock ``key_path``: from the env var, else a prompt on a terminal."""
    from baselines.signing import SigningKey

    if passphrase_env:
        return passphrase_from_env(passphrase_env)
    if not SigningKey.is_encrypted(key_path):
        return None
    if not sys.stdin.isatty():
        raise KeyFileError(f"{key_path} is passphrase-protected: give --passphrase-env VAR "
                           "(no terminal to prompt on)")
    return click.prompt(f"Passphrase for {key_path}", hide_input=True).encode("utf-8")


class KeySpec(click.ParamType):
    """A private key file, or ``agent:NAME`` for the key of trust/NAME.pub held
    by ssh-agent (the private key then never touches plc-integrity)."""

    name = "KEY"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, Path) or not str(value).startswith("agent:"):
            path = Path(value).expanduser()
            if not path.is_file():
                self.fail(f"{value}: no such key file (or agent:NAME for a key in ssh-agent)",
                          param, ctx)
            return path
        return str(value)


def load_signer(spec: Path | str, passphrase_env: str | None, trust):  # type: ignore[no-untyped-def]
    """The Signer for a --key value: a file key, or a key in ssh-agent named
    by its trust/ name (or key id).  Raises KeyFileError."""
    from baselines.signing import SigningKey

    if isinstance(spec, Path):
        return SigningKey.load(spec, read_passphrase(spec, passphrase_env))
    from baselines.agent import AgentSigner

    wanted = spec.removeprefix("agent:")
    found = [k.keyid for k in trust.keys() if k.name == wanted or
             (len(wanted) >= 16 and k.keyid.startswith(wanted))]
    if len(found) != 1:
        raise KeyFileError(f"--key {spec}: no single key named {wanted!r} in {trust.folder}")
    return AgentSigner.find(found[0])


@click.group("keys")
def keys_group() -> None:
    """Signing keys: create key pairs, list the trusted public keys."""


@keys_group.command("create")
@click.argument("name")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for NAME.key (private, mode 0600) and NAME.pub.")
@click.option("--trust", "trust", is_flag=True,
              help="Also add the public key to this site's trust/ folder.")
@click.option("--passphrase-env", metavar="VAR", help="Encrypt the private key with the "
              "passphrase in this environment variable.")
@click.option("--no-passphrase", is_flag=True, help="Leave the private key unencrypted.")
@click.pass_context
def create_cmd(ctx: click.Context, name: str, out: Path, trust: bool, passphrase_env: str | None,
               no_passphrase: bool) -> None:
    """Create an Ed25519 key pair for signing baselines.

    \b
    Example:
      plc-integrity keys create alice --out ~/.plc-integrity --trust
    """
    from baselines.signing import TrustStore, generate_keypair

    if passphrase_env and no_passphrase:
        raise click.UsageError("--passphrase-env and --no-passphrase exclude each other")
    if passphrase_env:
        passphrase: bytes | None = passphrase_from_env(passphrase_env)
    elif no_passphrase:
        passphrase = None
    elif sys.stdin.isatty():
        passphrase = click.prompt("Passphrase for the new key", hide_input=True,
                                  confirmation_prompt=True).encode("utf-8")
    else:
        raise click.UsageError("no terminal to prompt for a passphrase: give --passphrase-env VAR "
                               "or --no-passphrase")
    if trust:
        root = site_root(ctx)
        if not (root / "site.toml").is_file():
            raise ConfigError(f"--trust needs a site; none in {root} (plc-integrity init)")
    key_path, pub_path, keyid = generate_keypair(name, out, passphrase)
    click.echo(f"key id   {keyid}")
    click.echo(f"private  {key_path}")
    click.echo(f"public   {pub_path}")
    if trust:
        TrustStore(site_root(ctx) / "trust").add(pub_path)
        click.echo(f"trusted  added to {site_root(ctx) / 'trust'}")
        if (site_root(ctx) / "trust" / "policy.toml").exists():
            click.echo(f"note     under the site policy it approves nothing until a root key "
                       f"grants it: plc-integrity keys grant {name} --role ROLE --key ROOTKEY")


@keys_group.command("list")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the public keys this site trusts, with role, status and expiry.

    Roles, expiry and revocations come from the signed site policy; without
    one every trusted key is active with no role.

    \b
    Example:
      plc-integrity keys list
    """
    from datetime import datetime, timezone

    from integrity.errors import PolicyError

    site = open_site(ctx)
    trust = trust_store(site)
    problems = trust.problems()
    policy = trust.policy if not isinstance(trust.policy, PolicyError) else None
    now = datetime.now(timezone.utc)
    rows = []
    for keyid, name, path in trust.keys():
        info = policy.key_info(keyid, trust) if policy else None
        rows.append({"name": name, "keyid": keyid, "path": str(path),
                     "roles": list(info.roles) if info else [],
                     "root": bool(policy and name in policy.root_keys),
                     "status": info.status(now) if info else "active",
                     "expires": info.expires.isoformat() if info and info.expires else None,
                     "revoked": info.revoked.isoformat() if info and info.revoked else None,
                     "reason": info.reason if info else None})
    if as_json:
        emit_json({"keys": rows, "policy_error": str(trust.policy)
                   if isinstance(trust.policy, PolicyError) else None,
                   "problems": [{"path": str(p), "problem": why} for p, why in problems]})
        return
    if not rows:
        click.echo(f"no trusted keys in {site.trust_dir}")
    if isinstance(trust.policy, PolicyError):
        click.echo(f"policy INVALID (roles and status unknown): {trust.policy}", err=True)
    table = [(signer(r["keyid"]), r["name"],
              ",".join(r["roles"] + (["root"] if r["root"] else [])) or "-", r["status"],
              f"expires {r['expires'][:10] if r['expires'] else '-'}", r["path"]) for r in rows]
    if table:
        click.echo(columns(table))
    # A file in trust/ that is not a usable key trusts nobody: say so.
    for path, problem in problems:
        click.echo(f"unusable  {path}: {problem}", err=True)


def _policy_change(ctx: click.Context, key_path: Path, passphrase_env: str | None,
                   change) -> None:  # type: ignore[no-untyped-def]
    """Write the next policy version (``change`` edits its document) as a
    draft, sign it with the root key given, and say whether it is in force."""
    from baselines.policy_edit import to_doc, write_draft
    from integrity.errors import PolicyError

    site = open_site(ctx)
    trust = trust_store(site)
    if trust.policy is None:
        raise ConfigError("revoking, rotating and expiring keys are signed policy changes: this "
                          "site has no policy yet (plc-integrity policy init); without one, "
                          f"remove the key's .pub from {site.trust_dir}")
    if isinstance(trust.policy, PolicyError):
        raise trust.policy
    key = load_signer(key_path, passphrase_env, trust)
    doc = to_doc(trust.policy)
    doc["version"] += 1
    change(doc, trust)
    write_draft(site.trust_dir, doc)
    sign_and_say(site, key, trust)


def sign_and_say(site, key, trust) -> None:  # type: ignore[no-untyped-def]
    """Sign the draft (or the policy in force) and say whether it is in force."""
    from baselines.policy_edit import sign_policy

    policy, in_force, missing = sign_policy(site.trust_dir, key, trust)
    if in_force:
        trust_store(site)  # read back, verified: this host now remembers the version
        click.echo(f"policy v{policy.version} is in force ({policy.path})")
    else:
        click.echo(f"signed {policy.path} (v{policy.version}); not in force yet: {missing}")


def _known(doc, name: str, trust) -> dict:  # type: ignore[no-untyped-def]
    keys = doc.setdefault("keys", {})
    if name not in keys:
        keyid = next((k.keyid for k in trust.keys() if k.name == name), None)
        if keyid is None:
            raise ConfigError(f"no key named {name} in the policy or in trust/")
        keys[name] = {"keyid": keyid, "roles": []}
    return keys[name]


def _now_text() -> str:
    from datetime import datetime, timezone

    # Full precision: a revocation rounded down would void signatures made
    # in the second before it.
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


_root_key_option = click.option(
    "--key", "key_path", required=True, type=KeySpec(),
    help="A root key (file, or agent:NAME): key changes are signed policy changes.")
_passphrase_option = click.option("--passphrase-env", metavar="VAR",
                                  help="Read the root key's passphrase from VAR.")


@keys_group.command("revoke")
@click.argument("name")
@click.option("--reason", required=True, help="Why (kept in the signed policy).")
@click.option("--compromised", is_flag=True,
              help="Void every signature the key ever made: baselines it signed alone need "
                   "re-approval.")
@_root_key_option
@_passphrase_option
@click.pass_context
def revoke_cmd(ctx: click.Context, name: str, reason: str, compromised: bool, key_path: Path,
               passphrase_env: str | None) -> None:
    """Revoke a key: its signatures made from now on do not count.

    \b
    Example:
      plc-integrity keys revoke carol --reason "left the team" --key ~/.plc-integrity/alice.key
    """
    def change(doc, trust):  # type: ignore[no-untyped-def]
        entry = _known(doc, name, trust)
        entry.update(revoked=_now_text(), reason=reason, compromised=compromised or None)
        remaining = [k for k in doc["root"]["keys"] if k != name]
        if len(remaining) < doc["root"]["threshold"]:
            raise ConfigError(f"{name} is a root key, and revoking it would leave "
                              f"{len(remaining)} root key(s) for a root threshold of "
                              f"{doc['root']['threshold']}: rotate it to a new key instead "
                              f"(plc-integrity keys rotate {name} --to NEW)")
        doc["root"]["keys"] = remaining

    _policy_change(ctx, key_path, passphrase_env, change)


@keys_group.command("rotate")
@click.argument("name")
@click.option("--to", "new", required=True, metavar="NEW",
              help="The key that takes over (already in trust/, e.g. from keys create --trust).")
@_root_key_option
@_passphrase_option
@click.pass_context
def rotate_cmd(ctx: click.Context, name: str, new: str, key_path: Path,
               passphrase_env: str | None) -> None:
    """Hand a key's roles (and root place) to a new key; the old one stays
    valid for what it signed before now.

    \b
    Example:
      plc-integrity keys create alice-2027 --out ~/.plc-integrity --trust
      plc-integrity keys rotate alice --to alice-2027 --key ~/.plc-integrity/alice.key
    """
    def change(doc, trust):  # type: ignore[no-untyped-def]
        old = _known(doc, name, trust)
        fresh = _known(doc, new, trust)
        fresh["roles"] = sorted(set(fresh.get("roles") or []) | set(old.get("roles") or []))
        old.update(revoked=_now_text(), reason=f"rotated to {new}")
        doc["root"]["keys"] = [new if k == name else k for k in doc["root"]["keys"]]

    _policy_change(ctx, key_path, passphrase_env, change)


@keys_group.command("grant")
@click.argument("name")
@click.option("--role", "roles", multiple=True, metavar="ROLE",
              help="A role the key may approve as (repeat for several).")
@_root_key_option
@_passphrase_option
@click.pass_context
def grant_cmd(ctx: click.Context, name: str, roles: tuple[str, ...], key_path: Path,
              passphrase_env: str | None) -> None:
    """Make a key in trust/ one of the policy's keys, with roles (a signed
    policy change: under a policy, a .pub in trust/ alone approves nothing).

    \b
    Example:
      plc-integrity keys create sam --out ~/.plc-integrity --trust
      plc-integrity keys grant sam --role security --key ~/.plc-integrity/alice.key
    """
    def change(doc, trust):  # type: ignore[no-untyped-def]
        entry = _known(doc, name, trust)
        entry["roles"] = sorted(set(entry.get("roles") or []) | set(roles))

    _policy_change(ctx, key_path, passphrase_env, change)


@keys_group.command("expire")
@click.argument("name")
@click.option("--on", "on", required=True, metavar="DATE", help="Expiry date, e.g. 2027-06-30.")
@_root_key_option
@_passphrase_option
@click.pass_context
def expire_cmd(ctx: click.Context, name: str, on: str, key_path: Path,
               passphrase_env: str | None) -> None:
    """Set a key's expiry: signatures made from then on do not count.

    \b
    Example:
      plc-integrity keys expire bob --on 2027-06-30 --key ~/.plc-integrity/alice.key
    """
    def change(doc, trust):  # type: ignore[no-untyped-def]
        _known(doc, name, trust)["expires"] = on

    _policy_change(ctx, key_path, passphrase_env, change)


def register(cli: click.Group) -> None:
    cli.add_command(keys_group)
