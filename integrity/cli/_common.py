"""Shared CLI plumbing: the --site option, error mapping, site/store opening."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import click

from integrity.errors import PlcIntegrityError
from integrity.inventory import Site, default_site_root, load_site

EXIT_CODES_HELP = """\b
Exit codes (verify, diff, sweep):
  0  every device matches its baseline
  1  drift: something differs from the baseline
  2  usage or configuration error; nothing was done
  3  a device could not be checked (refused, timeout, protocol error, access denied)
  4  a device has no baseline
  5  a baseline failed its integrity check (bad signature, untrusted key,
     broken chain, tampered store)
  70 internal error (a bug: please report it with the traceback)
  130 interrupted (Ctrl-C)
With several devices the most serious wins: 5 > 1 > 3 > 4 > 0.
"""

EXIT_INTERNAL = 70     # EX_SOFTWARE: never confusable with a finding
EXIT_INTERRUPTED = 130


class Group(click.Group):
    """Maps our own errors to a one-line message and their exit code.  With
    --json, stdout still gets exactly one document: the error."""

    def invoke(self, ctx: click.Context) -> Any:
        wants_json = "--json" in ctx.args
        try:
            return super().invoke(ctx)
        except PlcIntegrityError as exc:
            click.echo(f"plc-integrity: error: {exc}", err=True)
            if wants_json:
                emit_json({"exit_code": exc.exit_code, "error": str(exc),
                           "error_type": type(exc).__name__})
            ctx.exit(exc.exit_code)


def site_option(f: Any) -> Any:
    def callback(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path:
        root = value if value is not None else default_site_root()
        ctx.ensure_object(dict)["site_root"] = root
        return root

    return click.option("--site", "site", type=click.Path(file_okay=False, path_type=Path),
                        default=None, expose_value=False, is_eager=True, callback=callback,
                        help="Site folder (default: $PLC_INTEGRITY_SITE or the current folder).")(f)


def site_root(ctx: click.Context) -> Path:
    return ctx.find_root().ensure_object(dict).get("site_root") or default_site_root()


def open_site(ctx: click.Context) -> Site:
    return load_site(site_root(ctx))


@contextlib.contextmanager
def open_store(site: Site) -> Iterator[Any]:
    from baselines.checkpoint import Checkpoint
    from baselines.store import Store

    # A checkpoint key named in the signed policy is pinned by it (else by
    # this host's memory, at first sight).
    policy = trust_store(site).policy
    checkpoint = Checkpoint.for_site(site.root)
    checkpoint.pinned_keyid = getattr(policy, "checkpoint_keyid", None)
    store = Store.open(site.store_url, heads_path=site.heads_path, checkpoint=checkpoint)
    try:
        yield store
    finally:
        store.close()


def trust_store(site: Site, *, live: bool = False) -> Any:
    """trust/ read once, for one command (a snapshot: every device of the
    command is verified against the same keys).  ``live``: read afresh on each
    use, for the daemon, so removing a key needs no restart."""
    from baselines.localstate import LocalState
    from baselines.signing import TrustStore

    trust = TrustStore(site.trust_dir, local=LocalState(site.root),
                       tags={d.name: frozenset(d.tags) for d in site.devices})
    return trust if live else trust.snapshot()


def json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print exactly one JSON document on stdout.")(f)


def mode_option(f: Any) -> Any:
    return click.option("--quick/--deep", "quick", default=False,
                        help="Quick: identity and metadata only (no block uploads). "
                             "Deep (default): read everything.")(f)


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def selection_args(f: Any) -> Any:
    f = click.option("--all", "all_", is_flag=True, help="Every device in the inventory.")(f)
    return click.argument("devices", nargs=-1)(f)
