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


from integrity.cli import baseline, demo, keys, ops, sim, site, verify  # noqa: E402  (register commands)

for module in (site, keys, baseline, verify, ops, sim, demo):
    module.register(cli)


def main() -> None:
    cli(prog_name="plc-integrity")
