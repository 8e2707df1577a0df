"""The master's side of one AutoSwitch slave link (RocketMQ 5 ``AutoSwitchHAConnection``).

read: the slave's handshake (its controller broker id and flags) and offset reports; each
report is an ack that may widen the SyncStateSet and release puts waiting for it.
write: after a handshake, the master's epoch list; after the first report, CommitLog bytes
from where the slave stands (0: from the master's first byte, or the start of its last file
with ``isSyncFromLastFile``), each chunk within one epoch and its header naming that epoch,
and a heartbeat after ``haSendHeartbeatInterval`` of silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from rocketq.store.config import StoreConfig
from rocketq.store.ha.autoswitch_codec import (
    SlaveDecoder,
    SlaveHandshake,
    encode_master_handshake,
    encode_transfer_header,
)
from rocketq.store.ha.codec import HAProtocolError
from rocketq.store.ha.connection import (
    CommitLogSource,
    HAConnection,
    HALinkClosedError,
    read_or_close,
    run_both,
)
from rocketq.store.ha.epoch import EpochEntry, EpochFileCache
from rocketq.store.ha.state import HALinkEvent

__all__ = ["AutoSwitchHAConnection", "AutoSwitchSource", "SlaveAckListener"]

log = logging.getLogger("rocketq.store.ha")

_READ_SIZE = 64 * 1024
# No epoch holds the offset to send from (a slave ahead of an epoch switch): retry soon.
_EPOCH_RETRY_S = 0.5


def _ignore_ack(_offset: int) -> None:
    """Acks go to the listener with the link (it needs the slave's id)."""


class AutoSwitchSource(CommitLogSource, Protocol):
    """What an AutoSwitch master link reads from the store."""

    def min_phy_offset(self) -> int:
        """First CommitLog byte still on disk."""
        ...


class SlaveAckListener(Protocol):
    """What a link tells its service (``AutoSwitchHAService``)."""

    def on_slave_ack(self, conn: AutoSwitchHAConnection) -> None:
        """The slave acknowledged ``conn.slave_ack_offset``."""
        ...

    def on_slave_caught_up(self, slave_id: int, when_ms: float) -> None:
        """The slave had everything the master had at ``when_ms`` (wall clock)."""
        ...

    def confirm_offset(self) -> int:
        """The master's confirm offset (sent in every header)."""
        ...


class AutoSwitchHAConnection(HAConnection):
    """Streams the CommitLog to one slave of controller mode."""

    def __init__(
        self,
        source: AutoSwitchSource,
        config: StoreConfig,
        epochs: EpochFileCache,
        listener: SlaveAckListener,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(source, config, reader, writer, _ignore_ack)
        self._auto_source = source
        self._epochs = epochs
        self._listener = listener
        self.slave_id = -1
        self.sync_from_last_file = False
        self.async_learner = False
        # master end and wall-clock ms at the last chunk sent (lastMasterMaxOffset, ...)
        self.last_master_max_offset = -1
        self.last_transfer_ms = 0.0
        self._handshake = asyncio.Event()

    async def _serve(self) -> None:
        log.info("HA slave %s connected (AutoSwitch)", self.address)
        try:
            await run_both(self._read_loop(), self._write_loop())
        except HALinkClosedError as exc:
            log.info("HA slave %s (id %d) gone: %s", self.address, self.slave_id, exc)
        except (OSError, HAProtocolError) as exc:
            log.warning("HA slave %s (id %d) dropped: %s", self.address, self.slave_id, exc)
        finally:
            self.link.handle(HALinkEvent.FAILED)
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def _read_loop(self) -> None:
        decoder = SlaveDecoder()
        silence = self._config.ha_housekeeping_interval / 1000
        while True:
            data = await read_or_close(self._reader, silence, "slave", _READ_SIZE)
            for msg in decoder.feed(data):
                if isinstance(msg, SlaveHandshake):
                    self.slave_id = msg.slave_broker_id
                    self.sync_from_last_file = msg.sync_from_last_file
                    self.async_learner = msg.async_learner
                    log.info("HA slave %s is broker id %d", self.address, self.slave_id)
                    self._handshake.set()
                else:
                    self._on_report(msg.offset)

    def _on_report(self, offset: int) -> None:
        end = self._source.max_phy_offset()
        if offset > end:  # never an ack: the slave holds other bytes there
            raise HAProtocolError(f"slave reported {offset}, beyond the master's end {end}")
        if self.slave_request_offset < 0:
            self.slave_request_offset = offset
            log.info("HA slave %d requests offset %d", self.slave_id, offset)
        self.slave_ack_offset = offset
        self.link.handle(HALinkEvent.REPORT)
        self._reported.set()
        if offset >= self.last_master_max_offset:  # maybeExpandInSyncStateSet
            caught = time.time() * 1000 if offset == end else self.last_transfer_ms
            self._listener.on_slave_caught_up(self.slave_id, caught)
        self._listener.on_slave_ack(self)

    def _start_offset(self) -> int:
        if self.slave_request_offset != 0:
            return self.slave_request_offset
        if self.sync_from_last_file:
            end = self._source.max_phy_offset()
            return max(0, end - end % self._config.mapped_file_size_commit_log)
        return self._auto_source.min_phy_offset()

    async def _write_loop(self) -> None:
        await self._handshake.wait()
        entries = self._epochs.entries()
        self._writer.write(encode_master_handshake(self._source.max_phy_offset(), entries))
        await self._writer.drain()
        await self._reported.wait()
        where = self._start_offset()
        entry = self._epochs.find_by_offset(where)
        while entry is None:
            log.warning("HA slave %d: no epoch holds offset %d", self.slave_id, where)
            self._send(self._epochs.first_entry() or EpochEntry(0, 0), where, b"")
            await asyncio.sleep(_EPOCH_RETRY_S)
            entry = self._epochs.find_by_offset(where)
        self.next_transfer_from_where = where
        log.info("HA slave %d: transfer from %d in epoch %d", self.slave_id, where, entry.epoch)
        await self._stream(entry)

    async def _stream(self, entry: EpochEntry) -> None:
        batch = self._config.ha_transfer_batch_size
        heartbeat = self._config.ha_send_heartbeat_interval / 1000
        # The first header goes out at once, data or not: a slave that truncated its epochs
        # learns the master's epoch now, not one heartbeat interval later (by when it may
        # already be in the set and elected, with no epoch the others share).
        last_write = time.monotonic() - heartbeat
        while True:
            self._wakeup.clear()
            where = self.next_transfer_from_where
            while entry.end_offset is not None and where >= entry.end_offset:
                following = self._epochs.next_entry(entry.epoch)
                if following is None:
                    raise HAProtocolError(f"no epoch after {entry.epoch} for offset {where}")
                entry = following
            data = self._source.get_commit_log_data(where, batch)
            if data and entry.end_offset is not None:
                data = data[: entry.end_offset - where]  # a chunk stays within its epoch
            if data:
                self.last_master_max_offset = self._source.max_phy_offset()
                self.last_transfer_ms = time.time() * 1000
                self._send(entry, where, data)
                self.next_transfer_from_where = where + len(data)
                self.flow.add(len(data))
            else:
                self._listener.on_slave_caught_up(self.slave_id, time.time() * 1000)
                idle = time.monotonic() - last_write
                if idle < heartbeat:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(heartbeat - idle):
                            await self._wakeup.wait()
                    continue
                self._send(entry, where, b"")
            last_write = time.monotonic()
            await self._writer.drain()

    def _send(self, entry: EpochEntry, where: int, data: bytes) -> None:
        confirm = self._listener.confirm_offset()
        header = encode_transfer_header(where, len(data), entry.epoch, entry.start_offset, confirm)
        self._writer.writelines((header, data) if data else (header,))
