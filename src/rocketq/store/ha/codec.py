"""The classic (4.x) HA wire format, sans-I/O: offset reports and transfer chunks.

Mirrors the byte handling of RocketMQ 4.9's ``HAConnection`` (master) and
``HAService.HAClient`` (slave). There is no handshake and no framing beyond these two
layouts::

    slave -> master: offset report (8 bytes)
    +----------------------------------+
    | slave's CommitLog max offset (8) |   big-endian, signed (Java long)
    +----------------------------------+

    master -> slave: transfer chunk (12-byte header + body)
    +----------------------+-------------+---------------------------------+
    | physical offset (8)  | body size (4)| body: raw CommitLog bytes (size)|
    +----------------------+-------------+---------------------------------+
    size 0 = heartbeat; the body may cut records anywhere and never crosses a file.

The decoders take bytes as they come off the socket (whole, split anywhere, several
messages per read) and never import asyncio.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rocketq.common.errors import ProtocolError

__all__ = [
    "HEADER_SIZE",
    "MAX_BODY_SIZE",
    "REPORT_SIZE",
    "HAProtocolError",
    "ReportDecoder",
    "TransferChunk",
    "TransferDecoder",
    "encode_header",
    "encode_report",
]

REPORT_SIZE = 8
HEADER_SIZE = 12
# A Java slave reads into a 4 MiB buffer (HAClient.READ_MAX_BUFFER_SIZE): a chunk larger
# than that could never complete there, so a header announcing one is garbage.
MAX_BODY_SIZE = 4 * 1024 * 1024 - HEADER_SIZE

_REPORT = struct.Struct(">q")
_HEADER = struct.Struct(">qi")


class HAProtocolError(ProtocolError):
    """The peer sent bytes that are not HA protocol (or an offset out of step)."""


@dataclass(frozen=True, slots=True)
class TransferChunk:
    """One master -> slave message: ``body`` belongs at CommitLog ``offset``."""

    offset: int
    body: bytes

    @property
    def is_heartbeat(self) -> bool:
        """A header without body: the master is alive and would send from ``offset``."""
        return not self.body


def encode_report(offset: int) -> bytes:
    """The slave's 8-byte max-offset report."""
    if offset < 0:
        raise ValueError(f"negative offset {offset}")
    return _REPORT.pack(offset)


def encode_header(offset: int, size: int) -> bytes:
    """The 12-byte header in front of ``size`` CommitLog bytes from ``offset``."""
    if offset < 0 or not 0 <= size <= MAX_BODY_SIZE:
        raise ValueError(f"bad transfer header offset={offset} size={size}")
    return _HEADER.pack(offset, size)


class ReportDecoder:
    """Master side: the latest complete offset report in what the slave sent.

    Like ``HAConnection.ReadSocketService``, only whole 8-byte units count and, of several
    in one read, only the last one matters (each report supersedes the previous).
    """

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> int | None:
        """Add bytes; return the last complete report among them, or None."""
        buf = self._partial + data if self._partial else data
        whole = len(buf) - len(buf) % REPORT_SIZE
        self._partial = bytes(buf[whole:])
        if not whole:
            return None
        (offset,) = _REPORT.unpack_from(buf, whole - REPORT_SIZE)
        if offset < 0:
            raise HAProtocolError(f"slave reported a negative offset {offset}")
        return int(offset)


class TransferDecoder:
    """Slave side: split the master's byte stream into :class:`TransferChunk` s."""

    def __init__(self, max_body_size: int = MAX_BODY_SIZE) -> None:
        self._buf = bytearray()
        self._max_body = max_body_size

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete chunk."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[TransferChunk]:
        """Add bytes; return every chunk completed by them, in order."""
        buf = self._buf
        buf += data
        chunks: list[TransferChunk] = []
        pos = 0
        while len(buf) - pos >= HEADER_SIZE:
            offset, size = _HEADER.unpack_from(buf, pos)
            if offset < 0 or not 0 <= size <= self._max_body:
                raise HAProtocolError(f"bad transfer header offset={offset} size={size}")
            end = pos + HEADER_SIZE + size
            if len(buf) < end:
                break
            chunks.append(TransferChunk(offset, bytes(buf[pos + HEADER_SIZE : end])))
            pos = end
        if pos:
            del buf[:pos]
        return chunks
