"""The watcher's throughput against tshark reading the same file (a script, not a test).

    .venv/bin/python benchmarks/watch_bench.py [--packets 200000] [--runs 3]

Builds one large pcap from the shared real captures (S7, S7CommPlus, CIP,
Modbus), repeated with the client port moved each round so every round is new
connections rather than retransmissions, then times, each in its own process:

- (a) ``tshark -n -r FILE -q -Y "s7comm || cip || modbus || enip"``: Wireshark's
  dissectors with TCP reassembly (the reference; Debian package ``tshark``);
- (b) the watcher's whole per-packet path: dpkt link/IP/TCP, our reassembly,
  framing, decoding, classification (``Wire.segment``), no store or alerts.

Reports packets/s (best of ``--runs``) and peak resident memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dpkt  # noqa: E402

CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "captures"
SOURCES = ["s7/s7_all.pcap", "s7/tia_s300_goOnline.pcapng", "s7/step7_s300_download.pcapng",
           "enip/EIP-SoftwareDownload.pcap", "enip/cip.pcap", "modbus/modbusSmall.pcap",
           "modbus/modbus_test_data_part1.pcap", "s7plus/S7-1200-Uploading-OB1-TIAV12.pcap"]
SERVER_PORTS = {102, 502, 44818}


def frames() -> list[tuple[float, bytes]]:
    out = []
    for name in SOURCES:
        with open(CAPTURES / name, "rb") as fh:
            ng = fh.read(4) == b"\x0a\x0d\x0d\x0a"
            fh.seek(0)
            reader = dpkt.pcapng.Reader(fh) if ng else dpkt.pcap.Reader(fh)
            if reader.datalink() != dpkt.pcap.DLT_EN10MB:
                continue
            out += [(float(ts), bytes(raw)) for ts, raw in reader]
    return out


def build(path: Path, packets: int) -> int:
    base = frames()
    written, rnd, t = 0, 0, 1.7e9
    with open(path, "wb") as fh:
        w = dpkt.pcap.Writer(fh, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
        while written < packets:
            for _, raw in base:
                eth = dpkt.ethernet.Ethernet(raw)
                tcp = getattr(eth.data, "data", None)
                if isinstance(tcp, dpkt.tcp.TCP):
                    # New connections each round: move the client's port.
                    if tcp.sport not in SERVER_PORTS:
                        tcp.sport = 1024 + (tcp.sport + 97 * rnd) % 60000
                    elif tcp.dport not in SERVER_PORTS:
                        tcp.dport = 1024 + (tcp.dport + 97 * rnd) % 60000
                    tcp.sum = 0
                    eth.data.sum = 0
                t += 0.0001
                w.writepkt(bytes(eth), ts=t)
                written += 1
                if written >= packets:
                    break
            rnd += 1
    return written


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed: {proc.stderr.read().decode()[-500:]}")
    return elapsed, usage.ru_maxrss / 1024


OURS = """
import sys
sys.path.insert(0, {root!r})
from integrity.watch.packets import read_file
from integrity.watch.wire import Wire
wire = Wire([])
for seg in read_file({path!r}):
    wire.segment(seg)
wire.finish()
print(wire.stats.to_dict(), file=sys.stderr)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.pcap"
        n = build(path, args.packets)
        print(f"capture: {n} packets, {path.stat().st_size / 2**20:.1f} MiB")
        root = str(Path(__file__).resolve().parents[1])
        ours = [sys.executable, "-c", OURS.format(root=root, path=str(path))]
        rows = [("(b) plc-integrity watch (dpkt + our decoders)", ours)]
        tshark = shutil.which("tshark")
        if tshark:
            rows.insert(0, ("(a) tshark -Y s7comm||cip||modbus||enip",
                            [tshark, "-n", "-r", str(path), "-q", "-Y",
                             "s7comm || cip || modbus || enip"]))
        else:
            print("tshark is not installed (Debian: apt-get install tshark): no reference")
        results = {}
        for _ in range(args.runs):  # interleaved rounds: the machine is shared and noisy
            for label, cmd in rows:
                t, rss = measure(cmd)
                best = results.get(label)
                results[label] = (min(t, best[0]) if best else t, max(rss, best[1]) if best else rss)
        print(f"{'':48} {'time':>8} {'packets/s':>11} {'peak RSS':>10}")
        for label, (t, rss) in results.items():
            print(f"{label:48} {t:7.2f}s {n / t:11,.0f} {rss:8.1f} MiB")
        if tshark:
            a, b = results[rows[0][0]][0], results[rows[1][0]][0]
            print(f"ratio b/a (time): {b / a:.2f}")


if __name__ == "__main__":
    main()
