"""Identity of this host and process: its outbound IPv4 address and UNIQ_KEY message ids.

One place for what the client, the admin tool and the broker each need
(RocketMQ's ``RemotingUtil.getLocalAddress`` and ``MessageClientIDSetter``).
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import threading
import time

__all__ = ["UniqIdGenerator", "local_ipv4"]

# An address of TEST-NET-1 (RFC 5737): connecting a UDP socket to it picks the outbound
# interface without sending a packet.
_PROBE_ADDR = ("192.0.2.1", 9)


def local_ipv4() -> str:
    """This host's outbound IPv4 address if it is not loopback, else ``127.0.0.1``."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(_PROBE_ADDR)
            ip = str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    return ip if not ip.startswith("127.") else "127.0.0.1"


class UniqIdGenerator:
    """UNIQ_KEY ids as ``MessageClientIDSetter`` makes them: 32 hex chars of IPv4 (4) +
    pid (2) + a per-generator hash (4) + ms since the start of the month (4) + counter (2)."""

    def __init__(self, ip: str | None = None) -> None:
        try:
            raw_ip = socket.inet_aton(ip or local_ipv4())
        except OSError:
            raw_ip = b"\x7f\x00\x00\x01"
        prefix = raw_ip + struct.pack(">hi", os.getpid() & 0x7FFF, id(self) & 0x7FFFFFFF)
        self._prefix = prefix.hex().upper()
        # next() of an itertools.count is one C call: atomic under the GIL, so threads
        # (the blocking facade's) share it without a lock on every id.
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._month_start, self._next_month = _month_bounds(time.time())
        # (ms, prefix + that ms's 8 hex digits): ids of the same millisecond share their head,
        # formatted once. One tuple, read and replaced whole, so threads never see a head
        # of another millisecond.
        self._head: tuple[int, str] = (-1, "")

    def next_id(self, now_ms: int | None = None) -> str:
        """A new id (thread-safe); ``now_ms``: the current epoch ms when the caller has it."""
        if now_ms is None:
            now_ms = time.time_ns() // 1_000_000
        if now_ms >= self._next_month:  # a new month: Java's setStartTime, rarely
            with self._lock:
                if now_ms >= self._next_month:
                    self._month_start, self._next_month = _month_bounds(now_ms / 1000)
        counter = next(self._counter) & 0xFFFF
        head_ms, head = self._head
        if head_ms != now_ms:
            diff = now_ms - self._month_start
            head = f"{self._prefix}{(diff if diff > 0 else 0) & 0xFFFFFFFF:08X}"
            self._head = (now_ms, head)
        return f"{head}{counter:04X}"


def _month_bounds(now: float) -> tuple[int, int]:
    t = time.localtime(now)
    start = time.mktime((t.tm_year, t.tm_mon, 1, 0, 0, 0, 0, 0, -1))
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    nxt = time.mktime((year, month, 1, 0, 0, 0, 0, 0, -1))
    return int(start * 1000), int(nxt * 1000)
