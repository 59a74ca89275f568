"""The ``plc-integrity`` command: thin click wrappers over the library.

Each command parses, calls one library function, renders, and exits with a
documented code.  Only errors from our own tree are caught here; anything else
is a bug and is allowed to show its traceback.
"""

from __future__ import annotations

import click

from integrity import __version__
from integrity.cli._common import EXIT_CODES_HELP, Group, site_option


@click.group(cls=Group, epilog=EXIT_CODES_HELP)
@site_option
@click.version_option(__version__, prog_name="plc-integrity")
def cli() -> None:
    """Check PLC programs and device settings against signed baselines.

    \b
    Quick start on the bundled simulators:
      plc-integrity demo
    """
    from drivers.registry import quiet_vendor_logs

    quiet_vendor_logs()  # the drivers report the libraries' failures as our own errors


from integrity.cli import (assets, backup, baseline, collectors, config, demo,  # noqa: E402
                           keys, maintenance, ops, policy, report, restore, sim, site, store,
                           verify, watch, web)  # (register commands)

for module in (site, config, keys, baseline, verify, ops, collectors, maintenance, sim, demo,
               store, watch, backup, restore, policy, assets, report, web):
    module.register(cli)


def main() -> None:
    """The console entry point.  Findings and our own errors exit with their
    documented codes; an unexpected exception is a bug and exits 70 (never 1,
    which means drift), and Ctrl-C exits 130."""
    import sys
    import traceback

    from integrity.cli._common import EXIT_INTERNAL, EXIT_INTERRUPTED

    try:
        code = cli.main(prog_name="plc-integrity", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("plc-integrity: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception:  # noqa: BLE001 - the last line of defence
        traceback.print_exc()
        click.echo("plc-integrity: internal error (a bug): please report it with the traceback "
                   "above", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)
