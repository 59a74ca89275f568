"""Watch the wire: recognise operations that change a PLC, alert, and check the device.

    packets.py   capture files (pcap/pcapng, via dpkt) and live AF_PACKET capture
    stream.py    TCP reassembly (order, retransmissions, holes) and frame cutting
    s7.py, enip.py, modbus.py   what a request does (Finding); never raise on bad bytes
    wire.py      segments -> flows -> frames -> WireEvents (inventory, policy, dedupe)
    loop.py      record to the store, alert, settle, then a deep check via run_sweep
    config.py    the [watch] table of site.toml

The watcher never sends a packet; it imports no driver that writes.
"""

from importlib import import_module
from typing import Any

# Loaded on first use: every command reads [watch] through config.py when the
# site loads, and must not pay for dpkt and the decoders to do so.
_EXPORTS = {"Finding": "events", "WireEvent": "events", "WatchPolicy": "config",
            "parse_watch": "config", "WatchLoop": "loop", "list_watch_events": "loop",
            "Wire": "wire"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"integrity.watch.{_EXPORTS[name]}"), name)
