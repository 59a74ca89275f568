"""Shared CLI plumbing: the --site option, error mapping, site/store opening."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import click
from click.shell_completion import CompletionItem

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
  6  the devices were checked but the store could not be written (locked,
     unreachable): the results are printed, not recorded
  70 internal error (a bug: please report it with the traceback)
  130 interrupted (Ctrl-C)
With several devices the most serious wins: 5 > 1 > 3 > 4 > 0.
"""

EXIT_INTERNAL = 70     # EX_SOFTWARE: never confusable with a finding
EXIT_INTERRUPTED = 130


SCHEMA = 1  # the version of every --json document's shape (docs/schemas/)


class Group(click.Group):
    """Maps our own errors to a one-line message and their exit code.  With
    --json, stdout still gets exactly one document: the error, usage errors
    included.  Every command added gets --site too, so it is accepted before
    or after the command's name."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        _add_site_option(cmd)
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        wants_json = "--json" in ctx.args
        try:
            return super().invoke(ctx)
        except PlcIntegrityError as exc:
            click.echo(f"plc-integrity: error: {exc}", err=True)
            # Checks whose results the store could not take are printed, not lost.
            results = getattr(exc, "results", ())
            if wants_json:
                doc: dict[str, Any] = {"exit_code": exc.exit_code, "error": str(exc),
                                       "error_type": type(exc).__name__}
                if results:
                    doc["results"] = [r.to_dict() for r in results]
                emit_json(doc)
            elif results:
                from integrity.render import results_table
                click.echo(results_table(results))
            ctx.exit(exc.exit_code)
        except click.UsageError as exc:
            if not wants_json:
                raise
            exc.show()
            emit_json({"exit_code": exc.exit_code, "error": exc.format_message(),
                       "error_type": "UsageError"})
            ctx.exit(exc.exit_code)


SITE_HELP = "Site folder (default: $PLC_INTEGRITY_SITE or the current folder)."


def _site_callback(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    obj = ctx.find_root().ensure_object(dict)
    if value is not None:
        obj["site_root"] = value         # given after the command: it wins
    elif ctx.parent is None:
        obj.setdefault("site_root", default_site_root())
    return value


def _site_param() -> click.Option:
    return click.Option(["--site", "site"], type=click.Path(file_okay=False, path_type=Path),
                        default=None, expose_value=False, is_eager=True, callback=_site_callback,
                        help=SITE_HELP)


def _add_site_option(cmd: click.Command) -> None:
    if not any(p.name == "site" for p in cmd.params):
        cmd.params.append(_site_param())
    for sub in getattr(cmd, "commands", {}).values():
        _add_site_option(sub)


def site_option(f: Any) -> Any:
    f.__click_params__ = [*getattr(f, "__click_params__", []), _site_param()]
    return f


def site_root(ctx: click.Context) -> Path:
    return ctx.find_root().ensure_object(dict).get("site_root") or default_site_root()


def open_site(ctx: click.Context, *, only: Iterable[str] | None = None) -> Site:
    """The site; with ``only``, just those devices built (see load_site)."""
    return load_site(site_root(ctx), only=only)


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

    tag_sets: dict[tuple[str, ...], frozenset[str]] = {}  # one set per distinct tag list
    trust = TrustStore(site.trust_dir, local=LocalState(site.root),
                       tags={d.name: tag_sets.setdefault(d.tags, frozenset(d.tags))
                             for d in site.devices})
    return trust if live else trust.snapshot()


def signer_names(trust: Any) -> Any:
    """keyid -> trust name, with trust/ read once for the whole command (a
    TrustStore is snapshotted; a snapshot is used as it is)."""
    return (trust.snapshot() if hasattr(trust, "snapshot") else trust).name_of


def json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print exactly one JSON document on stdout.")(f)


def mode_option(f: Any) -> Any:
    return click.option("--quick/--deep", "quick", default=False,
                        help="Quick: identity and metadata only (no block uploads). "
                             "Deep (default): read everything.")(f)


# An indented document costs json's pure-Python encoder; without indent the C
# encoder writes the same values about ten times faster.
_JSON_PRETTY = json.JSONEncoder(indent=2, ensure_ascii=False, sort_keys=True)
_JSON_LINE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def emit_json(doc: dict[str, Any]) -> None:
    """Print one --json document, stamped with the shape's version.

    Indented, except that each item of a top-level list (a sweep's
    ``results``: thousands of devices) is written on one line of its own by the
    C encoder: still one JSON document, read a device per line, and a
    10,000-device sweep's output no longer costs more CPU than its checks.
    A top-level value may be an iterator (a generator of a sweep's results):
    it is written as that list, each item as it is made, so the document is
    never held whole (at 10,000 devices the items and their text were a
    ~13 MiB peak at the very end of a sweep)."""
    full = {"schema": SCHEMA, **doc}
    write = sys.stdout.write
    write("{\n")
    for i, key in enumerate(sorted(full)):
        value = full[key]
        write((",\n" if i else "") + f"  {_JSON_LINE.encode(key)}: ")
        if isinstance(value, Iterator) or (type(value) is list and value):
            _write_items(write, value)
        else:
            write(_JSON_PRETTY.encode(value).replace("\n", "\n  "))
    write("\n}\n")


def _write_items(write: Callable[[str], Any], items: Iterable[Any]) -> None:
    first = True
    for item in items:
        write(("[\n    " if first else ",\n    ") + _JSON_LINE.encode(item))
        first = False
    write("[]" if first else "\n  ]")


# -- device selection: one way for every command (integrity.selection) --------------------------

def _completion_site(ctx: click.Context) -> Site | None:
    try:
        return open_site(ctx)
    except Exception:  # noqa: BLE001 - completing must never fail loudly
        return None


def complete_devices(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    site = _completion_site(ctx)
    return [CompletionItem(d.name) for d in (site.devices if site else ())
            if d.name.startswith(incomplete)]


def complete_tags(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    site = _completion_site(ctx)
    tags = sorted({t for d in (site.devices if site else ()) for t in d.tags})
    return [CompletionItem(t) for t in tags if t.startswith(incomplete)]


def selection_args(f: Any = None, *, default_all: bool = False) -> Any:
    """DEVICES... (names or patterns), --all and --tag, as every selecting command takes them."""
    def decorate(f: Any) -> Any:
        f = click.option("--tag", "tags", multiple=True, metavar="TAG",
                         shell_complete=complete_tags,
                         help="Devices carrying TAG (repeatable).")(f)
        f = click.option("--all", "all_", is_flag=True,
                         help="Every device in the inventory"
                              + (" (the default)." if default_all else "."))(f)
        return click.argument("devices", nargs=-1, metavar="[DEVICE|PATTERN]...",
                              shell_complete=complete_devices)(f)

    return decorate(f) if f is not None else decorate


def chosen_devices(site: Site, devices: tuple[str, ...], all_: bool, tags: tuple[str, ...], *,
                   default_all: bool = False, zones: tuple[str, ...] = ()) -> list[Any]:
    return site.select(devices, all_, tags=tags, default_all=default_all, zones=zones)


def zone_option(f: Any) -> Any:
    """--zone ZONE, a selection like --tag: the devices of that network zone."""
    return click.option("--zone", "zones", multiple=True, metavar="ZONE",
                        help="Devices of network zone ZONE (repeatable; see `zone =` in the "
                             "inventory).")(f)
