"""plc-integrity keys create | list"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from integrity.cli._common import emit_json, json_option, open_site, site_root, trust_store
from integrity.errors import ConfigError, KeyFileError
from integrity.render import KEYID_SHOWN, signer


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


@keys_group.command("list")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the public keys this site trusts to sign baselines.

    \b
    Example:
      plc-integrity keys list
    """
    site = open_site(ctx)
    trust = trust_store(site)
    keys = trust.keys()
    problems = trust.problems()
    if as_json:
        emit_json({"keys": [{"keyid": k, "name": n, "path": str(p)} for k, n, p in keys],
                   "problems": [{"path": str(p), "problem": why} for p, why in problems]})
        return
    if not keys:
        click.echo(f"no trusted keys in {site.trust_dir}")
    width = max([len(name) for _, name, _ in keys] + [4])
    for keyid, name, path in keys:
        click.echo(f"{signer(keyid):<{KEYID_SHOWN}}  {name:<{width}}  {path}")
    # A file in trust/ that is not a usable key trusts nobody: say so.
    for path, problem in problems:
        click.echo(f"unusable  {path}: {problem}", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(keys_group)
