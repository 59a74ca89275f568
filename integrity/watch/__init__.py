"""Watch the wire: recognise operations that change a PLC, alert, and check the device.

    packets.py   capture files (pcap/pcapng, via dpkt) and live AF_PACKET capture
    stream.py    TCP reassembly (order, retransmissions, holes) and frame cutting
    s7.py, enip.py, modbus.py   what a request does (Finding); never raise on bad bytes
    wire.py      segments -> flows -> frames -> WireEvents (inventory, policy, dedupe)
    loop.py      record to the store, alert, settle, then a deep check via run_sweep
    config.py    the [watch] table of site.toml

The watcher never sends a packet; it imports no driver that writes.
"""

from integrity.watch.config import WatchPolicy, parse_watch
from integrity.watch.events import Finding, WireEvent
from integrity.watch.loop import WatchLoop, list_watch_events
from integrity.watch.wire import Wire

__all__ = ["Finding", "WatchLoop", "WatchPolicy", "Wire", "WireEvent", "list_watch_events",
           "parse_watch"]
