"""plc-integrity watch — passive: decode PLC traffic, alert on changes, then check."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from integrity.cli._common import EXIT_INTERRUPTED, open_site, open_store, trust_store
from integrity.errors import ConfigError

WATCH_EXIT_HELP = """\b
Exit codes:
  0  the capture was read (events, if any, were recorded and alerted)
  2  usage or configuration error, unreadable capture, or no permission to
     capture live (needs root or CAP_NET_RAW)
  70 internal error;  130 interrupted (Ctrl-C: a live watch ends this way)
With --json, one JSON object per line: each event as it is seen
({"schema": 1, "type": "event", ...}), each deep check it triggered
({"type": "check", ...}), and a closing {"type": "summary", ...}.
"""


def _line(doc: dict) -> None:
    sys.stdout.write(json.dumps({"schema": 1, **doc}, sort_keys=True, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@click.command("watch", epilog=WATCH_EXIT_HELP)
@click.option("--interface", "-i", help="Capture live on this interface (a SPAN/mirror port "
                                         "or tap). Needs root or CAP_NET_RAW.")
@click.option("--pcap", "pcaps", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Read a pcap/pcapng file instead (repeatable; forensics and tests).")
@click.option("--check/--no-check", "check", default=None,
              help="Deep-check each changed device once its changes settle (default: on for "
                   "--interface, off for --pcap, whose events are history).")
@click.option("--list", "list_", is_flag=True, help="List the recorded watch events and exit.")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True,
              help="With --list: how many of the latest events.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per line: each event, each check, then a summary.")
@click.pass_context
def watch_cmd(ctx: click.Context, interface: str | None, pcaps: tuple[Path, ...],
              check: bool | None, list_: bool, limit: int, as_json: bool) -> None:
    """Watch PLC traffic for downloads, writes, stops and starts; alert; check the device.

    Decodes S7 (classic and S7CommPlus), EtherNet/IP/CIP and Modbus TCP without
    sending a packet. Each operation that changes a device is recorded in the
    store and sent to the alert sinks; changes from stations not listed in
    [watch] engineering_stations alert at once, changes from listed stations
    alert only outside the device's maintenance window. Once a device's
    changes have settled ([watch] settle, default 30s) it gets a deep check,
    and the alert says whether it now differs from its signed baseline.

    \b
    Examples:
      sudo plc-integrity watch --interface eth1
      plc-integrity watch --pcap download.pcapng --json
      plc-integrity watch --list
    """
    from integrity.watch import WatchLoop, list_watch_events, parse_watch

    site = open_site(ctx)
    policy = parse_watch(site.watch, file=str(site.root / "site.toml"))
    if list_:
        with open_store(site) as store:
            events = list_watch_events(store, limit=limit)
        if as_json:
            for e in events:
                _line({"type": "event", **e})
        else:
            for e in events:
                click.echo(f"{e.get('at')}  {e.get('operation')} {e.get('target', '')} on "
                           f"{e.get('device') or 'unknown ' + str(e.get('dst'))} from {e.get('src')}")
        return
    interface = interface or (policy.interface if not pcaps else None)
    if bool(interface) == bool(pcaps):
        raise ConfigError("give either --interface IF or --pcap FILE...", field="--interface")
    do_check = check if check is not None else bool(interface)
    from integrity.sweep import alerting

    tracker, dispatcher = alerting(site)

    def on_event(event, alerted: bool) -> None:
        if as_json:
            _line({"type": "event", **event.to_dict(), "alerted": alerted})
        else:
            click.echo(f"{event.at:%Y-%m-%dT%H:%M:%S.%f}Z {'ALERT ' if alerted else ''}"
                       f"{event.headline()}")

    def on_check(result, pending) -> None:
        if as_json:
            _line({"type": "check", "device": result.device, "status": result.status.value,
                   "operations": pending.operations, "result": result.to_dict()})
        else:
            click.echo(f"deep check of {result.device} after {', '.join(pending.operations)}: "
                       f"{result.status.value}")

    interrupted = False
    with open_store(site) as store:
        loop = WatchLoop(site.devices, policy, store=store, trust=trust_store(site),
                         dispatcher=dispatcher, tracker=tracker, check=do_check,
                         on_event=on_event, on_check=on_check)
        try:
            if pcaps:
                from integrity.watch.packets import read_file
                for path in pcaps:
                    for seg in read_file(str(path)):
                        loop.feed(seg)
                loop.finish()
            else:
                _live(loop, interface, as_json)
        except KeyboardInterrupt:
            interrupted = True  # how a live watch ends: still say what was seen
    stats = loop.wire.stats.to_dict()
    if as_json:
        _line({"type": "summary", "events": len(loop.events), "interrupted": interrupted, **stats})
    else:
        click.echo(f"{stats['packets']} packets, {len(loop.events)} event(s)"
                   + (" (interrupted)" if interrupted else ""), err=True)
    if interrupted:
        ctx.exit(EXIT_INTERRUPTED)


def _live(loop, interface: str, as_json: bool) -> None:
    from integrity.watch.loop import run_live
    from integrity.watch.packets import LiveCapture

    capture = LiveCapture(interface)
    if not as_json:
        click.echo(f"watching {interface}; ready", err=True)
    try:
        run_live(loop, capture)
    finally:
        capture.close()


def register(cli: click.Group) -> None:
    cli.add_command(watch_cmd)
