"""The AutoSwitch HA wire format of controller mode, sans-I/O (RocketMQ 5
``AutoSwitchHAClient`` / ``AutoSwitchHAConnection``). Big-endian, Java ints and longs.

Every message starts with the sender's link state (``HAConnectionState`` ordinal: READY 0,
HANDSHAKE 1, TRANSFER 2, SUSPEND 3, SHUTDOWN 4)::

    slave -> master
      handshake  state=1 (4) | isSyncFromLastFile (2) | isAsyncLearner (2) | slaveBrokerId (8)
      report     state=2 (4) | slave's CommitLog max offset (8)

    master -> slave
      handshake  state=1 (4) | bodySize (4) | master max offset (8) | master last epoch (4)
                 body: bodySize / 12 entries of  epoch (4) | startOffset (8)
      transfer   state=2 (4) | bodySize (4) | offset (8) | epoch (4) | epochStartOffset (8)
                 | confirmOffset (8) | body: raw CommitLog bytes (bodySize; 0 = heartbeat)

A slave reports after it has truncated to the point the handshake let it find; the master
streams from the first report on, each chunk inside one epoch.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rocketq.store.ha.codec import MAX_BODY_SIZE, HAProtocolError
from rocketq.store.ha.epoch import EpochEntry

__all__ = [
    "STATE_HANDSHAKE",
    "STATE_TRANSFER",
    "MasterDecoder",
    "MasterHandshake",
    "SlaveDecoder",
    "SlaveHandshake",
    "SlaveReport",
    "TransferData",
    "encode_master_handshake",
    "encode_slave_handshake",
    "encode_slave_report",
    "encode_transfer_header",
]

STATE_HANDSHAKE = 1
STATE_TRANSFER = 2

_SLAVE_HANDSHAKE = struct.Struct(">ihhq")  # 16 bytes
_SLAVE_REPORT = struct.Struct(">iq")  # 12 bytes
_MASTER_HANDSHAKE = struct.Struct(">iiqi")  # 20 bytes
_TRANSFER = struct.Struct(">iiqiqq")  # 36 bytes
_EPOCH_ENTRY = struct.Struct(">iq")  # 12 bytes
_STATE = struct.Struct(">i")
# AutoSwitchHAConnection sends at most 1000 epoch entries in a handshake.
MAX_HANDSHAKE_ENTRIES = 1000


@dataclass(frozen=True, slots=True)
class SlaveHandshake:
    """The slave introduces itself."""

    sync_from_last_file: bool
    async_learner: bool
    slave_broker_id: int


@dataclass(frozen=True, slots=True)
class SlaveReport:
    """The slave's CommitLog end: where to stream from (first one) and its ack."""

    offset: int


@dataclass(frozen=True, slots=True)
class MasterHandshake:
    """The master's end and epoch list."""

    max_offset: int
    last_epoch: int
    entries: tuple[EpochEntry, ...]


@dataclass(frozen=True, slots=True)
class TransferData:
    """CommitLog bytes (or a heartbeat) of one epoch and the master's confirm offset."""

    offset: int
    epoch: int
    epoch_start_offset: int
    confirm_offset: int
    body: bytes


def encode_slave_handshake(slave_id: int, sync_from_last_file: bool, async_learner: bool) -> bytes:
    """The slave's 16-byte handshake."""
    return _SLAVE_HANDSHAKE.pack(
        STATE_HANDSHAKE, int(sync_from_last_file), int(async_learner), slave_id
    )


def encode_slave_report(offset: int) -> bytes:
    """The slave's 12-byte offset report."""
    return _SLAVE_REPORT.pack(STATE_TRANSFER, offset)


def encode_master_handshake(max_offset: int, entries: list[EpochEntry]) -> bytes:
    """The master's handshake reply with its (newest 1000) epoch entries."""
    entries = entries[-MAX_HANDSHAKE_ENTRIES:]
    last = entries[-1].epoch if entries else -1
    body = b"".join(_EPOCH_ENTRY.pack(e.epoch, e.start_offset) for e in entries)
    return _MASTER_HANDSHAKE.pack(STATE_HANDSHAKE, len(body), max_offset, last) + body


def encode_transfer_header(
    offset: int, size: int, epoch: int, epoch_start: int, confirm_offset: int
) -> bytes:
    """The 36-byte header in front of ``size`` CommitLog bytes from ``offset``."""
    return _TRANSFER.pack(STATE_TRANSFER, size, offset, epoch, epoch_start, confirm_offset)


class SlaveDecoder:
    """Master side: the slave's handshakes and reports, from bytes as they arrive."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[SlaveHandshake | SlaveReport]:
        """Add bytes; return every complete message, in order."""
        buf = self._buf
        buf += data
        out: list[SlaveHandshake | SlaveReport] = []
        pos = 0
        while len(buf) - pos >= _STATE.size:
            (state,) = _STATE.unpack_from(buf, pos)
            if state == STATE_HANDSHAKE:
                if len(buf) - pos < _SLAVE_HANDSHAKE.size:
                    break
                _, last_file, learner, slave_id = _SLAVE_HANDSHAKE.unpack_from(buf, pos)
                out.append(SlaveHandshake(last_file == 1, learner == 1, slave_id))
                pos += _SLAVE_HANDSHAKE.size
            elif state == STATE_TRANSFER:
                if len(buf) - pos < _SLAVE_REPORT.size:
                    break
                _, offset = _SLAVE_REPORT.unpack_from(buf, pos)
                if offset < 0:
                    raise HAProtocolError(f"slave reported a negative offset {offset}")
                out.append(SlaveReport(offset))
                pos += _SLAVE_REPORT.size
            else:
                raise HAProtocolError(f"slave sent state {state}: not HANDSHAKE or TRANSFER")
        if pos:
            del buf[:pos]
        return out


class MasterDecoder:
    """Slave side: the master's handshake replies and transfer chunks."""

    def __init__(self, max_body_size: int = MAX_BODY_SIZE) -> None:
        self._buf = bytearray()
        self._max_body = max_body_size

    def feed(self, data: bytes) -> list[MasterHandshake | TransferData]:
        """Add bytes; return every complete message, in order."""
        buf = self._buf
        buf += data
        out: list[MasterHandshake | TransferData] = []
        pos = 0
        while len(buf) - pos >= 8:
            state, size = struct.unpack_from(">ii", buf, pos)
            if not 0 <= size <= self._max_body:
                raise HAProtocolError(f"bad HA body size {size}")
            msg: MasterHandshake | TransferData | None
            if state == STATE_HANDSHAKE:
                msg, used = self._handshake(buf, pos, size)
            elif state == STATE_TRANSFER:
                msg, used = self._transfer(buf, pos, size)
            else:
                raise HAProtocolError(f"master sent state {state}: not HANDSHAKE or TRANSFER")
            if msg is None:
                break
            out.append(msg)
            pos += used
        if pos:
            del buf[:pos]
        return out

    @staticmethod
    def _handshake(buf: bytearray, pos: int, size: int) -> tuple[MasterHandshake | None, int]:
        if size % _EPOCH_ENTRY.size:
            raise HAProtocolError(f"handshake body of {size} bytes: not whole epoch entries")
        end = pos + _MASTER_HANDSHAKE.size + size
        if len(buf) < end:
            return None, 0
        _, _, max_offset, last_epoch = _MASTER_HANDSHAKE.unpack_from(buf, pos)
        body = pos + _MASTER_HANDSHAKE.size
        entries = tuple(
            EpochEntry(epoch, start)
            for epoch, start in _EPOCH_ENTRY.iter_unpack(bytes(buf[body : body + size]))
        )
        return MasterHandshake(max_offset, last_epoch, entries), end - pos

    @staticmethod
    def _transfer(buf: bytearray, pos: int, size: int) -> tuple[TransferData | None, int]:
        end = pos + _TRANSFER.size + size
        if len(buf) < end:
            return None, 0
        _, _, offset, epoch, epoch_start, confirm = _TRANSFER.unpack_from(buf, pos)
        if offset < 0 and size:
            raise HAProtocolError(f"bad transfer offset {offset}")
        body = bytes(buf[pos + _TRANSFER.size : end])
        return TransferData(offset, epoch, epoch_start, confirm, body), end - pos
