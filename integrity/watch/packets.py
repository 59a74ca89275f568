"""Where packets come from: capture files (pcap, pcapng) or a live interface.

dpkt reads the files and decodes link, IP and TCP; a live interface is an
AF_PACKET socket, which needs root or CAP_NET_RAW.  Nothing is ever sent.
Each source yields ``Segment`` values: TCP only, everything else is dropped.
"""

from __future__ import annotations

import errno
import socket
from struct import error as struct_error
from typing import Iterator, NamedTuple

import dpkt

from integrity.errors import ConfigError

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ARPHRD_RAW_IP = frozenset({0xFFFE, 0xFFFF})  # ARPHRD_NONE, ARPHRD_VOID (tun): no link header
SNAPLEN = 65535


class Segment(NamedTuple):
    ts: float
    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    flags: int
    payload: bytes


SYN, FIN, RST = dpkt.tcp.TH_SYN, dpkt.tcp.TH_FIN, dpkt.tcp.TH_RST


def _ip_of(link: int, raw: bytes):
    if link == dpkt.pcap.DLT_EN10MB:
        return dpkt.ethernet.Ethernet(raw).data
    if link == dpkt.pcap.DLT_LINUX_SLL:
        return dpkt.sll.SLL(raw).data
    if link == 276:  # LINUX_SLL2
        return dpkt.sll2.SLL2(raw).data
    if link in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
        return dpkt.loopback.Loopback(raw).data
    if link in (dpkt.pcap.DLT_RAW, 101, 228):
        return dpkt.ip.IP(raw) if raw[:1] and raw[0] >> 4 == 4 else dpkt.ip6.IP6(raw)
    return None


def decode(ts: float, link: int, raw: bytes) -> Segment | None:
    """One frame to a TCP segment, or None (not TCP, or not decodable)."""
    try:
        ip = _ip_of(link, raw)
        tcp = getattr(ip, "data", None)
        if not isinstance(tcp, dpkt.tcp.TCP):
            return None
        if isinstance(ip, dpkt.ip.IP):
            src, dst = socket.inet_ntop(socket.AF_INET, ip.src), socket.inet_ntop(socket.AF_INET, ip.dst)
        else:
            src, dst = socket.inet_ntop(socket.AF_INET6, ip.src), socket.inet_ntop(socket.AF_INET6, ip.dst)
        return Segment(ts, src, tcp.sport, dst, tcp.dport, tcp.seq, tcp.flags, bytes(tcp.data))
    except (dpkt.UnpackError, ValueError, struct_error, IndexError, TypeError, OSError):
        return None


def read_file(path: str) -> Iterator[Segment]:
    """Segments of a pcap or pcapng file.  Raises ConfigError if it is neither."""
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise ConfigError(f"cannot read capture: {exc.strerror}", file=path) from exc
    with fh:
        magic = fh.read(4)
        fh.seek(0)
        try:
            reader = dpkt.pcapng.Reader(fh) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(fh)
        except (ValueError, dpkt.UnpackError, struct_error) as exc:
            raise ConfigError(f"not a pcap or pcapng capture ({exc})", file=path) from exc
        link = reader.datalink()
        try:
            for ts, raw in reader:
                seg = decode(float(ts), link, raw)
                if seg is not None:
                    yield seg
        except (dpkt.NeedData, dpkt.UnpackError, struct_error, ValueError):
            return  # a truncated file ends where its last whole packet ends


class LiveCapture:
    """Frames from one interface.  ``recv`` returns None after ``timeout`` of silence.

    Raises ConfigError (exit 2) when the interface is missing or we may not capture.
    """

    def __init__(self, interface: str, *, timeout: float = 0.5) -> None:
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError as exc:
            raise ConfigError("live capture needs root or the CAP_NET_RAW capability "
                              "(see the README's systemd unit: AmbientCapabilities=CAP_NET_RAW), "
                              "or read a capture file with --pcap", field="--interface") from exc
        except (AttributeError, OSError) as exc:
            raise ConfigError(f"cannot open a packet socket here: {exc}", field="--interface") from exc
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            self.sock.bind((interface, ETH_P_ALL))
        except OSError as exc:
            self.sock.close()
            why = "no such interface" if exc.errno in (errno.ENODEV, errno.ENXIO) else exc.strerror
            raise ConfigError(f"cannot capture on {interface!r}: {why}", field="--interface") from exc
        self.sock.settimeout(timeout)
        self.interface = interface

    def segments(self, clock) -> Iterator[Segment | None]:
        """Segments as they arrive; None now and then so the caller can run due work."""
        while True:
            try:
                raw, addr = self.sock.recvfrom(SNAPLEN)
            except socket.timeout:
                yield None
                continue
            except InterruptedError:
                continue
            if addr[2] == PACKET_OUTGOING:
                continue  # on loopback every packet shows twice: keep the incoming copy
            # Ethernet and loopback carry an Ethernet header; tun-like interfaces raw IP.
            link = dpkt.pcap.DLT_RAW if addr[3] in ARPHRD_RAW_IP else dpkt.pcap.DLT_EN10MB
            yield decode(clock(), link, raw)

    def close(self) -> None:
        self.sock.close()
